package dev.ferry.core.graph;

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
 * A set of stages that {@link GraphAssembly} wires into the forwarding graph at fixed places (Services, VXLAN,
 * host delivery, underlay neighbour learning). A feature is wired in or not; nothing checks a flag per packet.
 *
 * <pre>
 *  [input stages] ─► ethernet-input ─► arp ─► ip4-input ─► [before lookup, by order] ─► ip4-lookup ─► [after lookup]
 * </pre>
 */
public interface GraphFeature
{
    /**
     * What a feature builds its stages with.
     *
     * @param pool      the packet pool.
     * @param ports     the port registry: a feature may add the ports it brings (the tunnel port).
     * @param publisher the table publisher: register a {@link TablesPublisher.PartCompiler} here.
     * @param tables    the reference stages read once per vector (a worker pins it for a whole graph run).
     * @param clock     time.
     * @param counters  where counters are registered.
     */
    record Context(PacketPool pool, Ports ports, TablesPublisher publisher, TablesRef<Snapshot> tables, Clock clock,
        Counters counters)
    {
    }

    /** @return the feature's name, e.g. "services". */
    String name();

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

    /**
     * Builds entry stages that run in front of ethernet-input for the ports that name them as their entry
     * (neighbour-learn on the packet-mode uplink). Each leads to ethernet-input.
     *
     * @param context what to build with.
     * @return the stages, possibly none.
     */
    default List<Stage> inputStages(final Context context)
    {
        return List.of();
    }

    /**
     * Builds the stages that run between ip4-input and ip4-lookup.
     *
     * @param context what to build with.
     * @param next    the name of the stage after this feature's last one (the next feature's first, or ip4-lookup).
     * @return the stages, possibly none; the first one receives from the stage before.
     */
    default List<Stage> beforeLookup(final Context context, final String next)
    {
        return List.of();
    }

    /**
     * Builds the stages that run after ip4-lookup (vxlan-encap, vxlan-decap, host-output).
     *
     * @param context what to build with.
     * @return the stages, possibly none.
     */
    default List<Stage> afterLookup(final Context context)
    {
        return List.of();
    }
}
