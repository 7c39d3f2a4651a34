package dev.ferry.node;

import dev.ferry.core.Clock;
import dev.ferry.core.Counters;
import dev.ferry.core.Graph;
import dev.ferry.core.PacketPool;
import dev.ferry.core.Ports;
import dev.ferry.core.TraceBuffer;
import dev.ferry.core.TxSink;
import dev.ferry.core.graph.GraphAssembly;
import dev.ferry.core.graph.GraphFeature;
import dev.ferry.core.stage.EthernetInput;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.tables.Snapshot;
import dev.ferry.core.tables.TablesPublisher;
import dev.ferry.core.tables.TablesRef;
import dev.ferry.core.workers.Handoff;
import dev.ferry.nat.AffinityTable;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.function.Consumer;

/**
 * A node's forwarding graph as a function of its configuration: which features a node has, handed to
 * {@link GraphAssembly}. {@code ferry node}, {@code ferry replay}, the JMH whole-graph benchmarks and the
 * node-level graph tests all build their graph here; they differ only in ports (TAPs and AF_PACKET, or captures
 * and memory), clock (system, or the capture's) and sink.
 *
 * <pre>
 *  packet mode: neighbour-learn (uplink entry) │ vxlan (bypass, encap, decap) │ services (nat44-in, nat44-new)
 *               │ host (host-output)
 *  socket mode: vxlan with the UDP tunnel port │ services │ host
 * </pre>
 *
 * <p>Ports are registered by the runner through {@link #registerUplink} and {@link #registerHost}, so that a
 * replay's capture ports and a node's live ports have the same kinds, MACs and flags.
 */
public final class NodeGraph
{
    /** The mapped conntrack table in {@link NodeConfig#stateDir()} (none when it is null: replay, tests). */
    public static final String CONNTRACK_STATE_FILE = "conntrack.state";

    private final Graph graph;
    private final List<NodeFeature> features;
    private final Neighbours neighbours;
    private final GraphFeature.Context context;
    private final WorkerHandoff handoff;

    private NodeGraph(final Graph graph, final List<NodeFeature> features, final Neighbours neighbours,
        final GraphFeature.Context context, final WorkerHandoff handoff)
    {
        this.graph = graph;
        this.features = features;
        this.neighbours = neighbours;
        this.context = context;
        this.handoff = handoff;
    }

    /**
     * Registers the packet-mode uplink as every runner must: an uplink port with the node's MAC on the underlay,
     * not promiscuous (frames for other MACs are dropped by ethernet-input, as the NIC's filter would).
     *
     * @param ports the registry.
     * @param name  the port name.
     * @param mac   its MAC.
     * @return the port id.
     */
    public static int registerUplink(final Ports ports, final String name, final long mac)
    {
        return ports.add(name, Ports.Kind.UPLINK, mac).id();
    }

    /**
     * Registers the host TAP ({@code ferry0}) as every runner must.
     *
     * @param ports     the registry.
     * @param name      the port name.
     * @param ferryMac  ferry's MAC on it.
     * @param kernelMac the kernel's MAC behind it.
     * @return the port id.
     */
    public static int registerHost(final Ports ports, final String name, final long ferryMac, final long kernelMac)
    {
        final int id = ports.add(name, Ports.Kind.HOST, ferryMac).id();
        ports.peerMac(id, kernelMac);
        return id;
    }

    /**
     * Starts describing a node's graph.
     *
     * @param config    the node's configuration (underlay mode, seed).
     * @param pool      the packet pool.
     * @param counters  where counters are registered.
     * @param clock     time.
     * @param ports     the port registry, with the uplink (packet mode) and host ports already registered.
     * @param publisher the table publisher.
     * @param tables    the reference the stages read (a worker's pinned reference, or the publisher's).
     * @return a builder.
     */
    public static Builder builder(final NodeConfig config, final PacketPool pool, final Counters counters,
        final Clock clock, final Ports ports, final TablesPublisher publisher, final TablesRef<Snapshot> tables)
    {
        return new Builder(config, pool, counters, clock, ports, publisher, tables);
    }

    /** @return the graph. */
    public Graph graph()
    {
        return graph;
    }

