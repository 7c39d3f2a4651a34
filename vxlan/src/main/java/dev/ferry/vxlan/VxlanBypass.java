package dev.ferry.vxlan;

import dev.ferry.core.DropReason;
import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;
import dev.ferry.core.Stage;
import dev.ferry.core.header.Ip4Header;
import dev.ferry.core.header.Wire;
import dev.ferry.core.tables.Fib;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.tables.Snapshot;
import dev.ferry.core.tables.TablesRef;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * vxlan-bypass (VPP's {@code ip4-vxlan-bypass}): sits right after {@code ip4-input}, before the NAT stages, and
 * sends unfragmented UDP packets addressed to our VTEP address and the VXLAN port to {@code vxlan-decap}.
 * Everything else goes on to the stage named in the constructor (the first NAT stage, or {@code ip4-lookup}).
 *
 * <p>Wiring: the first before-lookup stage of {@code GraphAssembly} (the VXLAN feature has the lowest order);
 * ip4-input's one next edge then names it. Input: validated IPv4 packets. Next edges: {@code vxlan-decap}, the
 * continue stage. Drops a pod's UDP to any VTEP's VXLAN port ({@link Drop#POD_VXLAN}): a pod may not inject frames
 * into the overlay, neither through its own node nor masqueraded to another.
 */
public final class VxlanBypass implements Stage
{
    /** Stage name. */
    public static final String NAME = "vxlan-bypass";
    /** Next edge: decapsulate. */
    public static final int NEXT_DECAP = 0;
    /** Next edge: not VXLAN for us. */
    public static final int NEXT_CONTINUE = 1;

    private final PacketPool pool;
    private final TablesRef<Snapshot> tables;
    private final int slot;
    private final String continueStage;
    private final Ip4Header ip = new Ip4Header();

    /**
     * @param pool          packet pool.
     * @param tables        the tables.
     * @param slot          the {@link VtepTable} slot.
     * @param continueStage where other packets go: the first NAT stage, or {@code ip4-lookup}.
     */
    public VxlanBypass(final PacketPool pool, final TablesRef<Snapshot> tables, final int slot,
        final String continueStage)
    {
        this.pool = pool;
        this.tables = tables;
        this.slot = slot;
        this.continueStage = continueStage;
    }

    @Override
    public String name()
    {
        return NAME;
    }

    @Override
    public List<String> nextNames()
    {
        return List.of(VxlanDecap.NAME, continueStage);
    }

    /** Why vxlan-bypass drops a packet. */
    public enum Drop implements DropReason
    {
        /** A pod's UDP to a VTEP's VXLAN port: never decapsulated here, never masqueraded to another node. */
        POD_VXLAN(218, "VXLAN from a pod to a node's VTEP");

        private final int id;
        private final String sentence;

        Drop(final int id, final String sentence)
        {
            this.id = id;
            this.sentence = sentence;
        }

        @Override
        public int id()
        {
            return id;
        }

        @Override
        public String sentence()
        {
            return sentence;
        }
    }

    @Override
    public List<? extends DropReason> dropReasons()
    {
        return List.of(Drop.values());
    }

    @Override
    public void process(final PacketVector in, final Next out)
    {
        final PacketPool pool = this.pool;
        final MemorySegment mem = pool.memory();
        final Snapshot snapshot = tables.lvCurrent();
        final VtepTable vteps = snapshot.part(slot);
        final Fib fib = snapshot.fib();
        final NodeTables.NodeInfo node = snapshot.tables().node();
        final int localIp = vteps.localIp();
        final int port = vteps.port();
        final Ip4Header ip = this.ip;
        final int n = in.count();
        for (int i = 0; i < n; i++)
        {
            final int h = in.get(i);
            ip.wrap(mem, pool.frameOffset(h) + pool.l3Offset(h));
            final int ihl = ip.headerLength();
            if (ip.protocol() == Ip4Header.PROTO_UDP && fib.podMac(pool.rxPort(h)) != Fib.NOT_A_POD
                && (ip.isLaterFragment() || ip.totalLength() >= ihl + 8 && Wire.u16(mem, ip.offset() + ihl + 2) == port)
                && isVtep(vteps, node, ip.dst()))
            {
                // a pod's VXLAN to any node (its own included), or a later fragment toward a VTEP (its port
                // cannot be seen): a pod may not inject frames into the overlay
                out.drop(h, Drop.POD_VXLAN);
                continue;
            }
            if (ip.protocol() == Ip4Header.PROTO_UDP && ip.dst() == localIp && !ip.isFragment()
                && ip.totalLength() >= ihl + 8 && Wire.u16(mem, ip.offset() + ihl + 2) == port)
            {
                out.next(h, NEXT_DECAP);
            }
            else
            {
                out.next(h, NEXT_CONTINUE);
            }
        }
    }

    /** Whether {@code dst} is a VTEP: this node's addresses or a known remote VTEP. */
    private static boolean isVtep(final VtepTable vteps, final NodeTables.NodeInfo node, final int dst)
    {
        if (dst == vteps.localIp() || dst == node.publicIp() || vteps.isKnownVtep(dst))
        {
            return true;
        }
        final List<Integer> addrs = node.addresses();
        for (int i = 0; i < addrs.size(); i++)
        {
            if (addrs.get(i) == dst)
            {
                return true;
            }
        }
        return false;
    }
}
