package dev.ferry.agent;

import dev.ferry.core.route.Ip4Prefix;
import dev.ferry.core.tables.NodeTables.ClusterSettings;
import dev.ferry.core.tables.ServiceInfo;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.LoadBalancerIngress;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.ServiceSpec;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * One Service and its endpoint groups into a {@link ServiceInfo}, as kube-proxy's service and endpoint change
 * trackers build them: Service ports match endpoint ports by name and protocol (which resolves a named
 * {@code targetPort}), an endpoint that appears in two groups counts once (a local copy wins), and IPv6 values
 * are left out.
 */
final class ServiceCompiler
{
    static final String HEADLESS = "headless Service";
    static final String EXTERNAL_NAME = "ExternalName Service";
    static final String NO_CLUSTER_IP = "Service has no cluster IP";
    static final String NO_IPV4_CLUSTER_IP = "Service has no IPv4 cluster IP";

    private static final int MAX_AFFINITY_TIMEOUT = 86400;
    private static final Comparator<ServiceInfo.Endpoint> ENDPOINT_ORDER = Comparator
        .comparing((ServiceInfo.Endpoint e) -> e.ip(), Integer::compareUnsigned)
        .thenComparingInt(ServiceInfo.Endpoint::port);

    private ServiceCompiler()
    {
    }

