package dev.ferry.node;

import dev.ferry.conntrack.ConntrackTable;
import dev.ferry.core.CachedClock;
import dev.ferry.core.Counters;
import dev.ferry.core.DropReason;
import dev.ferry.core.Graph;
import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;
import dev.ferry.core.Ports;
import dev.ferry.core.Stage;
import dev.ferry.core.TxSink;
import dev.ferry.core.tables.Snapshot;
import dev.ferry.core.tables.TablesRef;
import dev.ferry.core.workers.Handoff;
import dev.ferry.nat.Nat;
import dev.ferry.node.metrics.NodeMetrics;
import dev.ferry.tapio.NativeException;
import dev.ferry.tapio.Port;
import dev.ferry.tapio.ThreadPriority;
import org.agrona.concurrent.Agent;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executor;
import java.util.logging.Logger;

/**
 * The forwarding agent: each duty cycle it drains the command queue (bounded by {@link #COMMAND_DRAIN_LIMIT}),
 * lets its {@link PortPoller} receive one vector from every attached port into the graph, and runs the graph to
 * completion; the graph's transmissions go to the ports through the poller, which flushes them once per run.
 *
 * <pre>
 *   WorkerCommand ──► drain (Attach, Detach, Stats, Trace, TraceAdd, Conntrack, Ping, FeatureTask) ──┐
 *   PortPoller: port 0..n ─receive─► graph.input ... graph.run ──► transmit(h) ──► poller ──► port, flush
 * </pre>
 *
 * <p>The worker owns the pool, the graph and the ports: other threads reach them only through {@link #submit},
 * whose futures the worker completes with plain data (it formats nothing). The ports count their own frames
 * ({@code port/NAME/...}). The worker sets the pool gauges {@code pool/buffers}, {@code pool/buffers-in-use} and
 * {@code pool/allocation-failures} every duty cycle.
 */
final class Worker implements Agent, TxSink
{
    /** Commands executed per duty cycle at most, so that control never starves forwarding. */
    static final int COMMAND_DRAIN_LIMIT = 16;
    private static final int COMMAND_QUEUE_CAPACITY = 1024;
    /** Features' housekeeping runs every 64 duty cycles... */
    private static final int HOUSEKEEPING_MASK = 63;
    /** ... and at least this often when the worker sleeps in epoll between upkeep wake-ups. */
    private static final long HOUSEKEEPING_NANOS = 100_000_000L;
    /** The worker thread's nice value ({@code -Dferry.worker.nice=-10}); unset leaves the thread's alone. */
    private static final Integer NICE = Integer.getInteger("ferry.worker.nice");
    /** A scheduler slice for the worker thread, µs ({@code -Dferry.worker.sliceMicros}; EEVDF, Linux 6.12+). */
    private static final Long SLICE_MICROS = Long.getLong("ferry.worker.sliceMicros");
    private static final Logger LOG = Logger.getLogger("dev.ferry.node");

    /** A drop counter that {@code show stats} reports, resolved once when the graph is set. */
    private record DropCounter(String node, String sentence, int id)
    {
    }

    private final PacketPool pool;
    private final Counters counters;
    private final CachedClock clock;
    /** This worker's number and the node's workers: its ports are queue {@code index} of {@code count}. */
    private final int index;
    private final int count;
    private NodeGraph node;
    private final PortPoller poller;
    private final Wakeup wakeup = new Wakeup();
    private final WakeProfile profile = new WakeProfile();
    // control-plane rate: a lock-free linked queue (its nodes are allocated by the control side on offer);
    // Agrona's array queues need jdk.internal.misc exported, which a plain `java -jar` does not do
    private final ConcurrentLinkedQueue<WorkerCommand<?>> commands = new ConcurrentLinkedQueue<>();
    private final PacketVector rx = new PacketVector();
    private final int poolInUseCounter;
    private final int poolFailuresCounter;
    private final TablesRef<Snapshot> published;
    private final TablesRef<Snapshot> pinned = new TablesRef<>(null);
    private final Executor featureExecutor = task -> submit(new WorkerCommand.FeatureTask(task));
    private Graph graph;
    private int entry;
    private List<DropCounter> dropCounters = List.of();
    private Neighbours neighbours;
    /** The ownership stage's rings on a node of several workers; null with one. */
    private WorkerHandoff handoff;
    private long cycles;
    // the clock at the last duty cycle, for /healthz on another thread (a release store per cycle)
    private final java.util.concurrent.atomic.AtomicLong heartbeat = new java.util.concurrent.atomic.AtomicLong();
    private long lastHousekeeping;
    private long leakedBuffers = -1;
    private volatile String closedPollSummary;

    Worker(final PacketPool pool, final Counters counters, final CachedClock clock,
        final TablesRef<Snapshot> published)
    {
        this(pool, counters, clock, published, 0, 1);
    }

