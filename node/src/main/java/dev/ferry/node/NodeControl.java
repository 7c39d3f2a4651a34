package dev.ferry.node;

import dev.ferry.conntrack.ConntrackEntry;
import dev.ferry.conntrack.ConntrackFilter;
import dev.ferry.core.Graph;
import dev.ferry.core.Ports;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.tables.InvalidTablesException;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.tables.Snapshot;
import dev.ferry.core.tables.TablesPublisher;
import dev.ferry.node.metrics.NodeMetrics;
import dev.ferry.nodeapi.AttachRequest;
import dev.ferry.nodeapi.NodeTablesJson;
import dev.ferry.tapio.Port;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;
import java.util.function.Supplier;
import java.util.logging.Logger;

/**
 * The control side of a node: table pushes, pod attach and detach, and {@code show}. Everything here runs on
 * the API agent's thread (one at a time), so its state needs no lock; it reaches the worker only through the
 * worker's command queue, and the worker's answers come back to this thread through {@link #executor}.
 *
 * <p>The tables the worker sees are the pushed tables with the node's own knowledge of its pods laid over:
 * a pushed pod is kept only while its port is attached, and an attached pod that the agent has not pushed
 * yet is routed already (the CNI ADD returns before the agent learns the pod's address).
 */
final class NodeControl
{
    private static final Logger LOG = Logger.getLogger("dev.ferry.node");

    private final NodeConfig config;
    private final TablesPublisher publisher;
    private final Worker worker;
    /** Every worker, worker 0 ({@link #worker}) first; one on a node of one worker. */
    private final List<Worker> workers;
    private final PortFactory portFactory;
    private final Ports ports;
    private final Executor executor;
    private final long startNanos = System.nanoTime();
    private final Map<String, PodAttachment> attachments = new LinkedHashMap<>();
    private final Map<Integer, String> keyByIp = new HashMap<>();
    private final AttachmentStore store;
    private final Supplier<NodeGraph> graph;
    private final Supplier<List<NodeGraph>> graphs;
    private final NodeMetrics metrics;
    // features' warnings (masquerade port exhaustion): 10 lines a minute at most
    private final LogLimiter featureLog = new LogLimiter(LOG, 10, 60_000_000_000L, System.nanoTime());
    private NodeTables pushed;
    // the current tables came from stateDir at start: the next push is taken whatever its generation
    private boolean restored;
    private Map<Integer, Long> learned = Map.of();

    private final ProxyHealth health;
    // show conntrack -E clients, created at the first one
    private ConntrackEventStreams eventStreams;

    NodeControl(final NodeConfig config, final TablesPublisher publisher, final List<Worker> workers,
        final PortFactory portFactory, final Executor executor, final AttachmentStore store,
        final Supplier<List<NodeGraph>> graphs, final NodeMetrics metrics, final ProxyHealth health)
    {
        this.health = health;
        this.store = store;
        this.graphs = graphs;
        // worker 0's graph: the features' views (services, events), the stage layout every worker shares
        this.graph = () ->
        {
            final List<NodeGraph> all = graphs.get();
            return all == null || all.isEmpty() ? null : all.get(0);
        };
        this.workers = List.copyOf(workers);
        this.metrics = metrics;
        this.config = config;
        this.publisher = publisher;
        this.worker = workers.get(0);
        this.portFactory = portFactory;
        this.ports = publisher.ports();
        this.executor = executor;
    }

    /**
     * Control-side upkeep, about once a second: logs the lines the features' workers recorded (masquerade port
     * exhaustion) and the last stage exception the graph contained, rate limited.
     */
    void housekeeping()
    {
        final long now = System.nanoTime();
        final List<NodeGraph> all = graphs.get();
        for (final NodeGraph g : all == null ? List.<NodeGraph>of() : all)
        {
            for (final String line : g.drainLog())
            {
                featureLog.warn(now, line);
            }
        }
        for (final Worker w : workers)
        {
            final Graph graph = w.graph();
            final Graph.StageFault fault = graph == null ? null : graph.takeFault();
            if (fault != null)
            {
                featureLog.warn(now, "stage " + fault.stage() + " threw " + fault.exception() + "; "
                    + fault.dropped() + " packets dropped (graph/drop/stage-exception), " + fault.count()
                    + " stage exceptions so far");
            }
        }
        featureLog.roll(now);
        if (eventStreams != null)
        {
            eventStreams.pump(now);
        }
    }

