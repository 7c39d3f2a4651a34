package dev.ferry.agent;

import dev.ferry.core.Clock;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.nodeapi.NodeApiClient;

import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.BiConsumer;
import java.util.logging.Logger;

/**
 * One sync, as the {@link BoundedFrequencyRunner} runs it: take the pending changes, compile the whole
 * snapshot for this node ({@link NodeTablesCompiler}), push it with the next generation, and record the
 * timings when the node acknowledges.
 *
 * <ul>
 *   <li>Tables equal to the last acknowledged ones (generation aside) are not pushed again, unless the node
 *       reports another generation than the one it acknowledged (it restarted): then it gets them again.</li>
 *   <li>Generations only grow: the first push and any refusal read the node's generation and go above it, so
 *       an agent restart does not stall on "not newer".</li>
 *   <li>An object the compiler cannot use (a NodePort outside the range, two Pods with one IP, a malformed
 *       field) is left out and everything else is pushed, as kube-proxy does: one warning when an object starts
 *       being skipped, and the gauge {@code ferry_objects_skipped{kind,reason}}. Only a missing or malformed
 *       own Node (or cluster settings) keeps the last good tables on the node (a compile error). An unreachable
 *       node puts the changes back and retries after a delay.</li>
 * </ul>
 */
final class TablesSyncer implements Runnable
{
    private static final Logger LOG = Logger.getLogger("dev.ferry.agent");

    private final ClusterSource source;
    private final String nodeName;
    private final NodeClient node;
    private final ChangeTracker tracker;
    private final AgentMetrics metrics;
    private final Clock clock;
    private final long retryNanos;
    private final BiConsumer<Long, NodeTables> onAck;
    private final NodeAnnotationPublisher annotations;
    private BoundedFrequencyRunner runner;
    private NodeTables acked;
    private long generation;
    private boolean generationKnown;
    private String lastError;
    private Set<String> lastSkipped = Set.of();

    TablesSyncer(final ClusterSource source, final String nodeName, final NodeClient node, final ChangeTracker tracker,
        final AgentMetrics metrics, final Clock clock, final long retryNanos, final BiConsumer<Long, NodeTables> onAck,
        final NodeAnnotationPublisher annotations)
    {
        this.annotations = annotations;
        this.source = source;
        this.nodeName = nodeName;
        this.node = node;
        this.tracker = tracker;
        this.metrics = metrics;
        this.clock = clock;
        this.retryNanos = retryNanos;
        this.onAck = onAck;
    }

    void runner(final BoundedFrequencyRunner r)
    {
        this.runner = r;
    }

    synchronized NodeTables acked()
    {
        return acked;
    }

    synchronized String lastError()
    {
        return lastError;
    }

    @Override
    public synchronized void run()
    {
        if (!source.synced())
        {
            return;
        }
        final long t0 = System.nanoTime();
        final Map<String, Long> changes = tracker.take();
        final NodeTables compiled;
        final List<NodeTablesCompiler.Skipped> skipped = new ArrayList<>();
        final ClusterState state = source.snapshot();
        try
        {
            compiled = NodeTablesCompiler.compile(state, nodeName, 0, skipped::add);
            skipped(skipped);
        }
        catch (final ManifestException | IllegalArgumentException e)
        {
            metrics.error(AgentMetrics.ERROR_COMPILE);
            fail("cannot compile the tables of node " + nodeName + ", the node keeps generation "
                + (acked == null ? 0 : acked.generation()) + ": " + e.getMessage());
            return;
        }
        try
        {
            if (acked != null && compiled.equals(acked.withGeneration(0)) && node.generation() == acked.generation())
            {
                metrics.sync(false);
                lastError = null;
                publish(state, compiled);
                return;
            }
            final long ack = push(compiled);
            acked = compiled.withGeneration(ack);
            lastError = null;
            metrics.sync(true);
            metrics.generation(ack);
            metrics.syncDuration((System.nanoTime() - t0) / 1e9);
            final long now = clock.nanos();
            for (final Map.Entry<String, Long> c : changes.entrySet())
            {
                metrics.programmingLatency(Math.max(0, now - c.getValue()) / 1e9);
            }
            if (onAck != null)
            {
                onAck.accept(ack, acked);
            }
            publish(state, compiled);
        }
        catch (final NodeApiClient.ApiException e)
        {
            metrics.error(AgentMetrics.ERROR_REFUSED);
            fail("node " + nodeName + " refused the tables (it keeps generation "
                + (acked == null ? "?" : acked.generation()) + "): " + e.getMessage());
        }
        catch (final IOException e)
        {
            generationKnown = false;
            tracker.restore(changes);
            metrics.error(AgentMetrics.ERROR_PUSH);
            fail("cannot push to node " + nodeName + ", retrying: " + e.getMessage());
            if (runner != null)
            {
                runner.retryAfter(retryNanos);
            }
        }
    }

    /** Once the node forwards with these tables, other nodes may route to it: publish its flannel annotations. */
    private void publish(final ClusterState state, final NodeTables compiled)
    {
        if (annotations != null)
        {
            annotations.offer(state, compiled);
        }
    }

    private long push(final NodeTables compiled) throws IOException
    {
        if (!generationKnown)
        {
            generation = Math.max(generation, node.generation());
            generationKnown = true;
        }
        final long next = generation + 1;
        try
        {
            final long ack = node.push(compiled.withGeneration(next));
            generation = Math.max(next, ack);
            return ack;
        }
        catch (final NodeApiClient.ApiException e)
        {
            // someone else (a previous agent) may have pushed a higher generation: go above it, once
            final long current = node.generation();
            if (current < next)
            {
                throw e;
            }
            generation = current + 1;
            final long ack = node.push(compiled.withGeneration(generation));
            generation = Math.max(generation, ack);
            return ack;
        }
    }

    /** Logs the objects that started being skipped since the last compile, and sets the gauge. */
    private void skipped(final List<NodeTablesCompiler.Skipped> skipped)
    {
        final Set<String> now = new HashSet<>();
        final Map<List<String>, Integer> counts = new HashMap<>();
        for (final NodeTablesCompiler.Skipped s : skipped)
        {
            now.add(s.message());
            if (!lastSkipped.contains(s.message()))
            {
                LOG.warning("skipping " + s.kind() + " (" + s.reason() + "), the rest is pushed: " + s.message());
            }
            counts.merge(List.of(s.kind(), s.reason()), 1, Integer::sum);
        }
        lastSkipped = now;
        metrics.skipped(counts);
    }

    private void fail(final String message)
    {
        if (!message.equals(lastError))
        {
            LOG.warning(message);
        }
        lastError = message;
    }
}
