package dev.ferry.node;

import dev.ferry.conntrack.ConntrackConfig;
import dev.ferry.conntrack.ConntrackEntry;
import dev.ferry.conntrack.ConntrackEvents;
import dev.ferry.conntrack.ConntrackFilter;
import dev.ferry.conntrack.ConntrackStats;
import dev.ferry.conntrack.ConntrackTable;
import dev.ferry.core.Counters;
import dev.ferry.core.Stage;
import dev.ferry.core.StageInfo;
import dev.ferry.core.tables.InvalidTablesException;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.nat.AffinityTable;
import dev.ferry.nat.Nat;
import dev.ferry.node.metrics.NodeMetrics;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.OptionalLong;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Kubernetes Services (module {@code nat} over {@code conntrack-table}) wired into a node: {@code nat44-in} and
 * {@code nat44-new} between ip4-input (after vxlan-bypass) and ip4-lookup, the Service table as a snapshot part,
 * {@code ferry show services} and {@code ferry show conntrack}, and the conntrack sweep in the worker's duty
 * cycle.
 *
 * <pre>
 *   graph build:  nat44-in, nat44-new = DeferredStage (names, edges, drop reasons from Nat.stageInfos())
 *   first tables: ConntrackConfig.fromSettings(tables.cluster().conntrack()) + hash secret ─► ConntrackTable
 *                 ─► Nat.create
 *                 ─► the deferred stages take the real ones ─► the tables are published
 *   later tables: same settings → nothing; other settings → a warning: they apply at the node's next start
 * </pre>
 *
 * <p>The conntrack table is created once, from the cluster's settings in the <em>first</em> tables the node
 * applies (the initial tables of {@code --cluster}, or the agent's first push): its capacity is off-heap memory
 * allocated once, and its entries carry the NAT bindings of established flows, so it is never rebuilt under
 * traffic. A later push that changes the conntrack settings (capacity or timeouts) is applied in every other
 * respect; the table keeps its size and timeouts, a warning says so once per distinct setting, and the new
 * settings take effect when the node restarts (the agent pushes them first thing). The table's hash secret is
 * drawn from {@link java.security.SecureRandom} when it is created, unless the graph fixes it (replay).
 *
 * <p>Counters (gauges set by the worker every 64 duty cycles, for {@code /metrics}): {@code conntrack/entries},
 * {@code conntrack/capacity}, and {@code conntrack/}{found, inserted, deleted, early-drop, drop, search-miss,
 * invalid, insert-failed} as {@code conntrack -S} counts them. The NAT's own counters are {@code nat/*}.
 *
 * <p>Masquerade port exhaustion is logged by the node ({@link #drainLog()}, rate limited); the NAT module's own
 * copy of those lines is turned down to SEVERE so that they are not logged twice.
 *
 * <p>{@link NodeGraph} wires it into every node and replay graph.
 */
public final class ServicesFeature implements NodeFeature
{
    private static final Logger LOG = Logger.getLogger("dev.ferry.node");
    // held so that its level stays set (java.util.logging keeps loggers weakly)
    private static final Logger NAT_LOG = Logger.getLogger(Nat.class.getName());
    private static final String[] STATS = {"found", "inserted", "deleted", "early-drop", "drop", "search-miss",
        "invalid", "insert-failed"};

    private final Nat.Balancing balancing;
    private final long seed;
    private final OptionalLong hashSeed;
    private final Nat.FragmentLimits fragments;
    private final Path stateFile;
    /** This graph's worker and the node's workers: a shard of capacity / workers, SNAT ports of its partition. */
    private final int worker;
    private final int workers;
    /** The ClientIP affinity table's state file, beside the conntrack state file. */
    static final String AFFINITY_STATE_FILE = "affinity.state";
    /** Records {@code show conntrack -E} holds between two drains by the control thread (48 bytes each). */
    static final int EVENT_RING = 16_384;
    private Context context;
    // allocated once; the table writes into it only while a client streams events
    private final ConntrackEvents events = new ConntrackEvents(EVENT_RING);
    private final List<DeferredStage> stages = new ArrayList<>();
    // set by the control thread at the first tables, read by the worker (sweep, show) and the control thread
    private volatile ConntrackTable conntrack;
    private volatile Nat nat;
    /** The node's ClientIP affinity table when it has several workers (they share it), else null: this NAT's own. */
    private AffinityTable sharedAffinity;
    private ConntrackConfig warned;
    private Counters counters;
    private int entriesCounter;
    private int capacityCounter;
    private final int[] statsCounters = new int[STATS.length];

    /**
     * @param balancing how a new connection picks its endpoint.
     * @param seed      seed of the random choices (backend, port allocation).
     * @param hashSeed  the conntrack hash secret; empty: a {@link java.security.SecureRandom} one, chosen when the
     *                  table is created (a node); replay and tests fix it for determinism.
     * @param fragments the bounds of the NAT's virtual reassembly of IPv4 fragments (node.yaml).
     */
    public ServicesFeature(final Nat.Balancing balancing, final long seed, final OptionalLong hashSeed,
        final Nat.FragmentLimits fragments)
    {
        this(balancing, seed, hashSeed, fragments, null);
    }

    /**
     * @param balancing how a new connection picks its endpoint.
     * @param seed      seed of the random choices (backend, port allocation).
     * @param hashSeed  the conntrack hash secret (a restored state file's secret wins).
     * @param fragments the bounds of the NAT's virtual reassembly of IPv4 fragments (node.yaml).
     * @param stateFile the mapped conntrack state file ({@link ConntrackTable#open}), or null for a table in memory;
     *                  the ClientIP affinity table's file goes beside it.
     */
    public ServicesFeature(final Nat.Balancing balancing, final long seed, final OptionalLong hashSeed,
        final Nat.FragmentLimits fragments, final Path stateFile)
    {
        this(balancing, seed, hashSeed, fragments, stateFile, 0, 1);
    }

    /**
     * One worker's Services on a node of several: its conntrack table is a shard of the configured capacity
     * divided by the worker count, holding the flows this worker owns ({@link WorkerHandoff}); its NAT masquerades
     * with ports of this worker's partition only; its state files carry the worker's number.
     *
     * @param balancing how a new connection picks its endpoint.
     * @param seed      seed of the random choices (backend, port allocation).
     * @param hashSeed  the conntrack hash secret (a restored state file's secret wins).
     * @param fragments the bounds of the NAT's virtual reassembly of IPv4 fragments (node.yaml).
     * @param stateFile the mapped conntrack state file, or null for a table in memory; with several workers,
     *                  worker {@code w}'s is this name with {@code .w} appended.
     * @param worker    this graph's worker.
     * @param workers   the node's workers.
     */
    public ServicesFeature(final Nat.Balancing balancing, final long seed, final OptionalLong hashSeed,
        final Nat.FragmentLimits fragments, final Path stateFile, final int worker, final int workers)
    {
        if (workers < 1 || worker < 0 || worker >= workers)
        {
            throw new IllegalArgumentException("worker " + worker + " of " + workers);
        }
        this.worker = worker;
        this.workers = workers;
        this.fragments = fragments;
        this.balancing = balancing;
        this.seed = seed;
        this.hashSeed = hashSeed;
        this.stateFile = stateFile == null || workers == 1 ? stateFile
            : stateFile.resolveSibling(stateFile.getFileName() + "." + worker);
    }

    @Override
    public String name()
    {
        return "services";
    }

    @Override
    public int order()
    {
        return 50;
    }

    @Override
    public List<Stage> beforeLookup(final Context c, final String next)
    {
        // nat44-in and nat44-new lead to ip4-lookup by name: Services are the last feature before the lookup
        this.context = c;
        this.counters = c.counters();
        NAT_LOG.setLevel(Level.SEVERE);
        // the real NAT waits for the cluster's conntrack settings in the first tables; edge 0 of both stages is
        // ip4-lookup
        // with several workers nat44-frag leads to worker-handoff: a fragment's flow may be another worker's
        for (final StageInfo info : Nat.stageInfos(workers))
        {
            stages.add(new DeferredStage(info, 0));
        }
        entriesCounter = counters.register(NodeMetrics.CONNTRACK_ENTRIES);
        capacityCounter = counters.register(NodeMetrics.CONNTRACK_CAPACITY);
        for (int i = 0; i < STATS.length; i++)
        {
            statsCounters[i] = counters.register("conntrack/" + STATS[i]);
        }
        return List.copyOf(stages);
    }

    @Override
    public void beforePublish(final NodeTables tables)
    {
        final ConntrackConfig config;
        try
        {
            final ConntrackConfig settings = shard(ConntrackConfig.fromSettings(tables.cluster().conntrack()));
            config = hashSeed.isPresent() ? settings.withHashSeed(hashSeed.getAsLong()) : settings;
        }
        catch (final IllegalArgumentException e)
        {
            throw new InvalidTablesException("tables.cluster.conntrack: " + e.getMessage());
        }
        final ConntrackTable current = conntrack;
        if (current == null)
        {
            create(config);
        }
        else if (!config.sameSettings(current.config()) && !config.sameSettings(warned))
        {
            warned = config;
            LOG.warning(() -> "conntrack settings changed (capacity " + current.config().capacity() + " -> "
                + config.capacity() + ", timeouts may differ too): the table keeps its size and timeouts until the"
                + " node restarts; everything else in generation " + tables.generation() + " is applied");
        }
    }

    /**
     * Makes this worker's NAT use the node's ClientIP affinity table, shared by its workers (before the first tables).
     *
     * @param table the node's table, or null for one of this worker's own (a node of one worker).
     */
    void sharedAffinity(final AffinityTable table)
    {
        this.sharedAffinity = table;
    }

    /** Beside the conntrack state file (a node of one worker; several share {@link #openSharedAffinity}'s). */
    private Path affinityFile()
    {
        return stateFile == null ? null : stateFile.resolveSibling(AFFINITY_STATE_FILE);
    }

    /**
     * The ClientIP affinity table that a node's workers share: {@code stateDir/affinity.state}, mapped, or in memory
     * without a state directory or when the file cannot be mapped. The per-worker files an older ferry kept
     * ({@code affinity.state.<worker>}) are taken in and deleted, so that no client loses its endpoint in the
     * upgrade; each step is logged.
     *
     * @param stateDir the node's state directory, or null.
     * @return the table.
     */
    static AffinityTable openSharedAffinity(final Path stateDir)
    {
        if (stateDir == null)
        {
            return AffinityTable.openOrInMemory(Nat.DEFAULT_AFFINITY_CAPACITY, null);
        }
        final Path file = stateDir.resolve(AFFINITY_STATE_FILE);
        final AffinityTable table = AffinityTable.openOrInMemory(Nat.DEFAULT_AFFINITY_CAPACITY, file);
        LOG.info(() -> "ClientIP affinity state " + file + " (shared by the workers): " + table.restored());
        for (int w = 0; w < WorkerCount.MAX; w++)
        {
            final Path old = stateDir.resolve(AFFINITY_STATE_FILE + "." + w);
            if (!Files.exists(old))
            {
                continue;
            }
            try
            {
                final int taken = table.mergeFrom(old);
                if (taken < 0)
                {
                    LOG.warning(() -> "ClientIP affinity state " + old + ": not a state file of this version, left"
                        + " as it is");
                    continue;
                }
                Files.delete(old);
                LOG.info(() -> "ClientIP affinity state " + old + " (one worker's, an older ferry's): " + taken
                    + " entries taken into " + file.getFileName() + ", file deleted");
            }
            catch (final IOException e)
            {
                LOG.warning(() -> "ClientIP affinity state " + old + ": cannot be taken in (" + e + "), left as it"
                    + " is");
            }
        }
        return table;
    }

    /** A worker's shard: the configured capacity split between the workers (one worker: the whole table). */
    private ConntrackConfig shard(final ConntrackConfig config)
    {
        return workers == 1 ? config : config.toBuilder().capacity(Math.max(1, config.capacity() / workers)).build();
    }

    private void create(final ConntrackConfig config)
    {
        final Context c = context;
        final ConntrackTable table = openTable(config, c);
        // the worker's pinned reference: the NAT stages see the same snapshot as the rest of the graph run
        final Nat n = Nat.create(c.pool(), c.publisher(), c.tables(), c.clock(), counters,
            Nat.Options.defaults(seed + worker * 0x9e3779b97f4a7c15L).balancing(balancing).fragments(fragments)
                .worker(worker, workers).affinityFile(affinityFile()).sharedAffinity(sharedAffinity), table);
        if (stateFile != null && sharedAffinity == null)
        {
            LOG.info(() -> "ClientIP affinity state " + affinityFile() + ": "
                + n.affinityRestored());
        }
        final List<Stage> real = n.stages();
        for (int i = 0; i < stages.size(); i++)
        {
            stages.get(i).target(real.get(i));
        }
        nat = n;
        table.events(events);
        conntrack = table;
        LOG.info(() -> "conntrack table created from the cluster's settings: " + table.capacity() + " entries, TCP "
            + "established " + config.tcpEstablished() + " s, UDP " + config.udp() + "/" + config.udpStream() + " s,"
            + " memory: " + table.memory());
    }

    /**
     * The table from the state file when there is one (flows, NAT bindings and SNAT ports of the previous process
     * continue); a file that cannot be created or mapped leaves the node forwarding with a table in memory.
     */
    private ConntrackTable openTable(final ConntrackConfig config, final Context c)
    {
        if (stateFile == null)
        {
            return new ConntrackTable(config, c.clock());
        }
        try
        {
            // the state directory may not exist yet on a first start (the API creates the socket's directory
            // later): 0700, like the socket's
            final Path dir = stateFile.toAbsolutePath().getParent();
            if (dir != null && !Files.isDirectory(dir))
            {
                Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(
                    PosixFilePermissions.fromString("rwx------")));
            }
            final ConntrackTable t = ConntrackTable.open(config, c.clock(), stateFile);
            final ConntrackTable.RestoreReport r = t.restoreReport();
            if (r.setAside() != null)
            {
                LOG.warning(() -> "conntrack state " + stateFile + " " + r.outcome() + ": renamed to " + r.setAside()
                    + "; starting with an empty table");
            }
            else if ("created".equals(r.outcome()))
            {
                LOG.info(() -> "conntrack state " + stateFile + " created (a new, empty table)");
            }
            else
            {
                LOG.info(() -> "conntrack state " + stateFile + " " + r.outcome() + ": " + r.restored()
                    + " flows mapped back (" + (r.cleanClose() ? "clean shutdown, checksum verified"
                    : "after a crash, every entry validated") + "), " + r.expired() + " expired, " + r.invalid()
                    + " invalid dropped");
            }
            return t;
        }
        catch (final IOException | RuntimeException e)
        {
            LOG.warning(() -> "conntrack state " + stateFile + " cannot be mapped (" + e + "): the table is in memory,"
                + " flows will not survive a restart");
            return new ConntrackTable(config, c.clock());
        }
    }

    /** @return the conntrack event ring ({@code show conntrack -E}); the control thread reads it. */
    public ConntrackEvents events()
    {
        return events;
    }

    /** @return the NAT, or null before the first tables. */
    public Nat nat()
    {
        return nat;
    }

    /** @return the conntrack table, or null before the first tables. */
    public ConntrackTable conntrack()
    {
        return conntrack;
    }

    @Override
    public void housekeeping()
    {
        final ConntrackTable t = conntrack;
        if (t == null)
        {
            return;
        }
        t.expire();
        final Counters counters = this.counters;
        counters.set(entriesCounter, t.size());
        counters.set(capacityCounter, t.capacity());
        final ConntrackStats s = t.stats();
        final int[] ids = statsCounters;
        counters.set(ids[0], s.found());
        counters.set(ids[1], s.inserted());
        counters.set(ids[2], s.deleted());
        counters.set(ids[3], s.earlyDrop());
        counters.set(ids[4], s.drop());
        counters.set(ids[5], s.searchMiss());
        counters.set(ids[6], s.invalid());
        counters.set(ids[7], s.insertFailed());
    }

    @Override
    public List<String> drainLog()
    {
        final Nat n = nat;
        return n == null ? List.of() : n.drainLog();
    }

    /**
     * {@code show services}, any thread: the Service table is part of the published, immutable snapshot.
     * {@code show conntrack} reads the worker's table, so it is copied in chunks ({@link #copyConntrack}).
     */
    @Override
    public List<String> show(final String what)
    {
        if (!"services".equals(what))
        {
            return null;
        }
        final Nat n = nat;
        if (n == null)
        {
            return List.of("No tables yet: Services are set up with the first tables");
        }
        return Arrays.asList(n.showServices().split("\n"));
    }

    /**
     * {@code show services -o json}, any thread (the published snapshot's Service table).
     *
     * @return the table's entries, or null before the first tables.
     */
    public List<dev.ferry.nat.ServiceView> serviceViews()
    {
        final Nat n = nat;
        return n == null ? null : n.serviceViews();
    }

    /**
     * Copies conntrack entries for {@code show conntrack}: the worker thread (or replay's, between runs), bounded
     * by {@code max}; the caller formats them elsewhere.
     *
     * @param from the entry index to start at (0 first).
     * @param max  how many entries to copy at most.
     * @param out  where the copies go.
     * @return the index to continue at, or -1 at the end (or before the first tables).
     */
    public int copyConntrack(final int from, final int max, final List<ConntrackEntry> out)
    {
        final ConntrackTable t = conntrack;
        return t == null ? -1 : t.entries(from, max, out);
    }

    /**
     * One bounded step of {@code show conntrack}'s walk (the worker thread, or replay's between runs): examines
     * {@code budget} entry indexes from {@code from} and lists, counts or deletes the live entries the filter
     * selects. A delete is {@link ConntrackTable#remove}, so the NAT's removal listener quarantines a masquerade
     * port exactly as when the entry expires.
     *
     * @param action what to do.
     * @param filter which entries.
     * @param from   the entry index to start at.
     * @param budget entry indexes to examine.
     * @return the step's result.
     */
    WorkerCommand.ConntrackChunk conntrackStep(final WorkerCommand.ConntrackAction action,
        final ConntrackFilter filter, final int from, final int budget)
    {
        final ConntrackTable t = conntrack;
        if (t == null)
        {
            return new WorkerCommand.ConntrackChunk(List.of(), 0, -1, 0, 0);
        }
        final List<ConntrackEntry> copies = new ArrayList<>();
        final java.util.Map<Long, long[]> backends = new java.util.HashMap<>();
        final int[] matched = new int[1];
        final int next = t.walk(from, budget, (table, e) ->
        {
            if (!filter.matches(table, e))
            {
                return;
            }
            matched[0]++;
            if (action == WorkerCommand.ConntrackAction.LIST)
            {
                copies.add(table.copy(e));
            }
            else if (action == WorkerCommand.ConntrackAction.DELETE)
            {
                table.remove(e);
            }
            else if (action == WorkerCommand.ConntrackAction.BACKENDS
                && (table.replySrc(e) != table.origDst(e) || table.replySrcPort(e) != table.origDstPort(e)))
            {
                final long key = ShowFormat.backendKey(table.protocol(e), table.replySrc(e), table.replySrcPort(e));
                final boolean active = table.protocol(e) == ConntrackTable.TCP
                    && table.tcpState(e) == dev.ferry.conntrack.TcpState.ESTABLISHED;
                backends.computeIfAbsent(key, k -> new long[2])[active ? 0 : 1]++;
            }
        });
        return new WorkerCommand.ConntrackChunk(copies, matched[0], next, t.size(), t.capacity(), backends);
    }

    @Override
    public void close()
    {
        final ConntrackTable t = conntrack;
        if (t != null)
        {
            t.close();
        }
    }
}
