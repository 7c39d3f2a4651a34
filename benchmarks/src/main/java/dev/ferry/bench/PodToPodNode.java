package dev.ferry.bench;

import dev.ferry.core.Counters;
import dev.ferry.core.Graph;
import dev.ferry.core.ManualClock;
import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;
import dev.ferry.core.Ports;
import dev.ferry.core.TxSink;
import dev.ferry.core.graph.GraphAssembly;
import dev.ferry.core.header.EthernetHeader;
import dev.ferry.core.header.Ip4Header;
import dev.ferry.core.header.UdpHeader;
import dev.ferry.core.packet.FrameBuilder;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.route.Ip4Prefix;
import dev.ferry.core.stage.EthernetInput;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.tables.TablesPublisher;
import dev.ferry.node.NodeConfig;
import dev.ferry.node.NodeGraph;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A benchmark node: one node with {@link #PODS} local pods, its hand-built {@link NodeTables}, the node's graph
 * ({@link NodeGraph}, or the L3 stages alone from the same {@link GraphAssembly}), and
 * {@link PacketVector#CAPACITY} frame templates of pod-to-pod UDP traffic.
 *
 * <pre>
 *   templates (off-heap) ──rearm: allocate + copy──► pool buffers ──input──► ethernet-input ─► ip4-input
 *        ─► ip4-lookup ─► ip4-rewrite ─► interface-output ─► sink (frees the buffer, counts it)
 * </pre>
 *
 * <p>Frame {@code i} goes from pod {@code i % 16} to another pod on this node, UDP source port
 * {@code 10000 + i}: 256 distinct flows over 16 links. The underlay MTU is 1550, so pods get an MTU of 1500
 * and a 1500-byte frame (IPv4 total length 1486) forwards without an ICMP error. Not the hot path itself:
 * it allocates while it is built; {@link #rearm()} and {@link #forward()} do not.
 */
public final class PodToPodNode implements AutoCloseable
{
    /** Local pods (and pod ports). */
    public static final int PODS = 16;
    /** The node's pod CIDR. */
    public static final Ip4Prefix POD_CIDR = Ip4Prefix.parse("10.244.1.0/24");
    /** Pod gateway address. */
    public static final int GATEWAY_IP = Ip4.parse("10.244.1.1");
    /** Pod gateway MAC: the MAC of the dataplane side of every pod link. */
    public static final long GATEWAY_MAC = Ip4.parseMac("0a:58:0a:f4:01:01");
    /** Underlay MTU; pods get 50 bytes less. */
    public static final int UNDERLAY_MTU = 1550;
    /** This node's underlay address. */
    public static final int NODE_IP = Ip4.parse("192.168.1.10");
    /** Smallest frame: Ethernet + IPv4 + UDP headers. */
    public static final int MIN_FRAME = EthernetHeader.LENGTH + Ip4Header.MIN_LENGTH + UdpHeader.LENGTH;

    private static final int VECTOR = PacketVector.CAPACITY;

    private final int frameSize;
    private final PacketPool pool;
    private final Counters counters;
    private final Ports ports;
    private final TablesPublisher publisher;
    private final NodeGraph node;
    private final Graph graph;
    private final FreeingSink sink;
    private final int entry;
    private final Arena arena;
    private final MemorySegment templates;
    private final int[] rxPort = new int[VECTOR];
    private final int[] txPort = new int[VECTOR];
    private final int[] scratch = new int[VECTOR];
    private List<Graph.RuntimeRow> runtimeMark = List.of();

    /**
     * Builds the node with the node's own graph ({@link NodeGraph}).
     *
     * @param frameSize Ethernet frame length in bytes (no FCS), from {@link #MIN_FRAME} to 1514.
     */
    public PodToPodNode(final int frameSize)
    {
        this(frameSize, true);
    }

    /**
     * Builds the node, its tables, its graph and the frame templates.
     *
     * @param frameSize Ethernet frame length in bytes (no FCS), from {@link #MIN_FRAME} to 1514.
     * @param nodeGraph the node's own graph (true), or the L3 stages alone from the same assembly (false).
     */
    public PodToPodNode(final int frameSize, final boolean nodeGraph)
    {
        if (frameSize < MIN_FRAME || frameSize > UNDERLAY_MTU - 50 + EthernetHeader.LENGTH)
        {
            throw new IllegalArgumentException("frame size out of range: " + frameSize);
        }
        this.frameSize = frameSize;
        this.pool = new PacketPool(4 * VECTOR);
        this.counters = Counters.inMemory(4096);
        this.ports = new Ports();
        final List<NodeTables.PodInfo> pods = new ArrayList<>();
        for (int p = 0; p < PODS; p++)
        {
            final String name = "pod-" + p;
            ports.add(name, Ports.Kind.POD, GATEWAY_MAC);
            pods.add(new NodeTables.PodInfo("bench", name, podIp(p), Ip4.podMac(podIp(p)), name));
        }
        final int host = NodeGraph.registerHost(ports, "ferry0", GATEWAY_MAC, Ip4.podMac(NODE_IP));
        NodeGraph.registerUplink(ports, "uplink", Ip4.parseMac("02:00:c0:a8:01:0a"));
        publisher = new TablesPublisher(ports, false);
        sink = new FreeingSink(pool);
        final ManualClock clock = new ManualClock(1_700_000_000_000_000_000L);
        final NodeTables tables = tables();
        if (nodeGraph)
        {
            // the node's own graph (ferry node in packet mode, ferry replay): pod-to-pod traffic also passes
            // vxlan-bypass, nat44-in and nat44-new, untracked
            node = NodeGraph.builder(NodeConfig.defaults("bench", Path.of("bench.sock"), "uplink"), pool, counters,
                clock, ports, publisher, publisher.ref()).sink(sink).hostPort(host).build();
            graph = node.graph();
            node.beforePublish(tables);
        }
        else
        {
            // the same assembly with no features: the L3 stages alone
            node = null;
            graph = GraphAssembly.of(pool, counters, clock, ports, publisher, publisher.ref()).sink(sink).build();
        }
        publisher.publish(tables);
        entry = graph.indexOf(EthernetInput.NAME);

        arena = Arena.ofShared();
        templates = arena.allocate((long)VECTOR * frameSize, 64);
        for (int i = 0; i < VECTOR; i++)
        {
            final int src = i % PODS;
            final int dst = destinationPod(i);
            final byte[] frame = new FrameBuilder()
                .eth(Ip4.podMac(podIp(src)), GATEWAY_MAC)
                .ip4(podIp(src), podIp(dst))
                .ttl(64)
                .udp(10000 + i, 8080)
                .payload(new byte[frameSize - MIN_FRAME])
                .build();
            MemorySegment.copy(frame, 0, templates, java.lang.foreign.ValueLayout.JAVA_BYTE, (long)i * frameSize,
                frameSize);
            rxPort[i] = ports.idOf("pod-" + src);
            txPort[i] = ports.idOf("pod-" + dst);
        }
    }

    /**
     * @param p pod index.
     * @return that pod's address, 10.244.1.10 onwards.
     */
    public static int podIp(final int p)
    {
        return POD_CIDR.host(10 + p);
    }

    /**
     * @param i frame index.
     * @return the pod that frame {@code i} is sent to (never its sender).
     */
    public static int destinationPod(final int i)
    {
        final int src = i % PODS;
        final int dst = (i * 7 + 3) % PODS;
        return dst == src ? (dst + 1) % PODS : dst;
    }

    private static NodeTables tables()
    {
        final NodeTables.NodeInfo node = new NodeTables.NodeInfo("bench-node", List.of(Ip4.parse("192.168.1.10")),
            POD_CIDR, GATEWAY_IP, GATEWAY_MAC, Ip4.parseMac("02:00:c0:a8:01:0a"),
            Ip4.parseMac("9e:00:00:00:01:01"), Ip4.parse("192.168.1.10"), 0, Ip4Prefix.parse("192.168.1.0/24"),
            UNDERLAY_MTU);
        final List<NodeTables.PodInfo> pods = new ArrayList<>();
        for (int p = 0; p < PODS; p++)
        {
            pods.add(new NodeTables.PodInfo("bench", "pod-" + p, podIp(p), Ip4.podMac(podIp(p)), "pod-" + p));
        }
        final List<NodeTables.RemoteNode> remotes = new ArrayList<>();
        for (int r = 0; r < 4; r++)
        {
            remotes.add(new NodeTables.RemoteNode("node-" + (r + 2), Ip4Prefix.parse("10.244." + (r + 2) + ".0/24"),
                Ip4.parse("192.168.1." + (r + 11)), Ip4.parseMac("9e:00:00:00:01:0" + (r + 2)),
                Ip4.parseMac("02:00:c0:a8:01:" + (r + 11)), List.of(Ip4.parse("192.168.1." + (r + 11)))));
        }
        return new NodeTables(1, node, NodeTables.ClusterSettings.defaults(), pods, remotes, List.of(), Map.of());
    }

    /**
     * Re-arms one vector: takes {@link PacketVector#CAPACITY} buffers from the pool, copies the templates
     * into them (fresh TTL and checksum) and queues them at ethernet-input. No allocation.
     */
    public void rearm()
    {
        final PacketPool pool = this.pool;
        final MemorySegment mem = pool.memory();
        final MemorySegment templates = this.templates;
        final Graph graph = this.graph;
        final int size = frameSize;
        final int entry = this.entry;
        for (int i = 0; i < VECTOR; i++)
        {
            final int h = pool.allocate();
            MemorySegment.copy(templates, (long)i * size, mem, pool.frameOffset(h), size);
            pool.length(h, size);
            pool.rxPort(h, rxPort[i]);
            graph.input(entry, h);
        }
    }

    /**
     * Re-arms one vector and runs the graph over it: the whole L3 forwarding path for 256 packets.
     *
     * @return packets transmitted so far (feeds the benchmark's blackhole).
     */
    public long forward()
    {
        rearm();
        graph.run();
        return sink.transmitted();
    }

    /**
     * The harness cost alone: allocates, copies and frees a vector's buffers without running the graph.
     *
     * @return a handle, to feed the benchmark's blackhole.
     */
    public int rearmAndFree()
    {
        final PacketPool pool = this.pool;
        final MemorySegment mem = pool.memory();
        final MemorySegment templates = this.templates;
        final int size = frameSize;
        final int[] scratch = this.scratch;
        for (int i = 0; i < VECTOR; i++)
        {
            final int h = pool.allocate();
            MemorySegment.copy(templates, (long)i * size, mem, pool.frameOffset(h), size);
            pool.length(h, size);
            pool.rxPort(h, rxPort[i]);
            scratch[i] = h;
        }
        for (int i = 0; i < VECTOR; i++)
        {
            pool.free(scratch[i]);
        }
        return scratch[0];
    }

    /**
     * Checks that the benchmark measured forwarding and not drops: every packet that entered the graph was
     * transmitted, and every buffer is back in the pool.
     *
     * @throws IllegalStateException naming the first non-zero drop counter, or a leak.
     */
    public void verify()
    {
        final long in = counters.get("stage/" + EthernetInput.NAME + "/packets");
        final long out = sink.transmitted();
        if (in != out)
        {
            String firstDrop = "none";
            for (final Map.Entry<String, Long> e : counters.snapshot().entrySet())
            {
                final boolean lost = e.getKey().contains("/drop/") || e.getKey().endsWith("icmp-error/packets");
                if (lost && e.getValue() > 0)
                {
                    firstDrop = e.getKey() + "=" + e.getValue();
                    break;
                }
            }
            throw new IllegalStateException("packets in " + in + " != transmitted " + out + "; first: " + firstDrop);
        }
        if (pool.available() != pool.capacity())
        {
            throw new IllegalStateException("packet buffers leaked: " + pool.inUse());
        }
    }

    /**
     * Remembers the graph's per-stage figures now, so that {@link #runtimeReport()} shows only what follows
     * (the measurement, without the warm-up). Control side: it allocates.
     */
    public void markRuntime()
    {
        runtimeMark = graph.runtime();
    }

    /**
     * The graph's per-stage figures since {@link #markRuntime()} (or since the start) in the columns of VPP's
     * {@code show runtime}: calls, packets, ns per packet, packets per call, for the stages that saw packets.
     * Control side: it allocates.
     *
     * @return one line per stage, or an empty string when no packet went through.
     */
    public String runtimeReport()
    {
        final StringBuilder sb = new StringBuilder();
        final List<Graph.RuntimeRow> now = graph.runtime();
        for (int i = 0; i < now.size(); i++)
        {
            final Graph.RuntimeRow r = now.get(i);
            final Graph.RuntimeRow m = runtimeMark.isEmpty() ? new Graph.RuntimeRow(r.name(), 0, 0, 0)
                : runtimeMark.get(i);
            final Graph.RuntimeRow d = new Graph.RuntimeRow(r.name(), r.calls() - m.calls(),
                r.packets() - m.packets(), r.nanos() - m.nanos());
            if (d.packets() > 0)
            {
                sb.append(String.format(java.util.Locale.ROOT, "  %-18s calls %10d  packets %12d  %7.2f ns/packet"
                    + "  %6.1f packets/call%n", d.name(), d.calls(), d.packets(), d.nanosPerPacket(),
                    d.vectorsPerCall()));
            }
        }
        return sb.toString();
    }

    /** @return the graph. */
    public Graph graph()
    {
        return graph;
    }

    /** @return the packet pool. */
    public PacketPool pool()
    {
        return pool;
    }

    /** @return the ports. */
    public Ports ports()
    {
        return ports;
    }

    /** @return the sink at the end of the graph. */
    public FreeingSink sink()
    {
        return sink;
    }

    /** @return the frame length this node was built for. */
    public int frameSize()
    {
        return frameSize;
    }

    /**
     * @param i frame index, below {@link PacketVector#CAPACITY}.
     * @return the pod port that frame {@code i} arrives on.
     */
    public int rxPort(final int i)
    {
        return rxPort[i];
    }

    /**
     * @param i frame index, below {@link PacketVector#CAPACITY}.
     * @return the pod port that frame {@code i} must leave on.
     */
    public int expectedTxPort(final int i)
    {
        return txPort[i];
    }

    /**
     * Copies frame template {@code i} into a fresh buffer without queueing it (for stage benchmarks).
     *
     * @param i frame index.
     * @return the buffer's handle.
     */
    public int load(final int i)
    {
        final int h = pool.allocate();
        MemorySegment.copy(templates, (long)i * frameSize, pool.memory(), pool.frameOffset(h), frameSize);
        pool.length(h, frameSize);
        pool.rxPort(h, rxPort[i]);
        return h;
    }

    @Override
    public void close()
    {
        arena.close();
        if (node != null)
        {
            node.close();
        }
        pool.close();
        counters.close();
    }

    /**
     * The transmit side of the benchmark: counts each packet, remembers its port, and frees its buffer (a
     * real port would copy it to a ring first).
     */
    public static final class FreeingSink implements TxSink
    {
        private final PacketPool pool;
        private long transmitted;
        private final long[] perPort = new long[64];

        FreeingSink(final PacketPool pool)
        {
            this.pool = pool;
        }

        @Override
        public void transmit(final int handle)
        {
            transmitted++;
            perPort[pool.txPort(handle)]++;
            pool.free(handle);
        }

        /** @return packets transmitted so far. */
        public long transmitted()
        {
            return transmitted;
        }

        /**
         * @param port port id.
         * @return packets transmitted on that port.
         */
        public long transmittedOn(final int port)
        {
            return perPort[port];
        }
    }
}
