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
 *   data (capacity bytes, a power of two)                  | tail | head |
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
 * <p>Each side's own cursors (the producer's tail, head cache, claim and last published tail; the consumer's head)
 * are plain fields, each side's on lines of its own: the class hierarchy below puts 128 bytes of padding before the
 * constants both threads read, between them and the producer's cursors, between those and the consumer's, and after
 * (JCTools' and Agrona's layout; {@code SpscByteRingTest} checks the offsets the JVM gives them). As unpadded fields
 * they shared a line with each other and with the constants (issue 17: two workers scaled 1.28x). Commit 747cca2 moved
 * them off-heap, beside the shared positions, which kept them apart but cost every record six bounds- and
 * session-checked accesses to the segment, and put the producer's line next to the consumer's head, where the
 * consumer's sequential reads could pull it over: {@code HandoffBenchmark.hop} ran at 33.6 ns per frame that way,
 * 28.4 with the padded fields (session 14).
 *
 * <p>Usage per record, producer: {@link #claim(int)}, write at {@link #memory()} from the returned offset,
 * {@link #commit(long, int)}; then, once per batch, {@link #publish()}. A claim that finds the ring full publishes
 * first, so that a producer waiting for room never waits on records the consumer cannot see. Consumer:
 * {@link #read(Reader, int)}.
 */
final class SpscByteRing extends SpscByteRingPad3
{
    /** Bytes in front of each record's payload. */
    static final int HEADER = 4;
    /** Returned by {@link #claim} when the record does not fit now. */
    static final int FULL = -1;

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
        super(arena, capacity);
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
        final int record = align(HEADER + length);
        final long t = tail;
        final int index = (int)(t & mask);
        final int toEnd = capacity - index;
        final int need = toEnd < record ? toEnd + record : record;
        if (t + need - headCache > capacity)
        {
            // full as far as this side knows: let the consumer see everything committed, then look again
            publish();
            final long h = lvHead();
            headCache = h;
            if (t + need - h > capacity)
            {
                return FULL;
            }
        }
        if (toEnd < record)
        {
            memory.set(INT, index, PAD);
            claimed = t + toEnd;
            return HEADER;
        }
        claimed = t;
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
        memory.set(INT, offset - HEADER, length);
        tail = claimed + align(HEADER + length);
    }

    /**
     * Producer: makes every committed record visible to the consumer (one release store of the tail, none when
     * nothing was committed since the last call: the shared line is not written for nothing).
     *
     * @return whether records were published.
     */
    boolean publish()
    {
        final long t = tail;
        if (t == published)
        {
            return false;
        }
        published = t;
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
        final long head = this.head;
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
            this.head = h;
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
        return lvTail() != head;
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

/**
 * 128 bytes and more in front of the ring's constants: whatever the heap puts before this object (another worker's
 * state, written per packet) does not share their lines. Padding by inheritance, as JCTools and Agrona do: a class's
 * fields come after its superclass's, in this order.
 */
abstract class SpscByteRingPad0
{
    int p00;
    long p01, p02, p03, p04, p05, p06, p07, p08, p09, p10, p11, p12, p13, p14, p15, p16;
}

/** What never changes, read by both threads on every record. */
abstract class SpscByteRingConstants extends SpscByteRingPad0
{
    static final int PAD = -1;
    /** Bytes between off-heap positions written by different threads: two cache lines (adjacent-line prefetch). */
    static final int LINE = 128;
    // plain accesses use unaligned layouts (the offsets are aligned; an aligned layout checks it on every access);
    // the positions shared between threads go through POSITION, whose atomic access modes need aligned memory
    static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED;
    static final VarHandle POSITION = ValueLayout.JAVA_LONG.varHandle();

    final MemorySegment memory;
    final int capacity;
    final int mask;
    final int maxPayload;
    final long tailOffset;
    final long headOffset;

    SpscByteRingConstants(final Arena arena, final int capacity)
    {
        if (capacity < 1024 || Integer.bitCount(capacity) != 1)
        {
            throw new IllegalArgumentException("ring capacity must be a power of two of at least 1024: " + capacity);
        }
        this.capacity = capacity;
        this.mask = capacity - 1;
        this.memory = arena.allocate(capacity + 2L * LINE, LINE);
        this.tailOffset = capacity;
        this.headOffset = capacity + LINE;
        // a record of at most half the ring always fits once the ring is empty, even after a pad record
        this.maxPayload = capacity / 2 - SpscByteRing.HEADER;
        POSITION.setRelease(memory, tailOffset, 0L);
        POSITION.setRelease(memory, headOffset, 0L);
    }
}

/** Between the constants and the producer's cursors. */
abstract class SpscByteRingPad1 extends SpscByteRingConstants
{
    long p01, p02, p03, p04, p05, p06, p07, p08, p09, p10, p11, p12, p13, p14, p15, p16;

    SpscByteRingPad1(final Arena arena, final int capacity)
    {
        super(arena, capacity);
    }
}

/** The producer's own cursors, written by the producer only (per record). */
abstract class SpscByteRingProducer extends SpscByteRingPad1
{
    /** End of the last committed record. */
    long tail;
    /** The head as the producer last read it: it re-reads the shared head only when this says the ring is full. */
    long headCache;
    /** Start of the record claimed last. */
    long claimed;
    /** The tail last made visible to the consumer. */
    long published;

    SpscByteRingProducer(final Arena arena, final int capacity)
    {
        super(arena, capacity);
    }
}

/** Between the producer's cursors and the consumer's. */
abstract class SpscByteRingPad2 extends SpscByteRingProducer
{
    long p01, p02, p03, p04, p05, p06, p07, p08, p09, p10, p11, p12, p13, p14, p15, p16;

    SpscByteRingPad2(final Arena arena, final int capacity)
    {
        super(arena, capacity);
    }
}

/** The consumer's own cursor, written by the consumer only (per drain). */
abstract class SpscByteRingConsumer extends SpscByteRingPad2
{
    /** Start of the first record not read yet. */
    long head;

    SpscByteRingConsumer(final Arena arena, final int capacity)
    {
        super(arena, capacity);
    }
}

/** After the consumer's cursor: whatever the heap puts after this object does not share its line. */
abstract class SpscByteRingPad3 extends SpscByteRingConsumer
{
    long p01, p02, p03, p04, p05, p06, p07, p08, p09, p10, p11, p12, p13, p14, p15, p16;

    SpscByteRingPad3(final Arena arena, final int capacity)
    {
        super(arena, capacity);
    }
}
