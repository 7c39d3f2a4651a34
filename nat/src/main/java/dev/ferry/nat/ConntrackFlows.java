package dev.ferry.nat;

import dev.ferry.conntrack.ConntrackTable;
import dev.ferry.conntrack.EntryVisitor;
import dev.ferry.conntrack.TcpState;
import dev.ferry.core.Clock;


/**
 * {@link FlowTable} over the off-heap {@link ConntrackTable}: straight delegation, nothing allocated.
 */
final class ConntrackFlows implements FlowTable
{
    private final ConntrackTable table;
    private final Clock clock;
    private final boolean timeWaitCoversMsl;
    private final UdpBindingFlush flush = new UdpBindingFlush();

    ConntrackFlows(final ConntrackTable table, final Clock clock)
    {
        this.table = table;
        this.clock = clock;
        this.timeWaitCoversMsl = table.config().tcpTimeWait() * 1_000_000_000L >= PortAllocator.QUARANTINE_NANOS;
    }

    ConntrackTable table()
    {
        return table;
    }

    @Override
    public long lookup(final int zone, final int proto, final int srcIp, final int dstIp, final int srcPort,
        final int dstPort)
    {
        return table.lookup(zone, proto, srcIp, dstIp, srcPort, dstPort);
    }

    @Override
    public long hash(final int zone, final int proto, final int srcIp, final int dstIp, final int srcPort,
        final int dstPort)
    {
        return table.hash(zone, proto, srcIp, dstIp, srcPort, dstPort);
    }

    @Override
    public long lookup(final long hash, final int zone, final int proto, final int srcIp, final int dstIp,
        final int srcPort, final int dstPort)
    {
        return table.lookup(hash, zone, proto, srcIp, dstIp, srcPort, dstPort);
    }

    @Override
    public boolean prefetchPays()
    {
        return table.prefetchPays();
    }

    @Override
    public void prefetch(final long[] hashes, final int n)
    {
        table.prefetch(hashes, n);
    }

    @Override
    public void prefetchEntries(final long[] results, final int n)
    {
        table.prefetchEntries(results, n);
    }

    @Override
    public boolean liveNow(final int e)
    {
        return table.liveNow(e);
    }

    @Override
    public int insert(final int zone, final int proto, final int oSrc, final int oDst, final int oSport,
        final int oDport, final int rSrc, final int rDst, final int rSport, final int rDport)
    {
        return table.insert(zone, proto, oSrc, oDst, oSport, oDport, rSrc, rDst, rSport, rDport);
    }

    @Override
    public boolean tupleInUse(final int zone, final int proto, final int src, final int dst, final int sport,
        final int dport)
    {
        return table.tupleInUse(zone, proto, src, dst, sport, dport);
    }

    @Override
    public int origSrc(final int e)
    {
        return table.origSrc(e);
    }

    @Override
    public int origDst(final int e)
    {
        return table.origDst(e);
    }

    @Override
    public int origSrcPort(final int e)
    {
        return table.origSrcPort(e);
    }

    @Override
    public int origDstPort(final int e)
    {
        return table.origDstPort(e);
    }

    @Override
    public int replySrc(final int e)
    {
        return table.replySrc(e);
    }

    @Override
    public int replyDst(final int e)
    {
        return table.replyDst(e);
    }

    @Override
    public int replySrcPort(final int e)
    {
        return table.replySrcPort(e);
    }

    @Override
    public int replyDstPort(final int e)
    {
        return table.replyDstPort(e);
    }

    @Override
    public int protocol(final int e)
    {
        return table.protocol(e);
    }

    @Override
    public boolean servedTimeWait(final int e)
    {
        return timeWaitCoversMsl && table.tcpState(e) == TcpState.TIME_WAIT && table.expiresAt(e) <= clock.nanos();
    }

    @Override
    public boolean reopens(final int e, final int direction, final int tcpFlags)
    {
        return table.reopens(e, direction, tcpFlags);
    }

    @Override
    public boolean update(final int entry, final int direction, final int tcpFlags, final int bytes)
    {
        return table.update(entry, direction, tcpFlags, bytes);
    }

    @Override
    public boolean updateTcp(final int entry, final int direction, final int tcpFlags, final int seq, final int ack,
        final int window, final int segLen, final int bytes)
    {
        return table.updateTcp(entry, direction, tcpFlags, seq, ack, window, segLen, bytes);
    }

    @Override
    public void remove(final int e)
    {
        table.remove(e);
    }

    @Override
    public int expire(final int budget)
    {
        return table.expire(budget);
    }

    @Override
    public int flushUdpBindings(final long[] frontends, final long[] endpoints, final int count)
    {
        flush.frontends = frontends;
        flush.endpoints = endpoints;
        flush.count = count;
        flush.removed = 0;
        table.forEach(flush);
        flush.frontends = null;
        flush.endpoints = null;
        return flush.removed;
    }

    /** The visitor of {@link #flushUdpBindings}, kept so that a flush allocates nothing. */
    private static final class UdpBindingFlush implements EntryVisitor
    {
        long[] frontends;
        long[] endpoints;
        int count;
        int removed;

        @Override
        public void visit(final ConntrackTable t, final int e)
        {
            if (t.protocol(e) != ConntrackTable.UDP)
            {
                return;
            }
            final long frontend = (t.origDst(e) & 0xffffffffL) << 16 | t.origDstPort(e);
            final long endpoint = (t.replySrc(e) & 0xffffffffL) << 16 | t.replySrcPort(e);
            if (FlowTable.containsPair(frontends, endpoints, count, frontend, endpoint))
            {
                t.remove(e);
                removed++;
            }
        }
    }

    @Override
    public void removalListener(final RemovalListener l)
    {
        table.removalListener((t, e) -> l.removed(this, e));
    }
}