    /**
     * One worker of several: its own pool, counters and clock; the ports it opens are its queues.
     *
     * @param pool      this worker's pool.
     * @param counters  this worker's counters.
     * @param clock     this worker's cached clock.
     * @param published the publisher's reference.
     * @param index     this worker's number.
     * @param count     the node's workers.
     */
    Worker(final PacketPool pool, final Counters counters, final CachedClock clock,
        final TablesRef<Snapshot> published, final int index, final int count)
    {
        this.index = index;
        this.count = count;
        this.published = published;
        this.pool = pool;
        this.counters = counters;
        this.clock = clock;
        this.poller = new PortPoller(pool, counters, wakeup);
        this.poolInUseCounter = counters.register(NodeMetrics.POOL_IN_USE);
        this.poolFailuresCounter = counters.register(NodeMetrics.POOL_ALLOCATION_FAILURES);
        counters.set(counters.register(NodeMetrics.POOL_BUFFERS), pool.capacity());
    }

    /**
     * The reference the stages read. The worker moves it to the publisher's latest snapshot only between graph
     * runs (at the start of each, and once a cycle), so that every stage of one run sees the same snapshot:
     * ip4-lookup hands ip4-rewrite an adjacency index, which means nothing in another snapshot's FIB.
     *
     * @return the pinned reference.
     */
    TablesRef<Snapshot> pinned()
    {
        return pinned;
    }

    /**
     * Takes the node's graph (before the worker runs): the graph and its entry, the features' upkeep, packet
     * mode's neighbour resolution (the worker sends its ARP requests), and the drop counters {@code show stats}
     * reads.
     *
     * @param node the graph from {@link NodeGraph}.
     */
    void graph(final NodeGraph node)
    {
        final Graph g = node.graph();
        this.graph = g;
        this.entry = node.entry();
        this.node = node;
        this.neighbours = node.neighbours();
        this.handoff = node.handoff();
        final List<DropCounter> drops = new ArrayList<>();
        for (final Stage s : g.stages())
        {
            for (final DropReason r : s.dropReasons())
            {
                drops.add(new DropCounter(s.name(), r.describe(),
                    counters.register("stage/" + s.name() + "/drop/" + r.counterName())));
            }
        }
        for (final Graph.GraphDrop r : Graph.GraphDrop.values())
        {
            drops.add(new DropCounter("graph", r.describe(), counters.register("graph/drop/" + r.counterName())));
        }
        for (final NodeDrop r : NodeDrop.values())
        {
            drops.add(new DropCounter("node", r.describe(), counters.register("node/drop/" + r.counterName())));
        }
        if (handoff != null)
        {
            // the rings' own drops (issue 17: a full ring's drops were counted but shown nowhere)
            for (final Handoff.Drop r : Handoff.Drop.values())
            {
                drops.add(new DropCounter("worker", r.describe(),
                    counters.register(Handoff.DROP_PREFIX + r.counterName())));
            }
        }
        this.dropCounters = List.copyOf(drops);
    }

    /** @return runs features' tasks on the worker thread (the executor {@link NodeFeature#ports} gets). */
    Executor featureExecutor()
    {
        return featureExecutor;
    }

    /**
     * What a port needs to open for this worker (any thread: pool, counters and clock are fixed).
     *
     * @param id the port's id.
     * @return the context.
     */
    PortContext portContext(final int id)
    {
        return new PortContext(pool, counters, clock, id, index, count);
    }

    @Override
    public String roleName()
    {
        // worker 0 keeps the one-worker node's thread name
        return index == 0 ? "ferry-worker" : "ferry-worker-" + index;
    }

    @Override
    public void onStart()
    {
        if (NICE != null)
        {
            try
            {
                ThreadPriority.nice(NICE);
                LOG.info(() -> "worker thread at nice " + NICE);
            }
            catch (final NativeException e)
            {
                LOG.warning(() -> "worker thread keeps its priority: " + e.getMessage()
                    + " (a nice value below 0 needs CAP_SYS_NICE)");
            }
        }
        if (SLICE_MICROS != null)
        {
            try
            {
                ThreadPriority.slice(SLICE_MICROS * 1000L);
                final long slice = ThreadPriority.slice();
                LOG.info(() -> "worker thread's scheduler slice: " + slice / 1000 + " µs");
            }
            catch (final NativeException e)
            {
                LOG.warning(() -> "worker thread keeps the default scheduler slice: " + e.getMessage());
            }
        }
    }

    /**
     * Queues a command for the worker thread (any thread).
     *
     * @param command the command.
     * @param <T>     its answer's type.
     * @return completed by the worker; failed at once when the queue is full.
     */
    <T> CompletableFuture<T> submit(final WorkerCommand<T> command)
    {
        if (commands.size() >= COMMAND_QUEUE_CAPACITY || !commands.offer(command))
        {
            command.done().completeExceptionally(new IllegalStateException("worker command queue is full"));
        }
        wakeup.run();
        return command.done();
    }