    /**
     * @param ref      the Service's reference.
     * @param svc      the Service.
     * @param settings cluster settings (the NodePort range).
     * @param groups   the Service's endpoint groups.
     * @param self     this node, for endpoint locality; null when only validating.
     * @param skipped  told of each loadBalancerSourceRanges entry that is left out (not a CIDR).
     * @return the Service as the dataplane sees it.
     */
    static ServiceInfo compile(final ObjectRef ref, final Service svc, final ClusterSettings settings,
        final List<EndpointGroup> groups, final NodeView self, final Consumer<NodeTablesCompiler.Skipped> skipped)
    {
        final ServiceSpec spec = svc.getSpec() == null ? new ServiceSpec() : svc.getSpec();
        final String type = spec.getType() == null ? "ClusterIP" : spec.getType();
        final String ns = Fields.nullToEmpty(svc.getMetadata().getNamespace());
        final String name = svc.getMetadata().getName();
        if (!List.of("ClusterIP", "NodePort", "LoadBalancer", "ExternalName").contains(type))
        {
            throw ref.fail("spec.type", "not a Service type (ClusterIP, NodePort, LoadBalancer, ExternalName): '"
                + type + "'");
        }
        final boolean hasNodePorts = type.equals("NodePort") || type.equals("LoadBalancer");
        final List<ServiceInfo.ServicePort> ports = new ArrayList<>();
        for (int i = 0; i < spec.getPorts().size(); i++)
        {
            ports.add(port(ref, "spec.ports[" + i + "]", spec.getPorts().get(i), hasNodePorts, settings, groups,
                self));
        }

        final String reason;
        final List<Integer> clusterIps = new ArrayList<>();
        final String clusterIp = Fields.nullToEmpty(spec.getClusterIP());
        if (type.equals("ExternalName"))
        {
            reason = EXTERNAL_NAME;
        }
        else if (clusterIp.equals("None"))
        {
            reason = HEADLESS;
        }
        else if (clusterIp.isEmpty())
        {
            reason = NO_CLUSTER_IP;
        }
        else
        {
            addIp4(ref, "spec.clusterIP", clusterIp, clusterIps);
            for (int i = 0; i < spec.getClusterIPs().size(); i++)
            {
                addIp4(ref, "spec.clusterIPs[" + i + "]", spec.getClusterIPs().get(i), clusterIps);
            }
            reason = clusterIps.isEmpty() ? NO_IPV4_CLUSTER_IP : null;
        }
        if (reason != null)
        {
            return new ServiceInfo(ns, name, type, reason, List.of(), List.of(), List.of(), false,
                ServiceInfo.DEFAULT_AFFINITY_TIMEOUT, false, false, List.of());
        }

        final List<Integer> externalIps = new ArrayList<>();
        for (int i = 0; i < spec.getExternalIPs().size(); i++)
        {
            addIp4(ref, "spec.externalIPs[" + i + "]", spec.getExternalIPs().get(i), externalIps);
        }
        final List<Integer> lbIps = new ArrayList<>();
        final List<LoadBalancerIngress> ingress = svc.getStatus() == null || svc.getStatus().getLoadBalancer() == null
            ? List.of() : svc.getStatus().getLoadBalancer().getIngress();
        for (int i = 0; i < ingress.size(); i++)
        {
            final LoadBalancerIngress in = ingress.get(i);
            // ipMode Proxy: the load balancer proxies, so traffic arrives addressed to the node (kube-proxy)
            if (in.getIp() != null && !in.getIp().isEmpty() && !"Proxy".equals(in.getIpMode()))
            {
                addIp4(ref, "status.loadBalancer.ingress[" + i + "].ip", in.getIp(), lbIps);
            }
        }

        final boolean affinity = "ClientIP".equals(spec.getSessionAffinity());
        int timeout = ServiceInfo.DEFAULT_AFFINITY_TIMEOUT;
        if (affinity && spec.getSessionAffinityConfig() != null && spec.getSessionAffinityConfig().getClientIP() != null
            && spec.getSessionAffinityConfig().getClientIP().getTimeoutSeconds() != null)
        {
            timeout = spec.getSessionAffinityConfig().getClientIP().getTimeoutSeconds();
            if (timeout < 1 || timeout > MAX_AFFINITY_TIMEOUT)
            {
                throw ref.fail("spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                    "out of range (1-" + MAX_AFFINITY_TIMEOUT + "): " + timeout);
            }
        }
        final boolean externallyAccessible = hasNodePorts || !externalIps.isEmpty();
        final boolean externalLocal = externallyAccessible && "Local".equals(spec.getExternalTrafficPolicy());
        final boolean internalLocal = "Local".equals(spec.getInternalTrafficPolicy());
        int healthCheckNodePort = 0;
        if (externalLocal && spec.getHealthCheckNodePort() != null && spec.getHealthCheckNodePort() != 0)
        {
            // kube-proxy serves it for externalTrafficPolicy Local only; the API server allocates it
            healthCheckNodePort = Fields.port(ref, "spec.healthCheckNodePort", spec.getHealthCheckNodePort());
        }
        return new ServiceInfo(ns, name, type, null, clusterIps, externalIps, lbIps, affinity, timeout,
            externalLocal, internalLocal, ports, healthCheckNodePort,
            sourceRanges(ref, spec.getLoadBalancerSourceRanges(), skipped));
    }

    /**
     * spec.loadBalancerSourceRanges as kube-proxy reads them: each entry trimmed, IPv6 ones left to the IPv6 proxy
     * (ignored here, as kube-proxy ignores the other family), an entry that is not a CIDR logged and ignored while
     * the others still apply. A bare address is not a CIDR (Go's ParseCIDR refuses it); host bits are cleared.
     */
    private static List<Ip4Prefix> sourceRanges(final ObjectRef ref, final List<String> ranges,
        final Consumer<NodeTablesCompiler.Skipped> skipped)
    {
        final List<Ip4Prefix> out = new ArrayList<>();
        for (int i = 0; ranges != null && i < ranges.size(); i++)
        {
            final String text = ranges.get(i) == null ? "" : ranges.get(i).trim();
            if (Fields.isIp6(text))
            {
                continue;
            }
            final Ip4Prefix p = parseCidr(text);
            if (p == null)
            {
                skipped.accept(new NodeTablesCompiler.Skipped("Service", NodeTablesCompiler.INVALID_SOURCE_RANGE,
                    ref.fail("spec.loadBalancerSourceRanges[" + i + "]", "not a CIDR: '" + ranges.get(i)
                        + "'; this entry is ignored, the other ranges apply")));
            }
            else if (!out.contains(p))
            {
                out.add(p);
            }
        }
        return out;
    }

    /** @return the IPv4 CIDR "a.b.c.d/n" (n 0-32), or null when the text is not one. */
    private static Ip4Prefix parseCidr(final String text)
    {
        if (!text.matches("\\d{1,3}(\\.\\d{1,3}){3}/\\d{1,2}"))
        {
            return null;
        }
        try
        {
            return Ip4Prefix.parse(text);
        }
        catch (final IllegalArgumentException e)
        {
            return null;
        }
    }

    private static ServiceInfo.ServicePort port(final ObjectRef ref, final String field, final ServicePort p,
        final boolean hasNodePorts, final ClusterSettings settings, final List<EndpointGroup> groups,
        final NodeView self)
    {
        final String name = Fields.nullToEmpty(p.getName());
        final int protocol = Fields.protocol(ref, field + ".protocol", p.getProtocol());
        final int port = Fields.port(ref, field + ".port", p.getPort());
        checkTargetPort(ref, field + ".targetPort", p.getTargetPort());
        int nodePort = 0;
        if (hasNodePorts && p.getNodePort() != null && p.getNodePort() != 0)
        {
            nodePort = p.getNodePort();
            if (nodePort < settings.nodePortMin() || nodePort > settings.nodePortMax())
            {
                throw ref.fail(field + ".nodePort", nodePort + " is outside the NodePort range "
                    + settings.nodePortMin() + "-" + settings.nodePortMax(), NodeTablesCompiler.NODEPORT_OUT_OF_RANGE);
            }
        }
        return new ServiceInfo.ServicePort(name, protocol, port, nodePort, endpoints(name, protocol, groups, self));
    }

    private static void checkTargetPort(final ObjectRef ref, final String field, final IntOrString target)
    {
        if (target == null)
        {
            return;
        }
        if (target.getIntVal() != null)
        {
            Fields.port(ref, field, target.getIntVal());
        }
        else if (target.getStrVal() == null || target.getStrVal().isEmpty())
        {
            throw ref.fail(field, "expected a port number or a port name, got '" + target.getValue() + "'");
        }
    }

    private static List<ServiceInfo.Endpoint> endpoints(final String portName, final int protocol,
        final List<EndpointGroup> groups, final NodeView self)
    {
        final Map<Long, ServiceInfo.Endpoint> byAddress = new LinkedHashMap<>();
        final Map<Long, EndpointGroup.Member> members = new LinkedHashMap<>();
        for (final EndpointGroup g : groups)
        {
            for (final EndpointGroup.Port gp : g.ports())
            {
                if (!gp.name().equals(portName) || gp.protocol() != protocol)
                {
                    continue;
                }
                for (final EndpointGroup.Member m : g.endpoints())
                {
                    final boolean local = self != null && (m.nodeName().isEmpty()
                        ? self.podCidr() != null && self.podCidr().contains(m.ip())
                        : m.nodeName().equals(self.name()));
                    final long key = (m.ip() & 0xffffffffL) << 16 | gp.port();
                    final ServiceInfo.Endpoint e = new ServiceInfo.Endpoint(m.ip(), gp.port(), m.ready(),
                        m.serving(), m.terminating(), m.nodeName(), m.zone(), local);
                    if (!byAddress.containsKey(key) || local)
                    {
                        byAddress.put(key, e);
                        members.put(key, m);
                    }
                }
            }
        }
        final List<ServiceInfo.Endpoint> out = new ArrayList<>(byAddress.size());
        final String nodeName = self == null ? "" : self.name();
        final String zone = self == null ? "" : self.zone();
        final Topology.Mode mode = self == null ? Topology.Mode.NONE
            : Topology.mode(members.values(), nodeName, zone);
        for (final Map.Entry<Long, ServiceInfo.Endpoint> en : byAddress.entrySet())
        {
            final ServiceInfo.Endpoint e = en.getValue();
            out.add(Topology.available(members.get(en.getKey()), mode, nodeName, zone) ? e
                : new ServiceInfo.Endpoint(e.ip(), e.port(), e.ready(), e.serving(), e.terminating(), e.nodeName(),
                    e.zone(), e.local(), false));
        }
        out.sort(ENDPOINT_ORDER);
        return out;
    }

    private static void addIp4(final ObjectRef ref, final String field, final String text, final List<Integer> into)
    {
        if (text == null || text.isEmpty() || Fields.isIp6(text))
        {
            return;
        }
        final int ip = Fields.ip4(ref, field, text);
        if (!into.contains(ip))
        {
            into.add(ip);
        }
    }
}
