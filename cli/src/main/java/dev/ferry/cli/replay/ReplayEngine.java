package dev.ferry.cli.replay;

import dev.ferry.core.Counters;
import dev.ferry.core.DropReason;
import dev.ferry.core.Graph;
import dev.ferry.core.ManualClock;
import dev.ferry.core.PacketPool;
import dev.ferry.core.Ports;
import dev.ferry.core.Stage;
import dev.ferry.core.TraceBuffer;
import dev.ferry.core.TxSink;
import dev.ferry.core.header.ArpHeader;
import dev.ferry.core.header.EthernetHeader;
import dev.ferry.core.header.Ip4Header;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.stage.EthernetInput;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.tables.Snapshot;
import dev.ferry.core.tables.TablesPublisher;
import dev.ferry.core.tables.TablesRef;
import dev.ferry.nat.Nat;
import dev.ferry.node.BalancingMode;
import dev.ferry.node.NodeConfig;
import dev.ferry.node.NodeGraph;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Runs captured frames through one node's graph, the one {@link NodeGraph} builds for {@code ferry node} in packet
 * mode, deterministically: time comes from the frames' timestamps, seeds are fixed, and frames are batched into
 * vectors in capture order. Only the ports (captures) and the clock differ from a live node.
 *
 * <pre>
 *  frame ──► port of the pod whose IP is the source, else the uplink ──► graph ──► every TX, in order ──► output
 *            (uplink frames enter at neighbour-learn, as on a node's AF_PACKET uplink)
 * </pre>
 */
public final class ReplayEngine implements AutoCloseable
{
    /** Name of the uplink port in replay. */
    public static final String UPLINK = "uplink";

    /** Where transmitted frames go (a pcap writer). */
    @FunctionalInterface
    public interface Output
    {
        /**
         * Writes one frame.
         *
         * @param epochNanos timestamp.
         * @param port       name of the transmit port.
         * @param memory     memory holding the frame.
         * @param offset     absolute offset of the frame.
         * @param length     frame length.
         * @throws IOException when writing fails.
         */
        void write(long epochNanos, String port, MemorySegment memory, long offset, int length) throws IOException;
    }

    /** Name of the host TAP port in replay (what a node calls it by default). */
    public static final String HOST = "ferry0";
    /** Seed of the NAT's random choices and of the conntrack hash secret in replay: fixed, so the same input gives
     *  the same output. */
    public static final long REPLAY_SEED = 0x5eed_f0e7L;

    /** Bytes per packet buffer in replay, headroom included: jumbo frames (9216 bytes) are carried whole. */
    public static final int BUFFER_SIZE = 16384;

    /** Packet buffers in replay: a timestamp group enters at most {@code PacketVector.CAPACITY} frames before the
     *  graph runs (and an empty pool runs it too), and no stage keeps buffers across runs, so 1024 is plenty; the
     *  pool's memory (16 MB) is zeroed when a run starts, which a larger pool pays for in every run. */
    public static final int BUFFERS = 1024;

    /** Large (64 KB) buffers in replay, for frames beyond {@link #BUFFER_SIZE} up to IPv4's 65,535-byte datagram
     *  (an offload superframe a capture on a TAP holds): 16 of them, 1 MiB, enough for any timestamp group that
     *  is not all superframes (an empty large pool runs the graph, as the small one does). */
    public static final int LARGE_BUFFERS = 16;

    private final PacketPool pool = new PacketPool(BUFFERS, BUFFER_SIZE, PacketPool.DEFAULT_HEADROOM, LARGE_BUFFERS);
    private final Counters counters = Counters.inMemory(65536);
    private final ManualClock clock;
    private final Ports ports = new Ports();
    private final TablesPublisher publisher;
    private final TablesRef<Snapshot> pinned = new TablesRef<>(null);
    private final NodeGraph nodeGraph;
    private final Graph graph;
    private final Output output;
    private final int entry;
    private final int uplinkEntry;
    private final int uplink;
    /** Pod ports by pod IP and by pod MAC. */
    private final LongIndex podPortByIp;
    private final LongIndex podPortByMac;
    /** Frames transmitted per port id. */
    private long[] sentByPort = new long[16];
    private final int fateLimit;
    private final List<String> inputSummaries = new ArrayList<>();
    private final List<Long> inputTimes = new ArrayList<>();
    /** Per summarised frame: its fate when it never entered the graph, else null. */
    private final List<String> inputFates = new ArrayList<>();
    private long framesIn;
    private long framesOut;
    private long poolExhausted;
    private long oversizeFrames;
    private long groupNanos;
    private boolean pending;
    private byte[] wrapped;
    private MemorySegment wrappedSegment;
    private final EthernetHeader eth = new EthernetHeader();
    private final Ip4Header ip4 = new Ip4Header();
    private final ArpHeader arp = new ArpHeader();

    /**
     * Builds the node's graph ({@link NodeGraph}, as {@code ferry node} in packet mode builds it) over capture
     * ports: the uplink, the host TAP and one port per pod of the tables.
     *
     * @param tables     the node's tables.
     * @param balancing  how Services pick an endpoint.
     * @param output     where transmitted frames go.
     * @param fateLimit  how many of the first frames to trace and report a fate for.
     * @param startNanos initial clock (the first frame's timestamp moves it).
     */
    public ReplayEngine(final NodeTables tables, final Nat.Balancing balancing, final Output output,
        final int fateLimit, final long startNanos)
    {
        this.clock = new ManualClock(startNanos);
        this.output = output;
        this.fateLimit = fateLimit;
        final NodeTables.NodeInfo node = tables.node();
        this.uplink = NodeGraph.registerUplink(ports, UPLINK, node.uplinkMac());
        // the host TAP: ferry's side takes the gateway MAC, the kernel's side the node IP's conventional MAC
        final int host = NodeGraph.registerHost(ports, HOST, node.gatewayMac(), Ip4.podMac(node.publicIp()));
        this.podPortByIp = new LongIndex(tables.pods().size());
        this.podPortByMac = new LongIndex(tables.pods().size());
        for (final NodeTables.PodInfo pod : tables.pods())
        {
            final int id = ports.add(pod.portName(), Ports.Kind.POD, node.gatewayMac()).id();
            podPortByIp.putIfAbsent(pod.ip(), id);
            podPortByMac.putIfAbsent(pod.mac(), id);
        }
        this.publisher = new TablesPublisher(ports, true);
        final TxSink sink = h ->
        {
            try
            {
                final int tx = pool.txPort(h);
                output.write(pool.timestamp(h), ports.nameOf(tx), pool.memory(), pool.frameOffset(h),
                    pool.length(h));
                framesOut++;
                if (tx >= sentByPort.length)
                {
                    sentByPort = java.util.Arrays.copyOf(sentByPort, Math.max(tx + 1, sentByPort.length * 2));
                }
                sentByPort[tx]++;
            }
            catch (final IOException e)
            {
                throw new UncheckedIOException(e);
            }
            finally
            {
                pool.free(h);
            }
        };
        final TraceBuffer trace = new TraceBuffer(Math.max(4096, fateLimit * 48));
        final NodeConfig config = NodeConfig.defaults(node.name(), Path.of("replay.sock"), UPLINK)
            .withSeed(REPLAY_SEED).withBalancing(balancing == Nat.Balancing.MAGLEV ? BalancingMode.MAGLEV
                : BalancingMode.RANDOM);
        this.nodeGraph = NodeGraph.builder(config, pool, counters, clock, ports, publisher, pinned).sink(sink)
            .trace(trace).hostPort(host).conntrackHashSeed(REPLAY_SEED).build();
        this.graph = nodeGraph.graph();
        this.entry = nodeGraph.entry();
        this.uplinkEntry = nodeGraph.uplinkEntry();
        publish(tables);
        trace.sample(fateLimit);
    }

    /**
     * Applies tables as a push to a node would: the features prepare for them, then they are published and the
     * next graph run reads them.
     *
     * @param tables the tables.
     */
    public void publish(final NodeTables tables)
    {
        graph.run();
        nodeGraph.beforePublish(tables);
        publisher.publish(tables);
        pinned.soCurrent(publisher.current());
    }

    /**
     * Feeds one captured frame.
     *
     * @param epochNanos its capture time.
     * @param frame      the frame.
     */
    public void feed(final long epochNanos, final byte[] frame)
    {
        feed(epochNanos, frame, frame.length);
    }

    /**
     * Feeds one captured frame, processed at its own capture time: frames are queued one timestamp group at a
     * time, and the graph runs whatever is queued before the clock moves to a new timestamp, so timers, rate
     * limits and timeouts see each frame's own time and batching never changes the output. A frame larger than
     * a packet buffer is not replayed; it is counted ({@link #oversizeFrames()}) and reported as a drop.
     *
     * @param epochNanos its capture time.
     * @param frame      array holding the frame from index 0 (it may be reused after the call).
     * @param length     the frame's length.
     */
    public void feed(final long epochNanos, final byte[] frame, final int length)
    {
        feed(epochNanos, frame, length, false);
    }

    /**
     * Feeds one frame that arrives on the uplink whatever its source (whole-cluster replay: a frame another node
     * sent through the underlay), processed as {@link #feed(long, byte[], int)} processes a captured frame.
     *
     * @param epochNanos its time.
     * @param frame      array holding the frame from index 0 (it may be reused after the call).
     * @param length     the frame's length.
     */
    public void feedUplink(final long epochNanos, final byte[] frame, final int length)
    {
        feed(epochNanos, frame, length, true);
    }

    private void feed(final long epochNanos, final byte[] frame, final int length, final boolean onUplink)
    {
        if (pending && epochNanos != groupNanos)
        {
            graph.run();
            pending = false;
        }
        groupNanos = epochNanos;
        clock.set(epochNanos);
        framesIn++;
        final int room = PacketPool.LARGE_BUFFER_SIZE - pool.headroom();
        final boolean summarised = inputSummaries.size() < fateLimit;
        if (summarised)
        {
            final byte[] copy = java.util.Arrays.copyOf(frame, length);
            inputSummaries.add(FrameSummary.describe(copy));
            inputTimes.add(epochNanos);
            inputFates.add(length > room ? "DROPPED by replay: " + oversizeSentence(length) : null);
        }
        if (length > room)
        {
            oversizeFrames++;
            return;
        }
        final boolean large = length > pool.bufferSize() - pool.headroom();
        int h = large ? pool.allocateLarge() : pool.allocate();
        if (h == PacketPool.NO_BUFFER)
        {
            graph.run();
            h = large ? pool.allocateLarge() : pool.allocate();
            if (h == PacketPool.NO_BUFFER)
            {
                poolExhausted++;
                if (summarised)
                {
                    inputFates.set(inputFates.size() - 1, "DROPPED by replay: no free packet buffer");
                }
                return;
            }
        }
        pool.write(h, frame, 0, length);
        final int port = onUplink ? uplink : ingressPort(frame, length);
        pool.rxPort(h, port);
        pool.timestamp(h, epochNanos);
        graph.input(port == uplink ? uplinkEntry : entry, h);
        pending = true;
    }

    private String oversizeSentence(final int length)
    {
        return "frame of " + length + " bytes is larger than a packet buffer (" + (PacketPool.LARGE_BUFFER_SIZE
            - pool.headroom()) + " bytes)";
    }

    /** Runs whatever is still queued. */
    public void finish()
    {
        graph.run();
        pending = false;
    }

    /**
     * The port a captured frame came in on: the pod whose IP is the IPv4 (or ARP sender) source, else the pod whose
     * MAC is the Ethernet source (a pod's malformed or non-IPv4 frame), else the uplink.
     */
    private int ingressPort(final byte[] frame, final int length)
    {
        if (length < EthernetHeader.LENGTH)
        {
            return uplink;
        }
        if (frame != wrapped)
        {
            wrapped = frame;
            wrappedSegment = MemorySegment.ofArray(frame);
        }
        final MemorySegment seg = wrappedSegment;
        eth.wrap(seg, 0);
        final int l3 = eth.headerLength();
        int src = 0;
        if (eth.etherType() == EthernetHeader.TYPE_IP4 && length >= l3 + Ip4Header.MIN_LENGTH)
        {
            src = ip4.wrap(seg, l3).src();
        }
        else if (eth.etherType() == EthernetHeader.TYPE_ARP && length >= l3 + ArpHeader.LENGTH)
        {
            src = arp.wrap(seg, l3).senderIp();
        }
        final int byIp = podPortByIp.get(src);
        if (byIp != LongIndex.NONE)
        {
            return byIp;
        }
        final int byMac = podPortByMac.get(eth.src());
        return byMac != LongIndex.NONE ? byMac : uplink;
    }

    /**
     * Frames transmitted per port, by port name (ports that sent nothing left out).
     *
     * @return port name to frames, sorted by name.
     */
    public Map<String, Long> sentPerPort()
    {
        final Map<String, Long> out = new java.util.TreeMap<>();
        for (int i = 0; i < sentByPort.length; i++)
        {
            if (sentByPort[i] > 0)
            {
                out.put(ports.nameOf(i), sentByPort[i]);
            }
        }
        return out;
    }

    /** @return the packet pool. */
    public PacketPool pool()
    {
        return pool;
    }

    /** @return the counters. */
    public Counters counters()
    {
        return counters;
    }

    /** @return the replay clock. */
    public ManualClock clock()
    {
        return clock;
    }

    /** @return the ports. */
    public Ports ports()
    {
        return ports;
    }

    /** @return the node's graph and its features ({@code show services}, {@code show conntrack}). */
    public NodeGraph nodeGraph()
    {
        return nodeGraph;
    }

    /** @return the graph. */
    public Graph graph()
    {
        return graph;
    }

    /** @return frames fed. */
    public long framesIn()
    {
        return framesIn;
    }

    /** @return frames transmitted. */
    public long framesOut()
    {
        return framesOut;
    }

    /** @return frames not replayed because they are larger than a packet buffer. */
    public long oversizeFrames()
    {
        return oversizeFrames;
    }

    /** @return frames lost because the pool was empty (should stay 0). */
    public long poolExhausted()
    {
        return poolExhausted;
    }

    /**
     * The fate of each of the first frames: what it was and where it ended.
     *
     * @return one line per traced frame.
     */
    public List<String> fates()
    {
        final List<String> out = new ArrayList<>();
        final List<Fate> all = frameFates();
        for (int i = 0; i < all.size(); i++)
        {
            out.add(String.format("#%-3d %s%n      %s", i + 1, all.get(i).summary(), all.get(i).fate()));
        }
        return out;
    }

    /**
     * One traced frame: what it was, and where it ended (with its path through the graph).
     *
     * @param summary the frame, one line.
     * @param fate    where it ended.
     */
    public record Fate(String summary, String fate)
    {
    }

    /**
     * The fate of each of the first frames, in the order they were fed.
     *
     * @return one entry per traced frame.
     */
    public List<Fate> frameFates()
    {
        final Map<Integer, List<TraceBuffer.Entry>> byId = new HashMap<>();
        for (final TraceBuffer.Entry e : graph.trace().entries())
        {
            byId.computeIfAbsent(e.traceId(), k -> new ArrayList<>()).add(e);
        }
        final List<Fate> out = new ArrayList<>();
        int traceId = 0;
        for (int i = 0; i < inputSummaries.size(); i++)
        {
            final String early = inputFates.get(i);
            out.add(new Fate(inputSummaries.get(i), early != null ? early : fate(byId.get(traceId++))));
        }
        return out;
    }

    private String fate(final List<TraceBuffer.Entry> entries)
    {
        if (entries == null)
        {
            return "(not traced)";
        }
        final StringBuilder path = new StringBuilder();
        String end = "still in flight";
        final List<Stage> stages = graph.stages();
        int last = -2;
        for (final TraceBuffer.Entry e : entries)
        {
            if (e.kind() == TraceBuffer.KIND_INPUT)
            {
                path.append("in ").append(ports.nameOf((int)e.a()));
                continue;
            }
            if (e.stage() != last && e.stage() >= 0)
            {
                path.append(" > ").append(stages.get(e.stage()).name());
                last = e.stage();
            }
            switch (e.kind())
            {
                case TraceBuffer.KIND_DETAIL ->
                {
                    final String d = stages.get(e.stage()).formatTrace(e.a(), e.b());
                    if (!d.isEmpty() && isInteresting(stages.get(e.stage()).name()))
                    {
                        path.append(" [").append(d).append(']');
                    }
                }
                case TraceBuffer.KIND_DROP -> end = "DROPPED by " + (e.stage() >= 0 ? stages.get(e.stage()).name()
                    : "graph") + ": " + dropSentence(e);
                case TraceBuffer.KIND_TRANSMIT -> end = "SENT on " + ports.nameOf(e.code());
                default ->
                {
                }
            }
        }
        return end + "   (" + path + ")";
    }

    private static boolean isInteresting(final String stage)
    {
        return !stage.equals(EthernetInput.NAME) && !stage.equals("ip4-input") && !stage.equals("ip4-rewrite");
    }

    private String dropSentence(final TraceBuffer.Entry e)
    {
        if (e.code() < 0)
        {
            return Graph.GraphDrop.values()[-1 - e.code()].describe();
        }
        for (final DropReason r : graph.stages().get(e.stage()).dropReasons())
        {
            if (r.index() == e.code())
            {
                return r.describe();
            }
        }
        return "reason index " + e.code();
    }

    /** @return the non-zero drop counters as {@code ferry show stats} prints them: count, stage, id, name, sentence. */
    public List<String> dropReport()
    {
        final List<String> out = new ArrayList<>();
        for (final Stage s : graph.stages())
        {
            for (final DropReason r : s.dropReasons())
            {
                final long v = counters.get("stage/" + s.name() + "/drop/" + r.counterName());
                if (v > 0)
                {
                    out.add(String.format("%12d  %-18s %s", v, s.name(), r.describe()));
                }
            }
        }
        for (final Graph.GraphDrop r : Graph.GraphDrop.values())
        {
            final long v = counters.get("graph/drop/" + r.counterName());
            if (v > 0)
            {
                out.add(String.format("%12d  %-18s %s", v, "graph", r.describe()));
            }
        }
        if (oversizeFrames > 0)
        {
            out.add(String.format("%12d  %-18s %s", oversizeFrames, "replay", "oversize-frame: a frame is larger "
                + "than a packet buffer (" + (PacketPool.LARGE_BUFFER_SIZE - pool.headroom())
                + " bytes) and is not replayed"));
        }
        return out;
    }

    /** @return VPP {@code show runtime}-style lines for stages that ran. */
    public List<String> runtimeReport()
    {
        final List<String> out = new ArrayList<>();
        out.add(String.format("%-22s %10s %10s %14s %12s", "Name", "Calls", "Vectors", "Vectors/Call", "ns/packet"));
        for (final Graph.RuntimeRow r : graph.runtime())
        {
            if (r.calls() > 0)
            {
                out.add(String.format("%-22s %10d %10d %14.2f %12.1f", r.name(), r.calls(), r.packets(),
                    r.vectorsPerCall(), r.nanosPerPacket()));
            }
        }
        return out;
    }

    @Override
    public void close()
    {
        nodeGraph.close();
        pool.close();
        counters.close();
    }
}
