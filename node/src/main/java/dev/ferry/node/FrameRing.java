package dev.ferry.node;

import dev.ferry.core.PacketPool;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A single-producer single-consumer ring of frame copies between two threads that own different packet pools
 * (the worker's, and the netty I/O thread's of the VXLAN UDP socket). Each slot holds one frame's bytes, its
 * length and its {@link PacketPool#aux(int)} word (the VTEP address). Copies go through off-heap memory;
 * nothing is allocated per frame.
 *
 * <p>Fences: the producer writes a slot, then {@code soTail}; the consumer reads {@code lvTail}, copies the
 * slot, then {@code soHead} (JCTools naming).
 */
final class FrameRing implements AutoCloseable
{
    private final Arena arena = Arena.ofShared();
    private final MemorySegment slots;
    private final int[] lengths;
    private final int[] aux;
    private final int slotSize;
    private final int mask;
    private final AtomicLong head = new AtomicLong();
    private final AtomicLong tail = new AtomicLong();

    /**
     * @param capacity slots, a power of two.
     * @param slotSize bytes per slot (the pools' frame room).
     */
    FrameRing(final int capacity, final int slotSize)
    {
        if (Integer.bitCount(capacity) != 1)
        {
            throw new IllegalArgumentException("capacity must be a power of two: " + capacity);
        }
        this.slots = arena.allocate((long)capacity * slotSize, 64);
        this.lengths = new int[capacity];
        this.aux = new int[capacity];
        this.slotSize = slotSize;
        this.mask = capacity - 1;
    }

    /**
     * Copies a frame in (producer thread). The caller keeps, and frees, its buffer.
     *
     * @param pool the producer's pool.
     * @param h    the frame.
     * @return false when the ring is full or the frame does not fit a slot.
     */
    boolean offer(final PacketPool pool, final int h)
    {
        final long t = tail.getPlain();
        final int len = pool.length(h);
        if (t - head.getAcquire() > mask || len > slotSize)
        {
            return false;
        }
        final int i = (int)(t & mask);
        MemorySegment.copy(pool.memory(), pool.frameOffset(h), slots, (long)i * slotSize, len);
        lengths[i] = len;
        aux[i] = pool.aux(h);
        tail.setRelease(t + 1);
        return true;
    }

    /** @return whether a frame is waiting (consumer thread). */
    boolean isEmpty()
    {
        return head.getPlain() == tail.getAcquire();
    }

    /**
     * Copies the oldest frame out into a new buffer of the consumer's pool (consumer thread).
     *
     * @param pool the consumer's pool.
     * @return the new buffer, its aux word set, or {@link PacketPool#NO_BUFFER} when the ring is empty or the pool
     *         has no buffer (the frame then stays in the ring).
     */
    int poll(final PacketPool pool)
    {
        final long hd = head.getPlain();
        if (hd == tail.getAcquire())
        {
            return PacketPool.NO_BUFFER;
        }
        final int h = pool.allocate();
        if (h == PacketPool.NO_BUFFER)
        {
            return PacketPool.NO_BUFFER;
        }
        final int i = (int)(hd & mask);
        final int len = Math.min(lengths[i], pool.bufferSize() - pool.headroom());
        MemorySegment.copy(slots, (long)i * slotSize, pool.memory(), pool.frameOffset(h), len);
        pool.length(h, len);
        pool.aux(h, aux[i]);
        head.setRelease(hd + 1);
        return h;
    }

    @Override
    public void close()
    {
        arena.close();
    }
}
