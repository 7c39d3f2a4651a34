package dev.ferry.core.tables;

import dev.ferry.core.route.Ip4Prefix;

import java.util.List;

/**
 * A Service as the dataplane sees it: frontends (virtual IPs and ports) and the endpoints behind each port.
 *
 * @param namespace           namespace.
 * @param name                Service name.
 * @param type                ClusterIP, NodePort, LoadBalancer or ExternalName.
 * @param notProxiedReason    null when proxied; else why the dataplane ignores it ("headless", "ExternalName").
 * @param clusterIps          cluster IPs.
 * @param externalIps         spec.externalIPs.
 * @param loadBalancerIps     status.loadBalancer.ingress IPs.
 * @param clientIpAffinity    sessionAffinity ClientIP.
 * @param affinityTimeoutSeconds affinity timeout (default 10800).
 * @param externalPolicyLocal externalTrafficPolicy Local.
 * @param internalPolicyLocal internalTrafficPolicy Local.
 * @param ports               the Service ports.
 * @param healthCheckNodePort spec.healthCheckNodePort (externalTrafficPolicy Local), 0 when none: the node serves
 *                            kube-proxy's per-Service health check on it.
 * @param sourceRanges        spec.loadBalancerSourceRanges (IPv4 entries): when not empty, only these sources may open
 *                            flows to the LoadBalancer IPs, as kube-proxy's firewall chain allows.
 */