    /** @return the worker's clock at its last duty cycle, 0 before the first (acquire load; any thread). */
    long lvHeartbeat()
    {
        return heartbeat.getAcquire();
    }

    @Override
    public int doWork()
    {
        final boolean profiled = WakeProfile.ENABLED && profile.armed();
        if (profiled)
        {
            profile.mark(WakeProfile.WAKE);
        }
        // one clock read per cycle: the graph, the ports and the commands of this cycle see the same time
        clock.refresh();
        int work = 0;
        WorkerCommand<?> c;
        while (work < COMMAND_DRAIN_LIMIT && (c = commands.poll()) != null)
        {
            execute(c);
            work++;
        }
        // for upkeep in a cycle without packets; every graph run adopts them again before its first stage (beforeRun)
        adoptTables();
        if (profiled)
        {
            profile.mark(WakeProfile.COMMANDS);
        }
        final PacketPool pool = this.pool;
        // frames held for a full ring go first; while some stay held, the ports wait in the kernel's queues
        final int flushed = handoff == null ? 0 : handoff.flushHeld(clock.nanos());
        final boolean readPorts = handoff == null || !handoff.holdPorts();
        // frames other workers handed over enter at nat44-in, in the same run as this cycle's own
        final int received = (readPorts ? poller.poll(rx, graph) : 0) + (handoff == null ? 0 : handoff.drain());
        if (profiled)
        {
            profile.mark(WakeProfile.PORTS);
            profile.portsRead(poller.portsRead());
        }
        if (received > 0)
        {
            graph.run();
        }
        else if (!readPorts && flushed == 0)
        {
            // waiting for an owner to drain: on a loaded machine it may need this core; the idle strategy does not
            // block while frames are held, so give the core away here
            Thread.yield();
        }
        if (profiled)
        {
            profile.runDone();
            profile.sent();
        }
        // gauges for the metrics scrape, which reads counters only: the pool itself is worker-owned
        counters.set(poolInUseCounter, pool.inUse());
        counters.set(poolFailuresCounter, pool.allocationFailures());
        final long now = clock.nanos();
        heartbeat.setRelease(now);
        if (neighbours != null)
        {
            neighbours.tick(now);
        }
        // every 64 duty cycles while busy; at least every HOUSEKEEPING_NANOS when the worker mostly sleeps, then
        // in a cycle that received nothing: not in the one a wake-up's frame came in, whose answer may be next
        if ((++cycles & HOUSEKEEPING_MASK) == 0 || received == 0 && now - lastHousekeeping >= HOUSEKEEPING_NANOS)
        {
            lastHousekeeping = now;
            node.housekeeping();
        }
        if (profiled)
        {
            profile.mark(WakeProfile.UPKEEP);
        }
        return work + received + flushed;
    }

    private void execute(final WorkerCommand<?> command)
    {
        try
        {
            switch (command)
            {
                case WorkerCommand.Attach a -> a.done().complete(attach(a.id(), a.port()));
                case WorkerCommand.Detach d -> d.done().complete(poller.detach(d.id(), d.remove()));
                case WorkerCommand.Stats s -> s.done().complete(stats());
                case WorkerCommand.Trace t -> t.done().complete(new WorkerStats.TraceRecords(
                    graph.trace().entries(), graph.trace().lost()));
                case WorkerCommand.TraceAdd t ->
                {
                    graph.trace().clear();
                    graph.trace().sample(t.packets(), t.filter());
                    t.done().complete(null);
                }
                case WorkerCommand.Conntrack c -> c.done().complete(conntrack(c));
                case WorkerCommand.Ping p -> p.done().complete(null);
                case WorkerCommand.FeatureTask t ->
                {
                    t.task().run();
                    t.done().complete(null);
                }
            }
        }
        catch (final RuntimeException e)
        {
            command.done().completeExceptionally(e);
        }
    }

    @Override
    public void transmit(final int handle)
    {
        poller.transmit(handle);
    }

    /**
     * Adopts the latest tables before each graph run, the ones {@link Graph#input} starts when a vector is full
     * included: a frame read in this cycle may have been sent after a push or an attach returned (a pod's first
     * frame), and must meet the tables it published. Adopted once a cycle only, they could predate it (the pod's
     * port unknown: a spoofing drop; issue 17).
     */
    @Override
    public void beforeRun()
    {
        adoptTables();
    }

    /** Moves the pinned reference to the publisher's latest snapshot; no stage is running, none holds the old. */
    private void adoptTables()
    {
        final Snapshot latest = published.lvCurrent();
        if (latest != pinned.lvCurrent())
        {
            pinned.soCurrent(latest);
        }
    }

