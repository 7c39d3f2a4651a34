package dev.ferry.nat;

import dev.ferry.conntrack.ConntrackConfig;
import dev.ferry.conntrack.ConntrackTable;
import dev.ferry.core.Counters;
import dev.ferry.core.Graph;
import dev.ferry.core.ManualClock;
import dev.ferry.core.PacketPool;
import dev.ferry.core.Ports;
import dev.ferry.core.Stage;
import dev.ferry.core.TxSink;
import dev.ferry.core.graph.GraphAssembly;
import dev.ferry.core.graph.GraphFeature;
import dev.ferry.core.header.IcmpHeader;
import dev.ferry.core.header.Ip4Header;
import dev.ferry.core.header.TcpHeader;
import dev.ferry.core.header.UdpHeader;
import dev.ferry.core.header.Wire;
import dev.ferry.core.packet.FrameBuilder;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.route.Ip4Prefix;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.tables.ServiceInfo;
import dev.ferry.core.tables.Snapshot;
import dev.ferry.core.tables.TablesPublisher;
import dev.ferry.core.tables.TablesRef;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * One node with three local pods, an uplink and a remote node, the core stages and the NAT stages, fed
 * frame by frame; transmitted frames are copied out and parsed.
 */
final class Harness implements AutoCloseable
{
    static final int NODE_IP = Ip4.parse("192.168.0.10");
    static final int GATEWAY = Ip4.parse("10.244.1.1");
    static final long GATEWAY_MAC = Ip4.podMac(GATEWAY);
    static final long UPLINK_MAC = Ip4.parseMac("02:00:00:00:00:10");
    static final int ROUTER = Ip4.parse("192.168.0.1");
    static final long ROUTER_MAC = Ip4.parseMac("02:00:00:00:00:01");
    static final int CLIENT = Ip4.parse("10.244.1.2");
    static final int B1 = Ip4.parse("10.244.1.3");
    static final int B2 = Ip4.parse("10.244.1.4");
    static final int REMOTE_POD = Ip4.parse("10.244.2.5");
    static final int EXTERNAL = Ip4.parse("203.0.113.7");

    /** A transmitted frame. */
    record Out(String port, byte[] bytes)
    {
        Pkt pkt()
        {
            return new Pkt(bytes, 14);
        }
    }

    /** A parsed IPv4 packet (over an array). */
    static final class Pkt
    {
        final MemorySegment seg;
        final int off;
        final Ip4Header ip = new Ip4Header();

        Pkt(final byte[] bytes, final int off)
        {
            this.seg = MemorySegment.ofArray(bytes);
            this.off = off;
            ip.wrap(seg, off);
        }

        int src()
        {
            return ip.src();
        }

        int dst()
        {
            return ip.dst();
        }

        int proto()
        {
            return ip.protocol();
        }

        long l4()
        {
            return ip.payloadOffset();
        }

        int sport()
        {
            return Wire.u16(seg, l4());
        }

        int dport()
        {
            return Wire.u16(seg, l4() + 2);
        }

        int tcpFlags()
        {
            return Wire.u8(seg, l4() + 13);
        }

        int icmpType()
        {
            return Wire.u8(seg, l4());
        }

        int icmpCode()
        {
            return Wire.u8(seg, l4() + 1);
        }

        int icmpId()
        {
            return Wire.u16(seg, l4() + 4);
        }

        Pkt inner()
        {
            final byte[] copy = seg.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
            return new Pkt(copy, (int)l4() + 8);
        }

        /** Checks the IP header checksum and the full L4 checksum. */
        boolean checksumsValid()
        {
            if (!ip.checksumValid())
            {
                return false;
            }
            final int len = ip.payloadLength();
            return switch (ip.protocol())
            {
                case Ip4Header.PROTO_TCP -> new TcpHeader().wrap(seg, l4()).checksumValid(src(), dst(), len);
                case Ip4Header.PROTO_UDP -> new UdpHeader().wrap(seg, l4()).checksumValid(src(), dst());
                case Ip4Header.PROTO_ICMP -> new IcmpHeader().wrap(seg, l4()).checksumValid(len);
                default -> true;
            };
        }