    /** @return the index of ethernet-input, where frames from pod and host ports enter. */
    public int entry()
    {
        return graph.indexOf(EthernetInput.NAME);
    }

    /**
     * @return the index of the stage where frames from the uplink enter: neighbour-learn in packet mode, else
     *         ethernet-input.
     */
    public int uplinkEntry()
    {
        return neighbours == null ? entry() : graph.indexOf(NeighbourLearn.NAME);
    }

    /** @return the node's features, in wiring order. */
    public List<NodeFeature> features()
    {
        return features;
    }

    /**
     * @param type a feature's class, e.g. {@link ServicesFeature}.
     * @param <T>  its type.
     * @return the node's feature of that class.
     * @throws IllegalArgumentException when the node has none.
     */
    public <T extends NodeFeature> T feature(final Class<T> type)
    {
        for (final NodeFeature f : features)
        {
            if (type.isInstance(f))
            {
                return type.cast(f);
            }
        }
        throw new IllegalArgumentException("no " + type.getSimpleName() + " in this node's graph");
    }

    /** @return what the stages were built with. */
    public GraphFeature.Context context()
    {
        return context;
    }

    /** @return the ownership stage's feature of a node of several workers, or null with one worker. */
    WorkerHandoff handoff()
    {
        return handoff;
    }

    /** @return packet mode's neighbour resolution, or null in socket mode. */
    Neighbours neighbours()
    {
        return neighbours;
    }

    /**
     * Lets every feature prepare for tables about to be published (the Services' conntrack table is created from
     * the first tables' settings), in the order of a push; the caller publishes them next.
     *
     * @param tables the tables, already validated.
     * @throws dev.ferry.core.tables.InvalidTablesException when a feature refuses them; nothing changed.
     */
    public void beforePublish(final NodeTables tables)
    {
        for (final NodeFeature f : features)
        {
            f.beforePublish(tables);
        }
    }

    /** Every feature's bounded upkeep (the conntrack sweep): the worker's duty cycle, or a test between vectors. */
    public void housekeeping()
    {
        // indexed: no iterator on the worker's duty cycle
        for (int i = 0; i < features.size(); i++)
        {
            features.get(i).housekeeping();
        }
    }

    /**
     * Answers a {@code show} query that a feature owns.
     *
     * @param what the query.
     * @return the lines, or null when no feature answers it.
     */
    public List<String> show(final String what)
    {
        for (final NodeFeature f : features)
        {
            final List<String> lines = f.show(what);
            if (lines != null)
            {
                return lines;
            }
        }
        return null;
    }

    /** @return the features' new log lines (masquerade port exhaustion). */
    public List<String> drainLog()
    {
        final List<String> out = new ArrayList<>();
        for (final NodeFeature f : features)
        {
            out.addAll(f.drainLog());
        }
        return out;
    }

    /** Releases what the features hold (off-heap tables); after the graph stopped running. */
    public void close()
    {
        for (final NodeFeature f : features)
        {
            f.close();
        }
    }

    /** Describes a node's graph. */
    public static final class Builder
    {
        private final NodeConfig config;
        private final PacketPool pool;
        private final Counters counters;
        private final Clock clock;
        private final Ports ports;
        private final TablesPublisher publisher;
        private final TablesRef<Snapshot> tables;
        private final List<NodeFeature> extra = new ArrayList<>();
        private TxSink sink;
        private TraceBuffer trace;
        private int hostPort = -1;
        private OptionalLong conntrackHashSeed = OptionalLong.empty();
        private Consumer<Map<Integer, Long>> onLearned = m -> { };
        private int worker;
        private Handoff handoff;
        private long ownerSecret;
        private AffinityTable affinity;

        private Builder(final NodeConfig config, final PacketPool pool, final Counters counters, final Clock clock,
            final Ports ports, final TablesPublisher publisher, final TablesRef<Snapshot> tables)
        {
            this.config = config;
            this.pool = pool;
            this.counters = counters;
            this.clock = clock;
            this.ports = ports;
            this.publisher = publisher;
            this.tables = tables;
        }

