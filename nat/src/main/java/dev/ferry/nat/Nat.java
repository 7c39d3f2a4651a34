package dev.ferry.nat;

import dev.ferry.conntrack.ConntrackTable;
import dev.ferry.core.Clock;
import dev.ferry.core.Counters;
import dev.ferry.core.DropScope;
import dev.ferry.core.PacketPool;
import dev.ferry.core.Stage;
import dev.ferry.core.StageInfo;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.tables.Snapshot;
import dev.ferry.core.tables.TablesPublisher;
import dev.ferry.core.tables.TablesRef;
import dev.ferry.core.workers.FlowOwner;

import java.util.ArrayList;
import java.util.List;

/**
 * Kubernetes Services and masquerade for one worker: the entry type of module {@code nat}.
 *
 * <p>Registers a part compiler with the {@link TablesPublisher} that turns {@code NodeTables.services()}
 * and the cluster settings into an immutable Service table, and builds the two stages that go between
 * {@code ip4-input} and {@code ip4-lookup}:
 *
 * <pre>
 *  ip4-input ─► nat44-in ──(tracked: apply binding)──────────────────────────────► ip4-lookup
 *                  │ miss
 *                  ▼
 *               nat44-new ─(Service: choose endpoint, DNAT, masquerade? SNAT)─────► ip4-lookup
 *                  └──────(no endpoint: REJECT) ──► icmp-error ──► ip4-lookup
 *
 *  the node's Services feature hands nat.stages() to GraphAssembly as its before-lookup stages
 * </pre>
 *
 * <p>Mutable state (flow table, port allocator, seeded random source) lives with the stages and is touched by
 * the worker only; the ClientIP affinity table may be the node's, shared by its workers behind a lock taken only
 * for a new connection to a Service with affinity ({@link AffinityTable}). When the snapshot's Service table
 * changes, {@code nat44-in} flushes the UDP flows whose (frontend, endpoint) pair left it before it looks at any
 * packet under the new table.
 * Counters: {@value #COUNTER_SESSIONS_CREATED}, {@value #COUNTER_PORTS_EXHAUSTED}, {@value #COUNTER_PORT_PROBES},
 * {@value #COUNTER_PORT_PROBE_LIMIT},
 * {@value #COUNTER_AFFINITY_HITS}, {@value #COUNTER_REJECTS}, {@value #COUNTER_FRONTEND_LOOKUPS},
 * {@value #COUNTER_FRONTEND_PROBES}, {@value #COUNTER_UDP_FLUSHED}; fragments: {@value #COUNTER_FRAGMENT_CONTEXTS},
 * {@value #COUNTER_FRAGMENTS_HELD} (gauges), {@value #COUNTER_FRAGMENT_TIMEOUTS}.
 */