    /**
     * {@code show conntrack -E}: opens a stream of conntrack events ({@code id} 0) or polls an open one.
     *
     * @param filter which events (used when opening).
     * @param id     the stream, or 0 to open one.
     * @return the events since the last poll.
     */
    ConntrackEventStreams.Poll conntrackEvents(final ConntrackFilter filter, final long id)
    {
        final ConntrackEventStreams s = eventStreams();
        final long now = System.nanoTime();
        return id == 0 ? s.open(filter, now) : s.poll(id, now);
    }

    /**
     * Ends a {@code show conntrack -E} stream.
     *
     * @param id the stream.
     * @return whether it was open.
     */
    boolean conntrackEventsClose(final long id)
    {
        return eventStreams().close(id);
    }

    private ConntrackEventStreams eventStreams()
    {
        if (eventStreams == null)
        {
            final NodeGraph g = graph.get();
            if (g == null)
            {
                throw new IllegalArgumentException("this node has no conntrack table yet (its graph is not built)");
            }
            // every worker's shard: a node of several workers streams them all
            final List<dev.ferry.conntrack.ConntrackEvents> rings = new ArrayList<>();
            for (final NodeGraph each : graphs.get())
            {
                rings.add(each.feature(ServicesFeature.class).events());
            }
            eventStreams = new ConntrackEventStreams(rings);
        }
        return eventStreams;
    }

    /** @return the generation of the last good push, or 0. */
    long generation()
    {
        return pushed == null ? 0 : pushed.generation();
    }

    /**
     * Validates and applies a push. Runs synchronously: compile, swap, acknowledge. The time it takes and the
     * outcome go to the metrics ({@code ferry_node_apply_tables_duration_seconds},
     * {@code ferry_node_table_pushes_total}).
     *
     * @param tables the pushed tables.
     * @return the generation applied.
     * @throws InvalidTablesException when refused; nothing changed.
     */
    long push(final NodeTables tables)
    {
        final long start = System.nanoTime();
        try
        {
            final long generation = apply(tables);
            metrics.applied((System.nanoTime() - start) / 1e9);
            health.updated();
            return generation;
        }
        catch (final RuntimeException e)
        {
            metrics.refused();
            // the agent has a change the node did not take: unhealthy if nothing applies within the timeout
            health.queuedUpdate();
            throw e;
        }
    }

    /**
     * Applies the last tables applied before a restart ({@link TablesFile} in stateDir), at start, before any
     * push. Tables the node refuses now are set aside.
     *
     * @return whether tables were restored.
     */
    boolean restoreTables()
    {
        final Path dir = config.stateDir();
        final NodeTables saved = dir == null ? null : TablesFile.read(dir);
        if (saved == null)
        {
            return false;
        }
        try
        {
            apply(saved, false);
        }
        catch (final RuntimeException e)
        {
            TablesFile.setAside(dir.resolve(TablesFile.NAME), "refused: " + e.getMessage());
            return false;
        }
        restored = true;
        LOG.info(() -> "last applied tables (generation " + saved.generation() + ") restored from " + dir
            + "; the agent's first push replaces them, whatever its generation");
        return true;
    }

    private long apply(final NodeTables tables)
    {
        final long g = apply(tables, true);
        restored = false;
        return g;
    }

