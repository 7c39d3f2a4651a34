package dev.ferry.core.stage;

import dev.ferry.core.Clock;
import dev.ferry.core.Graph;
import dev.ferry.core.PacketPool;
import dev.ferry.core.Ports;
import dev.ferry.core.Stage;
import dev.ferry.core.tables.Snapshot;
import dev.ferry.core.tables.TablesRef;

import java.util.List;

/**
 * Wires the L3 forwarding stages into a graph, with slots where feature modules plug in their stages.
 *
 * <pre>
 *  ethernet-input ─► arp ─────────────────────────────────────────────────────► interface-output
 *        │
 *        └─► ip4-input ─► [service stages] ─► ip4-lookup ─┬─► ip4-rewrite ─► interface-output
 *                                                         ├─► [vxlan-encap ...]
 *                                                         ├─► ip4-local ─► (echo reply) ip4-lookup
 *                                                         └─► icmp-error ─► [service stages] ip4-lookup
 * </pre>
 */
public final class CoreStages
{
    private CoreStages()
    {
    }

    /**
     * Adds the core stages and the module stages, in an order that usually completes in one pass.
     *
     * @param b             the graph builder.
     * @param pool          packet pool.
     * @param ports         ports.
     * @param tables        the tables.
     * @param clock         time (ICMP rate limit).
     * @param serviceStages stages between ip4-input and ip4-lookup (the first one receives from ip4-input);
     *                      empty for plain L3 forwarding.
     * @param tunnelStages  stages added after ip4-lookup (vxlan-encap, vxlan-decap ...).
     * @param hostAttached  whether a host-output stage is among the tunnel/extra stages.
     * @return the builder.
     */
    public static Graph.Builder addTo(final Graph.Builder b, final PacketPool pool, final Ports ports,
        final TablesRef<Snapshot> tables, final Clock clock, final List<Stage> serviceStages,
        final List<Stage> tunnelStages, final boolean hostAttached)
    {
        final String afterInput = serviceStages.isEmpty() ? Ip4Lookup.NAME : serviceStages.get(0).name();
        b.add(new EthernetInput(pool, ports));
        b.add(new Arp(pool, ports, tables));
        b.add(new Ip4Input(pool, afterInput));
        for (final Stage s : serviceStages)
        {
            b.add(s);
        }
        b.add(new Ip4Lookup(pool, tables));
        for (final Stage s : tunnelStages)
        {
            b.add(s);
        }
        b.add(new Ip4Local(pool, hostAttached));
        // errors about translated packets must pass the NAT stages, as netfilter translates RELATED packets
        b.add(new IcmpError(pool, ports, tables, clock, 1000, 50, afterInput));
        b.add(new Ip4Rewrite(pool, tables));
        b.add(new InterfaceOutput(pool));
        return b;
    }
}