        @Override
        public String toString()
        {
            return Ip4.format(src()) + ":" + sport() + " -> " + Ip4.format(dst()) + ":" + dport() + " proto "
                + proto();
        }
    }

    final ManualClock clock = new ManualClock(1_000_000_000_000L);
    final PacketPool pool = new PacketPool(1024, PacketPool.DEFAULT_BUFFER_SIZE, PacketPool.DEFAULT_HEADROOM, 2);
    final Counters counters = Counters.inMemory(1024);
    final Ports ports = new Ports();
    final TablesPublisher publisher;
    final MapFlows map;
    final ConntrackTable ct;
    final Nat nat;
    final Graph graph;
    final List<Out> sent = new ArrayList<>();
    /** The segment size each frame of {@link #sent} left with (0: a plain packet). */
    final List<Integer> sentGsoSize = new ArrayList<>();
    final TablesRef<Snapshot> stageTables;
    /** When set, the sink frees what leaves and counts it in {@link #discarded}, recording nothing (allocation
     *  measurements). */
    boolean discard;
    long discarded;
    NodeTables.ClusterSettings settings = NodeTables.ClusterSettings.defaults();
    private long generation;
    private final int entry;

    Harness(final Nat.Options options, final int flowCapacity)
    {
        this(options, flowCapacity, true);
    }

    Harness(final Nat.Options options, final int flowCapacity, final boolean realConntrack)
    {
        this(options, flowCapacity, realConntrack, false);
    }

    /** A node's ownership stage for a graph that owns every flow: everything on to nat44-in. */
    private static Stage ownAll()
    {
        return new Stage()
        {
            @Override
            public String name()
            {
                return Nat.OWNERSHIP_STAGE;
            }

            @Override
            public List<String> nextNames()
            {
                return List.of(Nat44In.NAME);
            }

            @Override
            public List<? extends dev.ferry.core.DropReason> dropReasons()
            {
                return List.of();
            }

            @Override
            public void process(final dev.ferry.core.PacketVector in, final Next out)
            {
                for (int i = 0; i < in.count(); i++)
                {
                    out.next(in.get(i), 0);
                }
            }
        };
    }

    /**
     * @param pinned whether the stages read a reference that only {@link #pin()} moves to the publisher's
     *               latest snapshot, as a node worker pins one snapshot per graph run.
     */
    Harness(final Nat.Options options, final int flowCapacity, final boolean realConntrack, final boolean pinned)
    {
        stageTables = pinned ? new TablesRef<>(null) : null;
        final TablesRef<Snapshot> ref;
        ports.add("uplink", Ports.Kind.UPLINK, UPLINK_MAC);
        ports.add("pod-client", Ports.Kind.POD, GATEWAY_MAC);
        ports.add("pod-b1", Ports.Kind.POD, GATEWAY_MAC);
        ports.add("pod-b2", Ports.Kind.POD, GATEWAY_MAC);
        publisher = new TablesPublisher(ports, false);
        ref = pinned ? stageTables : publisher.ref();
        if (realConntrack)
        {
            map = null;
            ct = new ConntrackTable(ConntrackConfig.builder().capacity(flowCapacity).hashSeed(1).build(), clock);
            nat = Nat.create(pool, publisher, ref, clock, counters, options, ct);
        }
        else
        {
            map = new MapFlows(clock, flowCapacity, 30_000_000_000L);
            ct = null;
            nat = new Nat(pool, publisher, ref, clock, counters, options, map);
        }
        final TxSink sink = h ->
        {
            if (discard)
            {
                discarded++;
                pool.free(h);
                return;
            }
            sent.add(new Out(ports.nameOf(pool.txPort(h)), pool.toArray(h)));
            sentGsoSize.add(pool.gsoSize(h));
            pool.free(h);
        };
        // the one assembly, with the Services stages as the only feature
        graph = GraphAssembly.of(pool, counters, clock, ports, publisher, ref).sink(sink).feature(new GraphFeature()
        {
            @Override
            public String name()
            {
                return "services";
            }

            @Override
            public List<Stage> beforeLookup(final Context c, final String next)
            {
                if (options.workers() == 1)
                {
                    return nat.stages();
                }
                // a NAT of one worker of several hands fragments, their ports known, to the node's ownership
                // stage; this graph is the one worker, so that stage keeps everything
                final List<Stage> stages = new ArrayList<>();
                stages.add(ownAll());
                stages.addAll(nat.stages());
                return stages;
            }
        }).build();
        entry = graph.indexOf("ethernet-input");
    }

