package dev.ferry.core.tables;

import dev.ferry.core.route.Ip4Prefix;

import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Everything one node's dataplane needs to forward, as one immutable value: this node, the cluster-wide
 * settings, the local pods, the other nodes (VTEPs), the Services, and the underlay neighbours.
 *
 * <p>The control side (agent, replay) builds a new value for every change and the node swaps it in as one
 * reference ({@link TablesRef}). Nothing here knows about Kubernetes objects; the agent translates them.
 *
 * @param generation  grows with every change; pushes with an older generation are refused.
 * @param node        this node.
 * @param cluster     cluster-wide settings.
 * @param pods        pods attached to this node.
 * @param remoteNodes the other nodes, with their pod CIDRs and VTEPs.
 * @param services    Services (proxied or not, with the reason).
 * @param neighbours  static underlay neighbours: IPv4 address to MAC.
 */
public record NodeTables(
    long generation,
    NodeInfo node,
    ClusterSettings cluster,
    List<PodInfo> pods,
    List<RemoteNode> remoteNodes,
    List<ServiceInfo> services,
    Map<Integer, Long> neighbours)
{
    /**
     * Copies the lists so the value is immutable.
     *
     * @param generation  version.
     * @param node        this node.
     * @param cluster     cluster settings.
     * @param pods        local pods.
     * @param remoteNodes other nodes.
     * @param services    Services.
     * @param neighbours  underlay neighbours.
     */
    public NodeTables
    {
        Objects.requireNonNull(node, "node");
        Objects.requireNonNull(cluster, "cluster");
        pods = List.copyOf(pods);
        remoteNodes = List.copyOf(remoteNodes);
        services = List.copyOf(services);
        neighbours = Map.copyOf(neighbours);
    }

    /**
     * @param newGeneration the generation to carry.
     * @return the same tables under another generation.
     */
    public NodeTables withGeneration(final long newGeneration)
    {
        return new NodeTables(newGeneration, node, cluster, pods, remoteNodes, services, neighbours);
    }

    /**
     * This node.
     *
     * @param name       node name.
     * @param addresses  the node's own IPv4 addresses (InternalIP first); NodePorts listen on all of them.
     * @param podCidr    the pod CIDR assigned to this node.
     * @param gatewayIp  the pods' gateway address (first address of the pod CIDR by default).
     * @param gatewayMac the MAC that pods see for their gateway.
     * @param uplinkMac  this node's MAC on the underlay.
     * @param vtepMac    this node's VTEP MAC (flannel backend-data VtepMAC).
     * @param publicIp   the underlay address that VXLAN uses (flannel public-ip), usually the InternalIP.
     * @param underlayGateway the default gateway on the underlay, or 0 when none.
     * @param underlayPrefix  the directly attached underlay subnet, or null when unknown.
     * @param underlayMtu the underlay MTU; the pod MTU is 50 below it.
     * @param eligible   kube-proxy's {@code nodeEligible}: false while the Node is being deleted or carries the
     *                   {@code ToBeDeletedByClusterAutoscaler} taint ({@code /healthz} then answers 503).
     */
    public record NodeInfo(
        String name,
        List<Integer> addresses,
        Ip4Prefix podCidr,
        int gatewayIp,
        long gatewayMac,
        long uplinkMac,
        long vtepMac,
        int publicIp,
        int underlayGateway,
        Ip4Prefix underlayPrefix,
        int underlayMtu,
        boolean eligible)
    {
        /**
         * Copies the address list.
         *
         * @param name            node name.
         * @param addresses       own addresses.
         * @param podCidr         pod CIDR.
         * @param gatewayIp       pod gateway.
         * @param gatewayMac      pod gateway MAC.
         * @param uplinkMac       underlay MAC.
         * @param vtepMac         VTEP MAC.
         * @param publicIp        VXLAN source address.
         * @param underlayGateway underlay default gateway or 0.
         * @param underlayPrefix  attached underlay subnet or null.
         * @param underlayMtu     underlay MTU.
         * @param eligible        whether load balancers may send traffic to this node.
         */
        public NodeInfo
        {
            addresses = List.copyOf(addresses);
        }

        /**
         * An eligible node.
         *
         * @param name            node name.
         * @param addresses       own addresses.
         * @param podCidr         pod CIDR.
         * @param gatewayIp       pod gateway.
         * @param gatewayMac      pod gateway MAC.
         * @param uplinkMac       underlay MAC.
         * @param vtepMac         VTEP MAC.
         * @param publicIp        VXLAN source address.
         * @param underlayGateway underlay default gateway or 0.
         * @param underlayPrefix  attached underlay subnet or null.
         * @param underlayMtu     underlay MTU.
         */
        public NodeInfo(final String name, final List<Integer> addresses, final Ip4Prefix podCidr,
            final int gatewayIp, final long gatewayMac, final long uplinkMac, final long vtepMac, final int publicIp,
            final int underlayGateway, final Ip4Prefix underlayPrefix, final int underlayMtu)
        {
            this(name, addresses, podCidr, gatewayIp, gatewayMac, uplinkMac, vtepMac, publicIp, underlayGateway,
                underlayPrefix, underlayMtu, true);
        }

        /** @return the node's primary address: its first own address, or the VXLAN source address without any. */
        public int primaryAddress()
        {
            return addresses.isEmpty() ? publicIp : addresses.get(0);
        }

        /** @return the MTU that pods get: the underlay MTU minus the 50 bytes of VXLAN. */
        public int podMtu()
        {
            return underlayMtu - 50;
        }
    }

    /**
     * Cluster-wide settings, from flannel's net-conf.json, kube-proxy's configuration and ServiceCIDRs.
     *
     * @param clusterCidr        the cluster (pod) network.
     * @param serviceCidrs       Service CIDRs.
     * @param vni                VXLAN network identifier (flannel default 1).
     * @param vxlanPort          VXLAN UDP port (flannel default 8472).
     * @param nodePortMin        lowest NodePort.
     * @param nodePortMax        highest NodePort.
     * @param nodePortAddresses  prefixes whose node addresses serve NodePorts; empty means all.
     * @param masqueradeAll      kube-proxy masqueradeAll: SNAT every Service packet.
     * @param nonMasqueradeCidrs destinations that pod traffic reaches without masquerade.
     * @param masqueradePortMin  lowest source port for masquerade.
     * @param masqueradePortMax  highest source port for masquerade.
     * @param conntrack          conntrack settings (capacity and timeouts in seconds), by name.
     */
    public record ClusterSettings(
        Ip4Prefix clusterCidr,
        List<Ip4Prefix> serviceCidrs,
        int vni,
        int vxlanPort,
        int nodePortMin,
        int nodePortMax,
        List<Ip4Prefix> nodePortAddresses,
        boolean masqueradeAll,
        List<Ip4Prefix> nonMasqueradeCidrs,
        int masqueradePortMin,
        int masqueradePortMax,
        Map<String, Long> conntrack)
    {
        /** Default flannel VXLAN port. */
        public static final int FLANNEL_DEFAULT_PORT = 8472;

        /**
         * Copies the lists.
         *
         * @param clusterCidr        cluster CIDR.
         * @param serviceCidrs       Service CIDRs.
         * @param vni                VNI.
         * @param vxlanPort          VXLAN port.
         * @param nodePortMin        lowest NodePort.
         * @param nodePortMax        highest NodePort.
         * @param nodePortAddresses  NodePort address filter.
         * @param masqueradeAll      masquerade every Service packet.
         * @param nonMasqueradeCidrs destinations exempt from masquerade.
         * @param masqueradePortMin  lowest masquerade port.
         * @param masqueradePortMax  highest masquerade port.
         * @param conntrack          conntrack settings.
         */
        public ClusterSettings
        {
            serviceCidrs = List.copyOf(serviceCidrs);
            nodePortAddresses = List.copyOf(nodePortAddresses);
            nonMasqueradeCidrs = List.copyOf(nonMasqueradeCidrs);
            conntrack = Map.copyOf(conntrack);
        }

        /**
         * The documented defaults: cluster 10.244.0.0/16, services 10.96.0.0/12, VNI 1, port 8472, NodePorts
         * 30000-32767, masquerade ports 1024-65535.
         *
         * @return default settings.
         */
        public static ClusterSettings defaults()
        {
            return new ClusterSettings(Ip4Prefix.parse("10.244.0.0/16"), List.of(Ip4Prefix.parse("10.96.0.0/12")),
                1, FLANNEL_DEFAULT_PORT, 30000, 32767, List.of(), false, List.of(), 1024, 65535, Map.of());
        }
    }

    /**
     * A pod on this node.
     *
     * @param namespace namespace.
     * @param name      pod name.
     * @param ip        pod IPv4 address.
     * @param mac       pod interface MAC (CNI convention {@code 0a:58:<ip>} unless set).
     * @param portName  the dataplane port (TAP) of the pod's link.
     */
    public record PodInfo(String namespace, String name, int ip, long mac, String portName)
    {
    }

    /**
     * Another node, reached through VXLAN.
     *
     * @param name       node name.
     * @param podCidr    its pod CIDR.
     * @param publicIp   its VTEP address on the underlay.
     * @param vtepMac    its VTEP MAC.
     * @param underlayMac its MAC on the underlay (next hop for the outer frame).
     * @param addresses  its node addresses.
     */
    public record RemoteNode(String name, Ip4Prefix podCidr, int publicIp, long vtepMac, long underlayMac,
        List<Integer> addresses)
    {
        /**
         * Copies the address list.
         *
         * @param name        node name.
         * @param podCidr     pod CIDR.
         * @param publicIp    VTEP address.
         * @param vtepMac     VTEP MAC.
         * @param underlayMac underlay MAC.
         * @param addresses   node addresses.
         */
        public RemoteNode
        {
            addresses = List.copyOf(addresses);
        }
    }
}