    private long apply(final NodeTables tables, final boolean persist)
    {
        // a restarted agent may start again at 1: restored tables give way to any first push
        if (pushed != null && !restored && tables.generation() <= pushed.generation())
        {
            throw new InvalidTablesException("generation " + tables.generation()
                + " is not newer than the current generation " + pushed.generation());
        }
        if (!tables.node().name().equals(config.nodeName()))
        {
            throw new InvalidTablesException("tables.node.name: '" + tables.node().name()
                + "' is not this node ('" + config.nodeName() + "')");
        }
        NodeTablesJson.validate(tables, "tables");
        final List<NodeGraph> all = graphs.get();
        for (final NodeGraph g : all == null ? List.<NodeGraph>of() : all)
        {
            // every worker's Services: each creates its conntrack shard from the first tables
            g.beforePublish(tables);
        }
        publisher.publish(effective(tables), restored);
        pushed = tables;
        health.nodeEligible(tables.node().eligible());
        if (persist && config.stateDir() != null)
        {
            try
            {
                TablesFile.write(config.stateDir(), tables);
            }
            catch (final IOException e)
            {
                featureLog.warn(System.nanoTime(), "last applied tables not saved to " + config.stateDir() + " ("
                    + e.getMessage() + "): a restart waits for the agent's tables");
            }
        }
        LOG.info(() -> "tables generation " + tables.generation() + " applied: " + tables.pods().size() + " pods, "
            + tables.remoteNodes().size() + " remote nodes, " + tables.services().size() + " services");
        return tables.generation();
    }

    private NodeTables effective(final NodeTables t)
    {
        final List<NodeTables.PodInfo> pods = new ArrayList<>();
        final Map<Integer, Boolean> listed = new HashMap<>();
        for (final NodeTables.PodInfo p : t.pods())
        {
            listed.put(p.ip(), Boolean.TRUE);
            final String key = keyByIp.get(p.ip());
            if (key != null)
            {
                // the node knows which TAP the pod really has
                pods.add(new NodeTables.PodInfo(p.namespace(), p.name(), p.ip(), p.mac(),
                    attachments.get(key).tapName()));
            }
        }
        for (final PodAttachment a : attachments.values())
        {
            if (!listed.containsKey(a.ip()) && t.node().podCidr().contains(a.ip()))
            {
                pods.add(new NodeTables.PodInfo(a.podNamespace(), a.podName(), a.ip(), a.mac(), a.tapName()));
            }
        }
        final Map<Integer, Long> neighbours;
        if (learned.isEmpty())
        {
            neighbours = t.neighbours();
        }
        else
        {
            // what the node learned with ARP, under what the agent pushed as static
            neighbours = new HashMap<>(learned);
            neighbours.putAll(t.neighbours());
        }
        return new NodeTables(t.generation(), t.node(), t.cluster(), pods, t.remoteNodes(), t.services(),
            neighbours);
    }

    /**
     * Takes the underlay neighbours that the worker learned (packet mode) and republishes the tables with them.
     *
     * @param neighbours every neighbour learned so far.
     */
    void learned(final Map<Integer, Long> neighbours)
    {
        // a worker reports everything it learned so far (its table never forgets); with several workers each
        // reports its own, so the node's set is their union, the latest MAC of an address winning
        final Map<Integer, Long> merged = new HashMap<>(learned);
        merged.putAll(neighbours);
        if (merged.equals(learned))
        {
            return;
        }
        learned = Map.copyOf(merged);
        republish();
    }

    private void republish()
    {
        if (pushed != null)
        {
            publisher.republish(effective(pushed));
        }
    }