public final class Nat
{
    /** Counter: flows created by nat44-new. */
    public static final String COUNTER_SESSIONS_CREATED = "nat/sessions-created";
    /** Counter: new flows dropped because no masquerade port was free toward their destination. */
    public static final String COUNTER_PORTS_EXHAUSTED = "nat/masquerade-ports-exhausted";
    /** Counter: ports tried by the masquerade port allocator (at most 128 per new flow). */
    public static final String COUNTER_PORT_PROBES = "nat/port-probes";
    /** Counter: new flows whose port search stopped at the 128-try bound (then dropped as exhausted). */
    public static final String COUNTER_PORT_PROBE_LIMIT = "nat/port-probe-limit";
    /** ClientIP affinity entries of a table made with the default options (a node's shared one too). */
    public static final int DEFAULT_AFFINITY_CAPACITY = 65536;
    /** Counter: new connections sent to the endpoint remembered by ClientIP affinity. */
    public static final String COUNTER_AFFINITY_HITS = "nat/affinity-hits";
    /** Counter: packets answered with ICMP port unreachable (no endpoint, or a port no Service serves). */
    public static final String COUNTER_REJECTS = "nat/rejects";
    /** Counter: Service frontend lookups. */
    public static final String COUNTER_FRONTEND_LOOKUPS = "nat/frontend-lookups";
    /** Counter: slots probed by those lookups (independent of the number of Services). */
    public static final String COUNTER_FRONTEND_PROBES = "nat/frontend-probes";
    /** Counter: UDP flows flushed because their endpoint left the Service. */
    public static final String COUNTER_UDP_FLUSHED = "nat/udp-flows-flushed";
    /**
     * The stage of a node of several workers that nat44-frag hands fragments to, their datagram's ports known
     * ({@link dev.ferry.core.PacketPool#FLAG_FRAG_PORTS}, {@code aux}): it must send each one to nat44-in of the
     * worker that owns the flow of (protocol, source, ports, destination), as for an unfragmented packet of it.
     */
    public static final String OWNERSHIP_STAGE = "worker-handoff";
    /**
     * The {@code aux} nat44-frag gives the fragments of a datagram the NAT does not translate (ICMP other than echo):
     * never an echo's, whose identifier fills both halves. The ownership stage keeps such fragments where they are.
     */
    public static final int FRAGMENT_PORTS_UNTRACKED = FragmentTable.UNTRACKED_PORTS;
    /** Gauge: fragmented datagrams being tracked by the virtual reassembly. */
    public static final String COUNTER_FRAGMENT_CONTEXTS = "nat/fragment-contexts";
    /** Gauge: fragments held until their datagram's first fragment arrives (each holds one packet buffer). */
    public static final String COUNTER_FRAGMENTS_HELD = "nat/fragments-held";
    /** Counter: fragmented datagrams that did not complete within the timeout. */
    public static final String COUNTER_FRAGMENT_TIMEOUTS = "nat/fragment-timeouts";

    private static final System.Logger LOG = System.getLogger(Nat.class.getName());

    /** How a Service port chooses among its endpoints for a new flow. */
    public enum Balancing
    {
        /** Uniform random, what kube-proxy's iptables {@code statistic} chain gives. */
        RANDOM,
        /** Maglev consistent hashing of the flow's 5-tuple. */
        MAGLEV
    }

