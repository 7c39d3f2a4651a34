package dev.ferry.agent;

import dev.ferry.core.route.Ip4;
import dev.ferry.core.route.Ip4Prefix;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.tables.NodeTables.ClusterSettings;
import dev.ferry.core.tables.ServiceInfo;
import io.fabric8.kubernetes.api.model.Endpoints;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodIP;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Kubernetes objects in, one node's {@link NodeTables} out: a pure function of its arguments.
 *
 * <pre>
 *   ClusterState ──► ClusterSettingsReader ──► ClusterSettings (CIDRs, VXLAN, NodePorts, conntrack)
 *        │
 *        ├─ Node  nodeName ─────────────► NodeInfo   (addresses, gateway, MACs, VTEP, underlay)
 *        ├─ Pods on nodeName ───────────► PodInfo    (tap + hex IP, 0a:58 MAC)
 *        ├─ other Nodes with a podCIDR ─► RemoteNode + underlay neighbours
 *        └─ Services + EndpointSlices ──► ServiceInfo (ports, endpoints with conditions and locality)
 *           (hand-written Endpoints when a Service has no slice)
 * </pre>
 *
 * <p>The output is deterministic: pods and Services sort by namespace and name, remote nodes by name,
 * endpoints by address and port. MACs follow flannel and the CNI conventions, with {@code ferry.dev/...}
 * annotations to override them (see {@link #UPLINK_MAC_ANNOTATION} and friends).
 */
public final class NodeTablesCompiler
{
    /** Node annotation: this node's MAC on the underlay (default {@code 0a:58:<InternalIP>}). */
    public static final String UPLINK_MAC_ANNOTATION = NodeView.UPLINK_MAC;
    /** Node annotation: the underlay default gateway. */
    public static final String UNDERLAY_GATEWAY_ANNOTATION = NodeView.UNDERLAY_GATEWAY;
    /** Node annotation: the directly attached underlay subnet. */
    public static final String UNDERLAY_CIDR_ANNOTATION = NodeView.UNDERLAY_CIDR;
    /** Node annotation: the underlay MTU (default 1500). */
    public static final String UNDERLAY_MTU_ANNOTATION = NodeView.UNDERLAY_MTU;
    /** Pod annotation: the pod interface's MAC (default {@code 0a:58:<pod IP>}). */
    public static final String POD_MAC_ANNOTATION = "ferry.dev/mac";
    /**
     * The VTEP MAC of this node when flannel's backend data names none: {@code 0e:58:<public IP>}, a
     * locally administered unicast address that cannot collide with the {@code 0a:58} ones.
     */
    public static final long FALLBACK_VTEP_PREFIX = 0x0e58_0000_0000L;

    private static final Comparator<HasMetadata> BY_NAMESPACE_AND_NAME = Comparator
        .comparing((HasMetadata o) -> Fields.nullToEmpty(o.getMetadata().getNamespace()))
        .thenComparing(o -> o.getMetadata().getName());

    private NodeTablesCompiler()
    {
    }

    /**
     * Compiles the tables of one node.
     *
     * @param state      the cluster objects.
     * @param nodeName   the node to compile for.
     * @param generation the generation the tables carry.
     * @return the node's tables.
     * @throws ManifestException when the node does not exist or an object it needs is malformed.
     */
    public static NodeTables compile(final ClusterState state, final String nodeName, final long generation)
    {
        final Node selfNode = state.nodes().stream()
            .filter(n -> nodeName.equals(n.getMetadata().getName())).findFirst()
            .orElseThrow(() -> new ManifestException(ClusterState.UNKNOWN_SOURCE, "Node " + nodeName, "",
                "no such Node (known: " + String.join(", ", state.nodes().stream()
                    .map(n -> n.getMetadata().getName()).sorted().toList()) + ")"));
        final NodeView self = NodeView.of(state.ref(selfNode), selfNode);
        final ClusterSettings settings = ClusterSettingsReader.read(state, self.addresses().isEmpty()
            ? List.of() : List.of(self.addresses().getFirst()));

        final List<NodeTables.RemoteNode> remotes = new ArrayList<>();
        final Map<Integer, Long> neighbours = new HashMap<>();
        for (final Node n : sorted(state.nodes()))
        {
            if (n == selfNode)
            {
                continue;
            }
            final NodeView v = NodeView.of(state.ref(n), n);
            // like flannel: a node without a pod CIDR, an underlay address or backend data is not (yet) reachable
            if (v.podCidr() == null || v.publicIp() == 0 || !v.hasVtep())
            {
                continue;
            }
            // only an annotated MAC is a static neighbour: a guess would override what the node learns with ARP
            // (0: the node resolves it; replay, which has no underlay to ask, falls back to the 0a:58 convention)
            final long mac = v.uplinkMacSet() ? v.uplinkMac() : 0;
            remotes.add(new NodeTables.RemoteNode(v.name(), v.podCidr(), v.publicIp(), v.vtepMac(), mac,
                v.addresses()));
            if (mac != 0)
            {
                neighbours.put(v.publicIp(), mac);
                for (final int a : v.addresses())
                {
                    neighbours.put(a, mac);
                }
            }
        }

        final Map<String, List<EndpointGroup>> groups = endpointGroups(state);
        final List<ServiceInfo> services = new ArrayList<>();
        for (final Service s : sorted(state.services()))
        {
            final List<EndpointGroup> g = groups.getOrDefault(key(s.getMetadata().getNamespace(),
                s.getMetadata().getName()), List.of());
            services.add(ServiceCompiler.compile(state.ref(s), s, settings, g, self));
        }

        return new NodeTables(generation, nodeInfo(self), settings, pods(state, self), remotes, services, neighbours);
    }

    /**
     * Parses every field the compiler reads, of every object, without compiling for a node.
     *
     * @param state    the objects.
     * @param settings the cluster settings read from them.
     * @throws ManifestException naming the first bad field.
     */
    static void validate(final ClusterState state, final ClusterSettings settings)
    {
        for (final Node n : state.nodes())
        {
            NodeView.of(state.ref(n), n);
        }
        for (final Pod p : state.pods())
        {
            podIp(state.ref(p), p);
            podMac(state.ref(p), p, 0);
        }
        final Map<String, List<EndpointGroup>> groups = endpointGroups(state);
        for (final Service s : state.services())
        {
            ServiceCompiler.compile(state.ref(s), s, settings, groups.getOrDefault(
                key(s.getMetadata().getNamespace(), s.getMetadata().getName()), List.of()), null);
        }
    }

    private static NodeTables.NodeInfo nodeInfo(final NodeView self)
    {
        final Ip4Prefix podCidr = self.podCidr();
        final int gateway = podCidr == null ? 0 : podCidr.host(1);
        final long vtepMac = self.hasVtep() ? self.vtepMac() : FALLBACK_VTEP_PREFIX | (self.publicIp() & 0xffffffffL);
        return new NodeTables.NodeInfo(self.name(), self.addresses(), podCidr, gateway,
            gateway == 0 ? 0 : Ip4.podMac(gateway), self.uplinkMac(), vtepMac, self.publicIp(),
            self.underlayGateway(), self.underlayPrefix(), self.underlayMtu());
    }

    private static List<NodeTables.PodInfo> pods(final ClusterState state, final NodeView self)
    {
        final List<NodeTables.PodInfo> out = new ArrayList<>();
        final Map<Integer, String> owners = new HashMap<>();
        for (final Pod p : sorted(state.pods()))
        {
            if (p.getSpec() == null || !self.name().equals(p.getSpec().getNodeName())
                || Boolean.TRUE.equals(p.getSpec().getHostNetwork()))
            {
                continue;
            }
            final String phase = p.getStatus() == null ? null : p.getStatus().getPhase();
            // a finished pod's IP has gone back to IPAM and may already belong to another pod
            if ("Succeeded".equals(phase) || "Failed".equals(phase))
            {
                continue;
            }
            final ObjectRef ref = state.ref(p);
            final int ip = podIp(ref, p);
            if (ip == 0 || self.addresses().contains(ip) || ip == self.publicIp())
            {
                continue;
            }
            final String previous = owners.putIfAbsent(ip, ref.qualifiedName());
            if (previous != null)
            {
                throw ref.fail("status.podIP", Ip4.format(ip) + " is also the IP of Pod " + previous);
            }
            out.add(new NodeTables.PodInfo(ref.namespace(), ref.name(), ip, podMac(ref, p, ip), portName(ip)));
        }
        return out;
    }

    /**
     * @param ip a pod IP.
     * @return the dataplane port name of the pod's link: "tap" and eight hex digits (fits a Linux ifname).
     */
    public static String portName(final int ip)
    {
        return "tap" + String.format("%08x", ip);
    }

    private static int podIp(final ObjectRef ref, final Pod p)
    {
        if (p.getStatus() == null)
        {
            return 0;
        }
        final String ip = p.getStatus().getPodIP();
        if (ip != null && !ip.isEmpty() && !Fields.isIp6(ip))
        {
            return Fields.ip4(ref, "status.podIP", ip);
        }
        final List<PodIP> ips = p.getStatus().getPodIPs();
        for (int i = 0; i < ips.size(); i++)
        {
            final String s = ips.get(i).getIp();
            if (s != null && !Fields.isIp6(s))
            {
                return Fields.ip4(ref, "status.podIPs[" + i + "].ip", s);
            }
        }
        return 0;
    }

    private static long podMac(final ObjectRef ref, final Pod p, final int ip)
    {
        final Map<String, String> ann = p.getMetadata().getAnnotations();
        final String mac = ann == null ? null : ann.get(POD_MAC_ANNOTATION);
        return mac == null ? Ip4.podMac(ip) : Fields.mac(ref, NodeView.annotation(POD_MAC_ANNOTATION), mac);
    }

    /** Endpoint groups by "namespace/service": slices when a Service has any, else its Endpoints object. */
    private static Map<String, List<EndpointGroup>> endpointGroups(final ClusterState state)
    {
        final Map<String, List<EndpointGroup>> out = new HashMap<>();
        final Set<String> withSlices = new HashSet<>();
        final List<EndpointSlice> slices = new ArrayList<>(state.endpointSlices());
        slices.sort(BY_NAMESPACE_AND_NAME);
        for (final EndpointSlice s : slices)
        {
            final EndpointGroup g = EndpointGroup.of(state.ref(s), s);
            final var labels = s.getMetadata().getLabels();
            if (labels != null && labels.get(EndpointGroup.SERVICE_NAME_LABEL) != null)
            {
                // any slice, even an IPv6 one, means the slice controllers own this Service's endpoints
                withSlices.add(key(s.getMetadata().getNamespace(), labels.get(EndpointGroup.SERVICE_NAME_LABEL)));
            }
            if (g != null)
            {
                out.computeIfAbsent(key(s.getMetadata().getNamespace(), g.service()), k -> new ArrayList<>()).add(g);
            }
        }
        for (final Endpoints e : sorted(state.endpoints()))
        {
            final List<EndpointGroup> g = EndpointGroup.of(state.ref(e), e);
            final String k = key(e.getMetadata().getNamespace(), e.getMetadata().getName());
            if (!withSlices.contains(k))
            {
                out.computeIfAbsent(k, x -> new ArrayList<>()).addAll(g);
            }
        }
        return out;
    }

    private static String key(final String namespace, final String name)
    {
        return Fields.nullToEmpty(namespace) + "/" + name;
    }

    private static <T extends HasMetadata> List<T> sorted(final List<T> objects)
    {
        final List<T> out = new ArrayList<>(objects);
        out.sort(BY_NAMESPACE_AND_NAME);
        return out;
    }
}