        /**
         * @param txSink where transmitted packets (and packet mode's ARP requests) go.
         * @return this.
         */
        public Builder sink(final TxSink txSink)
        {
            this.sink = txSink;
            return this;
        }

        /**
         * @param buffer the trace buffer.
         * @return this.
         */
        public Builder trace(final TraceBuffer buffer)
        {
            this.trace = buffer;
            return this;
        }

        /**
         * @param seed a fixed conntrack hash secret, for determinism (replay, tests); by default a node draws a
         *             random one when its table is created.
         * @return this.
         */
        public Builder conntrackHashSeed(final long seed)
        {
            this.conntrackHashSeed = OptionalLong.of(seed);
            return this;
        }

        /**
         * @param id the host TAP's port id, from {@link #registerHost}.
         * @return this.
         */
        public Builder hostPort(final int id)
        {
            this.hostPort = id;
            return this;
        }

        /**
         * @param listener takes every neighbour learned so far when the set changed (packet mode).
         * @return this.
         */
        public Builder onLearned(final Consumer<Map<Integer, Long>> listener)
        {
            this.onLearned = listener;
            return this;
        }

        /**
         * Makes this graph one worker's of a node of several: a conntrack shard, SNAT ports of the worker's
         * partition, and the ownership stage ({@link WorkerHandoff}) joined to the other workers by the rings. A
         * handoff of one worker changes nothing: that graph is a one-worker node's.
         *
         * @param w        this graph's worker.
         * @param rings    the node's handoff rings (their worker count is the node's).
         * @param secret   the node's ownership hash secret (the same for every worker).
         * @param affinity the node's ClientIP affinity table, the same for every worker
         *                 ({@link ServicesFeature#openSharedAffinity}): the rule spreads one client's connections
         *                 over the workers, and they must meet one endpoint.
         * @return this.
         */
        Builder worker(final int w, final Handoff rings, final long secret, final AffinityTable affinity)
        {
            if (rings.workers() > 1 && affinity == null)
            {
                throw new IllegalArgumentException("the workers of a node share one ClientIP affinity table");
            }
            this.worker = w;
            this.handoff = rings;
            this.ownerSecret = secret;
            this.affinity = affinity;
            return this;
        }

        /**
         * @param feature a further feature (tests wire a feature that misbehaves).
         * @return this.
         */
        public Builder feature(final NodeFeature feature)
        {
            extra.add(feature);
            return this;
        }

        /** @return the built graph and its features. */
        public NodeGraph build()
        {
            if (hostPort < 0)
            {
                throw new IllegalStateException("a node graph needs the host port (registerHost)");
            }
            final List<NodeFeature> features = new ArrayList<>();
            Neighbours neighbours = null;
            if (config.underlay() == UnderlayMode.PACKET)
            {
                neighbours = new Neighbours();
                neighbours.bind(pool, ports, tables, sink, counters, onLearned);
                features.add(new UnderlayNeighbours(neighbours));
            }
            final int workers = handoff == null ? 1 : handoff.workers();
            features.add(new VxlanFeature(config.underlay()).reusePort(workers > 1));
            final WorkerHandoff owner = workers == 1 ? null : new WorkerHandoff(worker, handoff, ownerSecret);
            if (owner != null)
            {
                features.add(owner);
            }
            final ServicesFeature services = new ServicesFeature(config.balancing().nat(), config.seed(),
                conntrackHashSeed, config.fragments(),
                config.stateDir() == null ? null : config.stateDir().resolve(CONNTRACK_STATE_FILE), worker, workers);
            services.sharedAffinity(affinity);
            features.add(services);
            features.addAll(extra);
            features.add(new HostDelivery(hostPort, ports.mac(hostPort), ports.peerMac(hostPort)));
            final GraphAssembly assembly = GraphAssembly.of(pool, counters, clock, ports, publisher, tables)
                .features(features).sink(sink);
            if (trace != null)
            {
                assembly.trace(trace);
            }
            final Graph graph = assembly.build();
            if (owner != null)
            {
                owner.bind(graph, counters, services);
            }
            return new NodeGraph(graph, List.copyOf(features), neighbours, assembly.context(), owner);
        }
    }
}