    /**
     * Worker options.
     *
     * @param balancing          endpoint choice.
     * @param seed               seed of the random choice and of the port hash (replay fixes it).
     * @param affinityCapacity   ClientIP affinity entries.
     * @param quarantineCapacity TCP port quarantine entries.
     * @param fragments          the virtual reassembly's bounds.
     * @param affinityFile       the ClientIP affinity table's state file (mapped, kept across restarts), or null
     *                           for a table in memory.
     * @param worker             this NAT's worker, {@code 0 .. workers - 1}.
     * @param workers            the node's workers: with more than one, masquerade ports come only from this
     *                           worker's partition of the range ({@link FlowOwner#portMin(int, int, int, int)}) and
     *                           never a port that is a Service frontend or backend on the SNAT address, so that
     *                           {@link FlowOwner} sends every reply back to this worker.
     * @param sharedAffinity     the node's one ClientIP affinity table, shared by its workers (a client's
     *                           connections may be owned by different workers, and must meet the same endpoint), or
     *                           null: this NAT makes its own from {@code affinityCapacity} and {@code affinityFile}.
     */
    public record Options(Balancing balancing, long seed, int affinityCapacity, int quarantineCapacity,
        FragmentLimits fragments, java.nio.file.Path affinityFile, int worker, int workers,
        AffinityTable sharedAffinity)
    {
        /**
         * Checks the worker partition.
         *
         * @param balancing          endpoint choice.
         * @param seed               seed.
         * @param affinityCapacity   ClientIP affinity entries.
         * @param quarantineCapacity TCP port quarantine entries.
         * @param fragments          the virtual reassembly's bounds.
         * @param affinityFile       the affinity state file, or null.
         * @param worker             this NAT's worker.
         * @param workers            the node's workers.
         * @param sharedAffinity     the node's shared affinity table, or null.
         */
        public Options
        {
            if (workers < 1 || worker < 0 || worker >= workers)
            {
                throw new IllegalArgumentException("worker " + worker + " of " + workers);
            }
        }

        /**
         * @param file the affinity state file, or null.
         * @return a copy with that file.
         */
        public Options affinityFile(final java.nio.file.Path file)
        {
            return new Options(balancing, seed, affinityCapacity, quarantineCapacity, fragments, file, worker,
                workers, sharedAffinity);
        }

        /**
         * Options with the default fragment limits and the affinity table in memory, for a node of one worker.
         *
         * @param balancing          endpoint choice.
         * @param seed               seed of the random choice and of the port hash.
         * @param affinityCapacity   ClientIP affinity entries.
         * @param quarantineCapacity TCP port quarantine entries.
         */
        public Options(final Balancing balancing, final long seed, final int affinityCapacity,
            final int quarantineCapacity)
        {
            this(balancing, seed, affinityCapacity, quarantineCapacity, FragmentLimits.DEFAULTS, null, 0, 1, null);
        }

        /**
         * @param limits the virtual reassembly's bounds.
         * @return a copy with them.
         */
        public Options fragments(final FragmentLimits limits)
        {
            return new Options(balancing, seed, affinityCapacity, quarantineCapacity, limits, affinityFile, worker,
                workers, sharedAffinity);
        }

        /**
         * @param w this NAT's worker.
         * @param n the node's workers.
         * @return a copy for worker {@code w} of {@code n}.
         */
        public Options worker(final int w, final int n)
        {
            return new Options(balancing, seed, affinityCapacity, quarantineCapacity, fragments, affinityFile, w, n,
                sharedAffinity);
        }

        /**
         * @param table the node's ClientIP affinity table, shared by its workers ({@link AffinityTable#open}), or
         *              null for one of this NAT's own.
         * @return a copy with it.
         */
        public Options sharedAffinity(final AffinityTable table)
        {
            return new Options(balancing, seed, affinityCapacity, quarantineCapacity, fragments, affinityFile, worker,
                workers, table);
        }

        /**
         * @param seed the seed.
         * @return random balancing, 64 Ki affinity and quarantine entries.
         */
        public static Options defaults(final long seed)
        {
            return new Options(Balancing.RANDOM, seed, DEFAULT_AFFINITY_CAPACITY, 65536);
        }

        /**
         * @param value endpoint choice.
         * @return a copy with that choice.
         */
        public Options balancing(final Balancing value)
        {
            return new Options(value, seed, affinityCapacity, quarantineCapacity, fragments, affinityFile, worker,
                workers, sharedAffinity);
        }
    }

    /**
     * Bounds of the virtual reassembly of IPv4 fragments (memory and time): fixed when the NAT is built.
     *
     * @param maxDatagrams  fragmented datagrams tracked at once; a new one beyond is dropped ({@code table-full}).
     * @param maxFragments  fragments per datagram (the overlap check keeps each one's byte range).
     * @param maxHeld       fragments held in all while their datagram's first fragment has not arrived (each holds
     *                      a packet buffer; at most a quarter of the pool).
     * @param timeoutMillis how long a datagram may take from its first fragment seen; then what is held is dropped.
     */
    public record FragmentLimits(int maxDatagrams, int maxFragments, int maxHeld, long timeoutMillis)
    {
        /** 1,024 datagrams, 64 fragments each, 64 held, 3 s. */
        public static final FragmentLimits DEFAULTS = new FragmentLimits(1024, 64, 64, 3000);

        /**
         * Checks the ranges when the limits are made (node.yaml, tests).
         *
         * @param maxDatagrams  fragmented datagrams tracked at once.
         * @param maxFragments  fragments per datagram.
         * @param maxHeld       fragments held in all.
         * @param timeoutMillis how long a datagram may take.
         */
        public FragmentLimits
        {
            if (maxDatagrams < 1 || maxDatagrams > 1 << 20 || maxFragments < 2 || maxFragments > 8192
                || maxHeld < 0 || maxHeld > 1 << 20 || timeoutMillis < 1 || timeoutMillis > 120_000)
            {
                throw new IllegalArgumentException("fragment limits out of range (maxDatagrams 1..1048576,"
                    + " maxFragments 2..8192, maxHeld 0..1048576, timeoutMillis 1..120000): " + maxDatagrams + ", "
                    + maxFragments + ", " + maxHeld + ", " + timeoutMillis);
            }
        }
    }