    /**
     * Creates a pod's port (idempotent for the same container and interface).
     *
     * @param req the CNI request.
     * @return the attachment, once the worker polls the port and the FIB routes to it.
     */
    CompletableFuture<PodAttachment> attach(final AttachRequest req)
    {
        if (pushed == null)
        {
            return CompletableFuture.failedFuture(new IllegalStateException(
                "no tables yet: the node cannot attach pods before its first table push"));
        }
        final NodeTables.NodeInfo node = pushed.node();
        final String key = req.containerId() + "/" + req.ifName();
        final PodAttachment existing = attachments.get(key);
        if (existing != null)
        {
            if (existing.ip() != req.ip())
            {
                return CompletableFuture.failedFuture(new IllegalArgumentException(key + " is already attached with "
                    + Ip4.format(existing.ip()) + ", not " + Ip4.format(req.ip())));
            }
            return CompletableFuture.completedFuture(existing);
        }
        final String other = keyByIp.get(req.ip());
        if (other != null)
        {
            return CompletableFuture.failedFuture(new IllegalArgumentException("ip: " + Ip4.format(req.ip())
                + " is already attached to " + other));
        }
        if (!node.podCidr().contains(req.ip()) || req.ip() == node.gatewayIp() || req.ip() == node.podCidr().address())
        {
            return CompletableFuture.failedFuture(new IllegalArgumentException("ip: " + Ip4.format(req.ip())
                + " is not a pod address of this node's pod CIDR " + node.podCidr()));
        }
        final long mac = req.mac() < 0 ? Ip4.podMac(req.ip()) : req.mac();
        final PodAttachment a = new PodAttachment(req.containerId(), req.ifName(), req.netns(), req.podNamespace(),
            req.podName(), req.ip(), mac, config.podTapName(req.ip()), node.gatewayIp(), node.gatewayMac(),
            node.podMtu());
        final int id = ports.add(a.tapName(), Ports.Kind.POD, a.gatewayMac()).id();
        final List<Port> queues = new ArrayList<>();
        try
        {
            // opened here, off the forwarding thread; each worker only starts polling its own queue
            for (final Worker w : workers)
            {
                queues.add(portFactory.openPodTap(a, w.portContext(id), false));
            }
        }
        catch (final IOException | RuntimeException e)
        {
            queues.forEach(Port::close);
            return CompletableFuture.failedFuture(new IOException("cannot create the pod port " + a.tapName() + ": "
                + e.getMessage(), e));
        }
        final List<CompletableFuture<Integer>> attached = new ArrayList<>();
        for (int w = 0; w < workers.size(); w++)
        {
            attached.add(workers.get(w).submit(new WorkerCommand.Attach(id, queues.get(w))));
        }
        return CompletableFuture.allOf(attached.toArray(new CompletableFuture<?>[0])).handleAsync((p, e) ->
        {
            if (e != null)
            {
                for (int w = 0; w < workers.size(); w++)
                {
                    if (attached.get(w).isCompletedExceptionally())
                    {
                        queues.get(w).close();
                    }
                    else
                    {
                        workers.get(w).submit(new WorkerCommand.Detach(id, false));
                    }
                }
                final Throwable cause = e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
                throw new CompletionException(new IOException("cannot attach the pod port " + a.tapName() + ": "
                    + cause.getMessage(), cause));
            }
            attachments.put(key, a);
            keyByIp.put(a.ip(), key);
            save();
            republish();
            LOG.info(() -> "port " + a.tapName() + " up: pod " + a);
            return a;
        }, executor);
    }

    /**
     * Takes back a pod attached by an earlier run of the node, whose port is open again (start, before the
     * first push).
     *
     * @param a the attachment.
     */
    void restored(final PodAttachment a)
    {
        attachments.put(a.key(), a);
        keyByIp.put(a.ip(), a.key());
        republish();
    }

    /** Writes the attachment record; a failure is logged, not fatal (the pods work, a restart would miss them). */
    void save()
    {
        if (store == null)
        {
            return;
        }
        try
        {
            store.save(attachments.values());
        }
        catch (final IOException e)
        {
            LOG.warning(() -> "cannot record the attached pods in " + store.file() + ": " + e.getMessage()
                + " (a restarted node would not attach them again)");
        }
    }

    /**
     * Removes a pod's port; detaching what is not attached succeeds (CNI DEL is idempotent).
     *
     * @param containerId container id.
     * @param ifName      interface name.
     * @return whether a port was removed.
     */
    CompletableFuture<Boolean> detach(final String containerId, final String ifName)
    {
        final String key = containerId + "/" + ifName;
        final PodAttachment a = attachments.remove(key);
        if (a == null)
        {
            return CompletableFuture.completedFuture(Boolean.FALSE);
        }
        keyByIp.remove(a.ip());
        save();
        republish();
        final int id = ports.idOf(a.tapName());
        // worker 0 removes the device (clears persistence); the others close their queues, the last close ends it
        final List<CompletableFuture<Boolean>> each = new ArrayList<>();
        for (int w = 0; w < workers.size(); w++)
        {
            each.add(workers.get(w).submit(new WorkerCommand.Detach(id, w == 0)));
        }
        return CompletableFuture.allOf(each.toArray(new CompletableFuture<?>[0])).thenApplyAsync(removed ->
        {
            LOG.info(() -> "port " + a.tapName() + " down: pod " + a);
            return Boolean.TRUE;
        }, executor);
    }

