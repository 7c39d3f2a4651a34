package dev.ferry.core.workers;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;

/**
 * A single-producer single-consumer ring of variable-length records in off-heap memory, written with
 * {@link MemorySegment} and {@link VarHandle} memory orders only (no {@code Unsafe}, no exported JDK internals:
 * Agrona's {@code OneToOneRingBuffer} does the same job but needs {@code jdk.internal.misc} exported, which a
 * plain {@code java -jar ferry.jar} does not do).
 *
 * <pre>
 *   data (capacity bytes, a power of two)                  | tail | head | producer's own | consumer's own |
 *   [len|payload...][len|payload...][-1 pad to end]...    each 128 bytes; positions grow forever;
 *                                                          index = position AND mask
 * </pre>
 *
 * <p>A record is an {@code int} length and the payload, aligned to 4 bytes (the ring's lines crossing between
 * cores are the handoff's cost, so no byte is padding that need not be: a 64-byte frame's record with the handoff's
 * metadata is 84 bytes, where 8-byte alignment made it 88 or 96; x86 and the unaligned layouts read the 4-aligned
 * longs at the same cost). A record that
 * would cross the end of the data is preceded by a pad record (length -1) that fills the rest, and starts at
 * index 0. The producer publishes the records it has committed with one release store of the tail
 * ({@link #publish}, once per vector, not per record); the consumer reads the tail with an acquire load
 * ({@link #lvTail}), handles every record up to it, and frees their space with one release store of the head
 * ({@link #soHead}) per drain. Publishing per record let the consumer chase the producer: it read the line the
 * producer was still filling with the next record, and that line crossed between the cores twice per record
 * instead of once per lap (issue 17). The producer caches the head and re-reads it
 * only when the cached value says the ring is full, so the two threads share the head's line once per refill,
 * not per record. Head and tail sit 128 bytes apart (adjacent-line prefetch).
 *
 * <p>Each side's own cursors (the producer's tail, head cache and claim; the consumer's head) live off-heap too,
 * each side on 128 bytes of its own, and this object holds only what never changes. As plain fields of this object
 * they shared a cache line with each other and with the constants both threads read, and the two rings of a worker
 * pair, allocated one after the other, shared lines too: every record the producer wrote took the line away from
 * the consumer reading its mask and head, and from the other worker producing into the ring beside it (issue 17:
 * two workers scaled 1.28x in {@code WorkersBenchmark}).
 *
 * <p>Usage per record, producer: {@link #claim(int)}, write at {@link #memory()} from the returned offset,
 * {@link #commit(long, int)}; then, once per batch, {@link #publish()}. A claim that finds the ring full publishes
 * first, so that a producer waiting for room never waits on records the consumer cannot see. Consumer:
 * {@link #read(Reader, int)}.
 */
final class SpscByteRing
{
    /** Bytes in front of each record's payload. */
    static final int HEADER = 4;
    /** Returned by {@link #claim} when the record does not fit now. */
    static final int FULL = -1;

    private static final int PAD = -1;
    /** Bytes between fields written by different threads: two cache lines (adjacent-line prefetch). */
    private static final int LINE = 128;
    // plain accesses use unaligned layouts (the offsets are aligned; an aligned layout checks it on every access);
    // the cursors shared between threads go through POSITION, whose atomic access modes need aligned memory
    private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED;
    private static final int TAIL = 0;
    private static final int HEAD_CACHE = 8;
    private static final int CLAIMED = 16;
    private static final int PUBLISHED = 24;
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED;
    private static final VarHandle POSITION = ValueLayout.JAVA_LONG.varHandle();

    private final MemorySegment memory;
    private final int capacity;
    private final int mask;
    private final long tailOffset;
    private final long headOffset;
    private final int maxPayload;
    /** The producer's own line: its copy of the tail, the head it last read, the record it claimed. */
    private final long producerOffset;
    /** The consumer's own line: its head. */
    private final long consumerOffset;

    /** What the consumer does with each record. */
    interface Reader
    {
        /**
         * @param memory the ring's memory.
         * @param offset where the payload starts.
         * @param length the payload's length.
         */
        void onRecord(MemorySegment memory, long offset, int length);
    }

