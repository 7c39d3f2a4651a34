package dev.ferry.core.stage;

import dev.ferry.core.DropReason;
import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;
import dev.ferry.core.Stage;
import dev.ferry.core.header.IcmpHeader;
import dev.ferry.core.header.Wire;
import dev.ferry.core.header.Ip4Header;
import dev.ferry.core.tables.Fib;
import dev.ferry.core.tables.Snapshot;
import dev.ferry.core.tables.TablesRef;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * ip4-lookup: finds the adjacency of the destination address by longest-prefix match and picks the next
 * stage by its kind. The adjacency index travels in {@link PacketPool#aux(int)}.
 *
 * <p>Input: validated IPv4 packets. Next edges: {@code ip4-rewrite} (local pods, uplink), {@code vxlan-encap}
 * (pods on other nodes), {@code ip4-local} (this node's addresses), {@code icmp-error} (no route, no such
 * pod). Drops: blackholed cluster space.
 */
public final class Ip4Lookup implements Stage
{
    /** Stage name. */
    public static final String NAME = "ip4-lookup";
    /** Next edge: MAC rewrite and output. */
    public static final int NEXT_REWRITE = 0;
    /** Next edge: VXLAN encapsulation. */
    public static final int NEXT_VXLAN = 1;
    /** Next edge: local delivery. */
    public static final int NEXT_LOCAL = 2;
    /** Next edge: ICMP error generation. */
    public static final int NEXT_ICMP_ERROR = 3;
    /** Name of the VXLAN encap stage (wired in by the vxlan module). */
    public static final String VXLAN_ENCAP = "vxlan-encap";

    /** Why ip4-lookup drops a packet. */
    public enum Drop implements DropReason
    {
        /** Destination inside the cluster CIDR but on no node. */
        BLACKHOLE(22, "destination in unassigned cluster space");

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

    private final PacketPool pool;
    private final TablesRef<Snapshot> tables;

    /**
     * @param pool   packet pool.
     * @param tables the tables.
     */
    public Ip4Lookup(final PacketPool pool, final TablesRef<Snapshot> tables)
    {
        this.pool = pool;
        this.tables = tables;
    }

    @Override
    public String name()
    {
        return NAME;
    }

    @Override
    public List<String> nextNames()
    {
        return List.of(Ip4Rewrite.NAME, VXLAN_ENCAP, Ip4Local.NAME, IcmpError.NAME);
    }

    @Override
    public List<Drop> dropReasons()
    {
        return List.of(Drop.values());
    }

    @Override
    public void process(final PacketVector in, final Next out)
    {
        final PacketPool pool = this.pool;
        final MemorySegment mem = pool.memory();
        final Fib fib = tables.lvCurrent().fib();
        final int n = in.count();
        for (int i = 0; i < n; i++)
        {
            final int h = in.get(i);
            final int dst = Wire.u32(mem, pool.frameOffset(h) + pool.l3Offset(h) + Ip4Header.DST_OFFSET);
            final int adj = fib.lookup(dst);
            out.traceDetail(h, adj, 0);
            if (adj < 0)
            {
                IcmpError.request(pool, h, IcmpHeader.TYPE_DEST_UNREACHABLE, IcmpHeader.CODE_NET_UNREACHABLE, 0);
                out.next(h, NEXT_ICMP_ERROR);
                continue;
            }
            pool.aux(h, adj);
            switch (fib.kind(adj))
            {
                case Fib.LOCAL_POD, Fib.UPLINK -> out.next(h, NEXT_REWRITE);
                case Fib.REMOTE_POD -> out.next(h, NEXT_VXLAN);
                case Fib.LOCAL -> out.next(h, NEXT_LOCAL);
                case Fib.UNKNOWN_POD ->
                {
                    IcmpError.request(pool, h, IcmpHeader.TYPE_DEST_UNREACHABLE, IcmpHeader.CODE_HOST_UNREACHABLE, 0);
                    out.next(h, NEXT_ICMP_ERROR);
                }
                default -> out.drop(h, Drop.BLACKHOLE);
            }
        }
    }

    /** The FIB of the current snapshot, for trace formatting. */
    private Fib fibForTrace()
    {
        final Snapshot s = tables.lvCurrent();
        return s == null ? null : s.fib();
    }

    @Override
    public String formatTrace(final long a, final long b)
    {
        final Fib fib = fibForTrace();
        return fib == null ? "adjacency " + a : fib.describe((int)a);
    }
}