    /** @return attachments by container/interface. */
    List<PodAttachment> attachments()
    {
        return List.copyOf(attachments.values());
    }

    /**
     * Starts tracing the next packets (VPP {@code trace add}).
     *
     * @param packets how many.
     * @param filter  a tcpdump expression the traced packets must match, or null; compiled here, on the control
     *                thread, by libpcap.
     * @return completed once the worker samples.
     */
    CompletableFuture<Void> traceAdd(final int packets, final String filter)
    {
        if (packets < 0 || packets > 100_000)
        {
            return CompletableFuture.failedFuture(new IllegalArgumentException("trace add: " + packets
                + " is out of range 0..100000"));
        }
        final TraceFilter f;
        try
        {
            f = filter == null || filter.isBlank() ? null : TraceFilter.compile(filter);
        }
        catch (final IllegalArgumentException e)
        {
            return CompletableFuture.failedFuture(new IllegalArgumentException("trace add --filter: "
                + e.getMessage(), e));
        }
        return onEveryWorker(() -> new WorkerCommand.TraceAdd(packets, f)).thenApply(v -> null);
    }

    /** @return health fields: node, generation, ports, attachments, uptime. */
    Map<String, Object> health()
    {
        final Map<String, Object> h = new LinkedHashMap<>();
        h.put("node", config.nodeName());
        h.put("generation", generation());
        h.put("nodeEligible", health.nodeEligible());
        h.put("ports", ports.size());
        h.put("pods", attachments.size());
        h.put("uptimeSeconds", (System.nanoTime() - startNanos) / 1_000_000_000L);
        return h;
    }

    /**
     * Entry indexes the worker examines per command for {@code show conntrack} (list, count, delete): bounded work
     * between two vectors, so a walk of a large table never holds the forwarding thread for long.
     */
    static final int CONNTRACK_CHUNK = 4096;
    /** Most entries one {@code conntrack} list answer carries; the client continues from {@code next}. */
    static final int CONNTRACK_LIST_MAX = 65_536;

    /**
     * The answer to a {@code conntrack} request.
     *
     * @param entries  listed entries (list), else empty.
     * @param matched  entries selected: listed, counted or deleted.
     * @param next     the entry index a list continues at, or -1 when the walk reached the table's end.
     * @param size     live entries after the walk.
     * @param capacity the table's capacity.
     */
    record ConntrackAnswer(List<ConntrackEntry> entries, long matched, int next, int size, int capacity)
    {
    }

    /**
     * Lists, counts or deletes the conntrack entries a filter selects, walking the worker's table one bounded
     * command ({@link #CONNTRACK_CHUNK} entry indexes) at a time; the chunks meet here, on the control thread.
     *
     * @param action what to do.
     * @param filter which entries.
     * @param from   the entry index to start at (a list's continuation; 0 first).
     * @param limit  most entries a list returns (at most {@link #CONNTRACK_LIST_MAX}); ignored by count and delete.
     * @return the answer.
     */
    CompletableFuture<ConntrackAnswer> conntrack(final WorkerCommand.ConntrackAction action,
        final ConntrackFilter filter, final int from, final int limit)
    {
        if (from < 0)
        {
            return CompletableFuture.failedFuture(new IllegalArgumentException("from: must be at least 0"));
        }
        if (workers.size() > 1 && from >>> SHARD_SHIFT >= workers.size())
        {
            return CompletableFuture.failedFuture(new IllegalArgumentException("from: " + from
                + " names no conntrack shard (" + workers.size() + " workers)"));
        }
        final int max = limit <= 0 ? CONNTRACK_LIST_MAX : Math.min(limit, CONNTRACK_LIST_MAX);
        return conntrackStep(action, filter, from, max, new ArrayList<>(), 0);
    }

    /**
     * With several workers a walk's position names the shard (the worker) in the bits above this shift and the
     * entry index inside it below, so that a list continues where it stopped across shards; a shard holds fewer
     * than 2^25 entries (a table of at most 2^26 over at least two workers). One worker: the plain entry index.
     */
    static final int SHARD_SHIFT = 25;

    /** @return the worker a walk position is in. */
    private int shardOf(final int from)
    {
        return workers.size() == 1 ? 0 : from >>> SHARD_SHIFT;
    }

