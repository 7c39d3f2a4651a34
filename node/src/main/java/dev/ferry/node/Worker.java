package dev.ferry.node;

import dev.ferry.core.Clock;
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
import dev.ferry.node.metrics.NodeMetrics;
import org.agrona.concurrent.Agent;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.function.Function;

/**
 * The forwarding agent: each duty cycle it drains the command queue (bounded by {@link #COMMAND_DRAIN_LIMIT}),
 * receives one vector from every attached port into the graph, and runs the graph to completion; the graph's
 * transmissions go straight to the ports, which are flushed once per run.
 *
 * <pre>
 *   commands ──► drain (attach, detach, snapshots, trace) ──┐
 *   port 0 ─receive─┐                                       │
 *   port 1 ─receive─┼─► graph.input ... graph.run ──► transmit(port of txPort) ──► flush every port
 *   port n ─receive─┘
 * </pre>
 *
 * <p>The worker owns the pool, the graph, the counters and the port array: other threads reach them only
 * through {@link #submit}, whose futures the worker completes. Counters: {@code port/NAME/rx-packets},
 * {@code rx-bytes}, {@code tx-packets}, {@code tx-bytes}, {@code node/drop/port-down}, and the pool gauges
 * {@code pool/buffers}, {@code pool/buffers-in-use} and {@code pool/allocation-failures} (set every duty cycle).
 */
final class Worker implements Agent, TxSink
{
    /** Commands executed per duty cycle at most, so that control never starves forwarding. */
    static final int COMMAND_DRAIN_LIMIT = 16;
    private static final int COMMAND_QUEUE_CAPACITY = 1024;
    /** Features' housekeeping runs every 64 duty cycles. */
    private static final int HOUSEKEEPING_MASK = 63;

    /** Work that must run on the worker thread; its future completes there. */
    static final class Command<T>
    {
        private final Function<Worker, T> body;
        private final CompletableFuture<T> result = new CompletableFuture<>();

        Command(final Function<Worker, T> body)
        {
            this.body = body;
        }

        void execute(final Worker w)
        {
            try
            {
                result.complete(body.apply(w));
            }
            catch (final RuntimeException e)
            {
                result.completeExceptionally(e);
            }
        }
    }

    private final PacketPool pool;
    private final Counters counters;
    private final Clock clock;
    private final Ports ports;
    private List<NodeFeature> features = List.of();
    // control-plane rate: a lock-free linked queue (its nodes are allocated by the control side on offer);
    // Agrona's array queues need jdk.internal.misc exported, which a plain `java -jar` does not do
    private final ConcurrentLinkedQueue<Command<?>> commands = new ConcurrentLinkedQueue<>();
    private final PacketVector rx = new PacketVector();
    private final int portDownCounter;
    private final int poolInUseCounter;
    private final int poolFailuresCounter;
    private final TablesRef<Snapshot> published;
    private final TablesRef<Snapshot> pinned = new TablesRef<>(null);
    private Graph graph;
    private int entry;
    private NodePort[] byId = new NodePort[16];
    private int[] rxPackets = new int[16];
    private int[] rxBytes = new int[16];
    private int[] txPackets = new int[16];
    private int[] txBytes = new int[16];
    private int[] active = new int[16];
    private int[] entryById = new int[16];
    private int activeCount;
    private long portsVersion;
    private Neighbours neighbours;
    private long cycles;
    private NodeFeature[] featureArray = new NodeFeature[0];
    private long leakedBuffers = -1;

    Worker(final PacketPool pool, final Counters counters, final Clock clock, final Ports ports,
        final TablesRef<Snapshot> published)
    {
        this.published = published;
        this.pool = pool;
        this.counters = counters;
        this.clock = clock;
        this.ports = ports;
        this.portDownCounter = counters.register("node/drop/" + NodeDrop.PORT_DOWN.counterName());
        this.poolInUseCounter = counters.register(NodeMetrics.POOL_IN_USE);
        this.poolFailuresCounter = counters.register(NodeMetrics.POOL_ALLOCATION_FAILURES);
        counters.set(counters.register(NodeMetrics.POOL_BUFFERS), pool.capacity());
    }

    /**
     * The reference the stages read. The worker moves it to the publisher's latest snapshot only between graph
     * runs, so that every stage of one run sees the same snapshot: ip4-lookup hands ip4-rewrite an adjacency
     * index, which means nothing in another snapshot's FIB.
     *
     * @return the pinned reference.
     */
    TablesRef<Snapshot> pinned()
    {
        return pinned;
    }

    /**
     * Takes the node's graph (before the worker runs): the graph, its entry, the features' upkeep and packet
     * mode's neighbour resolution.
     *
     * @param g the graph from {@link NodeGraph}.
     */
    void graph(final NodeGraph g)
    {
        this.graph = g.graph();
        this.entry = g.entry();
        this.features = g.features();
        this.featureArray = features.toArray(new NodeFeature[0]);
        this.neighbours = g.neighbours();
    }

