package dev.ferry.cli;

import dev.ferry.conntrack.ConntrackConfig;
import dev.ferry.conntrack.ConntrackTable;
import dev.ferry.core.Ports;
import dev.ferry.core.Stage;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.tables.Snapshot;
import dev.ferry.nat.Nat;
import dev.ferry.node.NodeFeature;
import dev.ferry.vxlan.VxlanSettings;
import dev.ferry.vxlan.VxlanStages;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * The feature modules of {@code ferry node}, found through {@link java.util.ServiceLoader}: VXLAN (flannel
 * compatible, raw frames on the uplink) and Services with masquerade ({@code nat} over a {@code conntrack-table}).
 *
 * <pre>
 *  ip4-input ─► vxlan-bypass ─┬─► nat44-in ─► nat44-new ─► ip4-lookup ─► vxlan-encap ─► interface-output
 *                             └─► vxlan-decap ─► ethernet-input (inner frame, on flannel.1)
 * </pre>
 *
 * <p>One feature, not two, because the VXLAN bypass must name the stage that follows it.
 */
public final class NodeFeatures implements NodeFeature
{
    private Nat nat;
    private int tunnelSlot = -1;

    /** Used by {@link java.util.ServiceLoader}. */
    public NodeFeatures()
    {
    }

    @Override
    public String name()
    {
        return "vxlan+services";
    }

    @Override
    public List<Stage> beforeLookup(final Context ctx)
    {
        final VxlanSettings settings = VxlanSettings.defaults();
        final NodeTables current = current(ctx);
        final Map<String, Long> ct = current == null ? Map.of() : current.cluster().conntrack();
        final ConntrackTable conntrack = new ConntrackTable(ConntrackConfig.fromSettings(ct), ctx.clock());
        nat = Nat.create(ctx.pool(), ctx.publisher(), ctx.clock(), ctx.counters(), Nat.Options.defaults(ctx.seed()),
            conntrack);
        final int slot = VxlanStages.register(ctx.publisher(), settings);
        final List<Stage> before = new ArrayList<>(VxlanStages.serviceStages(ctx.pool(), ctx.tables(), slot,
            nat.stages().getFirst().name()));
        before.addAll(nat.stages());
        tunnelSlot = slot;
        return before;
    }

    @Override
    public List<Stage> afterLookup(final Context ctx)
    {
        final VxlanSettings settings = VxlanSettings.defaults();
        final NodeTables current = current(ctx);
        // the node publishes its first tables after the graph is built, so the VTEP MAC may not be known yet;
        // the tunnel port then takes every inner frame (vxlan-decap has already matched VNI and source VTEP)
        final long vtepMac = current == null ? 0 : current.node().vtepMac();
        final int tunnel = ctx.ports().add(settings.tunnelPortName(), Ports.Kind.TUNNEL, vtepMac, current == null)
            .id();
        return VxlanStages.tunnelStages(ctx.pool(), ctx.tables(), tunnelSlot, settings, tunnel);
    }

    private static NodeTables current(final Context ctx)
    {
        final Snapshot s = ctx.publisher().current();
        return s == null ? null : s.tables();
    }

    @Override
    public List<String> show(final String what)
    {
        if (nat == null)
        {
            return null;
        }
        if ("services".equals(what))
        {
            return Arrays.asList(nat.showServices().split("\n"));
        }
        if ("conntrack".equals(what))
        {
            final StringBuilder sb = new StringBuilder();
            try
            {
                nat.dumpConntrack(sb);
            }
            catch (final IOException e)
            {
                throw new UncheckedIOException(e);
            }
            return sb.isEmpty() ? List.of() : Arrays.asList(sb.toString().split("\n"));
        }
        return null;
    }
}
