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
import java.util.function.Consumer;

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
 *
 * <p>One bad object does not stop the rest (as kube-proxy): a Service, Pod, other Node, EndpointSlice or
 * Endpoints object that cannot be compiled (a NodePort outside the range, a Pod whose IP another Pod of the node
 * already has, a malformed field) is left out and reported to a {@link Skipped} sink; everything else is
 * compiled. Only this node's own Node object and the cluster settings are needed whole. The three-argument
 * {@link #compile(ClusterState, String, long)} is strict: it throws the first such error.
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

    /** Skip reason: a NodePort outside the cluster's NodePort range. */
    public static final String NODEPORT_OUT_OF_RANGE = "nodeport-out-of-range";
    /** Skip reason: a Pod with the IP of another Pod of the same node (the first by namespace and name keeps it). */
    public static final String DUPLICATE_POD_IP = "duplicate-pod-ip";
    /** Skip reason: a loadBalancerSourceRanges entry that is not a CIDR (only that entry is left out). */
    public static final String INVALID_SOURCE_RANGE = "invalid-source-range";
    /** Skip reason: any other field that cannot be parsed or is out of range. */
    public static final String INVALID_FIELD = "invalid-field";

    /** A sink that fails the compilation with the first bad object (tests, tools that want a clean manifest). */
    public static final Consumer<Skipped> STRICT = s ->
    {
        throw s.error();
    };

    private NodeTablesCompiler()
    {
    }

    /**
     * An object left out of the tables.
     *
     * @param kind   its kind (Service, Pod, Node, EndpointSlice, Endpoints).
     * @param reason {@link #NODEPORT_OUT_OF_RANGE}, {@link #DUPLICATE_POD_IP}, {@link #INVALID_FIELD}, or
     *               {@link #INVALID_SOURCE_RANGE} (then only that entry of the Service is left out).
     * @param error  what is wrong, naming the object and the field.
     */
    public record Skipped(String kind, String reason, ManifestException error)
    {
        /** @return the one-line description. */
        public String message()
        {
            return error.getMessage();
        }

        static Skipped of(final String kind, final ManifestException e)
        {
            return new Skipped(kind, e.reason() != null ? e.reason() : INVALID_FIELD, e);
        }
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
        return compile(state, nodeName, generation, STRICT);
    }

    /**
     * Compiles the tables of one node, leaving out the objects that cannot be compiled.
     *
     * @param state      the cluster objects.
     * @param nodeName   the node to compile for.
     * @param generation the generation the tables carry.
     * @param skipped    told of each object left out (in a deterministic order).
     * @return the node's tables without the skipped objects.
     * @throws ManifestException when the node does not exist, or its own Node object or the cluster settings are
     *                           malformed.
     */
    public static NodeTables compile(final ClusterState state, final String nodeName, final long generation,
        final Consumer<Skipped> skipped)
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
            final NodeView v;
            try
            {
                v = NodeView.of(state.ref(n), n);
            }
            catch (final ManifestException e)
            {
                skipped.accept(Skipped.of("Node", e));
                continue;
            }
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

        final Map<String, List<EndpointGroup>> groups = endpointGroups(state, skipped);
        final List<ServiceInfo> services = new ArrayList<>();
        for (final Service s : sorted(state.services()))
        {
            final List<EndpointGroup> g = groups.getOrDefault(key(s.getMetadata().getNamespace(),
                s.getMetadata().getName()), List.of());
            try
            {
                services.add(ServiceCompiler.compile(state.ref(s), s, settings, g, self, skipped));
            }
            catch (final ManifestException e)
            {
                skipped.accept(Skipped.of("Service", e));
            }
        }

        return new NodeTables(generation, nodeInfo(self, eligible(selfNode)), settings, pods(state, self, skipped),
            remotes, services, neighbours);
    }

    /**
     * Parses every field the compiler reads, of every object, without compiling for a node.
     *
     * @param state    the objects.
     * @param settings the cluster settings read from them.
     * @param skipped  told of each object that cannot be compiled ({@link #STRICT}: throw the first).
     */
    static void validate(final ClusterState state, final ClusterSettings settings, final Consumer<Skipped> skipped)
    {
        for (final Node n : sorted(state.nodes()))
        {
            try
            {
                NodeView.of(state.ref(n), n);
            }
            catch (final ManifestException e)
            {
                skipped.accept(Skipped.of("Node", e));
            }
        }
        for (final Pod p : sorted(state.pods()))
        {
            try
            {
                podIp(state.ref(p), p);
                podMac(state.ref(p), p, 0);
            }
            catch (final ManifestException e)
            {
                skipped.accept(Skipped.of("Pod", e));
            }
        }
        final Map<String, List<EndpointGroup>> groups = endpointGroups(state, skipped);
        for (final Service s : sorted(state.services()))
        {
            try
            {
                ServiceCompiler.compile(state.ref(s), s, settings, groups.getOrDefault(
                    key(s.getMetadata().getNamespace(), s.getMetadata().getName()), List.of()), null, skipped);
            }
            catch (final ManifestException e)
            {
                skipped.accept(Skipped.of("Service", e));
            }
        }
    }

    /** kube-proxy's {@code ToBeDeletedTaint}: the cluster autoscaler is about to remove the node. */
    static final String TO_BE_DELETED_TAINT = "ToBeDeletedByClusterAutoscaler";

    /**
     * kube-proxy's {@code ProxierHealthServer.SyncNode}: a Node is eligible for load balancer traffic unless it is
     * being deleted or carries the {@link #TO_BE_DELETED_TAINT} taint (any effect).
     *
     * @param node the Node.
     * @return whether {@code /healthz} may answer 200.
     */
    static boolean eligible(final Node node)
    {
        final String deleting = node.getMetadata().getDeletionTimestamp();
        if (deleting != null && !deleting.isEmpty())
        {
            return false;
        }
        return node.getSpec() == null || node.getSpec().getTaints() == null || node.getSpec().getTaints().stream()
            .noneMatch(t -> TO_BE_DELETED_TAINT.equals(t.getKey()));
    }

    private static NodeTables.NodeInfo nodeInfo(final NodeView self, final boolean eligible)
    {
        final Ip4Prefix podCidr = self.podCidr();
        final int gateway = podCidr == null ? 0 : podCidr.host(1);
        final long vtepMac = self.hasVtep() ? self.vtepMac() : FALLBACK_VTEP_PREFIX | (self.publicIp() & 0xffffffffL);
        return new NodeTables.NodeInfo(self.name(), self.addresses(), podCidr, gateway,
            gateway == 0 ? 0 : Ip4.podMac(gateway), self.uplinkMac(), vtepMac, self.publicIp(),
            self.underlayGateway(), self.underlayPrefix(), self.underlayMtu(), eligible);
    }

    private static List<NodeTables.PodInfo> pods(final ClusterState state, final NodeView self,
        final Consumer<Skipped> skipped)
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
            final int ip;
            final long mac;
            try
            {
                ip = podIp(ref, p);
                mac = podMac(ref, p, ip);
            }
            catch (final ManifestException e)
            {
                skipped.accept(Skipped.of("Pod", e));
                continue;
            }
            if (ip == 0 || self.addresses().contains(ip) || ip == self.publicIp())
            {
                continue;
            }
            final String previous = owners.putIfAbsent(ip, ref.qualifiedName());
            if (previous != null)
            {
                skipped.accept(new Skipped("Pod", DUPLICATE_POD_IP, ref.fail("status.podIP", Ip4.format(ip)
                    + " is also the IP of Pod " + previous)));
                continue;
            }
            out.add(new NodeTables.PodInfo(ref.namespace(), ref.name(), ip, mac, portName(ip)));
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
    private static Map<String, List<EndpointGroup>> endpointGroups(final ClusterState state,
        final Consumer<Skipped> skipped)
    {
        final Map<String, List<EndpointGroup>> out = new HashMap<>();
        final Set<String> withSlices = new HashSet<>();
        final List<EndpointSlice> slices = new ArrayList<>(state.endpointSlices());
        slices.sort(BY_NAMESPACE_AND_NAME);
        for (final EndpointSlice s : slices)
        {
            final var labels = s.getMetadata().getLabels();
            if (labels != null && labels.get(EndpointGroup.SERVICE_NAME_LABEL) != null)
            {
                // any slice, even an IPv6 or a skipped one, means the slice controllers own the Service's endpoints
                withSlices.add(key(s.getMetadata().getNamespace(), labels.get(EndpointGroup.SERVICE_NAME_LABEL)));
            }
            final EndpointGroup g;
            try
            {
                g = EndpointGroup.of(state.ref(s), s);
            }
            catch (final ManifestException e)
            {
                skipped.accept(Skipped.of("EndpointSlice", e));
                continue;
            }
            if (g != null)
            {
                out.computeIfAbsent(key(s.getMetadata().getNamespace(), g.service()), k -> new ArrayList<>()).add(g);
            }
        }
        for (final Endpoints e : sorted(state.endpoints()))
        {
            final List<EndpointGroup> g;
            try
            {
                g = EndpointGroup.of(state.ref(e), e);
            }
            catch (final ManifestException x)
            {
                skipped.accept(Skipped.of("Endpoints", x));
                continue;
            }
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
