package dev.ferry.vxlan;

import dev.ferry.core.PacketPool;
import dev.ferry.core.Ports;
import dev.ferry.core.Stage;
import dev.ferry.core.tables.Snapshot;
import dev.ferry.core.tables.TablesPublisher;
import dev.ferry.core.tables.TablesRef;

import java.util.List;

/**
 * The VXLAN stages, for the node's VXLAN feature to hand to {@code GraphAssembly}.
 *
 * <pre>
 *  ethernet-input ─► ip4-input ─► vxlan-bypass ─┬─► [nat ...] ─► ip4-lookup ─► vxlan-encap ─► interface-output
 *        ▲                                       │                                   └─► icmp-error
 *        └──────────── vxlan-decap ◄─────────────┘
 * </pre>
 *
 * <pre>{@code
 *  int slot = VtepTable.register(publisher, settings);          // before the first publish
 *  int tunnel = VxlanStages.addTunnelPort(ports, settings);
 *  // a GraphFeature's beforeLookup(context, next) and afterLookup(context):
 *  VxlanStages.serviceStages(pool, ref, slot, next);                  // next: the NAT stages, or ip4-lookup
 *  VxlanStages.tunnelStages(pool, ref, slot, settings, tunnel);
 * }</pre>
 */
public final class VxlanStages
{
    private VxlanStages()
    {
    }

    /**
     * Adds the tunnel port ({@code flannel.1}, kind TUNNEL): decapsulated frames are received on it; in socket
     * mode encapsulated packets are transmitted on it. It is promiscuous with no MAC of its own: the inner
     * destination MAC is our VTEP MAC, which each table push may change, and vxlan-decap has already checked the
     * outer frame (known VTEP, port, VNI).
     *
     * @param ports    the node's ports.
     * @param settings VXLAN settings (the port name).
     * @return the tunnel port id.
     */
    public static int addTunnelPort(final Ports ports, final VxlanSettings settings)
    {
        return ports.add(settings.tunnelPortName(), Ports.Kind.TUNNEL, 0, true).id();
    }

    /**
     * @param pool          packet pool.
     * @param tables        the tables.
     * @param slot          the {@link VtepTable} slot.
     * @param continueStage the stage after the bypass (first NAT stage or {@code ip4-lookup}).
     * @return the stages to put first in {@code serviceStages}: vxlan-bypass.
     */
    public static List<Stage> serviceStages(final PacketPool pool, final TablesRef<Snapshot> tables, final int slot,
        final String continueStage)
    {
        return List.of(new VxlanBypass(pool, tables, slot, continueStage));
    }

    /**
     * @param pool       packet pool.
     * @param tables     the tables.
     * @param slot       the {@link VtepTable} slot.
     * @param settings   VXLAN settings.
     * @param tunnelPort the tunnel port id.
     * @return the stages to pass as {@code tunnelStages}: vxlan-encap and vxlan-decap.
     */
    public static List<Stage> tunnelStages(final PacketPool pool, final TablesRef<Snapshot> tables, final int slot,
        final VxlanSettings settings, final int tunnelPort)
    {
        return List.of(new VxlanEncap(pool, tables, slot, settings, tunnelPort),
            new VxlanDecap(pool, tables, slot, tunnelPort));
    }

    /**
     * Convenience for a publisher-driven node: registers the VTEP compiler.
     *
     * @param publisher the publisher.
     * @param settings  VXLAN settings.
     * @return the slot.
     */
    public static int register(final TablesPublisher publisher, final VxlanSettings settings)
    {
        return VtepTable.register(publisher, settings);
    }
}