    Harness()
    {
        this(Nat.Options.defaults(42), 100_000);
    }

    void publish(final ServiceInfo... services)
    {
        publisher.publish(tables(++generation, settings, services));
    }

    /** Moves the pinned reference to the latest published snapshot (a worker between two graph runs). */
    void pin()
    {
        stageTables.soCurrent(publisher.current());
    }

    /** Publishes tables in which a pod no longer exists. */
    void publishWithoutPod(final int podIp, final ServiceInfo... services)
    {
        final NodeTables t = tables(++generation, settings, services);
        publisher.publish(new NodeTables(t.generation(), t.node(), t.cluster(),
            t.pods().stream().filter(p -> p.ip() != podIp).toList(), t.remoteNodes(), t.services(), t.neighbours()));
    }

    static NodeTables tables(final long generation, final NodeTables.ClusterSettings settings,
        final ServiceInfo... services)
    {
        final NodeTables.NodeInfo node = new NodeTables.NodeInfo("n1", List.of(NODE_IP),
            Ip4Prefix.parse("10.244.1.0/24"), GATEWAY, GATEWAY_MAC, UPLINK_MAC, Ip4.parseMac("02:00:00:00:01:10"),
            NODE_IP, ROUTER, Ip4Prefix.parse("192.168.0.0/24"), 1500);
        final List<NodeTables.PodInfo> pods = List.of(
            new NodeTables.PodInfo("default", "client", CLIENT, Ip4.podMac(CLIENT), "pod-client"),
            new NodeTables.PodInfo("default", "b1", B1, Ip4.podMac(B1), "pod-b1"),
            new NodeTables.PodInfo("default", "b2", B2, Ip4.podMac(B2), "pod-b2"));
        final List<NodeTables.RemoteNode> remotes = List.of(new NodeTables.RemoteNode("n2",
            Ip4Prefix.parse("10.244.2.0/24"), Ip4.parse("192.168.0.11"), Ip4.parseMac("02:00:00:00:02:11"),
            Ip4.parseMac("02:00:00:00:00:11"), List.of(Ip4.parse("192.168.0.11"))));
        return new NodeTables(generation, node, settings, pods, remotes, List.of(services), Map.of(ROUTER, ROUTER_MAC));
    }

    /** Sends one frame in on a port, runs the graph, returns what left. */
    List<Out> send(final String port, final byte[] frame)
    {
        sent.clear();
        final int h = pool.allocate();
        pool.write(h, frame, 0, frame.length);
        pool.rxPort(h, ports.idOf(port));
        pool.timestamp(h, clock.nanos());
        graph.input(entry, h);
        graph.run();
        return new ArrayList<>(sent);
    }

    /**
     * Sends a TSO superframe in on a port (a large buffer with offload metadata, as a pod TAP with TSO hands it
     * over), runs the graph, returns what left; {@link #sentGsoSize} says which left as superframes.
     */
    List<Out> sendSuperframe(final String port, final byte[] frame, final int mss)
    {
        sent.clear();
        sentGsoSize.clear();
        final int h = pool.allocateLarge();
        pool.write(h, frame, 0, frame.length);
        pool.rxPort(h, ports.idOf(port));
        pool.timestamp(h, clock.nanos());
        pool.gso(h, PacketPool.GSO_TCPV4, mss);
        pool.checksumPartial(h, 34, 16);
        graph.input(entry, h);
        graph.run();
        return new ArrayList<>(sent);
    }

