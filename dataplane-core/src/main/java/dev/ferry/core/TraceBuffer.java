package dev.ferry.core;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Fixed-size trace records for sampled packets, in the spirit of VPP's {@code show trace}.
 *
 * <p>The hot path writes primitive records (which stage, which decision, two detail words) only for packets
 * whose trace flag is set; formatting into text happens later, off the hot path, through each stage's
 * {@link Stage#formatTrace(long, long)}. When the buffer is full, further records are counted as lost.
 *
 * <p>A node of several workers gives every worker's buffer the same id source, so that a packet's trace id is
 * the node's, not one worker's: a traced packet handed to another worker keeps its id (the handoff ring carries
 * it), and the owner goes on recording under it ({@link #KIND_HANDOFF}). The id source is touched only when a
 * sample is taken, never per packet.
 */
public final class TraceBuffer
{
    /** Record kind: the packet entered the graph. {@code a} = port, {@code b} = length. */
    public static final int KIND_INPUT = 0;
    /** Record kind: the stage sent the packet along next edge {@code code}. */
    public static final int KIND_NEXT = 1;
    /** Record kind: the stage dropped the packet with reason index {@code code}. */
    public static final int KIND_DROP = 2;
    /** Record kind: stage-specific detail words. */
    public static final int KIND_DETAIL = 3;
    /** Record kind: the packet was transmitted on port {@code code}. */
    public static final int KIND_TRANSMIT = 4;
    /** Record kind: the stage created this packet ({@code a} = the trace id of the packet it answers). */
    public static final int KIND_INJECT = 5;
    /**
     * Record kind: the packet, traced by another worker, was handed over to this one and entered its graph.
     * {@code code} = entry stage, {@code a} = port it came in on, {@code b} = the worker it came from (high 32
     * bits) and length (low 32 bits), as {@link #handoffWord}.
     */
    public static final int KIND_HANDOFF = 6;

    private final int capacity;
    private final int[] traceId;
    private final int[] stage;
    private final int[] kind;
    private final int[] code;
    private final long[] a;
    private final long[] b;
    private final long[] time;
    private final AtomicInteger ids;
    private int size;
    private long lost;
    private int remainingSamples;
    private Filter sampleFilter;

    /**
     * @param capacity maximum records kept.
     */
    public TraceBuffer(final int capacity)
    {
        this(capacity, new AtomicInteger());
    }

    /**
     * @param capacity maximum records kept.
     * @param ids      where trace ids come from: shared by every worker of a node, so that ids are the node's.
     */
    public TraceBuffer(final int capacity, final AtomicInteger ids)
    {
        this.capacity = capacity;
        this.ids = ids;
        traceId = new int[capacity];
        stage = new int[capacity];
        kind = new int[capacity];
        code = new int[capacity];
        a = new long[capacity];
        b = new long[capacity];
        time = new long[capacity];
    }

    /**
     * Asks for the next {@code packets} packets entering the graph to be traced (VPP {@code trace add}).
     *
     * @param packets how many.
     */
    public void sample(final int packets)
    {
        sample(packets, null);
    }

    /**
     * Asks for the next {@code packets} packets entering the graph that the filter matches to be traced
     * ({@code ferry trace add N --filter EXPR}).
     *
     * @param packets how many.
     * @param filter  which packets count, or null for every one.
     */
    public void sample(final int packets, final Filter filter)
    {
        remainingSamples = packets;
        sampleFilter = filter;
    }

    /** Which entering packets a sample takes (a compiled tcpdump expression, say). Tracing only: not per packet. */
    @FunctionalInterface
    public interface Filter
    {
        /**
         * @param pool   the pool.
         * @param handle a packet entering the graph.
         * @return whether it is to be traced.
         */
        boolean matches(PacketPool pool, int handle);
    }

    /**
     * Called for every packet entering the graph: decides whether it is sampled, asking the sample's filter only
     * while samples remain.
     *
     * @param pool   the pool.
     * @param handle the entering packet.
     * @return a new trace id, or -1 when the packet is not traced.
     */
    public int takeSample(final PacketPool pool, final int handle)
    {
        if (remainingSamples <= 0)
        {
            return -1;
        }
        final Filter f = sampleFilter;
        if (f != null && !f.matches(pool, handle))
        {
            return -1;
        }
        remainingSamples--;
        return ids.getAndIncrement();
    }

    /**
     * @return a fresh trace id for a packet that a traced packet caused (an ICMP error, say).
     */
    public int newTraceId()
    {
        return ids.getAndIncrement();
    }

    /**
     * The {@code b} word of a {@link #KIND_HANDOFF} record.
     *
     * @param fromWorker the worker that handed the packet over.
     * @param length     the frame's length.
     * @return both in one word.
     */
    public static long handoffWord(final int fromWorker, final int length)
    {
        return (long)fromWorker << 32 | (length & 0xffffffffL);
    }

    /**
     * Appends a record.
     *
     * @param id         trace id of the packet.
     * @param stageIndex index of the stage in its graph, or -1 for the graph itself.
     * @param recordKind one of the {@code KIND_} constants.
     * @param recordCode next index, reason index or port, by kind.
     * @param wordA      detail word.
     * @param wordB      detail word.
     * @param nanos      time of the record.
     */
    public void record(
        final int id, final int stageIndex, final int recordKind, final int recordCode,
        final long wordA, final long wordB, final long nanos)
    {
        if (size == capacity)
        {
            lost++;
            return;
        }
        final int i = size++;
        traceId[i] = id;
        stage[i] = stageIndex;
        kind[i] = recordKind;
        code[i] = recordCode;
        a[i] = wordA;
        b[i] = wordB;
        time[i] = nanos;
    }

    /** @return records kept. */
    public int size()
    {
        return size;
    }

    /** @return records that did not fit. */
    public long lost()
    {
        return lost;
    }

    /** Forgets every record. */
    public void clear()
    {
        size = 0;
        lost = 0;
    }

    /**
     * One trace record as a value (for formatting and tests).
     *
     * @param traceId trace id of the packet.
     * @param stage   stage index, or -1.
     * @param kind    record kind.
     * @param code    next index, reason index or port, by kind.
     * @param a       detail word.
     * @param b       detail word.
     * @param nanos   time of the record.
     */
    public record Entry(int traceId, int stage, int kind, int code, long a, long b, long nanos)
    {
    }

    /** @return every record, in order. */
    public List<Entry> entries()
    {
        final List<Entry> out = new ArrayList<>(size);
        for (int i = 0; i < size; i++)
        {
            out.add(new Entry(traceId[i], stage[i], kind[i], code[i], a[i], b[i], time[i]));
        }
        return out;
    }
}
