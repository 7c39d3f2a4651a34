package dev.ferry.core.workers;

import dev.ferry.core.Counters;
import dev.ferry.core.DropReason;
import dev.ferry.core.DropScope;
import dev.ferry.core.PacketPool;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.function.IntConsumer;

/**
 * Worker handoff: one single-producer single-consumer ring per ordered pair of workers, carrying a packet to the
 * worker that owns its flow ({@link FlowOwner}), as VPP's worker handoff does for NAT44-ED.
 *
 * <pre>
 *   worker 0 ──ring 0→1──► worker 1        every ring is an {@link SpscByteRing} in off-heap memory;
 *      ▲                      │            a record is the packet's metadata (16 bytes, 48 when
 *      └──────ring 1→0────────┘            traced or offloaded) and its frame bytes
 * </pre>
 *
 * <p>Why bytes and not handles: each worker has its own {@link PacketPool}, which is not thread-safe. A ring of
 * handles would need a return ring and cross-thread reads of another worker's pool; a copy into the ring and
 * one out of it keeps every pool single-threaded and the ring self-contained. Two copies of a 64-byte frame
 * cost less than the cache misses of reading another core's buffer; a superframe larger than the ring's record
 * limit ({@link Endpoint#maxFrame()}, half the ring less 48 bytes) is dropped as {@link Drop#HANDOFF_TOO_BIG},
 * so size rings for the node's largest frame: 256 KiB rings carry 64 KiB superframes.
 *
 * <p>Frames written by {@link Endpoint#send}, {@link Endpoint#offer} and {@link Endpoint#sendOrHold} reach the
 * owner once the sender calls {@link Endpoint#publish()}: once per vector (a node's ownership stage does at the
 * end of each call, before it wakes the owners), so that each ring's lines cross between the cores once per batch
 * instead of being chased record by record. {@link Endpoint#flushHeld} publishes what it wrote, and a ring found
 * full publishes before it says so.
 *
 * <p>Sending never blocks. {@link Endpoint#send} drops on a full ring, counted as {@link Drop#HANDOFF_FULL} on the
 * sending worker; {@link Endpoint#sendOrHold} (a node's ownership stage) keeps the packet in a bounded hold queue
 * instead, written on by {@link Endpoint#flushHeld} once the owner has drained, while the sender stops reading its
 * ports: a ring is a few hundred frames, and an owner descheduled for a millisecond at a few Gb/s would otherwise
 * lose frames by the hundred (issue 17: 1 % of a 4-stream TCP transfer). A frame that finds its hold queue full
 * is dropped, counted.
 *
 * <p>The receiving worker drains its inbound rings once per duty cycle, up to a limit shared round-robin between
 * them, and injects each frame at the stage after the ownership decision. Order is kept per ring (held frames go
 * before later ones), so a flow (which always travels the same ring) is never reordered.
 *
 * <p>A traced packet crosses with its trace mark and id (a node's workers draw trace ids from one source), and
 * the owner is told which worker it came from ({@link Inject}), so that its trace goes on there as a further part
 * of the same packet.
 *
 * <p>Counters are the worker's own ({@code handoff/sent}, {@code handoff/received} and the drops, in each
 * worker's {@link Counters}); {@link #sum} adds them up across workers when read.
 */
public final class Handoff implements AutoCloseable
{
    /** Prefix of the handoff drop counters. */
    public static final String DROP_PREFIX = "worker/drop/";
    /** Frames written into rings by this worker. */
    public static final String COUNTER_SENT = "handoff/sent";
    /** Frames read from rings and injected by this worker. */
    public static final String COUNTER_RECEIVED = "handoff/received";
    /** Frames that found their ring full and waited in the sender's hold queue ({@link Endpoint#sendOrHold}). */
    public static final String COUNTER_HELD = "handoff/held";
    /** Frames one hold queue (one destination) keeps at most; more are dropped as {@link Drop#HANDOFF_FULL}. */
    public static final int HOLD_CAPACITY = 1024;

