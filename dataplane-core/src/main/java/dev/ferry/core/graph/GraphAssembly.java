package dev.ferry.core.graph;

import dev.ferry.core.Clock;
import dev.ferry.core.Counters;
import dev.ferry.core.Graph;
import dev.ferry.core.PacketPool;
import dev.ferry.core.Ports;
import dev.ferry.core.Stage;
import dev.ferry.core.TraceBuffer;
import dev.ferry.core.TxSink;
import dev.ferry.core.stage.Arp;
import dev.ferry.core.stage.EthernetInput;
import dev.ferry.core.stage.IcmpError;
import dev.ferry.core.stage.InterfaceOutput;
import dev.ferry.core.stage.Ip4Input;
import dev.ferry.core.stage.Ip4Local;
import dev.ferry.core.stage.Ip4Lookup;
import dev.ferry.core.stage.Ip4Rewrite;
import dev.ferry.core.tables.Snapshot;
import dev.ferry.core.tables.TablesPublisher;
import dev.ferry.core.tables.TablesRef;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * The one place where the forwarding graph is wired: the core stages in a fixed order, with the features' stages
 * at their places. Every runner ({@code ferry node}, {@code ferry replay}, the JMH whole-graph benchmarks, the
 * graph tests) builds its graph here; they differ only in ports, clock, sink and the features they are given.
 *
 * <pre>
 *  [input stages] ─► ethernet-input ─► arp ──────────────────────────────────────────────► interface-output
 *                          │
 *                          └─► ip4-input ─► [before lookup] ─► ip4-lookup ─┬─► ip4-rewrite ─► interface-output
 *                                                                          ├─► [after lookup: vxlan-encap, ...]
 *                                                                          ├─► ip4-local ─┬─► (echo) ip4-lookup
 *                                                                          │              └─► host-output
 *                                                                          └─► icmp-error ─► [before lookup]
 * </pre>
 *
 * <p>The stages are added in an order that usually completes in one pass of {@link Graph#run()}. Errors about
 * translated packets pass the before-lookup stages again, as netfilter translates RELATED packets. ip4-local
 * hands non-echo traffic to {@code host-output} when a feature brings that stage, and drops it otherwise.
 */
public final class GraphAssembly
{
    /** ICMP errors generated per second at most (token bucket rate), as the kernel's icmp_ratelimit. */
    public static final int ICMP_ERRORS_PER_SECOND = 1000;
    /** ICMP error burst. */
    public static final int ICMP_ERROR_BURST = 50;

    private final PacketPool pool;
    private final Counters counters;
    private final Clock clock;
    private final Ports ports;
    private final TablesPublisher publisher;
    private final TablesRef<Snapshot> tables;
    private final List<GraphFeature> features = new ArrayList<>();
    private TxSink sink;
    private TraceBuffer trace;

    private GraphAssembly(final PacketPool pool, final Counters counters, final Clock clock, final Ports ports,
        final TablesPublisher publisher, final TablesRef<Snapshot> tables)
    {
        this.pool = pool;
        this.counters = counters;
        this.clock = clock;
        this.ports = ports;
        this.publisher = publisher;
        this.tables = tables;
    }

    /**
     * Starts describing a graph.
     *
     * @param pool      the packet pool every stage uses.
     * @param counters  where counters are registered.
     * @param clock     time (ICMP rate limit, trace timestamps, conntrack).
     * @param ports     the port registry.
     * @param publisher the table publisher the features register their parts with.
     * @param tables    the reference the stages read once per vector ({@link TablesPublisher#ref()}, or a
     *                  reference the runner pins per graph run).
     * @return an assembly to add features to.
     */
    public static GraphAssembly of(final PacketPool pool, final Counters counters, final Clock clock,
        final Ports ports, final TablesPublisher publisher, final TablesRef<Snapshot> tables)
    {
        return new GraphAssembly(pool, counters, clock, ports, publisher, tables);
    }

    /**
     * @param feature a feature to wire in; before-lookup stages are ordered by {@link GraphFeature#order()}.
     * @return this.
     */
    public GraphAssembly feature(final GraphFeature feature)
    {
        features.add(feature);
        return this;
    }

    /**
     * @param list features to wire in.
     * @return this.
     */
    public GraphAssembly features(final List<? extends GraphFeature> list)
    {
        features.addAll(list);
        return this;
    }

    /**
     * @param txSink where transmitted packets go.
     * @return this.
     */
    public GraphAssembly sink(final TxSink txSink)
    {
        this.sink = txSink;
        return this;
    }

    /**
     * @param buffer the trace buffer (default: 4096 records).
     * @return this.
     */
    public GraphAssembly trace(final TraceBuffer buffer)
    {
        this.trace = buffer;
        return this;
    }

    /** @return the context the features build their stages with. */
    public GraphFeature.Context context()
    {
        return new GraphFeature.Context(pool, ports, publisher, tables, clock, counters);
    }

    /**
     * Builds the stages and the graph.
     *
     * @return the graph; packets from ports enter at {@link EthernetInput#NAME} or at an input stage.
     */
    public Graph build()
    {
        if (sink == null)
        {
            throw new IllegalStateException("a graph needs a TxSink");
        }
        final GraphFeature.Context ctx = context();
        final List<GraphFeature> sorted = new ArrayList<>(features);
        sorted.sort(Comparator.comparingInt(GraphFeature::order));
        final Graph.Builder b = Graph.builder(pool, counters, clock, ports).sink(sink);
        if (trace != null)
        {
            b.trace(trace);
        }
        for (final GraphFeature f : sorted)
        {
            f.inputStages(ctx).forEach(b::add);
        }
        // the last feature's stages lead to ip4-lookup, each earlier one's to the first stage of the next
        final List<Stage> before = new ArrayList<>();
        String next = Ip4Lookup.NAME;
        for (int i = sorted.size() - 1; i >= 0; i--)
        {
            final List<Stage> stages = sorted.get(i).beforeLookup(ctx, next);
            before.addAll(0, stages);
            if (!stages.isEmpty())
            {
                next = stages.get(0).name();
            }
        }
        final List<Stage> after = new ArrayList<>();
        for (final GraphFeature f : sorted)
        {
            after.addAll(f.afterLookup(ctx));
        }
        final boolean hostAttached = after.stream().anyMatch(s -> s.name().equals(Ip4Local.HOST_OUTPUT));
        final String afterInput = next;
        b.add(new EthernetInput(pool, ports));
        b.add(new Arp(pool, ports, tables));
        b.add(new Ip4Input(pool, afterInput, tables));
        before.forEach(b::add);
        b.add(new Ip4Lookup(pool, tables));
        after.forEach(b::add);
        b.add(new Ip4Local(pool, hostAttached));
        b.add(new IcmpError(pool, ports, tables, clock, ICMP_ERRORS_PER_SECOND, ICMP_ERROR_BURST, afterInput));
        b.add(new Ip4Rewrite(pool, tables));
        b.add(new InterfaceOutput(pool));
        return b.build();
    }
}