    private final TablesPublisher publisher;
    private final int slot;
    private final NatState state;
    private final List<Stage> stages;

    /**
     * The drop reasons of the NAT stages, for the node's drop-reason catalogue (the stages are not public).
     *
     * @return nat44-in's and nat44-new's reasons under their counter prefixes.
     */
    public static List<DropScope> dropScopes()
    {
        return List.of(DropScope.stage(Nat44In.NAME, Nat44In.Drop.values()),
            DropScope.stage(Nat44New.NAME, Nat44New.Drop.values()),
            DropScope.stage(Nat44Frag.NAME, Nat44Frag.Drop.values()));
    }

    /**
     * Builds the NAT of one worker whose stages read the publisher's reference (replay, tests): registers its
     * part compiler (call it before the first publish) and creates the stages.
     *
     * @param pool      the worker's packet pool.
     * @param publisher the tables publisher.
     * @param clock     time (affinity, port quarantine, flow timeouts).
     * @param counters  where the NAT counters are registered.
     * @param options   balancing, seed and table sizes.
     * @param conntrack the worker's connection-tracking table; the NAT installs its removal listener.
     * @return the NAT.
     */
    public static Nat create(final PacketPool pool, final TablesPublisher publisher, final Clock clock,
        final Counters counters, final Options options, final ConntrackTable conntrack)
    {
        return create(pool, publisher, publisher.ref(), clock, counters, options, conntrack);
    }

    /**
     * Builds the NAT of one worker whose stages read {@code tables}, e.g. a node worker's reference that it
     * pins for a whole graph run, so that both NAT stages and {@code ip4-lookup} see one snapshot per run.
     *
     * @param pool      the worker's packet pool.
     * @param publisher the tables publisher (the part compiler is registered with it).
     * @param tables    the reference the stages read, once per vector.
     * @param clock     time (affinity, port quarantine, flow timeouts).
     * @param counters  where the NAT counters are registered.
     * @param options   balancing, seed and table sizes.
     * @param conntrack the worker's connection-tracking table; the NAT installs its removal listener.
     * @return the NAT.
     */
    public static Nat create(final PacketPool pool, final TablesPublisher publisher, final TablesRef<Snapshot> tables,
        final Clock clock, final Counters counters, final Options options, final ConntrackTable conntrack)
    {
        return new Nat(pool, publisher, tables, clock, counters, options, new ConntrackFlows(conntrack, clock),
            conntrack.config().hashSeed());
    }

    Nat(final PacketPool pool, final TablesPublisher publisher, final TablesRef<Snapshot> tables, final Clock clock,
        final Counters counters, final Options options, final FlowTable flows)
    {
        this(pool, publisher, tables, clock, counters, options, flows, options.seed());
    }

    Nat(final PacketPool pool, final TablesPublisher publisher, final TablesRef<Snapshot> tables, final Clock clock,
        final Counters counters, final Options options, final FlowTable flows, final long hashSecret)
    {
        this.publisher = publisher;
        final boolean maglev = options.balancing() == Balancing.MAGLEV;
        this.slot = publisher.register((t, fib, previous) -> ServiceTable.compile(t, maglev,
            (ServiceTable)previous));
        this.state = new NatState(flows, clock, counters, options.seed(), affinity(options),
            options.quarantineCapacity(), options.fragments(), hashSecret, pool.capacity(), options.worker(),
            options.workers());
        this.stages = List.of(new Nat44In(pool, state, tables, slot), new Nat44New(pool, state, tables, slot),
            new Nat44Frag(pool, state));
    }

    /**
     * The affinity table: the node's shared one when given, else mapped from {@link Options#affinityFile()} when there
     * is one, else in memory.
     */
    private static AffinityTable affinity(final Options options)
    {
        return options.sharedAffinity() != null ? options.sharedAffinity()
            : AffinityTable.openOrInMemory(options.affinityCapacity(), options.affinityFile());
    }

