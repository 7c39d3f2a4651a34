package dev.ferry.cli;

import dev.ferry.cli.replay.ReplayEngine;
import dev.ferry.core.Stage;
import dev.ferry.core.stage.Ip4Lookup;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.vxlan.VxlanSettings;
import dev.ferry.vxlan.VxlanStages;

import java.util.ArrayList;
import java.util.List;

/**
 * The feature modules wired into a replay graph: VXLAN (flannel-compatible, raw frames on the uplink).
 *
 * <pre>
 *  ip4-input ─► vxlan-bypass ─┬─► vxlan-decap ─► ethernet-input (inner frame, on flannel.1)
 *                             └─► ip4-lookup ─► vxlan-encap ─► interface-output (uplink)
 * </pre>
 */
final class Features
{
    private Features()
    {
    }

    static ReplayEngine.FeatureFactory forReplay(final NodeTables tables)
    {
        return engine ->
        {
            final VxlanSettings settings = VxlanSettings.defaults();
            final int tunnel = VxlanStages.addTunnelPort(engine.ports(), settings, tables.node().vtepMac());
            final int slot = VxlanStages.register(engine.publisher(), settings);
            final List<Stage> before = new ArrayList<>(VxlanStages.serviceStages(engine.pool(),
                engine.publisher().ref(), slot, Ip4Lookup.NAME));
            final List<Stage> after = VxlanStages.tunnelStages(engine.pool(), engine.publisher().ref(), slot,
                settings, tunnel);
            return new ReplayEngine.Features(before, after);
        };
    }
}