    /** @return the entry index inside its shard of a walk position. */
    private int indexOf(final int from)
    {
        return workers.size() == 1 ? from : from & ((1 << SHARD_SHIFT) - 1);
    }

    /** @return the walk position after a chunk of shard {@code shard} that answered {@code next}, or -1 at the end. */
    private int positionAfter(final int shard, final int next)
    {
        if (workers.size() == 1)
        {
            return next;
        }
        if (next >= 0)
        {
            return shard << SHARD_SHIFT | next;
        }
        return shard + 1 < workers.size() ? (shard + 1) << SHARD_SHIFT : -1;
    }

    private CompletableFuture<ConntrackAnswer> conntrackStep(final WorkerCommand.ConntrackAction action,
        final ConntrackFilter filter, final int from, final int max, final List<ConntrackEntry> entries,
        final long matched)
    {
        // a list examines no more indexes than it may still return entries, so it never overshoots its limit
        final int budget = action == WorkerCommand.ConntrackAction.LIST
            ? Math.min(CONNTRACK_CHUNK, max - entries.size()) : CONNTRACK_CHUNK;
        final int shard = shardOf(from);
        return workers.get(shard).submit(new WorkerCommand.Conntrack(action, filter, indexOf(from), budget))
            .thenComposeAsync(chunk ->
            {
                entries.addAll(chunk.entries());
                final long total = matched + chunk.matched();
                final int next = positionAfter(shard, chunk.next());
                if (next >= 0 && entries.size() < max)
                {
                    return conntrackStep(action, filter, next, max, entries, total);
                }
                if (workers.size() == 1)
                {
                    return CompletableFuture.completedFuture(new ConntrackAnswer(entries, total, next, chunk.size(),
                        chunk.capacity()));
                }
                // the shards' sizes as of now (each read off its worker's table: a view, not a snapshot)
                int size = 0;
                int capacity = 0;
                for (final NodeGraph g : graphs.get())
                {
                    final dev.ferry.conntrack.ConntrackTable t = g.feature(ServicesFeature.class).conntrack();
                    size += t == null ? 0 : t.size();
                    capacity += t == null ? 0 : t.capacity();
                }
                return CompletableFuture.completedFuture(new ConntrackAnswer(entries, total, next, size, capacity));
            }, executor);
    }

    /**
     * The worker's counters and the conntrack table's use, as the {@code stats} op answers them (JSON,
     * {@link StatsJson}).
     *
     * @param answer the answer object to fill.
     * @return the filled answer.
     */
    CompletableFuture<com.fasterxml.jackson.databind.node.ObjectNode> stats(
        final com.fasterxml.jackson.databind.node.ObjectNode answer)
    {
        return statsAll()
            .thenApplyAsync(s -> StatsJson.encode(answer, System.nanoTime(), s, config.workers()), executor);
    }

    private List<String> featureShow(final String what)
    {
        final NodeGraph g = graph.get();
        final List<String> lines = g == null ? null : g.show(what);
        return lines != null ? List.copyOf(lines) : List.of("No feature answers 'show " + what + "'");
    }

    /**
     * Counts DNATed connections per backend for {@code show services}, a bounded worker step at a time (nothing
     * is maintained per packet: the counts are as of the walk).
     */
    private CompletableFuture<Map<Long, long[]>> backends(final int from, final Map<Long, long[]> counts)
    {
        final int shard = shardOf(from);
        return workers.get(shard).submit(new WorkerCommand.Conntrack(WorkerCommand.ConntrackAction.BACKENDS,
            ConntrackFilter.ALL, indexOf(from), CONNTRACK_CHUNK)).thenComposeAsync(chunk ->
            {
                chunk.backends().forEach((k, v) ->
                {
                    final long[] c = counts.computeIfAbsent(k, x -> new long[2]);
                    c[0] += v[0];
                    c[1] += v[1];
                });
                final int next = positionAfter(shard, chunk.next());
                return next >= 0 ? backends(next, counts) : CompletableFuture.completedFuture(counts);
            }, executor);
    }

