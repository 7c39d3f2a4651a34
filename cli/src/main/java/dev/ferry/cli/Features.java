package dev.ferry.cli;

import dev.ferry.cli.replay.ReplayEngine;
import dev.ferry.conntrack.ConntrackConfig;
import dev.ferry.conntrack.ConntrackTable;
import dev.ferry.core.Stage;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.nat.Nat;
import dev.ferry.vxlan.VxlanSettings;
import dev.ferry.vxlan.VxlanStages;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * The feature modules wired into a replay graph: VXLAN (flannel-compatible, raw frames on the uplink) and
 * Services with masquerade ({@code nat} over a {@code conntrack-table}). Keeps the NAT so that the command
 * can dump the flow table and print its log at the end.
 *
 * <pre>
 *  ip4-input ─► vxlan-bypass ─┬─► vxlan-decap ─► ethernet-input (inner frame, on flannel.1)
 *                             └─► nat44-in ─► [nat44-new] ─► ip4-lookup ─┬─► ip4-rewrite
 *                                                                        └─► vxlan-encap ─► uplink
 * </pre>
 */
final class Features implements AutoCloseable
{
    /** Seed of the NAT's random choices in replay: fixed, so the same input gives the same output. */
    static final long REPLAY_SEED = 0x5eed_f0e7L;

    private final NodeTables tables;
    private final Nat.Balancing balancing;
    private ConntrackTable conntrack;
    private Nat nat;

    private Features(final NodeTables tables, final Nat.Balancing balancing)
    {
        this.tables = tables;
        this.balancing = balancing;
    }

    /**
     * @param tables    the node's tables (conntrack settings come from them).
     * @param balancing endpoint choice.
     * @return the features of a replay.
     */
    static Features forReplay(final NodeTables tables, final Nat.Balancing balancing)
    {
        return new Features(tables, balancing);
    }

    /** @return the factory the replay engine calls once pool, publisher and clock exist. */
    ReplayEngine.FeatureFactory factory()
    {
        return engine ->
        {
            conntrack = new ConntrackTable(ConntrackConfig.fromSettings(tables.cluster().conntrack()), engine.clock());
            nat = Nat.create(engine.pool(), engine.publisher(), engine.clock(), engine.counters(),
                Nat.Options.defaults(REPLAY_SEED).balancing(balancing), conntrack);
            final VxlanSettings settings = VxlanSettings.defaults();
            final int tunnel = VxlanStages.addTunnelPort(engine.ports(), settings, tables.node().vtepMac());
            final int slot = VxlanStages.register(engine.publisher(), settings);
            final List<Stage> before = new ArrayList<>(VxlanStages.serviceStages(engine.pool(),
                engine.publisher().ref(), slot, nat.stages().get(0).name()));
            before.addAll(nat.stages());
            final List<Stage> after = VxlanStages.tunnelStages(engine.pool(), engine.publisher().ref(), slot,
                settings, tunnel);
            return new ReplayEngine.Features(before, after);
        };
    }

    /**
     * Writes the flow table, {@code conntrack -L} style.
     *
     * @param out where.
     * @throws IOException when writing fails.
     */
    void dumpConntrack(final Appendable out) throws IOException
    {
        nat.dumpConntrack(out);
    }

    /** @return the NAT's log lines (port exhaustion), also sent to the logger. */
    List<String> drainLog()
    {
        return nat == null ? List.of() : nat.drainLog();
    }

    /** @return {@code ferry show services} text. */
    String showServices()
    {
        return nat.showServices();
    }

    @Override
    public void close()
    {
        if (conntrack != null)
        {
            conntrack.close();
        }
    }
}
