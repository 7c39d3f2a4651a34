package dev.ferry.core.tables;

import dev.ferry.core.Ports;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.route.Ip4Lpm;
import dev.ferry.core.route.Ip4Prefix;
import dev.ferry.core.route.NeighbourTable;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntConsumer;

/**
 * The compiled IPv4 forwarding table of one node: an LPM over adjacencies (VPP's FIB + adjacency model).
 *
 * <pre>
 *   pod /32           → LOCAL_POD   (rewrite to the pod's port, dst MAC = pod MAC)
 *   own pod CIDR      → UNKNOWN_POD (no such pod: ICMP host unreachable)
 *   gateway, node IPs → LOCAL       (ip4-local: echo replies, host port)
 *   remote pod CIDR   → REMOTE_POD  (vxlan-encap toward that node's VTEP)
 *   remote node /32   → UPLINK      (rewrite to the uplink, dst MAC = that node's underlay MAC)
 *   underlay subnet   → UPLINK      (dst MAC by neighbour lookup of the destination)
 *   0.0.0.0/0         → UPLINK      (dst MAC of the underlay gateway), when a gateway is known
 *   no uplink port: underlay subnet, remote node /32s, 0.0.0.0/0 → UPLINK kind on the host port (dst MAC = the
 *                     host's MAC there, when known): the kernel routes them (socket mode)
 *   rest of cluster   → BLACKHOLE
 * </pre>
 */
public final class Fib
{
    /** Adjacency kind: a pod on this node. */
    public static final int LOCAL_POD = 0;
    /** Adjacency kind: a pod on another node, through VXLAN. */
    public static final int REMOTE_POD = 1;
    /** Adjacency kind: out of the uplink. */
    public static final int UPLINK = 2;
    /** Adjacency kind: an address of this node. */
    public static final int LOCAL = 3;
    /** Adjacency kind: inside this node's pod CIDR but no such pod. */
    public static final int UNKNOWN_POD = 4;
    /** Adjacency kind: drop silently (unassigned cluster space). */
    public static final int BLACKHOLE = 5;
    /** Adjacency dst MAC meaning "resolve by neighbour lookup of the destination address". */
    public static final long RESOLVE_BY_DST = -1L;
    /** {@link #podMac(int)}: the port is not a pod port (uplink, host, tunnel). */
    public static final long NOT_A_POD = 0L;
    /** {@link #podMac(int)}: a pod port that no pod of these tables is bound to (it accepts nothing). */
    public static final long UNBOUND_POD = -1L;

    private static final String[] KIND_NAMES = {"local-pod", "remote-pod", "uplink", "local", "unknown-pod",
        "blackhole"};

    private final NodeTables tables;
    private final Ip4Lpm lpm;
    private final NeighbourTable neighbours;
    private final boolean conventionalMacs;
    private final IntConsumer onMiss;
    private final int[] kind;
    private final int[] txPort;
    private final long[] dstMac;
    private final long[] srcMac;
    private final int[] remoteIndex;
    private final int[] mtu;
    private final List<String> descriptions;
    // per port id (ports known at compile): the bound pod's IPv4 and MAC; NOT_A_POD / UNBOUND_POD in the MAC slot
    private final int[] podIpByPort;
    private final long[] podMacByPort;
    // per port id: an underlay port (uplink, tunnel), the only ones VXLAN may be decapsulated from
    private final boolean[] underlayPort;
    // open addressing set of every node address (this node's and the remote nodes'); 0 marks a free slot
    private final int[] nodeAddrs;
    private final List<Route> routes;

    /**
     * One route as {@code ferry show routes} shows it: the text line and {@code -o json} are both made from it.
     *
     * @param prefix      the destination.
     * @param kind        local-pod, remote-pod, uplink, local, unknown-pod or blackhole.
     * @param dev         the port it leaves on, or null (local, unknown-pod, blackhole; remote-pod in socket mode).
     * @param via         the next hop's address (the underlay gateway, the remote node of a pod CIDR), or 0.
     * @param mtu         the link MTU toward it, or 0 when it is not sent anywhere.
     * @param description what the route is for, in words.
     */
    public record Route(Ip4Prefix prefix, String kind, String dev, int via, int mtu, String description)
    {
        /** @return the {@code ip route} style line: prefix, kind, description. */
        public String line()
        {
            return prefix + " " + kind + " " + description;
        }
    }