    /**
     * Bytes of metadata in front of each frame in a ring record, in the common case: the timestamp, then aux, flags,
     * L3 offset and RX port packed in one word. A 64-byte frame's record is 84 bytes with the ring's 4-byte header,
     * where a 24-byte header (each field a word of its own) made it 96 and a fixed 40-byte one 112: the ring's lines
     * cross between cores, so its bytes are the cost.
     */
    static final int META = 16;
    /**
     * Bytes of the extension that follows {@link #META} when a field does not fit its packed place, or for a
     * traced, superframe or partial-checksum packet: every field in full (flags, RX port, L3 offset, trace id, GSO,
     * checksum start and offset). Bit 63 of the packed word says it is there.
     */
    static final int EXT = 32;
    // the metadata as long words (unaligned: the ring's records start on 4 bytes): one segment access per 8 bytes
    private static final int TIMESTAMP = 0;
    /** aux (bits 0-31), flags (32-38), L3 offset (40-47), RX port + 1 (48-62), extension follows (63). */
    private static final int PACKED = 8;
    private static final int X_FLAGS_PORT = 16;
    private static final int X_L3_TRACE = 24;
    private static final int X_GSO_CSUM_START = 32;
    private static final int X_CSUM_OFFSET = 40;
    private static final long HAS_EXT = 1L << 63;
    /** Flags that fit the packed word (bits 0-6; 7 is left clear); a traced packet's trace id needs the extension. */
    private static final int PACKED_FLAGS = 0x7f & ~PacketPool.FLAG_TRACED;
    /** L3 offsets and RX ports (+1: a packet with no RX port has -1) that fit the packed word. */
    private static final int PACKED_L3 = 0xff;
    private static final int PACKED_PORT = 0x7fff;
    private static final long LOW = 0xffff_ffffL;
    private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED;
    private static final int WRITTEN = 0;
    private static final int FULL = 1;
    private static final int TOO_BIG = 2;

    /** Why a handoff drops a packet. Ids 250-254. */
    public enum Drop implements DropReason
    {
        /** The ring to the owner was full. */
        HANDOFF_FULL(250, "ring to the owning worker full (handoff)"),
        /** The frame does not fit in one ring record. */
        HANDOFF_TOO_BIG(251, "frame larger than a handoff ring record"),
        /** The owner had no free buffer for a frame it took from a ring. */
        HANDOFF_NO_BUFFER(252, "no packet buffer on the owning worker for a handed-over frame");

        private final int id;
        private final String sentence;

        Drop(final int id, final String sentence)
        {
            this.id = id;
            this.sentence = sentence;
        }

        @Override
        public int id()
        {
            return id;
        }

        @Override
        public String sentence()
        {
            return sentence;
        }
    }

    private final int workers;
    private final Arena arena;
    private final SpscByteRing[] rings;

    /**
     * Allocates {@code workers * (workers - 1)} rings off-heap.
     *
     * @param workers   worker count, at least 1.
     * @param ringBytes bytes of each ring, a power of two of at least 1024; a record holds at most half.
     */
    public Handoff(final int workers, final int ringBytes)
    {
        if (workers < 1 || workers > 64)
        {
            // 64: an endpoint keeps one bit per destination ring (Endpoint#publish)
            throw new IllegalArgumentException("workers must be 1 to 64: " + workers);
        }
        if (ringBytes < 1024 || Integer.bitCount(ringBytes) != 1)
        {
            throw new IllegalArgumentException("ring size must be a power of two of at least 1024: " + ringBytes);
        }
        this.workers = workers;
        this.arena = Arena.ofShared();
        this.rings = new SpscByteRing[workers * workers];
        for (int from = 0; from < workers; from++)
        {
            for (int to = 0; to < workers; to++)
            {
                if (from != to)
                {
                    rings[from * workers + to] = new SpscByteRing(arena, ringBytes);
                }
            }
        }
    }

    /** @return the worker count. */
    public int workers()
    {
        return workers;
    }

    /**
     * The drop reasons, for the node's catalogue.
     *
     * @return the scope of the handoff drops, prefix {@value #DROP_PREFIX}.
     */
    public static DropScope dropScope()
    {
        return new DropScope(DROP_PREFIX, List.of(Drop.values()));
    }

