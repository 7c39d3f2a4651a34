package dev.ferry.conntrack;

import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Conntrack events ({@code conntrack -E}): NEW, UPDATE (TCP state, seen reply or assured changed) and DESTROY
 * (expiry, delete, flush, early drop), written by the table's thread into a bounded ring allocated once, and read
 * by one other thread.
 *
 * <pre>
 *  worker: table insert/update/remove ── subscribed? ──no──► nothing (one volatile read)
 *                                          │yes
 *                                          ▼
 *            ring of fixed 6-long records ─full?─► lost++ (reported as "N events lost", like ENOBUFS)
 *                                          │
 *  control: drain() ──► ConntrackEvent (a type and a {@link ConntrackEntry} copy)
 * </pre>
 *
 * <p>Single producer, single consumer: the producer publishes a record with a release store of its sequence,
 * the consumer frees it with a release store of its own. Writing a record allocates nothing.
 */
public final class ConntrackEvents
{
    /** A new entry. */
    public static final int NEW = 1;
    /** An entry's TCP state, seen-reply or assured flag changed. */
    public static final int UPDATE = 2;
    /** An entry was removed. */
    public static final int DESTROY = 3;

    private static final int WORDS = 6;

    private final long[] ring;
    private final int mask;
    private final AtomicLong head = new AtomicLong();
    private final AtomicLong tail = new AtomicLong();
    private final AtomicLong lost = new AtomicLong();
    private volatile boolean subscribed;

    /**
     * One event as the reader sees it.
     *
     * @param type  {@link #NEW}, {@link #UPDATE} or {@link #DESTROY}.
     * @param entry the entry as it was when the event happened (counters are not carried: zero).
     */
    public record ConntrackEvent(int type, ConntrackEntry entry)
    {
        /** @return NEW, UPDATE or DESTROY. */
        public String typeName()
        {
            return name(type);
        }
    }

    /**
     * @param capacity records the ring holds (rounded up to a power of two, at least 2).
     */
    public ConntrackEvents(final int capacity)
    {
        final int n = ConntrackTable.roundedCapacity(Math.max(2, capacity));
        ring = new long[n * WORDS];
        mask = n - 1;
    }

    /**
     * @param type an event type.
     * @return its name as conntrack prints it, without brackets.
     */
    public static String name(final int type)
    {
        return switch (type)
        {
            case NEW -> "NEW";
            case UPDATE -> "UPDATE";
            case DESTROY -> "DESTROY";
            default -> "?";
        };
    }

    /** @return records the ring holds. */
    public int capacity()
    {
        return mask + 1;
    }

    /** @return whether a reader wants events (the writer checks it per event). */
    public boolean subscribed()
    {
        return subscribed;
    }

    /**
     * Starts or stops recording (reader's thread). Starting skips whatever an earlier subscription left unread.
     *
     * @param on record events from now on (true) or not (false).
     */
    public void subscribe(final boolean on)
    {
        if (on && !subscribed)
        {
            tail.setRelease(head.getAcquire());
            lost.set(0);
        }
        subscribed = on;
    }

    /**
     * Records one event about a live entry (the table's thread). Counted as lost when the ring is full.
     */
    void publish(final int type, final ConntrackTable t, final int e, final long secondsLeft)
    {
        final long h = head.getPlain();
        if (h - tail.getAcquire() > mask)
        {
            lost.getAndIncrement();
            return;
        }
        final int i = (int)(h & mask) * WORDS;
        final int flags = (t.seenReply(e) ? 1 : 0) | (t.assured(e) ? 2 : 0);
        ring[i] = type | (long)t.protocol(e) << 8 | (long)t.tcpState(e) << 16 | (long)flags << 24
            | (long)(t.zone(e) & 0xff_ffff) << 32;
        ring[i + 1] = secondsLeft;
        ring[i + 2] = (long)t.origSrc(e) << 32 | t.origDst(e) & 0xffff_ffffL;
        ring[i + 3] = (long)t.origSrcPort(e) << 48 | (long)t.origDstPort(e) << 32 | (long)t.replySrcPort(e) << 16
            | t.replyDstPort(e);
        ring[i + 4] = (long)t.replySrc(e) << 32 | t.replyDst(e) & 0xffff_ffffL;
        ring[i + 5] = t.mark(e);
        head.setRelease(h + 1);
    }

    /**
     * Takes up to {@code max} events, oldest first (reader's thread).
     *
     * @param out where to add them.
     * @param max the most to take.
     * @return how many were taken.
     */
    public int drain(final List<ConntrackEvent> out, final int max)
    {
        long t = tail.getPlain();
        final long h = head.getAcquire();
        int n = 0;
        while (t < h && n < max)
        {
            final int i = (int)(t & mask) * WORDS;
            final long w0 = ring[i];
            final long p = ring[i + 3];
            final int flags = (int)(w0 >>> 24) & 0xff;
            out.add(new ConntrackEvent((int)w0 & 0xff, new ConntrackEntry((int)(w0 >>> 8) & 0xff, ring[i + 1],
                (int)(w0 >>> 16) & 0xff, (int)(ring[i + 2] >>> 32), (int)ring[i + 2], (int)(p >>> 48) & 0xffff,
                (int)(p >>> 32) & 0xffff, (int)(ring[i + 4] >>> 32), (int)ring[i + 4], (int)(p >>> 16) & 0xffff,
                (int)p & 0xffff, (flags & 1) != 0, (flags & 2) != 0, (int)ring[i + 5], (int)(w0 >>> 32) & 0xff_ffff,
                0, 0, 0, 0)));
            t++;
            n++;
        }
        tail.setRelease(t);
        return n;
    }

    /** @return events lost to a full ring since the last call (reader's thread), and resets the count. */
    public long takeLost()
    {
        return lost.getAndSet(0);
    }
}