    @Override
    public String roleName()
    {
        return "ferry-worker";
    }

    /**
     * Queues work for the worker thread (any thread).
     *
     * @param body what to run there.
     * @param <T>  result type.
     * @return completed by the worker; failed at once when the queue is full.
     */
    <T> CompletableFuture<T> submit(final Function<Worker, T> body)
    {
        final Command<T> c = new Command<>(body);
        if (commands.size() >= COMMAND_QUEUE_CAPACITY || !commands.offer(c))
        {
            c.result.completeExceptionally(new IllegalStateException("worker command queue is full"));
        }
        return c.result;
    }

    @Override
    public int doWork()
    {
        int work = 0;
        Command<?> c;
        while (work < COMMAND_DRAIN_LIMIT && (c = commands.poll()) != null)
        {
            c.execute(this);
            work++;
        }
        final Snapshot latest = published.lvCurrent();
        if (latest != pinned.lvCurrent())
        {
            // no packet is in flight here: adopt the new tables for the whole next run
            pinned.soCurrent(latest);
        }
        // locals: the JIT keeps them in registers across the loop
        final PacketPool pool = this.pool;
        final Counters counters = this.counters;
        final PacketVector rx = this.rx;
        final Graph graph = this.graph;
        long now = 0;
        int received = 0;
        for (int i = 0; i < activeCount; i++)
        {
            final int id = active[i];
            rx.clear();
            final int n = byId[id].receive(pool, rx);
            if (n == 0)
            {
                continue;
            }
            if (received == 0)
            {
                // one clock read per duty cycle, not per packet
                now = clock.nanos();
            }
            received += n;
            final int entry = entryById[id];
            long bytes = 0;
            for (int k = 0; k < n; k++)
            {
                final int h = rx.get(k);
                pool.rxPort(h, id);
                pool.timestamp(h, now);
                bytes += pool.length(h);
                graph.input(entry, h);
            }
            counters.add(rxPackets[id], n);
            counters.add(rxBytes[id], bytes);
        }
        rx.clear();
        if (received > 0)
        {
            graph.run();
        }
        // gauges for the metrics scrape, which reads counters only: the pool itself is worker-owned
        counters.set(poolInUseCounter, pool.inUse());
        counters.set(poolFailuresCounter, pool.allocationFailures());
        if (neighbours != null)
        {
            neighbours.tick(received > 0 ? now : clock.nanos());
        }
        if ((++cycles & HOUSEKEEPING_MASK) == 0)
        {
            for (int i = 0; i < featureArray.length; i++)
            {
                featureArray[i].housekeeping();
            }
        }
        return work + received;
    }

    @Override
    public void transmit(final int handle)
    {
        final int id = pool.txPort(handle);
        final NodePort p = id < byId.length ? byId[id] : null;
        if (p == null)
        {
            counters.increment(portDownCounter);
            pool.free(handle);
            return;
        }
        counters.increment(txPackets[id]);
        counters.add(txBytes[id], pool.length(handle));
        p.transmit(pool, handle);
    }

    @Override
    public void flush()
    {
        for (int i = 0; i < activeCount; i++)
        {
            byId[active[i]].flush();
        }
    }

    /** Opens a port; runs on the worker thread, which is the single writer of the counters the port registers. */
    @FunctionalInterface
    interface Opener
    {
        NodePort open(PortContext context) throws IOException;
    }

    /**
     * Opens a port and attaches it under its id (worker thread).
     *
     * @param id     the port's id in {@link Ports}.
     * @param opener opens the port.
     * @return the port.
     * @throws UncheckedIOException when the port cannot be opened.
     */
    NodePort openAndAttach(final int id, final Opener opener)
    {
        final NodePort p;
        try
        {
            p = opener.open(new PortContext(pool, counters, clock, id));
        }
        catch (final IOException e)
        {
            throw new UncheckedIOException(e.getMessage(), e);
        }
        attach(id, p);
        return p;
    }

    /**
     * Attaches a port under its id (worker thread).
     *
     * @param id   the port's id in {@link Ports}.
     * @param port the port.
     * @return the id.
     */
    int attach(final int id, final NodePort port)
    {
        if (id >= byId.length)
        {
            final int len = Math.max(id + 1, byId.length * 2);
            byId = Arrays.copyOf(byId, len);
            rxPackets = Arrays.copyOf(rxPackets, len);
            rxBytes = Arrays.copyOf(rxBytes, len);
            txPackets = Arrays.copyOf(txPackets, len);
            txBytes = Arrays.copyOf(txBytes, len);
            active = Arrays.copyOf(active, len);
            entryById = Arrays.copyOf(entryById, len);
        }
        if (byId[id] != null)
        {
            detach(id, false);
        }
        final String stage = port.entryStage();
        final int at = stage == null ? -1 : graph.indexOf(stage);
        entryById[id] = at < 0 ? entry : at;
        final String prefix = "port/" + port.name() + "/";
        rxPackets[id] = counters.register(prefix + "rx-packets");
        rxBytes[id] = counters.register(prefix + "rx-bytes");
        txPackets[id] = counters.register(prefix + "tx-packets");
        txBytes[id] = counters.register(prefix + "tx-bytes");
        byId[id] = port;
        active[activeCount++] = id;
        portsVersion++;
        return id;
    }

