package dev.ferry.nat;

import dev.ferry.core.Clock;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A plain-map flow table for tests: both tuples indexed, a capacity, one timeout per protocol, TCP entries
 * closed by FIN from both sides or RST (removed after the close timeout).
 */
final class MapFlows implements FlowTable
{
    record Tuple(int proto, int src, int dst, int sport, int dport)
    {
    }

    private final Clock clock;
    private final int capacity;
    private final long timeoutNanos;
    private final Map<Tuple, Long> index = new HashMap<>();
    private final List<Tuple[]> tuples = new ArrayList<>();
    private final List<long[]> meta = new ArrayList<>(); // [lastSeen, finMask, alive]
    private final List<Integer> free = new ArrayList<>();
    private RemovalListener listener;
    int lookups;
    /** Whether {@link #prefetchPays} says yes, so that nat44-in batches its lookups. */
    boolean batching;
    int hashes;
    int hashedLookups;

    MapFlows(final Clock clock, final int capacity, final long timeoutNanos)
    {
        this.clock = clock;
        this.capacity = capacity;
        this.timeoutNanos = timeoutNanos;
    }

    int size()
    {
        return index.size() / 2;
    }

    @Override
    public long lookup(final int zone, final int proto, final int srcIp, final int dstIp, final int srcPort,
        final int dstPort)
    {
        lookups++;
        final Long r = index.get(new Tuple(proto, srcIp, dstIp, srcPort, dstPort));
        return r == null ? MISS : r;
    }

    /**
     * Batching as a real table does it (counted): a hash per tuple, and lookups that reuse it, which must be of the
     * very tuple looked up.
     */
    @Override
    public long hash(final int zone, final int proto, final int srcIp, final int dstIp, final int srcPort,
        final int dstPort)
    {
        hashes++;
        return tupleHash(proto, srcIp, dstIp, srcPort, dstPort);
    }

    @Override
    public boolean prefetchPays()
    {
        return batching;
    }

    @Override
    public long lookup(final long hash, final int zone, final int proto, final int srcIp, final int dstIp,
        final int srcPort, final int dstPort)
    {
        hashedLookups++;
        if (hash != tupleHash(proto, srcIp, dstIp, srcPort, dstPort))
        {
            throw new AssertionError("a lookup reused the hash of another tuple");
        }
        return lookup(zone, proto, srcIp, dstIp, srcPort, dstPort);
    }

    private static long tupleHash(final int proto, final int src, final int dst, final int sport, final int dport)
    {
        return new Tuple(proto, src, dst, sport, dport).hashCode() * 0x9E37_79B9_7F4A_7C15L;
    }

    @Override
    public int insert(final int zone, final int proto, final int oSrc, final int oDst, final int oSport,
        final int oDport, final int rSrc, final int rDst, final int rSport, final int rDport)
    {
        if (size() >= capacity)
        {
            return -1;
        }
        final Tuple o = new Tuple(proto, oSrc, oDst, oSport, oDport);
        final Tuple r = new Tuple(proto, rSrc, rDst, rSport, rDport);
        if (index.containsKey(o) || index.containsKey(r))
        {
            return -1;
        }
        final int e;
        if (!free.isEmpty())
        {
            e = free.remove(free.size() - 1);
            tuples.set(e, new Tuple[] {o, r});
            meta.set(e, new long[] {clock.nanos(), 0, 1});
        }
        else
        {
            e = tuples.size();
            tuples.add(new Tuple[] {o, r});
            meta.add(new long[] {clock.nanos(), 0, 1});
        }
        index.put(o, (long)e << 1);
        index.put(r, ((long)e << 1) | 1);
        return e;
    }

    @Override
    public boolean tupleInUse(final int zone, final int proto, final int src, final int dst, final int sport,
        final int dport)
    {
        return index.containsKey(new Tuple(proto, src, dst, sport, dport));
    }

    @Override
    public int origSrc(final int e)
    {
        return tuples.get(e)[0].src();
    }

    @Override
    public int origDst(final int e)
    {
        return tuples.get(e)[0].dst();
    }

    @Override
    public int origSrcPort(final int e)
    {
        return tuples.get(e)[0].sport();
    }

    @Override
    public int origDstPort(final int e)
    {
        return tuples.get(e)[0].dport();
    }

    @Override
    public int replySrc(final int e)
    {
        return tuples.get(e)[1].src();
    }

    @Override
    public int replyDst(final int e)
    {
        return tuples.get(e)[1].dst();
    }

    @Override
    public int replySrcPort(final int e)
    {
        return tuples.get(e)[1].sport();
    }

    @Override
    public int replyDstPort(final int e)
    {
        return tuples.get(e)[1].dport();
    }

    @Override
    public int protocol(final int e)
    {
        return tuples.get(e)[0].proto();
    }

    @Override
    public boolean servedTimeWait(final int e)
    {
        return false;
    }

    @Override
    public boolean update(final int entry, final int direction, final int tcpFlags, final int bytes)
    {
        final long[] m = meta.get(entry);
        m[0] = clock.nanos();
        if ((tcpFlags & 0x01) != 0)
        {
            m[1] |= 1L << direction;
        }
        if ((tcpFlags & 0x04) != 0)
        {
            m[1] = 3;
        }
        return true;
    }

    boolean closed(final int e)
    {
        return meta.get(e)[1] == 3;
    }

    @Override
    public void remove(final int e)
    {
        final long[] m = meta.get(e);
        if (m[2] == 0)
        {
            return;
        }
        if (listener != null)
        {
            listener.removed(this, e);
        }
        m[2] = 0;
        index.remove(tuples.get(e)[0]);
        index.remove(tuples.get(e)[1]);
        free.add(e);
    }

    @Override
    public int expire(final int budget)
    {
        int n = 0;
        final long now = clock.nanos();
        for (int e = 0; e < meta.size(); e++)
        {
            final long[] m = meta.get(e);
            if (m[2] == 1 && now - m[0] > (m[1] == 3 ? 10_000_000_000L : timeoutNanos))
            {
                remove(e);
                n++;
            }
        }
        return n;
    }

    @Override
    public int flushUdpBindings(final long[] frontends, final long[] endpoints, final int count)
    {
        int n = 0;
        for (int e = 0; e < meta.size(); e++)
        {
            if (meta.get(e)[2] == 1 && protocol(e) == 17 && FlowTable.containsPair(frontends, endpoints, count,
                (origDst(e) & 0xffffffffL) << 16 | origDstPort(e), (replySrc(e) & 0xffffffffL) << 16 | replySrcPort(e)))
            {
                remove(e);
                n++;
            }
        }
        return n;
    }

    @Override
    public void removalListener(final RemovalListener l)
    {
        this.listener = l;
    }

}