    /**
     * Sums one counter over every worker's counters.
     *
     * @param perWorker each worker's counters.
     * @param name      the counter's name.
     * @return the total; a worker that never registered it adds 0.
     */
    public static long sum(final List<Counters> perWorker, final String name)
    {
        long total = 0;
        for (final Counters c : perWorker)
        {
            total += c.get(name);
        }
        return total;
    }

    /**
     * One worker's side of the handoff. Create it on the control side, then use it from that worker's thread
     * only.
     *
     * @param worker   the worker.
     * @param pool     the worker's own pool: sent frames are freed to it, received frames allocated from it.
     * @param counters the worker's own counters.
     * @param inject   takes each received packet (a handle of {@code pool}) into the worker's graph, at the stage
     *                 after the ownership decision.
     * @return the endpoint.
     */
    public Endpoint endpoint(final int worker, final PacketPool pool, final Counters counters,
        final IntConsumer inject)
    {
        return new Endpoint(worker, pool, counters, (h, from) -> inject.accept(h));
    }

    /**
     * One worker's side of the handoff, whose graph is told where each received packet came from (a node: a
     * traced packet's trace goes on under its id, naming the worker that handed it over).
     *
     * @param worker   the worker.
     * @param pool     the worker's own pool.
     * @param counters the worker's own counters.
     * @param inject   takes each received packet and the worker that sent it.
     * @return the endpoint.
     */
    public Endpoint senderAwareEndpoint(final int worker, final PacketPool pool, final Counters counters,
        final Inject inject)
    {
        return new Endpoint(worker, pool, counters, inject);
    }

    /** Takes a received packet into the owner's graph. */
    @FunctionalInterface
    public interface Inject
    {
        /**
         * @param handle     a packet of the receiving worker's pool.
         * @param fromWorker the worker that handed it over.
         */
        void accept(int handle, int fromWorker);
    }

    @Override
    public void close()
    {
        arena.close();
    }

    /** One worker's rings: it produces into {@code worker → *} and consumes {@code * → worker}. */
    public final class Endpoint implements SpscByteRing.Reader
    {
        private final int worker;
        private final PacketPool pool;
        private final Counters counters;
        private final Inject inject;
        private final SpscByteRing[] out;
        private final SpscByteRing[] in;
        private final int sent;
        private final int received;
        private final int full;
        private final int tooBig;
        private final int noBuffer;
        private final int maxFrame;
        private int nextIn;
        /** The worker whose ring {@link #drain} is reading, for {@link #onRecord}. */
        private int drainingFrom;
        /** Frames {@link #onRecord} injected in the running {@link #drain}, added to the counter at its end. */
        private int receivedInDrain;
        private final int heldCounter;
        // per destination: handles waiting for room in its ring, oldest first (a ring of HOLD_CAPACITY handles)
        private final int[][] held;
        private final int[] heldHead;
        private final int[] heldCount;
        private final int heldLimit;
        private int heldTotal;
        /** One bit per destination whose ring has records written since the last {@link #publish()}. */
        private long unpublished;
        /** Frames written since the last {@link #publish()}, added to the sent counter there. */
        private int sentUnpublished;