    @Override
    public void flush()
    {
        if (WakeProfile.ENABLED && profile.inGraph())
        {
            profile.graphDone();
        }
        poller.flush();
    }

    /**
     * Attaches a port under its id, its frames entering at the port's entry stage, or the graph's entry when it
     * names none or one the graph lacks (worker thread, or before the worker runs).
     *
     * @param id   the port's id in {@link Ports}.
     * @param port the port.
     * @return the id.
     */
    int attach(final int id, final Port port)
    {
        final String stage = port.entryStage();
        final int at = stage == null ? -1 : graph.indexOf(stage);
        poller.attach(id, port, at < 0 ? entry : at);
        return id;
    }

    /** @return how other threads wake the worker from its epoll wait. */
    Wakeup wakeup()
    {
        return wakeup;
    }

    /** @return whether a command or another thread's frame waits (worker thread, after {@link Wakeup#park()}). */
    boolean pending()
    {
        return !commands.isEmpty() || poller.inputQueued() || handoff != null && handoff.pending();
    }

    /** @return the first-cycle-after-wake profile ({@link WakeProfile#ENABLED}; worker thread, or at stop). */
    WakeProfile profile()
    {
        return profile;
    }

    /** @return the worker's ports (worker thread: the idle strategy). */
    PortPoller poller()
    {
        return poller;
    }

    private WorkerStats stats()
    {
        final List<WorkerStats.Drop> drops = new ArrayList<>();
        for (final DropCounter d : dropCounters)
        {
            final long v = counters.get(d.id());
            if (v != 0)
            {
                drops.add(new WorkerStats.Drop(d.node(), d.sentence(), v));
            }
        }
        // every node graph has the Services feature; before its first tables it has no conntrack table
        final ConntrackTable ct = node.feature(ServicesFeature.class).conntrack();
        // by name: a command, not the packet path; a node of one worker registered none of them
        final WorkerStats.Handoffs handoffs = handoff == null ? WorkerStats.Handoffs.NONE
            : new WorkerStats.Handoffs(counters.get(Handoff.COUNTER_SENT), counters.get(Handoff.COUNTER_RECEIVED),
                counters.get(Handoff.COUNTER_HELD));
        return new WorkerStats(graph.runtime(), drops, poller.rows(), pool.inUse(), pool.capacity(),
            pool.allocationFailures(), ct == null ? 0 : ct.size(), ct == null ? 0 : ct.capacity(), handoffs);
    }

    private WorkerCommand.ConntrackChunk conntrack(final WorkerCommand.Conntrack c)
    {
        // every node graph has the Services feature; before its first tables it answers an empty table
        return node.feature(ServicesFeature.class).conntrackStep(c.action(), c.filter(), c.from(), c.budget());
    }

    /** @return the graph (control thread: formatting trace records with its stages). */
    Graph graph()
    {
        return graph;
    }

    @Override
    public void onClose()
    {
        // run what is queued so that detach/stop requests are answered, then close every port
        WorkerCommand<?> c;
        while ((c = commands.poll()) != null)
        {
            execute(c);
        }
        poller.closeAll();
        closedPollSummary = readPollSummary();
        if (handoff != null)
        {
            // frames held for another worker's ring will not be written now: dropped, counted
            handoff.discardHeld();
        }
        // fragments the NAT holds for their datagram's first fragment are owned, bounded, not leaked
        leakedBuffers = pool.inUse() - counters.get(Nat.COUNTER_FRAGMENTS_HELD);
    }

    /**
     * @return what the duty cycles read: polls, TAP reads (each at least one {@code read()}) a cycle, and readiness
     *         probes (any thread while the node runs, or after it stopped; printed when {@code ferry node} stops).
     */
    String pollSummary()
    {
        final String closed = closedPollSummary;
        // the counters are closed after the worker: what onClose read then
        if (closed != null)
        {
            return closed;
        }
        try
        {
            return readPollSummary();
        }
        catch (final IllegalStateException e)
        {
            // stopped without running (the counters' memory is already released)
            return roleName() + ": no duty cycles";
        }
    }

    private String readPollSummary()
    {
        final long polls = counters.getAcquire(counters.register(PortPoller.CYCLES));
        final long reads = counters.getAcquire(counters.register(PortPoller.SYSCALL_READS));
        final long probes = counters.getAcquire(counters.register(PortPoller.READY_PROBES));
        return roleName() + ": " + polls + " duty cycles polled ports, " + reads + " TAP reads ("
            + String.format("%.2f", polls == 0 ? 0.0 : (double)reads / polls) + " a cycle), " + probes
            + " readiness probes";
    }

    /** @return buffers still in use when the worker closed, or -1 while it runs. */
    long leakedBuffers()
    {
        return leakedBuffers;
    }
}