    /** Queues one frame on a port id without running the graph (allocation measurements: nothing allocated). */
    void input(final int port, final byte[] frame)
    {
        final int h = pool.allocate();
        pool.write(h, frame, 0, frame.length);
        pool.rxPort(h, port);
        pool.timestamp(h, clock.nanos());
        graph.input(entry, h);
    }

    /** Sends frames as one vector: pairs of (port name, frame). */
    List<Out> sendVector(final Object... portAndFrame)
    {
        sent.clear();
        for (int i = 0; i < portAndFrame.length; i += 2)
        {
            final byte[] frame = (byte[])portAndFrame[i + 1];
            final int h = pool.allocate();
            pool.write(h, frame, 0, frame.length);
            pool.rxPort(h, ports.idOf((String)portAndFrame[i]));
            pool.timestamp(h, clock.nanos());
            graph.input(entry, h);
        }
        graph.run();
        return new ArrayList<>(sent);
    }

    Out sendOne(final String port, final byte[] frame)
    {
        final List<Out> out = send(port, frame);
        if (out.size() != 1)
        {
            throw new AssertionError("expected one frame out, got " + out.size() + "; counters: " + drops());
        }
        return out.get(0);
    }

    /** @return non-zero drop counters. */
    Map<String, Long> drops()
    {
        final Map<String, Long> m = new java.util.TreeMap<>();
        counters.snapshot().forEach((k, v) ->
        {
            if (k.contains("/drop/") && v > 0)
            {
                m.put(k, v);
            }
        });
        return m;
    }

    long counter(final String name)
    {
        return counters.get(name);
    }

    static FrameBuilder fromPod(final int podIp)
    {
        return new FrameBuilder().eth(Ip4.podMac(podIp), GATEWAY_MAC);
    }

    static FrameBuilder fromUplink()
    {
        return new FrameBuilder().eth(ROUTER_MAC, UPLINK_MAC);
    }

    static String podPort(final int podIp)
    {
        if (podIp == CLIENT)
        {
            return "pod-client";
        }
        return podIp == B1 ? "pod-b1" : "pod-b2";
    }

    /** @return flow-table lookups so far. */
    long lookups()
    {
        return ct != null ? ct.stats().found() + ct.stats().searchMiss() : map.lookups;
    }

    /** @return live flows. */
    int flowCount()
    {
        return ct != null ? ct.size() : map.size();
    }

    boolean poolFull()
    {
        return pool.available() == pool.capacity();
    }

    @Override
    public void close()
    {
        pool.close();
        counters.close();
        if (ct != null)
        {
            ct.close();
        }
    }

    // ---- Service builders ----

    static ServiceInfo.Endpoint ready(final int ip, final int port, final boolean local)
    {
        return new ServiceInfo.Endpoint(ip, port, true, true, false, local ? "n1" : "n2", "", local);
    }

    static ServiceInfo clusterIp(final String name, final int vip, final int proto, final int port,
        final ServiceInfo.Endpoint... eps)
    {
        return new ServiceInfo("default", name, "ClusterIP", null, List.of(vip), List.of(), List.of(), false,
            ServiceInfo.DEFAULT_AFFINITY_TIMEOUT, false, false,
            List.of(new ServiceInfo.ServicePort("", proto, port, 0, List.of(eps))));
    }

    static ServiceInfo nodePort(final String name, final int vip, final int port, final int nodePort,
        final boolean etpLocal, final ServiceInfo.Endpoint... eps)
    {
        return new ServiceInfo("default", name, "NodePort", null, List.of(vip), List.of(), List.of(), false,
            ServiceInfo.DEFAULT_AFFINITY_TIMEOUT, etpLocal, false,
            List.of(new ServiceInfo.ServicePort("", 6, port, nodePort, List.of(eps))));
    }
}
