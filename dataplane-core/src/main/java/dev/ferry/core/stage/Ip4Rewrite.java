package dev.ferry.core.stage;

import dev.ferry.core.DropReason;
import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;
import dev.ferry.core.Stage;
import dev.ferry.core.header.EthernetHeader;
import dev.ferry.core.header.Ip4Header;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.route.NeighbourTable;
import dev.ferry.core.tables.Fib;
import dev.ferry.core.tables.Snapshot;
import dev.ferry.core.tables.TablesRef;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * ip4-rewrite: the forwarding step. Decrements the TTL with an incremental checksum update (RFC 1624),
 * checks the link MTU, and rewrites the MACs from the adjacency that ip4-lookup left in
 * {@link PacketPool#aux(int)}.
 *
 * <p>Input: packets for local pods or the uplink. Next edges: {@code interface-output}, {@code icmp-error}
 * (TTL exceeded; fragmentation needed with DF). Drops: too big without DF (ferry does not fragment),
 * unresolved neighbour. Packets that this node originated (ICMP errors, echo replies) keep their TTL.
 */
public final class Ip4Rewrite implements Stage
{
    /** Stage name. */
    public static final String NAME = "ip4-rewrite";
    /** Next edge: transmit. */
    public static final int NEXT_OUTPUT = 0;
    /** Next edge: ICMP error. */
    public static final int NEXT_ICMP_ERROR = 1;

    /** Why ip4-rewrite drops a packet. */
    public enum Drop implements DropReason
    {
        /** Larger than the link MTU and DF clear: ferry does not fragment. */
        TOO_BIG_NO_DF(27, "packet larger than the link MTU (DF clear; ferry does not fragment)"),
        /** No MAC known for the next hop. */
        NEIGHBOUR_UNRESOLVED(28, "next-hop MAC unknown");

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
    private final Ip4Header ip = new Ip4Header();
    private final EthernetHeader eth = new EthernetHeader();

    /**
     * @param pool   packet pool.
     * @param tables the tables.
     */
    public Ip4Rewrite(final PacketPool pool, final TablesRef<Snapshot> tables)
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
        return List.of(InterfaceOutput.NAME, IcmpError.NAME);
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
        final Ip4Header ip = this.ip;
        final EthernetHeader eth = this.eth;
        final int n = in.count();
        for (int i = 0; i < n; i++)
        {
            final int h = in.get(i);
            final int adj = pool.aux(h);
            final long frame = pool.frameOffset(h);
            final int l3 = pool.l3Offset(h);
            ip.wrap(mem, frame + l3);
            final boolean local = (pool.flags(h) & PacketPool.FLAG_LOCAL_ORIGIN) != 0;
            final int verdict = Ip4Forward.check(pool, h, ip, local, fib.mtu(adj));
            if (verdict == Ip4Forward.ICMP_ERROR)
            {
                out.next(h, NEXT_ICMP_ERROR);
                continue;
            }
            if (verdict == Ip4Forward.TOO_BIG_NO_DF)
            {
                out.drop(h, Drop.TOO_BIG_NO_DF);
                continue;
            }
            long dstMac = fib.dstMac(adj);
            if (dstMac == Fib.RESOLVE_BY_DST)
            {
                dstMac = fib.neighbour(ip.dst());
                if (dstMac == NeighbourTable.UNKNOWN)
                {
                    out.drop(h, Drop.NEIGHBOUR_UNRESOLVED);
                    continue;
                }
            }
            if (!local)
            {
                ip.decrementTtl();
            }
            eth.wrap(mem, frame).dst(dstMac).src(fib.srcMac(adj));
            if (l3 != EthernetHeader.LENGTH)
            {
                eth.etherType(EthernetHeader.TYPE_IP4);
            }
            pool.txPort(h, fib.txPort(adj));
            out.traceDetail(h, dstMac, ip.ttl());
            out.next(h, NEXT_OUTPUT);
        }
    }

    @Override
    public String formatTrace(final long a, final long b)
    {
        return "dst MAC " + Ip4.formatMac(a) + ", TTL now " + b;
    }
}