    /** @return what the affinity table found in its state file ({@code in memory} without one). */
    public String affinityRestored()
    {
        return state.affinity.restored();
    }

    /** @return the stages to wire between ip4-input and ip4-lookup, the receiving one first (nat44-in, nat44-new,
     *  nat44-frag, which nat44-in hands fragments to and which hands them back). */
    public List<Stage> stages()
    {
        return stages;
    }

    /**
     * The names, next edges and drop reasons of {@link #stages()}, in the same order, known without building a
     * NAT (a node wires its graph before the first tables size the conntrack table).
     *
     * @return nat44-in's, nat44-new's and nat44-frag's descriptions, for a node of one worker.
     */
    public static List<StageInfo> stageInfos()
    {
        return stageInfos(1);
    }

    /**
     * {@link #stageInfos()} for a node of {@code workers} workers: with more than one, nat44-frag's edge leads to
     * {@link #OWNERSHIP_STAGE}, which the node wires before nat44-in.
     *
     * @param workers the node's workers ({@link Options#workers()}).
     * @return the descriptions, in the order of {@link #stages()}.
     */
    public static List<StageInfo> stageInfos(final int workers)
    {
        return List.of(Nat44In.INFO, Nat44New.INFO, Nat44Frag.info(workers));
    }

    /** @return this module's slot in {@link Snapshot#parts()}. */
    public int slot()
    {
        return slot;
    }

    /**
     * The Service frontend map of one snapshot, read-only: the lookup that {@code nat44-new} does for each new
     * flow. For benchmarks and tools; the stages read the map directly.
     *
     * @param snapshot a snapshot published after this NAT was created.
     * @return a view of that snapshot's frontend map (allocates once; its lookups do not).
     */
    public Frontends frontends(final Snapshot snapshot)
    {
        return new Frontends(snapshot.part(slot));
    }

    /**
     * What the ownership rule ({@link FlowOwner}) needs to know of one snapshot's Services: its frontends
     * (ClusterIP, NodePort, external and LoadBalancer addresses with their ports) and its backends (each
     * endpoint address with its target port and protocol). Allocation-free; the snapshot's own compiled table.
     *
     * @param snapshot a snapshot published after this NAT was created, or null.
     * @return its roles; {@link FlowOwner#NO_SERVICES} for null.
     */
    public FlowOwner.Roles roles(final Snapshot snapshot)
    {
        if (snapshot == null)
        {
            return FlowOwner.NO_SERVICES;
        }
        final ServiceTable st = snapshot.part(slot);
        return st == null ? FlowOwner.NO_SERVICES : st;
    }

    /**
     * The frontends of {@link #roles} as a list, for a program that compiles them in (the uplink's fanout program):
     * every endpoint for which {@link FlowOwner.Roles#frontend} answers true.
     *
     * @param snapshot a snapshot published after this NAT was created, or null.
     * @return its frontends, each {@link FlowOwner#endpoint}, in no particular order; empty for null.
     */
    public long[] frontendEndpoints(final Snapshot snapshot)
    {
        final ServiceTable st = snapshot == null ? null : snapshot.part(slot);
        return st == null ? new long[0] : st.frontendEndpoints();
    }

    /**
     * The backends of {@link #roles} as a list: every endpoint for which {@link FlowOwner.Roles#backend} answers
     * true.
     *
     * @param snapshot a snapshot published after this NAT was created, or null.
     * @return its backends, each {@link FlowOwner#endpoint}, sorted; empty for null.
     */
    public long[] backendEndpoints(final Snapshot snapshot)
    {
        final ServiceTable st = snapshot == null ? null : snapshot.part(slot);
        return st == null ? new long[0] : st.backendEndpoints();
    }

    /**
     * @param c the cluster's settings.
     * @return the first masquerade source port: the configured one, else 1024.
     */
    public static int masqueradePortMin(final NodeTables.ClusterSettings c)
    {
        return c.masqueradePortMin() > 0 ? c.masqueradePortMin() : 1024;
    }