        Endpoint(final int worker, final PacketPool pool, final Counters counters, final Inject inject)
        {
            if (worker < 0 || worker >= workers)
            {
                throw new IllegalArgumentException("no worker " + worker + " of " + workers);
            }
            this.worker = worker;
            this.pool = pool;
            this.counters = counters;
            this.inject = inject;
            out = new SpscByteRing[workers];
            in = new SpscByteRing[Math.max(0, workers - 1)];
            int k = 0;
            int limit = Integer.MAX_VALUE;
            for (int w = 0; w < workers; w++)
            {
                if (w != worker)
                {
                    out[w] = rings[worker * workers + w];
                    in[k] = rings[w * workers + worker];
                    limit = Math.min(limit, in[k].maxPayload() - META - EXT);
                    k++;
                }
            }
            maxFrame = limit;
            sent = counters.register(COUNTER_SENT);
            received = counters.register(COUNTER_RECEIVED);
            full = counters.register(DROP_PREFIX + Drop.HANDOFF_FULL.counterName());
            tooBig = counters.register(DROP_PREFIX + Drop.HANDOFF_TOO_BIG.counterName());
            noBuffer = counters.register(DROP_PREFIX + Drop.HANDOFF_NO_BUFFER.counterName());
            heldCounter = counters.register(COUNTER_HELD);
            held = new int[workers][];
            for (int w = 0; w < workers; w++)
            {
                held[w] = w == worker ? null : new int[HOLD_CAPACITY];
            }
            heldHead = new int[workers];
            heldCount = new int[workers];
            // the held frames keep their buffers: at most a quarter of the pool, whatever the worker count
            heldLimit = Math.max(1, pool.capacity() / 4);
        }

        /** @return the largest frame a ring record holds. */
        public int maxFrame()
        {
            return maxFrame;
        }

        /**
         * Hands a packet to its owner: copies its metadata and frame into the ring, then frees the buffer. Never
         * blocks. The buffer is freed whether the packet went or was dropped.
         *
         * @param to     the owning worker, not this one.
         * @param handle a packet of this worker's pool.
         * @return whether it was written; false means a counted drop.
         */
        public boolean send(final int to, final int handle)
        {
            final int result = write(to, handle);
            if (result == FULL)
            {
                counters.increment(full);
                pool.free(handle);
            }
            return result == WRITTEN;
        }

        /**
         * Like {@link #send}, but a full ring leaves the packet with the caller, uncounted: for a caller that
         * would rather wait than drop (a benchmark measuring capacity; a node drops).
         *
         * @param to     the owning worker, not this one.
         * @param handle a packet of this worker's pool.
         * @return whether the handle was consumed (written, or dropped as too big); false: the ring is full and
         *         the caller still owns the handle.
         */
        public boolean offer(final int to, final int handle)
        {
            return write(to, handle) != FULL;
        }

        /**
         * Hands a packet to its owner without losing it to a momentarily full ring: when the ring is full, or frames
         * for the same owner already wait (order is kept per ring), the packet waits in this worker's hold queue
         * for that owner, keeping its buffer, until {@link #flushHeld} finds room. Only a full hold queue (or a
         * quarter of the pool held) drops, counted as {@link Drop#HANDOFF_FULL}. The caller should stop taking in
         * new frames while {@link #held} is not 0, so that the queue drains (the owner is busy or descheduled).
         *
         * @param to     the owning worker, not this one.
         * @param handle a packet of this worker's pool.
         * @return whether the packet was written or is held (the owner should be woken); false: a counted drop.
         */
        public boolean sendOrHold(final int to, final int handle)
        {
            if (heldCount[to] == 0)
            {
                final int result = write(to, handle);
                if (result != FULL)
                {
                    return result == WRITTEN;
                }
            }
            if (heldCount[to] == HOLD_CAPACITY || heldTotal >= heldLimit)
            {
                counters.increment(full);
                pool.free(handle);
                return false;
            }
            held[to][(heldHead[to] + heldCount[to]) & (HOLD_CAPACITY - 1)] = handle;
            heldCount[to]++;
            heldTotal++;
            counters.increment(heldCounter);
            return true;
        }

        /**
         * Writes held frames into their rings, oldest first, as far as the rings have room (this worker's thread,
         * once per duty cycle before it takes in new frames).
         *
         * @return frames taken out of the hold queues (written, or dropped as too big).
         */
        public int flushHeld()
        {
            if (heldTotal == 0)
            {
                return 0;
            }
            int moved = 0;
            for (int to = 0; to < workers; to++)
            {
                final int[] q = held[to];
                while (heldCount[to] > 0)
                {
                    final int h = q[heldHead[to]];
                    if (write(to, h) == FULL)
                    {
                        break;
                    }
                    heldHead[to] = (heldHead[to] + 1) & (HOLD_CAPACITY - 1);
                    heldCount[to]--;
                    heldTotal--;
                    moved++;
                }
            }
            publish();
            return moved;
        }