    /** {@code show conntrack} as text: the first {@link #CONNTRACK_LIST_MAX} entries, formatted here. */
    private CompletableFuture<List<String>> conntrackLines()
    {
        return conntrack(WorkerCommand.ConntrackAction.LIST, ConntrackFilter.ALL, 0, 0).thenApply(a ->
        {
            final List<String> lines = new ArrayList<>();
            for (final ConntrackEntry e : a.entries())
            {
                lines.add(e.format());
            }
            if (a.next() >= 0)
            {
                lines.add("# more entries: use ferry show conntrack, which continues where this stops");
            }
            return lines.isEmpty() ? List.of("No connections tracked") : lines;
        });
    }

    /**
     * Answers a {@code show} query.
     *
     * @param what routes, neighbors, services, conntrack, stats, runtime, trace or ports.
     * @return the lines to print.
     */
    CompletableFuture<List<String>> show(final String what)
    {
        final String w = what.toLowerCase(Locale.ROOT);
        return switch (w)
        {
            case "routes" -> CompletableFuture.completedFuture(routes());
            case "neighbors", "neighbours" -> CompletableFuture.completedFuture(neighbours());
            case "services" -> backends(0, new HashMap<>()).thenApply(counts ->
            {
                final List<dev.ferry.nat.ServiceView> views = serviceViews();
                return views == null ? ShowFormat.services(featureShow("services"))
                    : ShowFormat.services(views, counts);
            });
            case "conntrack" -> conntrackLines();
            case "stats" -> statsAll().thenApplyAsync(s -> ShowFormat.stats(s, config.workers(),
                portFactory.uplinkSteering()), executor);
            case "runtime" -> onEveryWorker(WorkerCommand.Stats::new)
                .thenApplyAsync(ShowFormat::runtimePerWorker, executor);
            case "trace" -> onEveryWorker(WorkerCommand.Trace::new).thenApplyAsync(this::trace, executor);
            case "ports" -> statsAll()
                .thenApplyAsync(s -> ShowFormat.ports(ShowFormat.portViews(s.ports(), ports, attachments())),
                    executor);
            default -> unknownView(what);
        };
    }

    private static <T> CompletableFuture<T> unknownView(final String what)
    {
        return CompletableFuture.failedFuture(new IllegalArgumentException("show: unknown '" + what
            + "' (routes, neighbors, services, conntrack, stats, runtime, trace, ports)"));
    }

    /**
     * Answers a {@code show} query with data ({@code "format":"json"}): the fields {@link ShowJson} documents, built
     * from the same rows as {@link #show}'s text.
     *
     * @param what   routes, neighbors, services, stats, runtime, trace or ports ({@code conntrack}: the
     *               {@code conntrack} op).
     * @param answer the answer object to fill.
     * @return the filled answer.
     */
    CompletableFuture<com.fasterxml.jackson.databind.node.ObjectNode> showJson(final String what,
        final com.fasterxml.jackson.databind.node.ObjectNode answer)
    {
        final Snapshot snap = publisher.current();
        return switch (what.toLowerCase(Locale.ROOT))
        {
            case "routes" -> CompletableFuture.completedFuture(ShowJson.routes(answer, snap == null ? -1
                : snap.generation(), snap == null ? List.of() : snap.fib().routes()));
            case "neighbors", "neighbours" -> CompletableFuture.completedFuture(ShowJson.neighbours(answer,
                neighbourRows()));
            case "services" -> backends(0, new HashMap<>()).thenApply(counts ->
                ShowJson.services(answer, serviceViews(), counts));
            case "stats", "runtime" -> stats(answer);
            case "trace" -> onEveryWorker(WorkerCommand.Trace::new).thenApplyAsync(each ->
                ShowJson.trace(answer, traceParts(each), lost(each)), executor);
            case "ports" -> statsAll().thenApplyAsync(s -> ShowJson.ports(answer,
                ShowFormat.portViews(s.ports(), ports, attachments())), executor);
            case "conntrack" -> CompletableFuture.failedFuture(new IllegalArgumentException(
                "show conntrack: the conntrack op answers it as JSON"));
            default -> unknownView(what);
        };
    }

