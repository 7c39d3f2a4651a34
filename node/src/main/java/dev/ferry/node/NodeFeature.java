package dev.ferry.node;

import dev.ferry.core.Clock;
import dev.ferry.core.Counters;
import dev.ferry.core.PacketPool;
import dev.ferry.core.Ports;
import dev.ferry.core.Stage;
import dev.ferry.core.tables.Snapshot;
import dev.ferry.core.tables.TablesPublisher;
import dev.ferry.core.tables.TablesRef;

import java.util.List;

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
     */
    record Context(PacketPool pool, Ports ports, TablesPublisher publisher, TablesRef<Snapshot> tables, Clock clock,
        Counters counters, long seed)
    {
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