    private Fib(final Builder b)
    {
        this.tables = b.tables;
        this.lpm = b.lpmBuilder().build();
        this.neighbours = NeighbourTable.of(b.tables.neighbours());
        this.conventionalMacs = b.conventionalMacs;
        this.onMiss = b.onMiss;
        final int n = b.adjKind.size();
        kind = new int[n];
        txPort = new int[n];
        dstMac = new long[n];
        srcMac = new long[n];
        remoteIndex = new int[n];
        mtu = new int[n];
        for (int i = 0; i < n; i++)
        {
            kind[i] = b.adjKind.get(i);
            txPort[i] = b.adjPort.get(i);
            dstMac[i] = b.adjDst.get(i);
            srcMac[i] = b.adjSrc.get(i);
            remoteIndex[i] = b.adjRemote.get(i);
            mtu[i] = b.adjMtu.get(i);
        }
        descriptions = List.copyOf(b.adjDesc);
        podIpByPort = b.podIpByPort;
        podMacByPort = b.podMacByPort;
        underlayPort = b.underlayPort;
        nodeAddrs = nodeAddressSet(b.tables);
        routes = List.copyOf(b.routeList);
    }

    /**
     * Compiles the forwarding table for a node.
     *
     * @param tables           the node's tables.
     * @param ports            the node's ports; pods without a port are left out (counted by the caller).
     * @param conventionalMacs when an underlay neighbour is unknown, use {@code 0a:58:<ip>} (replay) instead
     *                         of dropping it.
     * @return the compiled table.
     */
    public static Fib compile(final NodeTables tables, final Ports ports, final boolean conventionalMacs)
    {
        return compile(tables, ports, conventionalMacs, null);
    }

