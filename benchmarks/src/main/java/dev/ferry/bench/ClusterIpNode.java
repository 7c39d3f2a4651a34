package dev.ferry.bench;

import dev.ferry.conntrack.ConntrackTable;
import dev.ferry.conntrack.TcpState;
import dev.ferry.core.Counters;
import dev.ferry.core.Graph;
import dev.ferry.core.ManualClock;
import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;
import dev.ferry.core.Ports;
import dev.ferry.core.TxSink;
import dev.ferry.core.header.EthernetHeader;
import dev.ferry.core.header.Ip4Header;
import dev.ferry.core.header.TcpHeader;
import dev.ferry.core.packet.FrameBuilder;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.route.Ip4Prefix;
import dev.ferry.core.stage.EthernetInput;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.tables.ServiceInfo;
import dev.ferry.core.tables.Snapshot;
import dev.ferry.core.tables.TablesPublisher;
import dev.ferry.core.tables.TablesRef;
import dev.ferry.nat.Nat;
import dev.ferry.node.NodeConfig;
import dev.ferry.node.NodeGraph;
import dev.ferry.node.ServicesFeature;
import dev.ferry.node.VxlanFeature;
import dev.ferry.vxlan.VxlanSettings;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.IntPredicate;

/**
 * A benchmark node for Service traffic to other nodes: {@link #PODS} local pods, {@link #REMOTES} remote nodes,
 * {@link #SERVICES} ClusterIP Services whose endpoints all live on the remote nodes, and the node's own graph from
 * {@link NodeGraph} (packet mode, as {@code ferry node} and {@code ferry replay} build it): vxlan-bypass, nat44-in
 * and nat44-new before ip4-lookup, vxlan-encap, vxlan-decap and host-output after it, over a real
 * {@link ConntrackTable} sized by the tables' conntrack settings.
 *
 * <pre>
 *  per-flow headers + shared payload ──rearm──► ethernet-input ─► ip4-input ─► vxlan-bypass ─► nat44-in (hit:
 *     DNAT ClusterIP:80 → endpoint:8080, RFC 1624) ─► ip4-lookup (remote pod) ─► vxlan-encap (+50 B, outer UDP
 *     checksum) ─► interface-output (uplink) ─► sink (frees the buffer, counts it)
 * </pre>
 *
 * <p>Flow {@code f} is TCP from pod {@code f % 16}, source port {@code 10000 + f / 16}, to the ClusterIP of one
 * of the Services, port 80. {@link #warm()} opens every flow before measuring: the SYN goes through the graph
 * (nat44-new picks an endpoint, DNATs and inserts the entry, the packet is encapsulated and sent), then the
 * SYN-ACK and the ACK are fed to the conntrack table, so that each flow is ESTABLISHED and assured and every
 * measured packet takes the fast path (nat44-in hit). The measured packets are PSH-ACK data segments of the
 * flows, in a fixed random order, 256 consecutive flows per vector.
 *
 * <p>Not the hot path itself: it allocates while it is built and warmed; {@link #rearm()},
 * {@link #forward()} and {@link #rearmAndFree()} do not.
 */
public final class ClusterIpNode implements AutoCloseable
{
    /** Local pods (and pod ports). */
    public static final int PODS = 16;
    /** Remote nodes. */
    public static final int REMOTES = 4;
    /** ClusterIP Services. */
    public static final int SERVICES = 16;
    /** Endpoints per Service, spread over the remote nodes. */
    public static final int ENDPOINTS = 4;
    /** The Services' port. */
    public static final int SERVICE_PORT = 80;
    /** The endpoints' port. */
    public static final int TARGET_PORT = 8080;
    /** The node's pod CIDR. */
    public static final Ip4Prefix POD_CIDR = Ip4Prefix.parse("10.244.1.0/24");
    /** Pod gateway address. */
    public static final int GATEWAY_IP = Ip4.parse("10.244.1.1");
    /** Pod gateway MAC. */
    public static final long GATEWAY_MAC = Ip4.parseMac("0a:58:0a:f4:01:01");
    /** This node's underlay address (its VTEP address). */
    public static final int NODE_IP = Ip4.parse("192.168.1.10");
    /** This node's MAC on the underlay. */
    public static final long UPLINK_MAC = Ip4.parseMac("02:00:c0:a8:01:0a");
    /** This node's VTEP MAC. */
    public static final long VTEP_MAC = Ip4.parseMac("9e:00:00:00:01:01");
    /** Underlay MTU; pods get 50 bytes less. */
    public static final int UNDERLAY_MTU = 1550;
    /** Ethernet + IPv4 + TCP headers: the bytes that differ between flows. */
    public static final int HEADERS = EthernetHeader.LENGTH + Ip4Header.MIN_LENGTH + TcpHeader.MIN_LENGTH;
    /** Largest frame: a full pod MTU. */
    public static final int MAX_FRAME = UNDERLAY_MTU - 50 + EthernetHeader.LENGTH;

