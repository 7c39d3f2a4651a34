package dev.ferry.core;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * The way home of a buffer another worker freed: a single-producer single-consumer ring of handles from the
 * worker that freed them to the worker whose share of a {@linkplain PacketPool#shared shared pool} they belong to
 * (VPP frees a buffer to the freeing thread's cache and rebalances through the global pool; here every buffer has
 * one home, so that each worker's free stack and metadata lines stay its own).
 *
 * <p>It never fills: it holds as many slots as its home has buffers, and a handle is in it at most once (a buffer is
 * freed once per allocation, and its home takes it out before allocating it again), so the producer never reads the
 * consumer's position. The producer publishes with one release store every {@link #BATCH} handles and when its
 * worker ends a duty cycle ({@link #publish}); the consumer takes everything published with one acquire load.
 */
final class BufferReturnRing
{
    /** Handles written between two publications, at most. */
    static final int BATCH = 32;
    private static final VarHandle PUBLISHED = cursor();
    /** Longs between the two threads' cursors: 128 bytes (adjacent-line prefetch). */
    private static final int PAD = 16;
    private static final int TAIL = PAD;
    private static final int HEAD = 3 * PAD;

    private final int[] slots;
    private final int mask;
    /** [TAIL]: the tail the consumer may read up to (release); [HEAD]: the consumer's own position, which the
     *  producer never reads (the ring never fills). */
    private final long[] cursors = new long[4 * PAD];
    /** The producer's tail, published or not. */
    private long tail;
    private long publishedTail;

    /**
     * @param handles buffers of the home worker: the most the ring can ever hold.
     */
    BufferReturnRing(final int handles)
    {
        final int size = Math.max(BATCH, Integer.highestOneBit(Math.max(1, handles - 1)) << 1);
        slots = new int[size];
        mask = size - 1;
    }

    /**
     * Producer: returns one handle.
     *
     * @param handle a buffer of the ring's home worker.
     */
    void put(final int handle)
    {
        slots[(int)tail & mask] = handle;
        tail++;
        if (tail - publishedTail >= BATCH)
        {
            publish();
        }
    }

    /** Producer: makes every handle put so far visible to the home worker. */
    void publish()
    {
        if (tail != publishedTail)
        {
            publishedTail = tail;
            PUBLISHED.setRelease(cursors, TAIL, tail);
        }
    }

    /** @return whether handles were put and not yet published (producer). */
    boolean unpublished()
    {
        return tail != publishedTail;
    }

    /**
     * Consumer: moves every published handle into the home's free stacks.
     *
     * @param pool the home worker's share.
     * @return handles taken.
     */
    int drainTo(final PacketPool pool)
    {
        final long end = (long)PUBLISHED.getAcquire(cursors, TAIL);
        long head = cursors[HEAD];
        final int n = (int)(end - head);
        final int[] slots = this.slots;
        final int mask = this.mask;
        while (head != end)
        {
            pool.takeBack(slots[(int)head & mask]);
            head++;
        }
        cursors[HEAD] = head;
        return n;
    }

    private static VarHandle cursor()
    {
        return MethodHandles.arrayElementVarHandle(long[].class);
    }
}