    /**
     * Compiles the forwarding table for a node that resolves underlay neighbours itself: every lookup of an
     * unknown neighbour ({@link #neighbour(int)} returning {@link NeighbourTable#UNKNOWN}) is reported, so that
     * the node can send an ARP request. The listener is called on the forwarding thread (ip4-rewrite) and on the
     * compiling thread (modules' part compilers); it must be lock-free and must not allocate.
     *
     * @param tables           the node's tables.
     * @param ports            the node's ports.
     * @param conventionalMacs use {@code 0a:58:<ip>} for unknown neighbours (replay).
     * @param onMiss           told each unknown neighbour address, or null.
     * @return the compiled table.
     */
    public static Fib compile(final NodeTables tables, final Ports ports, final boolean conventionalMacs,
        final IntConsumer onMiss)
    {
        final Builder b = new Builder(tables, conventionalMacs);
        b.onMiss = onMiss;
        b.ports = ports;
        final NodeTables.NodeInfo node = tables.node();
        final int uplink = ports.uplink();
        final int podMtu = node.podMtu();
        final int underMtu = node.underlayMtu();

        if (tables.cluster().clusterCidr() != null)
        {
            b.route(tables.cluster().clusterCidr(), b.adj(BLACKHOLE, -1, 0, 0, -1, 0, "unassigned cluster space"));
        }
        if (uplink >= 0)
        {
            final long upMac = ports.get(uplink).mac();
            if (node.underlayPrefix() != null)
            {
                b.route(node.underlayPrefix(), b.adj(UPLINK, uplink, RESOLVE_BY_DST, upMac, -1, underMtu,
                    "uplink " + ports.nameOf(uplink) + " (direct)"));
            }
            if (node.underlayGateway() != 0)
            {
                final long gwMac = b.neighbourOrConvention(node.underlayGateway());
                b.route(new Ip4Prefix(0, 0), b.via(b.adj(UPLINK, uplink, gwMac, upMac, -1, underMtu,
                    "uplink " + ports.nameOf(uplink) + " via " + Ip4.format(node.underlayGateway())),
                    node.underlayGateway()));
            }
            else if (conventionalMacs)
            {
                b.route(new Ip4Prefix(0, 0), b.adj(UPLINK, uplink, RESOLVE_BY_DST, upMac, -1, underMtu,
                    "uplink " + ports.nameOf(uplink) + " (direct)"));
            }
            for (int r = 0; r < tables.remoteNodes().size(); r++)
            {
                final NodeTables.RemoteNode rn = tables.remoteNodes().get(r);
                // an underlay MAC the agent does not know (0) is resolved like any neighbour on the subnet
                final long mac = rn.underlayMac() == 0 ? b.neighbourOrConvention(rn.publicIp()) : rn.underlayMac();
                final int a = b.adj(UPLINK, uplink, mac, upMac, -1, underMtu,
                    "uplink " + ports.nameOf(uplink) + " to node " + rn.name());
                for (final int addr : rn.addresses())
                {
                    b.route(new Ip4Prefix(addr, 32), a);
                }
                b.route(new Ip4Prefix(rn.publicIp(), 32), a);
            }
        }
        else
        {
            routeThroughHost(b, tables, ports);
        }
        for (int r = 0; r < tables.remoteNodes().size(); r++)
        {
            final NodeTables.RemoteNode rn = tables.remoteNodes().get(r);
            b.route(rn.podCidr(), b.via(b.adj(REMOTE_POD, uplink, rn.vtepMac(), node.vtepMac(), r, podMtu,
                "vxlan to " + rn.name() + " (" + Ip4.format(rn.publicIp()) + ")"), rn.publicIp()));
        }
        if (node.podCidr() != null)
        {
            b.route(node.podCidr(), b.adj(UNKNOWN_POD, -1, 0, 0, -1, 0, "no such pod"));
        }
        final int local = b.adj(LOCAL, -1, 0, 0, -1, 0, "local");
        b.route(new Ip4Prefix(node.gatewayIp(), 32), local);
        for (final int addr : node.addresses())
        {
            b.route(new Ip4Prefix(addr, 32), local);
        }
        if (node.publicIp() != 0)
        {
            b.route(new Ip4Prefix(node.publicIp(), 32), local);
        }
        final List<Ports.Port> all = ports.all();
        b.podIpByPort = new int[all.size()];
        b.podMacByPort = new long[all.size()];
        b.underlayPort = new boolean[all.size()];
        for (final Ports.Port p : all)
        {
            if (p.id() < all.size())
            {
                b.underlayPort[p.id()] = p.kind() == Ports.Kind.UPLINK || p.kind() == Ports.Kind.TUNNEL;
            }
            if (p.id() < all.size() && p.kind() == Ports.Kind.POD)
            {
                b.podMacByPort[p.id()] = UNBOUND_POD;
            }
        }
        for (final NodeTables.PodInfo pod : tables.pods())
        {
            final int port = ports.idOf(pod.portName());
            if (port < 0)
            {
                continue;
            }
            if (port < all.size() && b.podMacByPort[port] == UNBOUND_POD)
            {
                b.podIpByPort[port] = pod.ip();
                b.podMacByPort[port] = pod.mac();
            }
            b.route(new Ip4Prefix(pod.ip(), 32), b.adj(LOCAL_POD, port, pod.mac(), node.gatewayMac(), -1, podMtu,
                "pod " + pod.namespace() + "/" + pod.name() + " on " + pod.portName()));
        }
        return new Fib(b);
    }

    /**
     * A node without an uplink port (socket mode: the kernel keeps the NIC) hands everything outside the cluster
     * to the host's stack through the host port, when the host's MAC on it is known: the underlay subnet, the
     * other nodes' addresses and the default route. The kernel routes them on.
     */
    private static void routeThroughHost(final Builder b, final NodeTables tables, final Ports ports)
    {
        final int host = ports.host();
        if (host < 0 || ports.peerMac(host) == 0)
        {
            return;
        }
        final int a = b.adj(UPLINK, host, ports.peerMac(host), ports.get(host).mac(), -1, 0,
            "host " + ports.nameOf(host) + " (the kernel routes it)");
        b.route(new Ip4Prefix(0, 0), a);
        if (tables.node().underlayPrefix() != null)
        {
            b.route(tables.node().underlayPrefix(), a);
        }
        for (final NodeTables.RemoteNode rn : tables.remoteNodes())
        {
            for (final int addr : rn.addresses())
            {
                b.route(new Ip4Prefix(addr, 32), a);
            }
            b.route(new Ip4Prefix(rn.publicIp(), 32), a);
        }
    }

