package dev.ferry.tapio;

import dev.ferry.core.Counters;
import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;
import dev.ferry.core.TxSink;

import java.util.ArrayList;
import java.util.List;

/**
 * A port in memory, for tests and JMH: frames queued by the test are received into pool buffers a vector at a
 * time, and frames the graph transmits are copied into a list and their buffers freed.
 *
 * <pre>
 *   enqueue(ts, bytes) ──► [rx queue] ──receive(vector)──► pool buffers ──► graph
 *   graph ──transmit(h)──► copy (ts, port, bytes) ──► transmitted()   and   pool.free(h)
 * </pre>
 *
 * <p>Counters: {@code link/NAME/rx-packets}, {@code rx-bytes}, {@code rx-no-buffer} (the pool was empty; the
 * frame stays queued), {@code tx-packets}, {@code tx-bytes}. In {@link #repeat(boolean) repeat} mode the queue
 * is replayed in a loop without being consumed, and {@link #keepTransmitted(boolean) keepTransmitted(false)}
 * only counts and frees: together they let a benchmark run the graph without allocating.
 */
public final class MemoryPort implements TxSink
{
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

    private final String name;
    private final int id;
    private final PacketPool pool;
    private final LinkCounters counters;
    private final List<byte[]> rxFrames = new ArrayList<>();
    private long[] rxTimestamps = new long[16];
    private int rxNext;
    private boolean repeat;
    private boolean keep = true;
    private final List<Frame> transmitted = new ArrayList<>();

    /**
     * @param name     port name, used in counter names.
     * @param id       port id stamped on received packets.
     * @param pool     the pool that receives frames and to which transmitted buffers return.
     * @param counters where the link counters are registered.
     */
    public MemoryPort(final String name, final int id, final PacketPool pool, final Counters counters)
    {
        this.name = name;
        this.id = id;
        this.pool = pool;
        this.counters = new LinkCounters(counters, name);
    }

    /** @return the port name. */
    public String name()
    {
        return name;
    }

    /** @return the port id. */
    public int id()
    {
        return id;
    }

    /**
     * Queues a frame for receive with timestamp 0.
     *
     * @param frame the frame (kept by reference; do not change it afterwards).
     * @return this.
     */
    public MemoryPort enqueue(final byte[] frame)
    {
        return enqueue(0L, frame);
    }

    /**
     * Queues a frame for receive.
     *
     * @param epochNanos timestamp given to the packet.
     * @param frame      the frame (kept by reference; do not change it afterwards).
     * @return this.
     */
    public MemoryPort enqueue(final long epochNanos, final byte[] frame)
    {
        if (frame.length > pool.bufferSize() - pool.headroom())
        {
            throw new IllegalArgumentException(name + ": frame of " + frame.length + " bytes does not fit a buffer");
        }
        final int n = rxFrames.size();
        if (n == rxTimestamps.length)
        {
            rxTimestamps = java.util.Arrays.copyOf(rxTimestamps, n * 2);
        }
        rxTimestamps[n] = epochNanos;
        rxFrames.add(frame);
        return this;
    }

    /**
     * Replays the queue in a loop instead of consuming it (benchmarks).
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
     * Chooses whether transmitted frames are copied into {@link #transmitted()} (the default) or only counted.
     *
     * @param value whether to keep copies.
     * @return this.
     */
    public MemoryPort keepTransmitted(final boolean value)
    {
        this.keep = value;
        return this;
    }

    /** @return frames queued and not yet received (in repeat mode: the size of the loop). */
    public int pendingReceive()
    {
        return repeat ? rxFrames.size() : rxFrames.size() - rxNext;
    }

    /**
     * Receives queued frames into pool buffers until {@code out} is full, the queue is empty or the pool is
     * empty. Each packet gets this port as rx port and its queued timestamp.
     *
     * @param out the vector that receives the handles.
     * @return packets added.
     */
    public int receive(final PacketVector out)
    {
        final List<byte[]> frames = rxFrames;
        final int queued = frames.size();
        int added = 0;
        while (!out.isFull() && queued > 0 && (repeat || rxNext < queued))
        {
            final int h = pool.allocate();
            if (h == PacketPool.NO_BUFFER)
            {
                counters.increment(counters.rxNoBuffer);
                break;
            }
            final byte[] f = frames.get(rxNext);
            pool.write(h, f, 0, f.length);
            pool.rxPort(h, id);
            pool.timestamp(h, rxTimestamps[rxNext]);
            counters.rx(f.length);
            out.add(h);
            added++;
            rxNext++;
            if (repeat && rxNext == queued)
            {
                rxNext = 0;
            }
        }
        if (!repeat && rxNext == queued && queued > 0)
        {
            frames.clear();
            rxNext = 0;
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

    /** @return the frames transmitted so far, oldest first (a live view; see {@link #drainTransmitted()}). */
    public List<Frame> transmitted()
    {
        return java.util.Collections.unmodifiableList(transmitted);
    }

    /** @return the frames transmitted since the last drain, oldest first; the record is emptied. */
    public List<Frame> drainTransmitted()
    {
        final List<Frame> out = List.copyOf(transmitted);
        transmitted.clear();
        return out;
    }

    /** @return packets received so far. */
    public long rxPackets()
    {
        return counters.get(counters.rxPackets);
    }

    /** @return packets transmitted so far. */
    public long txPackets()
    {
        return counters.get(counters.txPackets);
    }
}