    private List<dev.ferry.nat.ServiceView> serviceViews()
    {
        final NodeGraph g = graph.get();
        if (g == null)
        {
            return null;
        }
        return g.features().stream().filter(ServicesFeature.class::isInstance).findFirst()
            .map(f -> ((ServicesFeature)f).serviceViews()).orElse(null);
    }

    private List<String> routes()
    {
        final Snapshot s = publisher.current();
        if (s == null)
        {
            return List.of("No tables yet");
        }
        final List<String> out = new ArrayList<>();
        out.add("# generation " + s.generation());
        out.addAll(s.fib().routeLines());
        return out;
    }

    private List<String> neighbours()
    {
        final List<ShowFormat.Neighbour> rows = neighbourRows();
        if (rows == null)
        {
            return List.of("No tables yet");
        }
        if (rows.isEmpty())
        {
            return List.of("No neighbours");
        }
        return rows.stream().map(ShowFormat.Neighbour::line).toList();
    }

    /** @return the neighbours by address (a pod over a static entry over a node's), or null before any tables. */
    private List<ShowFormat.Neighbour> neighbourRows()
    {
        final Snapshot s = publisher.current();
        if (s == null)
        {
            return null;
        }
        final int uplink = ports.uplink();
        final String dev = uplink < 0 ? "-" : ports.nameOf(uplink);
        final Map<Integer, ShowFormat.Neighbour> rows = new TreeMap<>(Integer::compareUnsigned);
        for (final NodeTables.RemoteNode r : s.tables().remoteNodes())
        {
            rows.put(r.publicIp(), new ShowFormat.Neighbour(r.publicIp(), dev, r.underlayMac(), "node", r.name()));
        }
        for (final Map.Entry<Integer, Long> e : s.tables().neighbours().entrySet())
        {
            final boolean arp = learned.containsKey(e.getKey()) && pushed != null
                && !pushed.neighbours().containsKey(e.getKey());
            rows.put(e.getKey(), new ShowFormat.Neighbour(e.getKey(), dev, e.getValue(), arp ? "arp" : "static", ""));
        }
        for (final NodeTables.PodInfo p : s.tables().pods())
        {
            rows.put(p.ip(), new ShowFormat.Neighbour(p.ip(), p.portName(), p.mac(), "pod",
                p.namespace() + "/" + p.name()));
        }
        return new ArrayList<>(rows.values());
    }

    private List<String> trace(final List<WorkerStats.TraceRecords> each)
    {
        return TraceParts.lines(traceParts(each), lost(each), each.size());
    }

    /** @return every worker's trace parts, each resolved with its own graph's stages, in the packets' order. */
    private List<Graph.TracedPacket> traceParts(final List<WorkerStats.TraceRecords> each)
    {
        final List<List<Graph.TracedPacket>> perWorker = new ArrayList<>();
        for (int w = 0; w < each.size(); w++)
        {
            perWorker.add(workers.get(w).graph().trace(each.get(w).entries(), w));
        }
        return TraceParts.inOrder(perWorker);
    }

    private static long lost(final List<WorkerStats.TraceRecords> each)
    {
        long lost = 0;
        for (final WorkerStats.TraceRecords r : each)
        {
            lost += r.lost();
        }
        return lost;
    }

    /**
     * Sends one command to every worker (a new record each: a command's future belongs to one worker).
     *
     * @param command makes the command.
     * @param <T>     its answer's type.
     * @return every worker's answer, worker 0 first.
     */
    private <T> CompletableFuture<List<T>> onEveryWorker(final Supplier<WorkerCommand<T>> command)
    {
        final List<CompletableFuture<T>> each = new ArrayList<>();
        for (final Worker w : workers)
        {
            each.add(w.submit(command.get()));
        }
        return CompletableFuture.allOf(each.toArray(new CompletableFuture<?>[0]))
            .thenApply(v -> each.stream().map(CompletableFuture::join).toList());
    }

    /** @return the node's figures: the one worker's, or every worker's summed ({@link WorkerStats#sum}). */
    private CompletableFuture<WorkerStats> statsAll()
    {
        return workers.size() == 1 ? worker.submit(new WorkerCommand.Stats())
            : onEveryWorker(WorkerCommand.Stats::new).thenApply(WorkerStats::sum);
    }
}