    /**
     * Hot-path read: which pod a port belongs to, for pod source validation.
     *
     * @param port a port id.
     * @return the MAC of the pod bound to the port; {@link #NOT_A_POD} for a port that is not a pod's;
     *     {@link #UNBOUND_POD} for a pod port that no pod is bound to, or a port newer than these tables.
     */
    public long podMac(final int port)
    {
        return port >= 0 && port < podMacByPort.length ? podMacByPort[port] : port < 0 ? NOT_A_POD : UNBOUND_POD;
    }

    /**
     * Hot-path read: whether a port faces the underlay (the uplink, or the tunnel port that socket-mode datagrams
     * and decapsulated frames arrive on), the only ports VXLAN may be decapsulated from.
     *
     * @param port a port id.
     * @return whether it is an underlay port known to these tables.
     */
    public boolean underlayPort(final int port)
    {
        return port >= 0 && port < underlayPort.length && underlayPort[port];
    }

    private static int[] nodeAddressSet(final NodeTables tables)
    {
        final List<Integer> all = new ArrayList<>(tables.node().addresses());
        all.add(tables.node().publicIp());
        for (final NodeTables.RemoteNode rn : tables.remoteNodes())
        {
            all.add(rn.publicIp());
            all.addAll(rn.addresses());
        }
        final int[] set = new int[Integer.highestOneBit(Math.max(4, all.size() * 4 - 1)) << 1];
        for (final int a : all)
        {
            if (a == 0)
            {
                continue;
            }
            int i = slot(a, set.length - 1);
            while (set[i] != 0 && set[i] != a)
            {
                i = (i + 1) & (set.length - 1);
            }
            set[i] = a;
        }
        return set;
    }

    /** The home slot of an address in the node address set: the build and the lookup must agree. */
    private static int slot(final int addr, final int mask)
    {
        final int h = addr * 0x9e3779b9;
        return (h ^ h >>> 16) & mask;
    }

    /**
     * Hot-path read: whether an address belongs to a node of the cluster (this one or a remote one).
     *
     * @param addr an IPv4 address.
     * @return whether it is one of the nodes' addresses.
     */
    public boolean isNodeAddress(final int addr)
    {
        if (addr == 0)
        {
            return false;
        }
        final int[] set = nodeAddrs;
        int i = slot(addr, set.length - 1);
        while (set[i] != 0)
        {
            if (set[i] == addr)
            {
                return true;
            }
            i = (i + 1) & (set.length - 1);
        }
        return false;
    }

    /**
     * @param port a port id whose {@link #podMac(int)} is a MAC.
     * @return the IPv4 address of the pod bound to it.
     */
    public int podIp(final int port)
    {
        return podIpByPort[port];
    }

    /**
     * @param addr destination.
     * @return the adjacency index, or {@link Ip4Lpm#NO_ROUTE}.
     */
    public int lookup(final int addr)
    {
        return lpm.lookup(addr);
    }

    /**
     * @param adj adjacency.
     * @return its kind.
     */
    public int kind(final int adj)
    {
        return kind[adj];
    }

    /**
     * @param adj adjacency.
     * @return its transmit port, or -1.
     */
    public int txPort(final int adj)
    {
        return txPort[adj];
    }

    /**
     * @param adj adjacency.
     * @return destination MAC, or {@link #RESOLVE_BY_DST}.
     */
    public long dstMac(final int adj)
    {
        return dstMac[adj];
    }

    /**
     * @param adj adjacency.
     * @return source MAC.
     */
    public long srcMac(final int adj)
    {
        return srcMac[adj];
    }

    /**
     * @param adj adjacency.
     * @return index into {@link NodeTables#remoteNodes()} for REMOTE_POD, else -1.
     */
    public int remoteIndex(final int adj)
    {
        return remoteIndex[adj];
    }

    /**
     * @param adj adjacency.
     * @return the MTU of the link behind it (0 = unchecked).
     */
    public int mtu(final int adj)
    {
        return mtu[adj];
    }