        /**
         * Makes every frame written since the last call visible to its owner (this worker's thread, once per vector,
         * before waking the owners).
         */
        public void publish()
        {
            if (sentUnpublished != 0)
            {
                // once per vector, not per frame: the counter is read only between vectors
                counters.add(sent, sentUnpublished);
                sentUnpublished = 0;
            }
            long rings = unpublished;
            unpublished = 0;
            while (rings != 0)
            {
                final int to = Long.numberOfTrailingZeros(rings);
                rings &= rings - 1;
                out[to].publish();
            }
        }

        /** @return frames waiting in the hold queues for room in a ring. */
        public int held()
        {
            return heldTotal;
        }

        /**
         * Drops every held frame, counted as {@link Drop#HANDOFF_FULL} (the worker stops, or gave up waiting for an
         * owner that does not drain).
         *
         * @return frames dropped.
         */
        public int discardHeld()
        {
            final int n = heldTotal;
            for (int to = 0; to < workers; to++)
            {
                while (heldCount[to] > 0)
                {
                    pool.free(held[to][heldHead[to]]);
                    heldHead[to] = (heldHead[to] + 1) & (HOLD_CAPACITY - 1);
                    heldCount[to]--;
                }
            }
            heldTotal = 0;
            counters.add(full, n);
            return n;
        }

        private int write(final int to, final int handle)
        {
            final PacketPool pool = this.pool;
            final int length = pool.length(handle);
            if (length > maxFrame)
            {
                counters.increment(tooBig);
                pool.free(handle);
                return TOO_BIG;
            }
            final int flags = pool.flags(handle);
            final int gso = pool.gsoType(handle) << 16 | pool.gsoSize(handle);
            final boolean partial = pool.checksumPartial(handle);
            final int l3 = pool.l3Offset(handle);
            final int port = pool.rxPort(handle) + 1;
            final boolean ext = (flags & ~PACKED_FLAGS) != 0 || gso != 0 || partial || (l3 & ~PACKED_L3) != 0
                || (port & ~PACKED_PORT) != 0;
            final int meta = ext ? META + EXT : META;
            final SpscByteRing ring = out[to];
            final long at = ring.claim(meta + length);
            if (at == SpscByteRing.FULL)
            {
                return FULL;
            }
            final MemorySegment m = ring.memory();
            m.set(LONG, at + TIMESTAMP, pool.timestamp(handle));
            if (ext)
            {
                m.set(LONG, at + PACKED, pool.aux(handle) & LOW | HAS_EXT);
                m.set(LONG, at + X_FLAGS_PORT, flags & LOW | (long)(port - 1) << 32);
                m.set(LONG, at + X_L3_TRACE, l3 & LOW | (long)pool.traceId(handle) << 32);
                final int csumStart = partial ? pool.checksumStart(handle) : -1;
                m.set(LONG, at + X_GSO_CSUM_START, gso & LOW | (long)csumStart << 32);
                m.set(LONG, at + X_CSUM_OFFSET, pool.checksumOffset(handle));
            }
            else
            {
                m.set(LONG, at + PACKED, pool.aux(handle) & LOW | (long)flags << 32 | (long)l3 << 40
                    | (long)port << 48);
            }
            MemorySegment.copy(pool.memory(), pool.frameOffset(handle), m, at + meta, length);
            ring.commit(at, meta + length);
            unpublished |= 1L << to;
            sentUnpublished++;
            pool.free(handle);
            return WRITTEN;
        }