    /**
     * @param arena    where the ring's memory lives.
     * @param capacity data bytes, a power of two of at least 1024.
     */
    SpscByteRing(final Arena arena, final int capacity)
    {
        if (capacity < 1024 || Integer.bitCount(capacity) != 1)
        {
            throw new IllegalArgumentException("ring capacity must be a power of two of at least 1024: " + capacity);
        }
        this.capacity = capacity;
        this.mask = capacity - 1;
        this.memory = arena.allocate(capacity + 4L * LINE, LINE);
        this.tailOffset = capacity;
        this.headOffset = capacity + LINE;
        this.producerOffset = capacity + 2L * LINE;
        this.consumerOffset = capacity + 3L * LINE;
        // a record of at most half the ring always fits once the ring is empty, even after a pad record
        this.maxPayload = capacity / 2 - HEADER;
        POSITION.setRelease(memory, tailOffset, 0L);
        POSITION.setRelease(memory, headOffset, 0L);
    }

    /** @return the largest payload a record may carry. */
    int maxPayload()
    {
        return maxPayload;
    }

    /** @return the ring's memory, to write a claimed record's payload. */
    MemorySegment memory()
    {
        return memory;
    }

    /**
     * Producer: reserves room for a record.
     *
     * @param length payload bytes, at most {@link #maxPayload()}.
     * @return the offset to write the payload at, or {@link #FULL}.
     */
    long claim(final int length)
    {
        final MemorySegment memory = this.memory;
        final long own = producerOffset;
        final int record = align(HEADER + length);
        final long t = memory.get(LONG, own + TAIL);
        final int index = (int)(t & mask);
        final int toEnd = capacity - index;
        final int need = toEnd < record ? toEnd + record : record;
        if (t + need - memory.get(LONG, own + HEAD_CACHE) > capacity)
        {
            // full as far as this side knows: let the consumer see everything committed, then look again
            publish();
            final long h = lvHead();
            memory.set(LONG, own + HEAD_CACHE, h);
            if (t + need - h > capacity)
            {
                return FULL;
            }
        }
        if (toEnd < record)
        {
            memory.set(INT, index, PAD);
            memory.set(LONG, own + CLAIMED, t + toEnd);
            return HEADER;
        }
        memory.set(LONG, own + CLAIMED, t);
        return index + HEADER;
    }

    /**
     * Producer: completes the record claimed last; the consumer sees it after the next {@link #publish()}.
     *
     * @param offset what {@link #claim} returned.
     * @param length the payload's length, as claimed.
     */
    void commit(final long offset, final int length)
    {
        final MemorySegment memory = this.memory;
        memory.set(INT, offset - HEADER, length);
        final long t = memory.get(LONG, producerOffset + CLAIMED) + align(HEADER + length);
        memory.set(LONG, producerOffset + TAIL, t);
    }

    /**
     * Producer: makes every committed record visible to the consumer (one release store of the tail, none when
     * nothing was committed since the last call: the shared line is not written for nothing).
     *
     * @return whether records were published.
     */
    boolean publish()
    {
        final MemorySegment memory = this.memory;
        final long t = memory.get(LONG, producerOffset + TAIL);
        if (t == memory.get(LONG, producerOffset + PUBLISHED))
        {
            return false;
        }
        memory.set(LONG, producerOffset + PUBLISHED, t);
        soTail(t);
        return true;
    }

    /**
     * Consumer: hands up to {@code limit} records to the reader, oldest first, then frees their space.
     *
     * @param reader the reader.
     * @param limit  most records to read.
     * @return records read.
     */
    int read(final Reader reader, final int limit)
    {
        final MemorySegment memory = this.memory;
        final long tail = lvTail();
        final long head = memory.get(LONG, consumerOffset);
        final int mask = this.mask;
        final int capacity = this.capacity;
        long h = head;
        int n = 0;
        while (h < tail && n < limit)
        {
            final int index = (int)(h & mask);
            final int length = memory.get(INT, index);
            if (length == PAD)
            {
                h += capacity - index;
                continue;
            }
            reader.onRecord(memory, index + HEADER, length);
            h += align(HEADER + length);
            n++;
        }
        if (h != head)
        {
            memory.set(LONG, consumerOffset, h);
            soHead(h);
        }
        return n;
    }

    /**
     * Consumer: whether a record waits (an acquire load of the tail), for a worker deciding whether it may block.
     *
     * @return whether {@link #read} would find a record now.
     */
    boolean readable()
    {
        return lvTail() != memory.get(LONG, consumerOffset);
    }

    private long lvHead()
    {
        return (long)POSITION.getAcquire(memory, headOffset);
    }

    private void soHead(final long value)
    {
        POSITION.setRelease(memory, headOffset, value);
    }

    private long lvTail()
    {
        return (long)POSITION.getAcquire(memory, tailOffset);
    }

    private void soTail(final long value)
    {
        POSITION.setRelease(memory, tailOffset, value);
    }

    private static int align(final int bytes)
    {
        return (bytes + 3) & ~3;
    }
}
