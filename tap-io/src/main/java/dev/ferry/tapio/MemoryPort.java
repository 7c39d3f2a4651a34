package dev.ferry.tapio;

import dev.ferry.core.Clock;
import dev.ferry.core.Counters;
import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;

import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * A port in memory, for tests, dry runs and JMH: any thread queues frames, the owning thread receives them into
 * pool buffers a vector at a time, and frames transmitted are copied out for any thread to take.
 *
 * <pre>
 *   enqueue(ts, bytes) (any thread) ──► [rx queue] ──receive(vector)──► pool buffers ──► graph
 *   graph ──transmit(h)──► copy (ts, port, bytes) ──► drainTransmitted() (any thread)   and   pool.free(h)
 * </pre>
 *
 * <p>A frame queued without a timestamp gets the clock's time when it is received. Counters
 * ({@link PortCounters}): rx-packets, rx-bytes, rx-no-buffer (the pool was empty; the frame stays queued),
 * tx-packets, tx-bytes. In {@link #repeat(boolean) repeat} mode the queue is replayed in a loop without being
 * consumed, and {@link #keepTransmitted(boolean) keepTransmitted(false)} only counts and frees: together they let a
 * benchmark run the graph without allocating.
 */
public final class MemoryPort implements Port
{
    /** Timestamp of a frame queued without one: the clock's time at receive. */
    private static final long AT_RECEIVE = Long.MIN_VALUE;

    /**
     * One transmitted frame.
     *
     * @param epochNanos the packet's timestamp ({@link PacketPool#timestamp(int)}).
     * @param port       the port it was sent on ({@link PacketPool#txPort(int)}).
     * @param bytes      a copy of the frame.
     */
    public record Frame(long epochNanos, int port, byte[] bytes)
    {
    }

    private record Queued(long epochNanos, byte[] bytes)
    {
    }

    private final int id;
    private final PacketPool pool;
    private final Clock clock;
    private final PortCounters counters;
    private final Queue<Queued> inbound = new ConcurrentLinkedQueue<>();
    private final Queue<Frame> transmitted = new ConcurrentLinkedQueue<>();
    // repeat mode: the owning thread's copy of the queue, replayed in a loop
    private final List<Queued> loop = new ArrayList<>();
    private int loopNext;
    private volatile boolean repeat;
    private volatile boolean keep = true;
    private volatile boolean closed;
    private volatile Runnable wake = () ->
    {
    };

    /**
     * A port whose frames queued without a timestamp are received with timestamp 0.
     *
     * @param name     port name, used in counter names.
     * @param id       port id stamped on received packets.
     * @param pool     the pool that receives frames and to which transmitted buffers return.
     * @param counters where the port counters are registered.
     */
    public MemoryPort(final String name, final int id, final PacketPool pool, final Counters counters)
    {
        this(name, id, pool, counters, () -> 0L);
    }

    /**
     * @param name     port name, used in counter names.
     * @param id       port id stamped on received packets.
     * @param pool     the pool that receives frames and to which transmitted buffers return.
     * @param counters where the port counters are registered.
     * @param clock    time of receive for frames queued without a timestamp (read once per receive).
     */
    public MemoryPort(final String name, final int id, final PacketPool pool, final Counters counters,
        final Clock clock)
    {
        this.id = id;
        this.pool = pool;
        this.clock = clock;
        this.counters = new PortCounters(counters, name);
    }

    @Override
    public String name()
    {
        return counters.name();
    }

    /** @return the port id. */
    public int id()
    {
        return id;
    }

    @Override
    public PortCounters counters()
    {
        return counters;
    }

    /**
     * Queues a frame for receive, timestamped when it is received (any thread).
     *
     * @param frame the frame (kept by reference; do not change it afterwards).
     * @return this.
     */
    public MemoryPort enqueue(final byte[] frame)
    {
        return enqueue(AT_RECEIVE, frame);
    }

    /**
     * Queues a frame for receive (any thread).
     *
     * @param epochNanos timestamp given to the packet.
     * @param frame      the frame (kept by reference; do not change it afterwards).
     * @return this.
     */
    public MemoryPort enqueue(final long epochNanos, final byte[] frame)
    {
        if (frame.length > pool.bufferSize() - pool.headroom())
        {
            throw new IllegalArgumentException(name() + ": frame of " + frame.length
                + " bytes does not fit a buffer");
        }
        inbound.add(new Queued(epochNanos, frame));
        wake.run();
        return this;
    }

    /**
     * Replays the queue in a loop instead of consuming it (benchmarks; set before the first receive).
     *
     * @param value whether to repeat.
     * @return this.
     */
    public MemoryPort repeat(final boolean value)
    {
        this.repeat = value;
        return this;
    }

    /**
     * Chooses whether transmitted frames are copied for {@link #drainTransmitted()} (the default) or only counted.
     *
     * @param value whether to keep copies.
     * @return this.
     */
    public MemoryPort keepTransmitted(final boolean value)
    {
        this.keep = value;
        return this;
    }

    @Override
    public boolean wakeOnInput(final Runnable onInput)
    {
        this.wake = onInput;
        return true;
    }

    @Override
    public boolean inputQueued()
    {
        return repeat || !inbound.isEmpty();
    }

    /** @return frames queued and not yet received (in repeat mode: the size of the loop). */
    public int pendingReceive()
    {
        return repeat ? loop.size() + inbound.size() : inbound.size();
    }

    /**
     * Receives queued frames into pool buffers until {@code out} is full, the queue is empty or the pool is
     * empty. Each packet gets this port as rx port and its queued timestamp (or the clock's time).
     *
     * @param out the vector that receives the handles.
     * @return packets added.
     */
    @Override
    public int receive(final PacketVector out)
    {
        if (repeat)
        {
            Queued q;
            while ((q = inbound.poll()) != null)
            {
                loop.add(q);
            }
        }
        final long now = clock.nanos();
        int added = 0;
        long bytes = 0;
        while (!out.isFull())
        {
            final Queued q = repeat ? (loop.isEmpty() ? null : loop.get(loopNext)) : inbound.peek();
            if (q == null)
            {
                break;
            }
            final int h = pool.allocate();
            if (h == PacketPool.NO_BUFFER)
            {
                counters.rxNoBuffer();
                break;
            }
            if (repeat)
            {
                loopNext = loopNext + 1 == loop.size() ? 0 : loopNext + 1;
            }
            else
            {
                inbound.poll();
            }
            final byte[] f = q.bytes();
            pool.write(h, f, 0, f.length);
            pool.rxPort(h, id);
            pool.timestamp(h, q.epochNanos() == AT_RECEIVE ? now : q.epochNanos());
            bytes += f.length;
            out.add(h);
            added++;
        }
        if (added > 0)
        {
            counters.rx(added, bytes);
        }
        return added;
    }

    /**
     * Copies the frame (unless {@link #keepTransmitted(boolean)} turned that off), counts it and frees the
     * buffer.
     *
     * @param handle packet handle.
     */
    @Override
    public void transmit(final int handle)
    {
        final int len = pool.length(handle);
        if (keep)
        {
            transmitted.add(new Frame(pool.timestamp(handle), pool.txPort(handle), pool.toArray(handle)));
        }
        counters.tx(len);
        pool.free(handle);
    }

    /** @return the frames transmitted and not yet drained, oldest first (a copy). */
    public List<Frame> transmitted()
    {
        return List.copyOf(transmitted);
    }

    /** @return the frames transmitted since the last drain, oldest first (any thread). */
    public List<Frame> drainTransmitted()
    {
        final List<Frame> out = new ArrayList<>();
        Frame f;
        while ((f = transmitted.poll()) != null)
        {
            out.add(f);
        }
        return out;
    }

    /** @return packets received so far (any thread). */
    public long rxPackets()
    {
        return counters.rxPackets();
    }

    /** @return packets transmitted so far (any thread). */
    public long txPackets()
    {
        return counters.txPackets();
    }

    /** @return whether the port was closed. */
    public boolean isClosed()
    {
        return closed;
    }

    @Override
    public void close()
    {
        closed = true;
    }
}