public record ServiceInfo(
    String namespace,
    String name,
    String type,
    String notProxiedReason,
    List<Integer> clusterIps,
    List<Integer> externalIps,
    List<Integer> loadBalancerIps,
    boolean clientIpAffinity,
    int affinityTimeoutSeconds,
    boolean externalPolicyLocal,
    boolean internalPolicyLocal,
    List<ServicePort> ports,
    int healthCheckNodePort,
    List<Ip4Prefix> sourceRanges)
{
    /** Default ClientIP affinity timeout, in seconds. */
    public static final int DEFAULT_AFFINITY_TIMEOUT = 10800;

    /**
     * Copies the lists.
     *
     * @param namespace              namespace.
     * @param name                   name.
     * @param type                   type.
     * @param notProxiedReason       null when proxied.
     * @param clusterIps             cluster IPs.
     * @param externalIps            external IPs.
     * @param loadBalancerIps        load-balancer IPs.
     * @param clientIpAffinity       ClientIP affinity.
     * @param affinityTimeoutSeconds affinity timeout.
     * @param externalPolicyLocal    externalTrafficPolicy Local.
     * @param internalPolicyLocal    internalTrafficPolicy Local.
     * @param ports                  ports.
     * @param healthCheckNodePort    health check node port, 0 when none.
     * @param sourceRanges           loadBalancerSourceRanges (empty: every source).
     */
    public ServiceInfo
    {
        clusterIps = List.copyOf(clusterIps);
        externalIps = List.copyOf(externalIps);
        loadBalancerIps = List.copyOf(loadBalancerIps);
        ports = List.copyOf(ports);
        sourceRanges = List.copyOf(sourceRanges);
    }

    /**
     * A Service without a health check node port and without loadBalancerSourceRanges.
     *
     * @param namespace              namespace.
     * @param name                   name.
     * @param type                   type.
     * @param notProxiedReason       null when proxied.
     * @param clusterIps             cluster IPs.
     * @param externalIps            external IPs.
     * @param loadBalancerIps        load-balancer IPs.
     * @param clientIpAffinity       ClientIP affinity.
     * @param affinityTimeoutSeconds affinity timeout.
     * @param externalPolicyLocal    externalTrafficPolicy Local.
     * @param internalPolicyLocal    internalTrafficPolicy Local.
     * @param ports                  ports.
     */
    public ServiceInfo(final String namespace, final String name, final String type, final String notProxiedReason,
        final List<Integer> clusterIps, final List<Integer> externalIps, final List<Integer> loadBalancerIps,
        final boolean clientIpAffinity, final int affinityTimeoutSeconds, final boolean externalPolicyLocal,
        final boolean internalPolicyLocal, final List<ServicePort> ports)
    {
        this(namespace, name, type, notProxiedReason, clusterIps, externalIps, loadBalancerIps, clientIpAffinity,
            affinityTimeoutSeconds, externalPolicyLocal, internalPolicyLocal, ports, 0, List.of());
    }

    /**
     * A Service without loadBalancerSourceRanges.
     *
     * @param namespace              namespace.
     * @param name                   name.
     * @param type                   type.
     * @param notProxiedReason       null when proxied.
     * @param clusterIps             cluster IPs.
     * @param externalIps            external IPs.
     * @param loadBalancerIps        load-balancer IPs.
     * @param clientIpAffinity       ClientIP affinity.
     * @param affinityTimeoutSeconds affinity timeout.
     * @param externalPolicyLocal    externalTrafficPolicy Local.
     * @param internalPolicyLocal    internalTrafficPolicy Local.
     * @param ports                  ports.
     * @param healthCheckNodePort    health check node port, 0 when none.
     */
    public ServiceInfo(final String namespace, final String name, final String type, final String notProxiedReason,
        final List<Integer> clusterIps, final List<Integer> externalIps, final List<Integer> loadBalancerIps,
        final boolean clientIpAffinity, final int affinityTimeoutSeconds, final boolean externalPolicyLocal,
        final boolean internalPolicyLocal, final List<ServicePort> ports,
        final int healthCheckNodePort)
    {
        this(namespace, name, type, notProxiedReason, clusterIps, externalIps, loadBalancerIps, clientIpAffinity,
            affinityTimeoutSeconds, externalPolicyLocal, internalPolicyLocal, ports, healthCheckNodePort, List.of());
    }

    /** @return whether the dataplane serves this Service. */
    public boolean proxied()
    {
        return notProxiedReason == null;
    }

    /** @return "namespace/name". */
    public String key()
    {
        return namespace + "/" + name;
    }

    /**
     * One Service port and its endpoints.
     *
     * @param name      port name ("" when unnamed).
     * @param protocol  IP protocol number (6 TCP, 17 UDP, 132 SCTP).
     * @param port      the Service port.
     * @param nodePort  the NodePort, or 0.
     * @param endpoints endpoints with the target port resolved.
     */
    public record ServicePort(String name, int protocol, int port, int nodePort, List<Endpoint> endpoints)
    {
        /**
         * Copies the list.
         *
         * @param name      port name.
         * @param protocol  protocol.
         * @param port      port.
         * @param nodePort  NodePort or 0.
         * @param endpoints endpoints.
         */
        public ServicePort
        {
            endpoints = List.copyOf(endpoints);
        }
    }

    /**
     * One endpoint, as EndpointSlice conditions describe it.
     *
     * @param ip          endpoint address.
     * @param port        target port.
     * @param ready       conditions.ready.
     * @param serving     conditions.serving.
     * @param terminating conditions.terminating.
     * @param nodeName    node hosting it ("" when unknown).
     * @param zone        zone ("" when unknown).
     * @param local       whether it lives on this node.
     * @param inTopology  whether topology-aware routing lets this node open new Cluster-policy connections to it
     *                    (kube-proxy's availableForTopology: hinted for this node or its zone); true without hints.
     *                    Local-policy traffic and the serving set ignore it, as kube-proxy's localEndpoints do.
     */
    public record Endpoint(int ip, int port, boolean ready, boolean serving, boolean terminating, String nodeName,
        String zone, boolean local, boolean inTopology)
    {
        /**
         * An endpoint that topology does not restrict.
         *
         * @param ip          endpoint address.
         * @param port        target port.
         * @param ready       conditions.ready.
         * @param serving     conditions.serving.
         * @param terminating conditions.terminating.
         * @param nodeName    node hosting it ("" when unknown).
         * @param zone        zone ("" when unknown).
         * @param local       whether it lives on this node.
         */
        public Endpoint(final int ip, final int port, final boolean ready, final boolean serving,
            final boolean terminating, final String nodeName, final String zone, final boolean local)
        {
            this(ip, port, ready, serving, terminating, nodeName, zone, local, true);
        }
    }
}