    private static final int VECTOR = PacketVector.CAPACITY;
    private static final long HEADER_STRIDE = 64;
    private static final long SEED = 0x5eed_f0e7L;

    private final int frameSize;
    private final int flows;
    private final PacketPool pool;
    private final Counters counters;
    private final Ports ports;
    private final TablesPublisher publisher;
    private final ConntrackTable conntrack;
    private final Nat nat;
    private final VxlanSettings vxlanSettings;
    private final int vtepSlot;
    private final int tunnelPort;
    private final int uplinkPort;
    private final NodeGraph nodeGraph;
    private final Graph graph;
    private final GraphRuntime runtime;
    private final CapturingSink sink;
    private final int entry;
    private final Arena arena;
    private final MemorySegment headers;
    private final MemorySegment payload;
    private final int[] rxPortOf;
    private final int[] flowOrder;
    private final int[] scratch = new int[VECTOR];
    private int cursor;
    private boolean warmed;
    private int warmedFlows;

    /**
     * Builds the node, its tables, its graph and the per-flow headers; call {@link #warm()} before forwarding.
     *
     * @param frameSize Ethernet frame length in bytes (no FCS) of the measured packets, {@link #HEADERS} to
     *                  {@link #MAX_FRAME}.
     * @param flows     active flows, at least 1, at most {@code PODS * 55535} (distinct source ports).
     */
    public ClusterIpNode(final int frameSize, final int flows)
    {
        this(frameSize, flows, new PacketPool(4 * VECTOR));
    }

