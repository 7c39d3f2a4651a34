package dev.ferry.node;

import dev.ferry.core.Stage;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.tables.Snapshot;
import dev.ferry.vxlan.VxlanSettings;
import dev.ferry.vxlan.VxlanStages;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.List;
import java.util.concurrent.Executor;

/**
 * VXLAN (module {@code vxlan}) wired into a node: {@code vxlan-bypass} first among the stages before ip4-lookup,
 * {@code vxlan-encap} and {@code vxlan-decap} after it, the VTEP table as a snapshot part, and the tunnel port
 * {@code flannel.1}.
 *
 * <pre>
 *   packet mode: outer frames built from the VTEP template go out of the uplink (AF_PACKET); outer frames from
 *                the uplink reach vxlan-decap through vxlan-bypass (UDP to our public IP and the VXLAN port).
 *   socket mode: VXLAN header + inner frame go over {@link UdpTunnelPort} (netty UDP socket bound to the node's
 *                public IP and the cluster's VXLAN port); datagrams enter the graph at vxlan-decap.
 * </pre>
 *
 * <p>{@link NodeGraph} wires it into every node and replay graph.
 */
public final class VxlanFeature implements NodeFeature
{
    private final VxlanSettings settings;
    private int slot;
    private int tunnelPort;
    private boolean reusePort;

    /**
     * @param underlay how outer frames reach the underlay.
     */
    public VxlanFeature(final UnderlayMode underlay)
    {
        this.settings = VxlanSettings.defaults().withUnderlay(underlay == UnderlayMode.UDP
            ? VxlanSettings.Underlay.SOCKET : VxlanSettings.Underlay.UPLINK);
    }

    /**
     * Socket mode on a node of several workers: each worker's tunnel socket binds the VXLAN port with
     * {@code SO_REUSEPORT}, so the kernel splits the peers' datagrams between them (call before the ports open).
     *
     * @param on whether the tunnel port is shared between workers.
     * @return this.
     */
    VxlanFeature reusePort(final boolean on)
    {
        this.reusePort = on;
        return this;
    }

    @Override
    public String name()
    {
        return "vxlan";
    }

    @Override
    public int order()
    {
        return 10;
    }

    @Override
    public List<Stage> beforeLookup(final Context c, final String next)
    {
        slot = VxlanStages.register(c.publisher(), settings);
        tunnelPort = VxlanStages.addTunnelPort(c.ports(), settings);
        return VxlanStages.serviceStages(c.pool(), c.tables(), slot, next);
    }

    /** @return the VXLAN settings. */
    public VxlanSettings settings()
    {
        return settings;
    }

    /** @return the VTEP table's slot in the snapshot's parts (after the graph is built). */
    public int slot()
    {
        return slot;
    }

    /** @return the tunnel port's id (after the graph is built). */
    public int tunnelPort()
    {
        return tunnelPort;
    }

    @Override
    public List<Stage> afterLookup(final Context c)
    {
        return VxlanStages.tunnelStages(c.pool(), c.tables(), slot, settings, tunnelPort);
    }

    @Override
    public List<NodePort> ports(final Context c, final Executor onWorker)
    {
        if (settings.underlay() != VxlanSettings.Underlay.SOCKET)
        {
            return List.of();
        }
        // one socket per worker on a node of several, all bound to the VXLAN port
        final UdpTunnelPort port = new UdpTunnelPort(settings.tunnelPortName(), tunnelPort, c.pool(), c.counters())
            .reusePort(reusePort);
        c.publisher().onPublish(s -> bindTo(onWorker, port, s));
        final Snapshot current = c.publisher().current();
        if (current != null)
        {
            bindTo(onWorker, port, current);
        }
        return List.of(port);
    }

    private static void bindTo(final Executor onWorker, final UdpTunnelPort port, final Snapshot s)
    {
        final NodeTables t = s.tables();
        final int ip = t.node().publicIp();
        final int udp = t.cluster().vxlanPort();
        if (ip == 0)
        {
            return;
        }
        final InetAddress address;
        try
        {
            address = InetAddress.getByName(Ip4.format(ip));
        }
        catch (final UnknownHostException e)
        {
            return;
        }
        onWorker.execute(() -> port.open(address, udp));
    }
}
