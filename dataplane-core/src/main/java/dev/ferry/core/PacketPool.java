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
 * <p>A pool may also hold a second, smaller set of large buffers ({@link #LARGE_BUFFER_SIZE}: a 64 KB frame plus
 * headroom) for offload superframes (a TAP with TSO hands over up to 64 KB in one read). They share the one
 * handle space, after the small ones: {@link #allocate()} takes a small buffer, {@link #allocateLarge()} a large
 * one; everything else (metadata, {@link #frameOffset}, {@link #free}) works on either.
 *
 * <p>Offload metadata ({@link #gsoSize}, {@link #gsoType}, {@link #checksumPartial}) says that a frame is a
 * superframe of TCP segments and that its L4 checksum field holds only the pseudo-header sum (the virtio-net
 * header's {@code NEEDS_CSUM}, the kernel's CHECKSUM_PARTIAL); every allocation clears it.
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
    /** Size of a large buffer: a 64 KB frame (IPv4's largest datagram, Ethernet and a VLAN tag) and headroom. */
    public static final int LARGE_BUFFER_SIZE = 65536 + 192;
    /** virtio-net {@code gso_type} of a TCP over IPv4 superframe. */
    public static final int GSO_TCPV4 = 1;
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
    /** Metadata flag: a checksum that the kernel verified, or that never left this host (an outer UDP checksum over
     *  a VXLAN datagram, received whole from a local kernel's CHECKSUM_PARTIAL or marked valid by the NIC or GRO),
     *  covers every byte of the inner frame: a stage that would verify the inner TCP checksum only to guard against
     *  corruption (the TAP coalescer) may skip it. Set only by ports, from what the kernel says; a pod or peer cannot
     *  set it, and checksums are no authentication: a sender that can craft a frame can craft its checksum. */
    public static final int FLAG_L4_CHECKSUM_TRUSTED = 0x20;

    private final Arena arena;
    private final MemorySegment memory;
    private final int capacity;
    private final int smallCount;
    private final int bufferSize;
    private final int largeBufferSize;
    private final long largeBase;
    private final int headroom;
    private final int[] freeStack;
    private int freeCount;
    private final int[] largeFreeStack;
    private int largeFreeCount;
    private long allocationFailures;
    private long largeAllocationFailures;

    private final int[] start;
    private final int[] length;
    private final int[] rxPort;
    private final int[] txPort;
    private final int[] flags;
    private final int[] l3Offset;
    private final int[] aux;
    private final int[] traceId;
    private final int[] gso;
    private final int[] partial;
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
        this(capacity, bufferSize, headroom, 0);
    }

    /**
     * Creates a pool with large buffers too.
     *
     * @param capacity   number of small buffers.
     * @param bufferSize bytes per small buffer, headroom included.
     * @param headroom   bytes kept in front of each frame, at least 64.
     * @param large      number of large buffers ({@link #LARGE_BUFFER_SIZE} each), 0 for none.
     */
    public PacketPool(final int capacity, final int bufferSize, final int headroom, final int large)
    {
        if (large < 0)
        {
            throw new IllegalArgumentException("large buffers must not be negative: " + large);
        }
        if (capacity <= 0)
        {
            throw new IllegalArgumentException("capacity must be positive: " + capacity);
        }
        if (headroom < 64 || headroom >= bufferSize - 64)
        {
            throw new IllegalArgumentException("headroom must be >= 64 and leave room for a frame: " + headroom);
        }
        this.smallCount = capacity;
        this.capacity = capacity + large;
        this.bufferSize = bufferSize;
        this.largeBufferSize = Math.max(LARGE_BUFFER_SIZE, bufferSize);
        this.largeBase = (long)capacity * bufferSize;
        this.headroom = headroom;
        this.arena = Arena.ofShared();
        this.memory = arena.allocate(largeBase + (long)large * largeBufferSize, 64);
        this.freeStack = new int[capacity];
        this.largeFreeStack = new int[large];
        this.start = new int[this.capacity];
        this.length = new int[this.capacity];
        this.rxPort = new int[this.capacity];
        this.txPort = new int[this.capacity];
        this.flags = new int[this.capacity];
        this.l3Offset = new int[this.capacity];
        this.aux = new int[this.capacity];
        this.traceId = new int[this.capacity];
        this.gso = new int[this.capacity];
        this.partial = new int[this.capacity];
        this.timestamp = new long[this.capacity];
        this.allocated = new boolean[this.capacity];
        this.allocationNumber = new long[this.capacity];
        // hand out low handles first: it keeps a small working set warm in cache
        for (int i = 0; i < capacity; i++)
        {
            freeStack[i] = capacity - 1 - i;
        }
        freeCount = capacity;
        for (int i = 0; i < large; i++)
        {
            largeFreeStack[i] = this.capacity - 1 - i;
        }
        largeFreeCount = large;
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
        return reset(freeStack[--freeCount]);
    }

    /**
     * Takes a large buffer ({@link #LARGE_BUFFER_SIZE}: a 64 KB superframe), reset to an empty frame at the
     * headroom mark.
     *
     * @return a handle, or {@link #NO_BUFFER} when no large buffer is free (counted apart from the small ones).
     */
    public int allocateLarge()
    {
        if (largeFreeCount == 0)
        {
            largeAllocationFailures++;
            return NO_BUFFER;
        }
        return reset(largeFreeStack[--largeFreeCount]);
    }

    /**
     * Takes a buffer for a frame that arrives with its metadata (a worker's handoff): every field is written once,
     * where {@link #allocate} and six setters would write six of them twice. A frame that does not fit a small
     * buffer, or finds none free, takes a large one if the pool has them; failures count as in {@link #allocate}
     * and {@link #allocateLarge}. The frame's bytes are the caller's to copy in, at {@link #frameOffset}.
     *
     * @param length    frame length.
     * @param timestamp receive timestamp.
     * @param aux       scratch word.
     * @param flags     metadata flags (not {@link #FLAG_TRACED}: a traced packet needs its id, {@link #trace}).
     * @param l3Offset  offset of the IPv4 header.
     * @param rxPort    port the frame arrived on, or -1.
     * @return a handle, or {@link #NO_BUFFER}.
     */
    public int allocateFrame(final int length, final long timestamp, final int aux, final int flags,
        final int l3Offset, final int rxPort)
    {
        int h = NO_BUFFER;
        if (length <= bufferSize - headroom)
        {
            if (freeCount > 0)
            {
                h = freeStack[--freeCount];
            }
            else
            {
                allocationFailures++;
            }
        }
        if (h == NO_BUFFER && largeFreeStack.length > 0)
        {
            if (largeFreeCount > 0 && length <= largeBufferSize - headroom)
            {
                h = largeFreeStack[--largeFreeCount];
            }
            else
            {
                largeAllocationFailures++;
            }
        }
        if (h == NO_BUFFER)
        {
            return NO_BUFFER;
        }
        return handOut(h, length, timestamp, aux, flags, l3Offset, rxPort);
    }

    private int reset(final int h)
    {
        return handOut(h, 0, 0, 0, 0, 0, -1);
    }

    /** Marks a buffer handed out and writes every metadata field once: the given ones, the rest their defaults. */
    private int handOut(final int h, final int length, final long timestamp, final int aux, final int flags,
        final int l3Offset, final int rxPort)
    {
        allocated[h] = true;
        allocationNumber[h] = allocations++;
        start[h] = headroom;
        this.length[h] = length;
        this.rxPort[h] = rxPort;
        txPort[h] = -1;
        this.flags[h] = flags;
        this.l3Offset[h] = l3Offset;
        this.aux[h] = aux;
        traceId[h] = -1;
        gso[h] = 0;
        partial[h] = 0;
        this.timestamp[h] = timestamp;
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
        if (h < smallCount)
        {
            freeStack[freeCount++] = h;
        }
        else
        {
            largeFreeStack[largeFreeCount++] = h;
        }
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

    /** @return buffers currently free, small and large. */
    public int available()
    {
        return freeCount + largeFreeCount;
    }

    /** @return small buffers currently free. */
    public int availableSmall()
    {
        return freeCount;
    }

    /** @return large buffers currently free. */
    public int availableLarge()
    {
        return largeFreeCount;
    }

    /** @return large buffers in the pool (0 without). */
    public int largeCapacity()
    {
        return capacity - smallCount;
    }

    /** @return how many times {@link #allocateLarge()} found no large buffer free. */
    public long largeAllocationFailures()
    {
        return largeAllocationFailures;
    }

    /**
     * @param h handle.
     * @return whether it is a large buffer.
     */
    public boolean isLarge(final int h)
    {
        return h >= smallCount;
    }

    /**
     * @param h handle.
     * @return bytes of that buffer, headroom included.
     */
    public int bufferSizeOf(final int h)
    {
        return h < smallCount ? bufferSize : largeBufferSize;
    }

    /** @return buffers in the pool. */
    public int capacity()
    {
        return capacity;
    }

    /** @return buffers currently handed out. */
    public int inUse()
    {
        return capacity - freeCount - largeFreeCount;
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

    /** @return bytes per small buffer, headroom included. */
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
        return bufferOffset(h) + start[h];
    }

    private long bufferOffset(final int h)
    {
        return h < smallCount ? (long)h * bufferSize : largeBase + (long)(h - smallCount) * largeBufferSize;
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
        if (len < 0 || start[h] + len > bufferSizeOf(h))
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
     * {@link #headroomOf(int)} first. A partial checksum's start moves with the frame start (same byte).
     *
     * @param h     handle.
     * @param bytes bytes to prepend.
     */
    public void prepend(final int h, final int bytes)
    {
        start[h] -= bytes;
        length[h] += bytes;
        moveChecksumStart(h, bytes);
    }

    /**
     * Shrinks the frame at its front by {@code bytes} (decapsulation). A partial checksum's start moves with the
     * frame start (same byte), as the kernel's {@code csum_start} after a pull.
     *
     * @param h     handle.
     * @param bytes bytes to remove.
     */
    public void advance(final int h, final int bytes)
    {
        start[h] += bytes;
        length[h] -= bytes;
        moveChecksumStart(h, -bytes);
    }

    /** A partial checksum's start counts from the frame start: it stays on the same byte when the start moves. */
    private void moveChecksumStart(final int h, final int delta)
    {
        if (partial[h] != 0)
        {
            partial[h] += delta << 16;
        }
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
     * @param h handle.
     * @return the superframe's segment size (virtio {@code gso_size}: payload bytes per segment), 0 for a plain
     *         packet.
     */
    public int gsoSize(final int h)
    {
        return gso[h] & 0xffff;
    }

    /**
     * @param h handle.
     * @return the superframe's virtio {@code gso_type} ({@link #GSO_TCPV4}), 0 for a plain packet.
     */
    public int gsoType(final int h)
    {
        return gso[h] >>> 16;
    }

    /**
     * Marks (or, with size 0, unmarks) the packet as a superframe of segments.
     *
     * @param h    handle.
     * @param type virtio {@code gso_type}.
     * @param size payload bytes per segment, 1 to 65535; 0 for a plain packet.
     */
    public void gso(final int h, final int type, final int size)
    {
        gso[h] = size == 0 ? 0 : (type & 0xffff) << 16 | size & 0xffff;
    }

    /**
     * @param h handle.
     * @return whether the L4 checksum field holds only the pseudo-header sum (virtio {@code NEEDS_CSUM}): the
     *         checksum over [{@link #checksumStart}, end) is still to be computed, by the kernel or a segmenter.
     */
    public boolean checksumPartial(final int h)
    {
        return partial[h] != 0;
    }

    /**
     * @param h handle.
     * @return where the partial checksum's range starts, from the frame start.
     */
    public int checksumStart(final int h)
    {
        return (partial[h] >>> 16) - 1;
    }

    /**
     * @param h handle.
     * @return where the checksum field is, from {@link #checksumStart}.
     */
    public int checksumOffset(final int h)
    {
        return partial[h] & 0xffff;
    }

    /**
     * Marks the L4 checksum as partial (pseudo-header sum only).
     *
     * @param h      handle.
     * @param start  first byte summed, from the frame start.
     * @param offset the checksum field's offset from {@code start}.
     */
    public void checksumPartial(final int h, final int start, final int offset)
    {
        partial[h] = (start + 1) << 16 | offset & 0xffff;
    }

    /**
     * Clears the offload metadata: a plain packet with complete checksums.
     *
     * @param h handle.
     */
    public void clearOffload(final int h)
    {
        gso[h] = 0;
        partial[h] = 0;
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