        /**
         * Takes up to {@code limit} frames from the inbound rings, starting with a different ring each call so that
         * no sender starves the others, and injects each one.
         *
         * @param limit most frames to take.
         * @return frames taken (injected or dropped).
         */
        public int drain(final int limit)
        {
            final SpscByteRing[] in = this.in;
            final int n = in.length;
            int taken = 0;
            for (int i = 0; i < n && taken < limit; i++)
            {
                int k = nextIn + i;
                k = k >= n ? k - n : k;
                // in[] skips this worker: ring k comes from worker k below it, k + 1 above
                drainingFrom = k < worker ? k : k + 1;
                taken += in[k].read(this, limit - taken);
            }
            nextIn = n == 0 ? 0 : (nextIn + 1 == n ? 0 : nextIn + 1);
            if (receivedInDrain != 0)
            {
                // once per drain, not per frame: nobody reads the counters in the middle of a drain
                counters.add(received, receivedInDrain);
                receivedInDrain = 0;
            }
            return taken;
        }

        /**
         * One record of the ring being drained (the reader is this endpoint, so draining allocates nothing).
         *
         * @param m      the ring's memory.
         * @param at     where the record's payload starts.
         * @param length the payload's length.
         */
        @Override
        public void onRecord(final MemorySegment m, final long at, final int length)
        {
            final PacketPool pool = this.pool;
            final long packed = m.get(LONG, at + PACKED);
            final int meta = packed < 0 ? META + EXT : META;
            final int frame = length - meta;
            // the common case writes each field once; the extension's fields go through the setters
            final int h = packed >= 0
                ? pool.allocateFrame(frame, m.get(LONG, at + TIMESTAMP), (int)packed,
                    (int)(packed >>> 32) & PACKED_FLAGS, (int)(packed >>> 40) & PACKED_L3, (int)(packed >>> 48) - 1)
                : allocateExtended(m, at, frame);
            if (h == PacketPool.NO_BUFFER)
            {
                counters.increment(noBuffer);
                return;
            }
            MemorySegment.copy(m, at + meta, pool.memory(), pool.frameOffset(h), frame);
            receivedInDrain++;
            inject.accept(h, drainingFrom);
        }

        private int allocateExtended(final MemorySegment m, final long at, final int frame)
        {
            final PacketPool pool = this.pool;
            final long packed = m.get(LONG, at + PACKED);
            int h = frame <= pool.bufferSize() - pool.headroom() ? pool.allocate() : PacketPool.NO_BUFFER;
            if (h == PacketPool.NO_BUFFER && pool.largeCapacity() > 0)
            {
                h = pool.allocateLarge();
            }
            if (h != PacketPool.NO_BUFFER)
            {
                pool.length(h, frame);
                pool.timestamp(h, m.get(LONG, at + TIMESTAMP));
                pool.aux(h, (int)packed);
                readExtension(m, at, h);
            }
            return h;
        }

        private void readExtension(final MemorySegment m, final long at, final int h)
        {
            final PacketPool pool = this.pool;
            final long flagsPort = m.get(LONG, at + X_FLAGS_PORT);
            final int flags = (int)flagsPort;
            pool.flags(h, flags);
            pool.rxPort(h, (int)(flagsPort >>> 32));
            final long l3Trace = m.get(LONG, at + X_L3_TRACE);
            pool.l3Offset(h, (int)l3Trace);
            if ((flags & PacketPool.FLAG_TRACED) != 0)
            {
                pool.trace(h, (int)(l3Trace >>> 32));
            }
            final long gsoCsum = m.get(LONG, at + X_GSO_CSUM_START);
            final int gso = (int)gsoCsum;
            if (gso != 0)
            {
                pool.gso(h, gso >>> 16, gso & 0xffff);
            }
            final int csumStart = (int)(gsoCsum >>> 32);
            if (csumStart >= 0)
            {
                pool.checksumPartial(h, csumStart, (int)m.get(LONG, at + X_CSUM_OFFSET));
            }
        }

        /**
         * Whether another worker has written a frame for this one that it has not drained yet (this worker's
         * thread, before it blocks idle: a sender wakes a parked owner, and the owner checks this after parking).
         *
         * @return whether {@link #drain} would take a frame now.
         */
        public boolean pending()
        {
            final SpscByteRing[] in = this.in;
            for (int i = 0; i < in.length; i++)
            {
                if (in[i].readable())
                {
                    return true;
                }
            }
            return false;
        }

        /** @return this endpoint's worker. */
        public int worker()
        {
            return worker;
        }
    }
}
