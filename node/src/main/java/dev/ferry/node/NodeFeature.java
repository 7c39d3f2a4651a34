package dev.ferry.node;

import dev.ferry.core.Clock;
import dev.ferry.core.Counters;
import dev.ferry.core.PacketPool;
import dev.ferry.core.Ports;
import dev.ferry.core.Stage;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.tables.Snapshot;
import dev.ferry.core.tables.TablesPublisher;
import dev.ferry.core.tables.TablesRef;

import java.util.List;
import java.util.concurrent.Executor;

/**
 * A feature module plugged into the node (Services from {@code nat} + {@code conntrack-table}, VXLAN from
 * {@code vxlan}): its stages, its part of the table snapshot, and its {@code show} answers. A feature is
 * wired in or not; nothing checks a flag per packet.
 */
public interface NodeFeature
{
    /**
     * What a feature gets to build its stages with.
     *
     * @param pool      the worker's packet pool.
     * @param ports     the node's ports.
     * @param publisher the table publisher: register a {@link TablesPublisher.PartCompiler} here.
     * @param tables    the reference stages must read (once per vector): the worker pins it for a whole graph
     *                  run, unlike {@link TablesPublisher#ref()}.
     * @param clock     time.
     * @param counters  the worker's counters.
     * @param seed      random seed from the configuration.
     * @param config    the node's configuration (underlay mode, uplink).
     * @param onWorker  runs a task on the worker thread (opening a socket whose counters the worker owns).
     */
    record Context(PacketPool pool, Ports ports, TablesPublisher publisher, TablesRef<Snapshot> tables, Clock clock,
        Counters counters, long seed, NodeConfig config, Executor onWorker)
    {
    }

    /**
     * Where the feature's stages go among the others between ip4-input and ip4-lookup: lower first. VXLAN's
     * bypass (10) must see outer packets before the Services' NAT (50) does.
     *
     * @return the order.
     */
    default int order()
    {
        return 100;
    }

    /** @return the feature's name, e.g. "services". */
    String name();

    /**
     * Builds the stages that run between ip4-input and ip4-lookup (the first one receives from ip4-input).
     *
     * @param context what to build with.
     * @return the stages, possibly none.
     */
    default List<Stage> beforeLookup(final Context context)
    {
        return List.of();
    }

    /**
     * Builds the stages that run between ip4-input and ip4-lookup, knowing the stage that follows them.
     *
     * @param context what to build with.
     * @param next    the name of the stage after this feature's last one (the next feature's, or ip4-lookup).
     * @return the stages, possibly none; the first one receives from the stage before.
     */
    default List<Stage> beforeLookup(final Context context, final String next)
    {
        return beforeLookup(context);
    }

    /**
     * Builds the stages that run after ip4-lookup (vxlan-encap, vxlan-decap).
     *
     * @param context what to build with.
     * @return the stages, possibly none.
     */
    default List<Stage> afterLookup(final Context context)
    {
        return List.of();
    }

    /**
     * Opens the ports the feature brings (the VXLAN UDP socket in socket mode), after the graph is built. They
     * are attached like the node's own ports and closed at stop.
     *
     * @param context what to build with.
     * @return the ports, possibly none.
     * @throws java.io.IOException when a port cannot be opened.
     */
    default List<NodePort> ports(final Context context) throws java.io.IOException
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
     * Answers a {@code show} query that the feature owns ("services", "conntrack"). Runs on the worker
     * thread, so it may read the feature's worker-owned state.
     *
     * @param what the query.
     * @return the lines to print, or null when the feature does not answer this query.
     */
    default List<String> show(final String what)
    {
        return null;
    }
}