    /**
     * Resolves an underlay neighbour.
     *
     * @param addr address.
     * @return its MAC; with conventional MACs an unknown address gets {@code 0a:58:<ip>}; else
     *         {@link NeighbourTable#UNKNOWN}.
     */
    public long neighbour(final int addr)
    {
        final long mac = neighbours.lookup(addr);
        if (mac == NeighbourTable.UNKNOWN && conventionalMacs)
        {
            return Ip4.podMac(addr);
        }
        if (mac == NeighbourTable.UNKNOWN && onMiss != null)
        {
            onMiss.accept(addr);
        }
        return mac;
    }

    /** @return the tables this was compiled from. */
    public NodeTables tables()
    {
        return tables;
    }

    /** @return number of adjacencies. */
    public int adjacencyCount()
    {
        return kind.length;
    }

    /**
     * @param adj adjacency.
     * @return a human-readable description.
     */
    public String describe(final int adj)
    {
        return adj < 0 ? "no route" : KIND_NAMES[kind[adj]] + ": " + descriptions.get(adj);
    }

    /** @return the routes in {@code ip route} style, most specific first. */
    public List<String> routeLines()
    {
        return routes.stream().map(Route::line).toList();
    }

    /** @return the routes, most specific first ({@link #routeLines()} is their text). */
    public List<Route> routes()
    {
        return routes;
    }

    /** @return the LPM (for benchmarks and diagnostics). */
    public Ip4Lpm lpm()
    {
        return lpm;
    }

    private static final class Builder
    {
        private final NodeTables tables;
        private final boolean conventionalMacs;
        private IntConsumer onMiss;
        private int[] podIpByPort = new int[0];
        private long[] podMacByPort = new long[0];
        private boolean[] underlayPort = new boolean[0];
        private final Ip4Lpm.Builder lpm = Ip4Lpm.builder();
        private final Map<Ip4Prefix, Integer> routes = new HashMap<>();
        private final List<Integer> adjKind = new ArrayList<>();
        private final List<Integer> adjPort = new ArrayList<>();
        private final List<Long> adjDst = new ArrayList<>();
        private final List<Long> adjSrc = new ArrayList<>();
        private final List<Integer> adjRemote = new ArrayList<>();
        private final List<Integer> adjMtu = new ArrayList<>();
        private final List<String> adjDesc = new ArrayList<>();
        private final List<Integer> adjVia = new ArrayList<>();
        private final List<String> adjDev = new ArrayList<>();
        private final List<Route> routeList = new ArrayList<>();
        private Ports ports;

        Builder(final NodeTables tables, final boolean conventionalMacs)
        {
            this.tables = tables;
            this.conventionalMacs = conventionalMacs;
        }

        int adj(final int k, final int port, final long dst, final long src, final int remote, final int linkMtu,
            final String desc)
        {
            adjKind.add(k);
            adjPort.add(port);
            adjDst.add(dst);
            adjSrc.add(src);
            adjRemote.add(remote);
            adjMtu.add(linkMtu);
            adjDesc.add(desc);
            adjVia.add(0);
            adjDev.add(port < 0 || ports == null || port >= ports.size() ? null : ports.nameOf(port));
            return adjKind.size() - 1;
        }

        /** Records an adjacency's next hop for {@code show routes}. */
        int via(final int adj, final int addr)
        {
            adjVia.set(adj, addr);
            return adj;
        }

        void route(final Ip4Prefix p, final int adj)
        {
            routes.put(p, adj);
            lpm.add(p, adj);
        }

        long neighbourOrConvention(final int addr)
        {
            final Long mac = tables.neighbours().get(addr);
            if (mac != null)
            {
                return mac;
            }
            return conventionalMacs ? Ip4.podMac(addr) : RESOLVE_BY_DST;
        }

        Ip4Lpm.Builder lpmBuilder()
        {
            routeList.clear();
            routes.entrySet().stream()
                .sorted((x, y) -> x.getKey().length() != y.getKey().length()
                    ? Integer.compare(y.getKey().length(), x.getKey().length())
                    : Integer.compareUnsigned(x.getKey().address(), y.getKey().address()))
                .forEach(e -> routeList.add(new Route(e.getKey(), KIND_NAMES[adjKind.get(e.getValue())],
                    adjDev.get(e.getValue()), adjVia.get(e.getValue()), adjMtu.get(e.getValue()),
                    adjDesc.get(e.getValue()))));
            return lpm;
        }
    }
}
