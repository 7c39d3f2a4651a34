package dev.ferry.core;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * A fixed pool of off-heap packet buffers, referred to by {@code int} handles (VPP buffer indices).
 *
 * <pre>
 *  buffer h:  |&lt;-- headroom (&gt;= 64) --&gt;|&lt;------------- frame -------------&gt;|  free tail  |
 *             ^ h * bufferSize          ^ start(h)                 start(h) + length(h)
 * </pre>
 *
 * <p>Every buffer keeps {@link #DEFAULT_HEADROOM} bytes in front of a received frame so that VXLAN
 * encapsulation (50 bytes) can prepend in place. Per-packet metadata lives in primitive arrays indexed
 * by handle, so nothing is allocated per packet.
 *
 * <p>The pool is owned by one thread (the worker that runs the graph). Leak accounting is exact:
 * {@link #available()} equals {@link #capacity()} when every buffer has been returned.
 */
public final class PacketPool implements AutoCloseable
{
    /** Headroom kept in front of every frame: room for VXLAN (50) with alignment to spare. */
    public static final int DEFAULT_HEADROOM = 128;
    /** Default size of one buffer, headroom included. */
    public static final int DEFAULT_BUFFER_SIZE = 2048 + DEFAULT_HEADROOM;
    /** Returned by {@link #allocate()} when the pool is empty. */
    public static final int NO_BUFFER = -1;

    /** Metadata flag: record a trace for this packet. */
    public static final int FLAG_TRACED = 1;
    /** Metadata flag: this node originated the packet (ICMP error, echo reply): no TTL decrement. */
    public static final int FLAG_LOCAL_ORIGIN = 2;
    /** Metadata bits 2-3: how many times the packet was decapsulated (vxlan-decap bounds the nesting). */
    public static final int FLAG_DECAP_DEPTH_MASK = 0xc;
    /** Shift of the decapsulation depth in the flags. */
    public static final int FLAG_DECAP_DEPTH_SHIFT = 2;
    /** Metadata flag: an IPv4 fragment whose datagram's L4 ports the NAT's virtual reassembly put in
     *  {@link #aux(int)} (source port in the high 16 bits); cleared by the NAT stage that reads them. */
    public static final int FLAG_FRAG_PORTS = 0x10;

    private final Arena arena;
    private final MemorySegment memory;
    private final int capacity;
    private final int bufferSize;
    private final int headroom;
    private final int[] freeStack;
    private int freeCount;
    private long allocationFailures;

    private final int[] start;
    private final int[] length;
    private final int[] rxPort;
    private final int[] txPort;
    private final int[] flags;
    private final int[] l3Offset;
    private final int[] aux;
    private final int[] traceId;
    private final long[] timestamp;
    private final boolean[] allocated;
    private final long[] allocationNumber;
    private long allocations;

    /**
     * Creates a pool.
     *
     * @param capacity   number of buffers.
     * @param bufferSize bytes per buffer, headroom included.
     * @param headroom   bytes kept in front of each frame, at least 64.
     */
    public PacketPool(final int capacity, final int bufferSize, final int headroom)
    {
        if (capacity <= 0)
        {
            throw new IllegalArgumentException("capacity must be positive: " + capacity);
        }
        if (headroom < 64 || headroom >= bufferSize - 64)
        {
            throw new IllegalArgumentException("headroom must be >= 64 and leave room for a frame: " + headroom);
        }
        this.capacity = capacity;
        this.bufferSize = bufferSize;
        this.headroom = headroom;
        this.arena = Arena.ofShared();
        this.memory = arena.allocate((long)capacity * bufferSize, 64);
        this.freeStack = new int[capacity];
        this.start = new int[capacity];
        this.length = new int[capacity];
        this.rxPort = new int[capacity];
        this.txPort = new int[capacity];
        this.flags = new int[capacity];
        this.l3Offset = new int[capacity];
        this.aux = new int[capacity];
        this.traceId = new int[capacity];
        this.timestamp = new long[capacity];
        this.allocated = new boolean[capacity];
        this.allocationNumber = new long[capacity];
        // hand out low handles first: it keeps a small working set warm in cache
        for (int i = 0; i < capacity; i++)
        {
            freeStack[i] = capacity - 1 - i;
        }
        freeCount = capacity;
    }

    /**
     * Creates a pool with default buffer size and headroom.
     *
     * @param capacity number of buffers.
     */
    public PacketPool(final int capacity)
    {
        this(capacity, DEFAULT_BUFFER_SIZE, DEFAULT_HEADROOM);
    }

    /**
     * Takes a buffer from the pool, reset to an empty frame at the headroom mark.
     *
     * @return a handle, or {@link #NO_BUFFER} when the pool is empty (counted).
     */
    public int allocate()
    {
        if (freeCount == 0)
        {
            allocationFailures++;
            return NO_BUFFER;
        }
        final int h = freeStack[--freeCount];
        allocated[h] = true;
        allocationNumber[h] = allocations++;
        start[h] = headroom;
        length[h] = 0;
        rxPort[h] = -1;
        txPort[h] = -1;
        flags[h] = 0;
        l3Offset[h] = 0;
        aux[h] = 0;
        traceId[h] = -1;
        timestamp[h] = 0;
        return h;
    }

    /**
     * Returns a buffer to the pool. Freeing a buffer twice is a programming error and throws.
     *
     * @param h the handle.
     */
    public void free(final int h)
    {
        if (!allocated[h])
        {
            throw new IllegalStateException("double free of packet buffer " + h);
        }
        allocated[h] = false;
        freeStack[freeCount++] = h;
    }

    /**
     * @param h handle.
     * @return whether the buffer is handed out (not in the free list).
     */
    public boolean isAllocated(final int h)
    {
        return allocated[h];
    }

    /** @return how many buffers were ever allocated (the next allocation's number). */
    public long allocations()
    {
        return allocations;
    }

    /**
     * @param h handle of an allocated buffer.
     * @return its allocation's number: {@link #allocations()} as it was just before it was allocated.
     */
    public long allocationNumber(final int h)
    {
        return allocationNumber[h];
    }

    /** @return buffers currently free. */
    public int available()
    {
        return freeCount;
    }

    /** @return buffers in the pool. */
    public int capacity()
    {
        return capacity;
    }

    /** @return buffers currently handed out. */
    public int inUse()
    {
        return capacity - freeCount;
    }

    /** @return how many times {@link #allocate()} found the pool empty. */
    public long allocationFailures()
    {
        return allocationFailures;
    }

    /** @return the whole pool's memory; flyweights wrap slices of it by absolute offset. */
    public MemorySegment memory()
    {
        return memory;
    }

    /** @return bytes per buffer, headroom included. */
    public int bufferSize()
    {
        return bufferSize;
    }

    /** @return headroom given to a freshly allocated buffer. */
    public int headroom()
    {
        return headroom;
    }

    /**
     * @param h handle.
     * @return absolute offset in {@link #memory()} of the first byte of the frame.
     */
    public long frameOffset(final int h)
    {
        return (long)h * bufferSize + start[h];
    }

    /**
     * @param h handle.
     * @return frame length in bytes.
     */
    public int length(final int h)
    {
        return length[h];
    }

    /**
     * Sets the frame length.
     *
     * @param h   handle.
     * @param len new length; must fit in the buffer after the frame start.
     */
    public void length(final int h, final int len)
    {
        if (len < 0 || start[h] + len > bufferSize)
        {
            throw new IllegalArgumentException("frame length " + len + " does not fit buffer " + h);
        }
        length[h] = len;
    }

    /**
     * @param h handle.
     * @return bytes free in front of the frame.
     */
    public int headroomOf(final int h)
    {
        return start[h];
    }

    /**
     * Grows the frame at its front by {@code bytes} (encapsulation). The caller checks
     * {@link #headroomOf(int)} first.
     *
     * @param h     handle.
     * @param bytes bytes to prepend.
     */
    public void prepend(final int h, final int bytes)
    {
        start[h] -= bytes;
        length[h] += bytes;
    }

    /**
     * Shrinks the frame at its front by {@code bytes} (decapsulation).
     *
     * @param h     handle.
     * @param bytes bytes to remove.
     */
    public void advance(final int h, final int bytes)
    {
        start[h] += bytes;
        length[h] -= bytes;
    }

    /**
     * Copies a frame into a buffer at the headroom mark.
     *
     * @param h      handle.
     * @param src    source bytes.
     * @param offset first byte in {@code src}.
     * @param len    bytes to copy.
     */
    public void write(final int h, final byte[] src, final int offset, final int len)
    {
        start[h] = headroom;
        length(h, len);
        MemorySegment.copy(src, offset, memory, java.lang.foreign.ValueLayout.JAVA_BYTE, frameOffset(h), len);
    }

    /**
     * Copies the frame out into a new array (tools and tests; not the hot path).
     *
     * @param h handle.
     * @return the frame bytes.
     */
    public byte[] toArray(final int h)
    {
        final byte[] out = new byte[length[h]];
        MemorySegment.copy(memory, java.lang.foreign.ValueLayout.JAVA_BYTE, frameOffset(h), out, 0, out.length);
        return out;
    }

    /**
     * Copies the frame out into {@code dst} (which must be large enough).
     *
     * @param h   handle.
     * @param dst destination array.
     * @return bytes copied.
     */
    public int copyOut(final int h, final byte[] dst)
    {
        final int len = length[h];
        MemorySegment.copy(memory, java.lang.foreign.ValueLayout.JAVA_BYTE, frameOffset(h), dst, 0, len);
        return len;
    }

    /**
     * @param h handle.
     * @return port the frame arrived on, or -1.
     */
    public int rxPort(final int h)
    {
        return rxPort[h];
    }

    /**
     * @param h handle.
     * @param port port the frame arrived on.
     */
    public void rxPort(final int h, final int port)
    {
        rxPort[h] = port;
    }

    /**
     * @param h handle.
     * @return port chosen for transmit, or -1.
     */
    public int txPort(final int h)
    {
        return txPort[h];
    }

    /**
     * @param h handle.
     * @param port port chosen for transmit.
     */
    public void txPort(final int h, final int port)
    {
        txPort[h] = port;
    }

    /**
     * @param h handle.
     * @return offset of the IPv4 header from the frame start (set by ethernet-input).
     */
    public int l3Offset(final int h)
    {
        return l3Offset[h];
    }

    /**
     * @param h handle.
     * @param offset offset of the IPv4 header from the frame start.
     */
    public void l3Offset(final int h, final int offset)
    {
        l3Offset[h] = offset;
    }

    /**
     * @param h handle.
     * @return a scratch word that one stage hands to the next (an adjacency index, say).
     */
    public int aux(final int h)
    {
        return aux[h];
    }

    /**
     * @param h handle.
     * @param value scratch word for the next stage.
     */
    public void aux(final int h, final int value)
    {
        aux[h] = value;
    }

    /**
     * @param h handle.
     * @return metadata flags.
     */
    public int flags(final int h)
    {
        return flags[h];
    }

    /**
     * @param h handle.
     * @param value metadata flags.
     */
    public void flags(final int h, final int value)
    {
        flags[h] = value;
    }

    /**
     * @param h handle.
     * @return whether the packet is traced.
     */
    public boolean traced(final int h)
    {
        return (flags[h] & FLAG_TRACED) != 0;
    }

    /**
     * @param h handle.
     * @return the trace id of a traced packet, or -1.
     */
    public int traceId(final int h)
    {
        return traceId[h];
    }

    /**
     * Marks a packet as traced.
     *
     * @param h  handle.
     * @param id trace id.
     */
    public void trace(final int h, final int id)
    {
        flags[h] |= FLAG_TRACED;
        traceId[h] = id;
    }

    /**
     * @param h handle.
     * @return receive timestamp in nanoseconds since the epoch.
     */
    public long timestamp(final int h)
    {
        return timestamp[h];
    }

    /**
     * @param h handle.
     * @param nanos receive timestamp in nanoseconds since the epoch.
     */
    public void timestamp(final int h, final long nanos)
    {
        timestamp[h] = nanos;
    }

    /**
     * Copies metadata (ports, timestamp, trace) from one packet to another, e.g. to a generated reply.
     *
     * @param from source handle.
     * @param to   destination handle.
     */
    public void copyMetadata(final int from, final int to)
    {
        rxPort[to] = rxPort[from];
        txPort[to] = txPort[from];
        flags[to] = flags[from];
        traceId[to] = traceId[from];
        timestamp[to] = timestamp[from];
    }

    @Override
    public void close()
    {
        arena.close();
    }
}