    /**
     * @param c the cluster's settings.
     * @return the last masquerade source port: the configured one when it is not below the first, else 65535.
     */
    public static int masqueradePortMax(final NodeTables.ClusterSettings c)
    {
        return c.masqueradePortMax() >= masqueradePortMin(c) ? c.masqueradePortMax() : 65535;
    }

    /**
     * {@code ferry show services}: the Service table in the style of {@code ipvsadm -Ln}, with the Services
     * that carry no dataplane state listed as "not proxied" with the reason.
     *
     * @return the text, one line per frontend, endpoint or remark.
     */
    public String showServices()
    {
        final Snapshot s = publisher.current();
        final StringBuilder sb = new StringBuilder();
        ServiceView.HEADER.forEach(h -> sb.append(h).append('\n'));
        if (s == null)
        {
            return sb.append("(no tables published)\n").toString();
        }
        final ServiceTable st = s.part(slot);
        for (final String line : ServiceView.render(st.views))
        {
            sb.append(line).append('\n');
        }
        return sb.toString();
    }

    /**
     * {@code show services} as data: what {@link #showServices()} prints below its header.
     *
     * @return the published Service table's entries, or null before the first tables.
     */
    public List<ServiceView> serviceViews()
    {
        final Snapshot s = publisher.current();
        if (s == null)
        {
            return null;
        }
        final ServiceTable st = s.part(slot);
        return st.views;
    }

    /**
     * Takes the log lines the worker recorded (masquerade port exhaustion, one per destination per minute),
     * writes each to the {@code System.Logger} at WARNING, and returns them. Call it from the control side.
     *
     * @return the new lines.
     */
    public List<String> drainLog()
    {
        final List<String> lines = new ArrayList<>();
        for (long[] r = state.pollExhaustion(); r != null; r = state.pollExhaustion())
        {
            final long key = r[0];
            final int proto = (int)(key >>> 48);
            final String line = "masquerade source ports exhausted toward " + (proto == 6 ? "TCP " : proto == 17
                ? "UDP " : "proto " + proto + " ") + Ip4.format((int)key) + ":" + (key >>> 32 & 0xffff)
                + ": new connections to it are dropped (counter " + COUNTER_PORTS_EXHAUSTED + "); widen"
                + " masqueradePortMin/Max or spread the load over more destinations";
            LOG.log(System.Logger.Level.WARNING, line);
            lines.add(line);
        }
        return lines;
    }

    /**
     * A read-only view of one snapshot's Service frontend map: open addressing with linear probing over
     * {@code (protocol, address, port)}, kept at or below half full, so that a lookup probes about as many slots
     * at 10 Services as at 10,000. {@link #lookup} allocates nothing.
     */
    public static final class Frontends
    {
        /** {@link #frontend(long)} of a lookup that found nothing. */
        public static final int NONE = ServiceTable.NONE;
        /** {@link #frontend(long)} of a lookup with protocol and port 0 whose address is a ClusterIP. */
        public static final int CLUSTER_IP = ServiceTable.CLUSTER_IP_MARK;

        private final ServiceTable table;

        Frontends(final ServiceTable table)
        {
            this.table = table;
        }

        /**
         * Finds a frontend, as {@code nat44-new} does for a new flow.
         *
         * @param proto IP protocol (0, with port 0, asks whether the address is a ClusterIP).
         * @param ip    destination address.
         * @param port  destination port.
         * @return the probes and the frontend, packed: read them with {@link #probes(long)} and
         *         {@link #frontend(long)}.
         */
        public long lookup(final int proto, final int ip, final int port)
        {
            return table.lookup(proto, ip, port);
        }

        /**
         * @param result a {@link #lookup} result.
         * @return slots the lookup examined (1 when the first slot answered).
         */
        public static int probes(final long result)
        {
            return (int)(result >>> 32);
        }

        /**
         * @param result a {@link #lookup} result.
         * @return the frontend index, {@link #CLUSTER_IP}, or {@link #NONE}.
         */
        public static int frontend(final long result)
        {
            return (int)result;
        }

        /** @return slots in the map (a power of two, at least twice the number of frontends). */
        public int slots()
        {
            return table.capacity();
        }
    }
}