    /**
     * Detaches a port and closes it, or removes it for good (a pod's TAP on CNI DEL). Worker thread; idempotent.
     *
     * @param id     the port's id.
     * @param remove delete the device (true) or keep a persistent one for the next run (false).
     * @return whether a port was attached.
     */
    boolean detach(final int id, final boolean remove)
    {
        if (id >= byId.length || byId[id] == null)
        {
            return false;
        }
        final NodePort p = byId[id];
        byId[id] = null;
        for (int i = 0; i < activeCount; i++)
        {
            if (active[i] == id)
            {
                active[i] = active[--activeCount];
                break;
            }
        }
        portsVersion++;
        if (remove)
        {
            p.remove();
        }
        else
        {
            p.close();
        }
        return true;
    }

    /** @return how many port ids the worker has room for (ids below this may be attached). */
    int portSlots()
    {
        return byId.length;
    }

    /**
     * @param id a port id below {@link #portSlots()}.
     * @return whether a port is attached under it.
     */
    boolean portAttached(final int id)
    {
        return byId[id] != null;
    }

    /**
     * @param id a port id below {@link #portSlots()}.
     * @return the descriptor to wait on for that port, or -1.
     */
    int portFd(final int id)
    {
        final NodePort p = byId[id];
        return p == null ? -1 : p.fd();
    }

    /** @return a number that changes whenever a port is attached or detached. */
    long portsVersion()
    {
        return portsVersion;
    }

    /** Gives every port its idle-time upkeep (link checks). */
    void maintainPorts()
    {
        for (int i = 0; i < activeCount; i++)
        {
            byId[active[i]].maintain();
        }
    }

    /** A port as {@code show ports} prints it. */
    record PortRow(int id, String name, Ports.Kind kind, long mac, long rxPackets, long rxBytes, long txPackets,
        long txBytes)
    {
    }

    /** Everything {@code show stats} and {@code show runtime} print, copied on the worker thread. */
    record Stats(List<Graph.RuntimeRow> runtime, List<String> drops, List<PortRow> ports, int poolInUse,
        int poolCapacity, long allocationFailures)
    {
    }

    List<PortRow> portRows()
    {
        final List<PortRow> rows = new ArrayList<>();
        for (int id = 0; id < byId.length; id++)
        {
            final NodePort p = byId[id];
            if (p != null)
            {
                rows.add(new PortRow(id, p.name(), p.kind(), p.mac(), counters.get(rxPackets[id]),
                    counters.get(rxBytes[id]), counters.get(txPackets[id]), counters.get(txBytes[id])));
            }
        }
        return rows;
    }

    Stats stats()
    {
        final List<String> drops = new ArrayList<>();
        for (final Stage s : graph.stages())
        {
            for (final DropReason r : s.dropReasons())
            {
                final long v = counters.get("stage/" + s.name() + "/drop/" + r.counterName());
                if (v != 0)
                {
                    drops.add(String.format("%12d  %-18s %s", v, s.name(), r.describe()));
                }
            }
        }
        for (final Graph.GraphDrop r : Graph.GraphDrop.values())
        {
            final long v = counters.get("graph/drop/" + r.counterName());
            if (v != 0)
            {
                drops.add(String.format("%12d  %-18s %s", v, "graph", r.describe()));
            }
        }
        for (final NodeDrop r : NodeDrop.values())
        {
            final long v = counters.get("node/drop/" + r.counterName());
            if (v != 0)
            {
                drops.add(String.format("%12d  %-18s %s", v, "node", r.describe()));
            }
        }
        return new Stats(graph.runtime(), drops, portRows(), pool.inUse(), pool.capacity(),
            pool.allocationFailures());
    }

    List<String> trace()
    {
        return graph.formatTrace();
    }

    Void traceAdd(final int packets)
    {
        graph.trace().clear();
        graph.trace().sample(packets);
        return null;
    }

    List<String> featureShow(final String what)
    {
        for (final NodeFeature f : features)
        {
            final List<String> lines = f.show(what);
            if (lines != null)
            {
                return List.copyOf(lines);
            }
        }
        return null;
    }

    Counters counters()
    {
        return counters;
    }

    Ports ports()
    {
        return ports;
    }

    @Override
    public void onClose()
    {
        // run what is queued so that detach/stop requests are answered, then close every port
        Command<?> c;
        while ((c = commands.poll()) != null)
        {
            c.execute(this);
        }
        for (int i = activeCount - 1; i >= 0; i--)
        {
            detach(active[i], false);
        }
        leakedBuffers = pool.inUse();
    }

    /** @return buffers still in use when the worker closed, or -1 while it runs. */
    long leakedBuffers()
    {
        return leakedBuffers;
    }
}
