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
import dev.ferry.core.stage.CoreStages;
import dev.ferry.core.stage.EthernetInput;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.tables.TablesPublisher;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Runs captured frames through one node's full graph, deterministically: time comes from the frames'
 * timestamps, seeds are fixed, and frames are batched into vectors in capture order.
 *
 * <pre>
 *  frame ──► port of the pod whose IP is the source, else the uplink ──► graph ──► every TX, in order ──► output
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

    /**
     * Optional stages from feature modules (Services, VXLAN), wired around the core stages.
     *
     * @param beforeLookup stages between ip4-input and ip4-lookup (first receives from ip4-input).
     * @param afterLookup  stages after ip4-lookup (vxlan-encap, vxlan-decap ...).
     */
    public record Features(List<Stage> beforeLookup, List<Stage> afterLookup)
    {
        /** @return no feature stages: plain L3 forwarding. */
        public static Features none()
        {
            return new Features(List.of(), List.of());
        }
    }

    /** Builds the feature stages once pool, ports, publisher and clock exist. */
    @FunctionalInterface
    public interface FeatureFactory
    {
        /**
         * @param engine the engine under construction (pool, ports, publisher, clock, counters).
         * @return the feature stages.
         */
        Features create(ReplayEngine engine);
    }

    private final PacketPool pool = new PacketPool(4096);
    private final Counters counters = Counters.inMemory(65536);
    private final ManualClock clock;
    private final Ports ports = new Ports();
    private final TablesPublisher publisher;
    private final Graph graph;
    private final Output output;
    private final int entry;
    private final int uplink;
    private final Map<Integer, Integer> portByPodIp = new HashMap<>();
    private final int fateLimit;
    private final List<String> inputSummaries = new ArrayList<>();
    private final List<Long> inputTimes = new ArrayList<>();
    private long framesIn;
    private long framesOut;
    private long poolExhausted;

    /**
     * @param tables    the node's tables.
     * @param features  builds the feature stages (use {@code e -> Features.none()} for plain L3).
     * @param output    where transmitted frames go.
     * @param fateLimit how many of the first frames to trace and report a fate for.
     * @param startNanos initial clock (the first frame's timestamp moves it).
     */
    public ReplayEngine(final NodeTables tables, final FeatureFactory features, final Output output,
        final int fateLimit, final long startNanos)
    {
        this.clock = new ManualClock(startNanos);
        this.output = output;
        this.fateLimit = fateLimit;
        final NodeTables.NodeInfo node = tables.node();
        this.uplink = ports.add(UPLINK, Ports.Kind.UPLINK, node.uplinkMac(), true).id();
        for (final NodeTables.PodInfo pod : tables.pods())
        {
            final int id = ports.add(pod.portName(), Ports.Kind.POD, node.gatewayMac()).id();
            portByPodIp.put(pod.ip(), id);
        }
        this.publisher = new TablesPublisher(ports, true);
        final Features f = features.create(this);
        final TxSink sink = h ->
        {
            try
            {
                output.write(pool.timestamp(h), ports.nameOf(pool.txPort(h)), pool.memory(), pool.frameOffset(h),
                    pool.length(h));
                framesOut++;
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
        this.graph = CoreStages.addTo(Graph.builder(pool, counters, clock, ports).sink(sink).trace(trace), pool,
            ports, publisher.ref(), clock, f.beforeLookup(), f.afterLookup(), false).build();
        this.entry = graph.indexOf(EthernetInput.NAME);
        publisher.publish(tables);
        trace.sample(fateLimit);
    }

    /**
     * Feeds one captured frame.
     *
     * @param epochNanos its capture time.
     * @param frame      the frame.
     */
    public void feed(final long epochNanos, final byte[] frame)
    {
        clock.set(epochNanos);
        framesIn++;
        if (inputSummaries.size() < fateLimit)
        {
            inputSummaries.add(FrameSummary.describe(frame));
            inputTimes.add(epochNanos);
        }
        int h = pool.allocate();
        if (h == PacketPool.NO_BUFFER)
        {
            graph.run();
            h = pool.allocate();
            if (h == PacketPool.NO_BUFFER)
            {
                poolExhausted++;
                return;
            }
        }
        final int len = Math.min(frame.length, pool.bufferSize() - pool.headroom());
        pool.write(h, frame, 0, len);
        pool.rxPort(h, ingressPort(frame));
        pool.timestamp(h, epochNanos);
        graph.input(entry, h);
    }

    /** Runs whatever is still queued. */
    public void finish()
    {
        graph.run();
    }

    private int ingressPort(final byte[] frame)
    {
        if (frame.length < EthernetHeader.LENGTH + 4)
        {
            return uplink;
        }
        final MemorySegment seg = MemorySegment.ofArray(frame);
        final EthernetHeader eth = new EthernetHeader().wrap(seg, 0);
        final int l3 = eth.headerLength();
        int src = 0;
        if (eth.etherType() == EthernetHeader.TYPE_IP4 && frame.length >= l3 + Ip4Header.MIN_LENGTH)
        {
            src = new Ip4Header().wrap(seg, l3).src();
        }
        else if (eth.etherType() == EthernetHeader.TYPE_ARP && frame.length >= l3 + ArpHeader.LENGTH)
        {
            src = new ArpHeader().wrap(seg, l3).senderIp();
        }
        final Integer port = portByPodIp.get(src);
        return port == null ? uplink : port;
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

    /** @return the tables publisher (feature modules register their part compilers with it). */
    public TablesPublisher publisher()
    {
        return publisher;
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
        final Map<Integer, List<TraceBuffer.Entry>> byId = new HashMap<>();
        for (final TraceBuffer.Entry e : graph.trace().entries())
        {
            byId.computeIfAbsent(e.traceId(), k -> new ArrayList<>()).add(e);
        }
        final List<String> out = new ArrayList<>();
        for (int i = 0; i < inputSummaries.size(); i++)
        {
            out.add(String.format("#%-3d %s%n      %s", i + 1, inputSummaries.get(i), fate(byId.get(i))));
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
        pool.close();
        counters.close();
    }
}