    /**
     * Builds the node on a given pool (a worker's view of a {@linkplain PacketPool#shared shared pool}).
     *
     * @param frameSize as {@link #ClusterIpNode(int, int)}.
     * @param flows     as {@link #ClusterIpNode(int, int)}.
     * @param pool      the node's packet buffers, closed with the node.
     */
    public ClusterIpNode(final int frameSize, final int flows, final PacketPool pool)
    {
        if (frameSize < HEADERS || frameSize > MAX_FRAME)
        {
            throw new IllegalArgumentException("frame size out of range " + HEADERS + ".." + MAX_FRAME + ": "
                + frameSize);
        }
        if (flows < 1 || flows > PODS * (65536 - 10000))
        {
            throw new IllegalArgumentException("flows out of range: " + flows);
        }
        this.frameSize = frameSize;
        this.flows = flows;
        this.pool = pool;
        this.counters = Counters.inMemory(4096);
        this.ports = new Ports();
        for (int p = 0; p < PODS; p++)
        {
            ports.add("pod-" + p, Ports.Kind.POD, GATEWAY_MAC);
        }
        uplinkPort = NodeGraph.registerUplink(ports, "uplink", UPLINK_MAC);
        final int host = NodeGraph.registerHost(ports, "ferry0", GATEWAY_MAC, Ip4.podMac(NODE_IP));
        final NodeTables tables = tables();
        final ManualClock clock = new ManualClock(1_700_000_000_000_000_000L);
        publisher = new TablesPublisher(ports, false);
        sink = new CapturingSink(pool);
        // the node's own graph, as ferry node (packet mode) and ferry replay build it
        nodeGraph = NodeGraph.builder(NodeConfig.defaults("bench", Path.of("bench.sock"), "uplink").withSeed(SEED),
            pool, counters, clock, ports, publisher, publisher.ref()).sink(sink).hostPort(host).build();
        graph = nodeGraph.graph();
        runtime = new GraphRuntime(graph);
        entry = nodeGraph.entry();
        nodeGraph.beforePublish(tables);
        publisher.publish(tables);
        final ServicesFeature services = nodeGraph.feature(ServicesFeature.class);
        conntrack = services.conntrack();
        nat = services.nat();
        final VxlanFeature vxlan = nodeGraph.feature(VxlanFeature.class);
        vxlanSettings = vxlan.settings();
        vtepSlot = vxlan.slot();
        tunnelPort = vxlan.tunnelPort();

        arena = Arena.ofShared();
        headers = arena.allocate(flows * HEADER_STRIDE, 64);
        payload = arena.allocate(Math.max(1, frameSize - HEADERS), 64);
        rxPortOf = new int[flows];
        flowOrder = new int[flows];
        for (int f = 0; f < flows; f++)
        {
            flowOrder[f] = f;
        }
        final SplittableRandom random = new SplittableRandom(SEED);
        for (int i = flows - 1; i > 0; i--)
        {
            final int j = random.nextInt(i + 1);
            final int t = flowOrder[i];
            flowOrder[i] = flowOrder[j];
            flowOrder[j] = t;
        }
        // stored in visiting order, so that re-arming reads them sequentially: only the graph's own tables are
        // touched in random order
        for (int i = 0; i < flows; i++)
        {
            final int f = flowOrder[i];
            final byte[] frame = frame(f, TcpHeader.PSH | TcpHeader.ACK, frameSize - HEADERS);
            MemorySegment.copy(frame, 0, headers, ValueLayout.JAVA_BYTE, i * HEADER_STRIDE, HEADERS);
            rxPortOf[i] = ports.idOf("pod-" + pod(f));
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
     * @param s Service index.
     * @return its ClusterIP, 10.96.0.10 onwards.
     */
    public static int clusterIp(final int s)
    {
        return Ip4.parse("10.96.0.0") + 10 + s;
    }

    /**
     * @param s Service index.
     * @param k endpoint index, below {@link #ENDPOINTS}.
     * @return the endpoint's address, a pod on remote node {@code (s + k) % REMOTES}.
     */
    public static int endpointIp(final int s, final int k)
    {
        final int r = (s + k) % REMOTES;
        return Ip4Prefix.parse("10.244." + (r + 2) + ".0/24").host(10 + s * ENDPOINTS + k);
    }

    /**
     * @param f flow.
     * @return its client pod.
     */
    public static int pod(final int f)
    {
        return f % PODS;
    }

    /**
     * @param f flow.
     * @return its client source port.
     */
    public static int sourcePort(final int f)
    {
        return 10000 + f / PODS;
    }

    /**
     * @param f flow.
     * @return the Service it reaches.
     */
    public static int service(final int f)
    {
        return (int)(((f * 0x9E37_79B9L) & 0xffff_ffffL) >>> 16) % SERVICES;
    }

    /**
     * @param f            flow.
     * @param tcpFlags     TCP flags.
     * @param payloadBytes payload length.
     * @return flow {@code f}'s packet from its pod to its ClusterIP, as the pod sends it.
     */
    static byte[] frame(final int f, final int tcpFlags, final int payloadBytes)
    {
        final int src = podIp(pod(f));
        return new FrameBuilder()
            .eth(Ip4.podMac(src), GATEWAY_MAC)
            .ip4(src, clusterIp(service(f)))
            .ttl(64)
            .df(true)
            .tcp(sourcePort(f), SERVICE_PORT, tcpFlags, 1000, 2000)
            .payload(new byte[payloadBytes])
            .build();
    }

    private static NodeTables tables()
    {
        final NodeTables.NodeInfo node = new NodeTables.NodeInfo("bench-node", List.of(NODE_IP), POD_CIDR,
            GATEWAY_IP, GATEWAY_MAC, UPLINK_MAC, VTEP_MAC, NODE_IP, 0, Ip4Prefix.parse("192.168.1.0/24"),
            UNDERLAY_MTU);
        final List<NodeTables.PodInfo> pods = new ArrayList<>();
        for (int p = 0; p < PODS; p++)
        {
            pods.add(new NodeTables.PodInfo("bench", "pod-" + p, podIp(p), Ip4.podMac(podIp(p)), "pod-" + p));
        }
        final List<NodeTables.RemoteNode> remotes = new ArrayList<>();
        for (int r = 0; r < REMOTES; r++)
        {
            remotes.add(new NodeTables.RemoteNode("node-" + (r + 2), Ip4Prefix.parse("10.244." + (r + 2) + ".0/24"),
                Ip4.parse("192.168.1." + (r + 11)), Ip4.parseMac("9e:00:00:00:01:0" + (r + 2)),
                Ip4.parseMac("02:00:c0:a8:01:" + (r + 11)), List.of(Ip4.parse("192.168.1." + (r + 11)))));
        }
        final List<ServiceInfo> services = new ArrayList<>();
        for (int s = 0; s < SERVICES; s++)
        {
            final List<ServiceInfo.Endpoint> eps = new ArrayList<>();
            for (int k = 0; k < ENDPOINTS; k++)
            {
                eps.add(new ServiceInfo.Endpoint(endpointIp(s, k), TARGET_PORT, true, true, false,
                    "node-" + ((s + k) % REMOTES + 2), "", false));
            }
            services.add(new ServiceInfo("bench", "svc-" + s, "ClusterIP", null, List.of(clusterIp(s)), List.of(),
                List.of(), false, ServiceInfo.DEFAULT_AFFINITY_TIMEOUT, false, false,
                List.of(new ServiceInfo.ServicePort("http", Ip4Header.PROTO_TCP, SERVICE_PORT, 0, eps))));
        }
        return new NodeTables(1, node, NodeTables.ClusterSettings.defaults(), pods, remotes, services, Map.of());
    }

    /**
     * Opens every flow: its SYN through the graph (nat44-new: endpoint choice, DNAT, conntrack insert; then
     * encap and transmit), then its SYN-ACK and ACK fed to the conntrack table, so that the flow is ESTABLISHED.
     * Control side: it allocates.
     *
     * @throws IllegalStateException when a flow did not become ESTABLISHED, or a SYN was not transmitted.
     */
    public void warm()
    {
        warm(f -> true);
    }

    /**
     * Opens the flows a worker owns, as {@link #warm()} opens all of them: a shard of a multi-worker node holds
     * only its own flows' conntrack entries.
     *
     * @param open whether to open flow {@code f}.
     * @throws IllegalStateException when a flow did not become ESTABLISHED, or a SYN was not transmitted.
     */
    public void warm(final IntPredicate open)
    {
        if (warmed)
        {
            return;
        }
        int opened = 0;
        for (int base = 0; base < flows; base += VECTOR)
        {
            final int end = Math.min(flows, base + VECTOR);
            for (int f = base; f < end; f++)
            {
                if (!open.test(f))
                {
                    continue;
                }
                opened++;
                final byte[] syn = frame(f, TcpHeader.SYN, 0);
                final int h = pool.allocate();
                pool.write(h, syn, 0, syn.length);
                pool.rxPort(h, ports.idOf("pod-" + pod(f)));
                graph.input(entry, h);
            }
            graph.run();
            for (int f = base; f < end; f++)
            {
                if (!open.test(f))
                {
                    continue;
                }
                final long r = conntrack.lookup(0, Ip4Header.PROTO_TCP, podIp(pod(f)), clusterIp(service(f)),
                    sourcePort(f), SERVICE_PORT);
                if (r == ConntrackTable.MISS)
                {
                    throw new IllegalStateException("flow " + f + " has no conntrack entry after its SYN");
                }
                final int e = ConntrackTable.entryOf(r);
                conntrack.update(e, ConntrackTable.REPLY, TcpHeader.SYN | TcpHeader.ACK, 40);
                conntrack.update(e, ConntrackTable.ORIGINAL, TcpHeader.ACK, 40);
                if (conntrack.tcpState(e) != TcpState.ESTABLISHED)
                {
                    throw new IllegalStateException("flow " + f + " is not established: " + conntrack.format(e));
                }
            }
        }
        if (sink.transmitted() != opened || sink.transmittedOn(uplinkPort) != opened)
        {
            throw new IllegalStateException("SYNs transmitted " + sink.transmitted() + " (uplink "
                + sink.transmittedOn(uplinkPort) + ") of " + opened + "; " + firstLoss());
        }
        warmedFlows = opened;
        warmed = true;
    }

    /**
     * Re-arms one vector with the next 256 flows: takes buffers from the pool, copies each flow's headers and
     * the shared payload in (fresh TTL and checksums) and queues them at ethernet-input. No allocation.
     */
    public void rearm()
    {
        final PacketPool pool = this.pool;
        final MemorySegment mem = pool.memory();
        final MemorySegment headers = this.headers;
        final MemorySegment payload = this.payload;
        final Graph graph = this.graph;
        final int[] rxPortOf = this.rxPortOf;
        final int size = frameSize;
        final int rest = size - HEADERS;
        final int entry = this.entry;
        final int flows = this.flows;
        int c = cursor;
        for (int i = 0; i < VECTOR; i++)
        {
            final int h = pool.allocate();
            final long frame = pool.frameOffset(h);
            MemorySegment.copy(headers, c * HEADER_STRIDE, mem, frame, HEADERS);
            MemorySegment.copy(payload, 0, mem, frame + HEADERS, rest);
            pool.length(h, size);
            pool.rxPort(h, rxPortOf[c]);
            graph.input(entry, h);
            c = c + 1 == flows ? 0 : c + 1;
        }
        cursor = c;
    }

    /**
     * Re-arms one vector and runs the graph over it: 256 established packets, pod to ClusterIP to remote node.
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
     * The harness cost alone: allocates, fills and frees a vector's buffers as {@link #rearm()} does, without
     * running the graph.
     *
     * @return a handle, to feed the benchmark's blackhole.
     */
    public int rearmAndFree()
    {
        final PacketPool pool = this.pool;
        final MemorySegment mem = pool.memory();
        final MemorySegment headers = this.headers;
        final MemorySegment payload = this.payload;
        final int[] rxPortOf = this.rxPortOf;
        final int[] scratch = this.scratch;
        final int size = frameSize;
        final int rest = size - HEADERS;
        final int flows = this.flows;
        int c = cursor;
        for (int i = 0; i < VECTOR; i++)
        {
            final int h = pool.allocate();
            final long frame = pool.frameOffset(h);
            MemorySegment.copy(headers, c * HEADER_STRIDE, mem, frame, HEADERS);
            MemorySegment.copy(payload, 0, mem, frame + HEADERS, rest);
            pool.length(h, size);
            pool.rxPort(h, rxPortOf[c]);
            scratch[i] = h;
            c = c + 1 == flows ? 0 : c + 1;
        }
        cursor = c;
        for (int i = 0; i < VECTOR; i++)
        {
            pool.free(scratch[i]);
        }
        return scratch[0];
    }

    /**
     * Restores the headers of the flow at position {@code i} of the visiting order into a buffer that already
     * holds a frame of this node (the payload is left alone: NAT rewrites headers only). No allocation.
     *
     * @param h buffer handle, at its original frame offset.
     * @param i position in the visiting order, below {@link #flows()}.
     */
    public void restoreHeaders(final int h, final int i)
    {
        MemorySegment.copy(headers, i * HEADER_STRIDE, pool.memory(), pool.frameOffset(h), HEADERS);
        pool.length(h, frameSize);
        pool.l3Offset(h, EthernetHeader.LENGTH);
    }

    /**
     * Copies the frame of the flow at position {@code i} of the visiting order into a fresh buffer, without
     * queueing it (for stage benchmarks).
     *
     * @param i position in the visiting order.
     * @return the buffer's handle.
     */
    public int load(final int i)
    {
        final int h = pool.allocate();
        final long frame = pool.frameOffset(h);
        MemorySegment.copy(headers, i * HEADER_STRIDE, pool.memory(), frame, HEADERS);
        MemorySegment.copy(payload, 0, pool.memory(), frame + HEADERS, frameSize - HEADERS);
        pool.length(h, frameSize);
        pool.rxPort(h, rxPortOf[i]);
        pool.l3Offset(h, EthernetHeader.LENGTH);
        return h;
    }

    /**
     * Checks that the benchmark measured the fast path and not drops: every packet that entered the graph was
     * transmitted on the uplink, no flow was created after the warm-up, and every buffer is back in the pool.
     *
     * @throws IllegalStateException naming the first loss, a slow-path packet or a leak.
     */
    public void verify()
    {
        final long in = counters.get("stage/" + EthernetInput.NAME + "/packets");
        final long out = sink.transmitted();
        if (in != out || sink.transmittedOn(uplinkPort) != out)
        {
            throw new IllegalStateException("packets in " + in + " != transmitted on the uplink "
                + sink.transmittedOn(uplinkPort) + " (all ports " + out + "); " + firstLoss());
        }
        final long created = counters.get(Nat.COUNTER_SESSIONS_CREATED);
        if (created != (warmed ? warmedFlows : 0))
        {
            throw new IllegalStateException("nat44-new created " + created + " flows for " + warmedFlows
                + " warmed flows: the measurement left the fast path");
        }
        if (pool.available() != pool.capacity())
        {
            throw new IllegalStateException("packet buffers leaked: " + pool.inUse());
        }
    }

    private String firstLoss()
    {
        for (final Map.Entry<String, Long> e : counters.snapshot().entrySet())
        {
            final boolean lost = e.getKey().contains("/drop/") || e.getKey().endsWith("icmp-error/packets");
            if (lost && e.getValue() > 0)
            {
                return "first: " + e.getKey() + "=" + e.getValue();
            }
        }
        return "no drop counted";
    }

    /** Marks the per-stage figures now, so that {@link #runtimeReport()} leaves out what came before. */
    public void markRuntime()
    {
        runtime.mark();
    }

    /** @return the graph's per-stage figures since {@link #markRuntime()}, VPP {@code show runtime} style. */
    public String runtimeReport()
    {
        return runtime.report();
    }

    /** @return the index of the graph's entry stage (ethernet-input). */
    public int entry()
    {
        return entry;
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

    /** @return the counters. */
    public Counters counters()
    {
        return counters;
    }

    /** @return the sink at the end of the graph. */
    public CapturingSink sink()
    {
        return sink;
    }

    /** @return the conntrack table. */
    public ConntrackTable conntrack()
    {
        return conntrack;
    }

    /** @return the NAT. */
    public Nat nat()
    {
        return nat;
    }

    /** @return the tables reference the stages read. */
    public TablesRef<Snapshot> tablesRef()
    {
        return publisher.ref();
    }

    /** @return the current snapshot. */
    public Snapshot snapshot()
    {
        return publisher.current();
    }

    /** @return the VXLAN settings of the node. */
    public VxlanSettings vxlanSettings()
    {
        return vxlanSettings;
    }

    /** @return the slot of the VTEP table in each snapshot. */
    public int vtepSlot()
    {
        return vtepSlot;
    }

    /** @return the tunnel port ({@code flannel.1}). */
    public int tunnelPort()
    {
        return tunnelPort;
    }

    /** @return the uplink port. */
    public int uplinkPort()
    {
        return uplinkPort;
    }

    /** @return active flows. */
    public int flows()
    {
        return flows;
    }

    /** @return the frame length of the measured packets. */
    public int frameSize()
    {
        return frameSize;
    }

    /**
     * @param i position in the visiting order.
     * @return the flow visited at that position.
     */
    public int flowAt(final int i)
    {
        return flowOrder[i];
    }

    @Override
    public void close()
    {
        arena.close();
        nodeGraph.close();
        pool.close();
        counters.close();
    }

    /**
     * The transmit side of the benchmark: counts each packet per port and frees its buffer; when a test asks,
     * it first copies the frame out (never during a measurement).
     */
    public static final class CapturingSink implements TxSink
    {
        private final PacketPool pool;
        private final long[] perPort = new long[64];
        private long transmitted;
        private List<byte[]> capture;

        CapturingSink(final PacketPool pool)
        {
            this.pool = pool;
        }

        @Override
        public void transmit(final int handle)
        {
            transmitted++;
            perPort[pool.txPort(handle)]++;
            if (capture != null)
            {
                capture.add(pool.toArray(handle));
            }
            pool.free(handle);
        }

        /**
         * Copies every transmitted frame into a list from now on (tests), or stops with null.
         *
         * @param frames where the copies go, or null.
         */
        public void capture(final List<byte[]> frames)
        {
            this.capture = frames;
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
