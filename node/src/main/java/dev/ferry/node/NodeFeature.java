package dev.ferry.node;

import dev.ferry.core.graph.GraphFeature;
import dev.ferry.core.tables.NodeTables;

import java.util.List;
import java.util.concurrent.Executor;

/**
 * A feature of the node (Services from {@code nat} + {@code conntrack-table}, VXLAN from {@code vxlan}, host
 * delivery, underlay neighbour learning): its stages, which {@link dev.ferry.core.graph.GraphAssembly} wires
 * into the graph ({@link GraphFeature}), and its life around them: ports it brings, its part of every table push,
 * upkeep on the worker, {@code show} answers. {@link NodeGraph} chooses the features of a node from its
 * configuration, for {@code ferry node} and {@code ferry replay} alike.
 */
public interface NodeFeature extends GraphFeature
{
    /**
     * Opens the ports the feature brings (the VXLAN UDP socket in socket mode), after the graph is built. They
     * are attached like the node's own ports and closed at stop.
     *
     * @param context  what the stages were built with.
     * @param onWorker runs a task on the worker thread (opening a socket whose counters the worker owns).
     * @return the ports, possibly none.
     * @throws java.io.IOException when a port cannot be opened.
     */
    default List<NodePort> ports(final Context context, final Executor onWorker) throws java.io.IOException
    {
        return List.of();
    }

    /**
     * Control thread, before pushed tables are compiled and swapped in (every push, including the initial tables):
     * the feature may prepare for them (Services create their conntrack table from the first tables' settings) or
     * refuse them, in which case nothing changes.
     *
     * @param tables the pushed tables, already validated.
     * @throws dev.ferry.core.tables.InvalidTablesException when the feature refuses them.
     */
    default void beforePublish(final NodeTables tables)
    {
    }

    /**
     * Control thread, about once a second: takes the lines the feature's worker-side code recorded for the log
     * (masquerade port exhaustion). The node logs them, rate limited.
     *
     * @return the new lines, possibly none.
     */
    default List<String> drainLog()
    {
        return List.of();
    }

    /** Worker thread, every few duty cycles: bounded upkeep such as the conntrack sweep. */
    default void housekeeping()
    {
    }

    /** Releases what the feature holds (off-heap tables), after the worker stopped. */
    default void close()
    {
    }

    /**
     * Answers a {@code show} query that the feature owns ("services"). Runs on the control thread, never on the
     * worker: it may read only what is safe to read there (the published, immutable snapshot). Worker-owned
     * state is copied by a worker command and formatted on the control thread ({@code show conntrack}).
     *
     * @param what the query.
     * @return the lines to print, or null when the feature does not answer this query.
     */
    default List<String> show(final String what)
    {
        return null;
    }
}
