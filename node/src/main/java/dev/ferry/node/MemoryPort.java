package dev.ferry.node;

import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;
import dev.ferry.core.Ports;

import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A port in memory, for tests and dry runs: other threads {@link #inject} frames and read what the worker
 * {@link #drainSent() sent}. It allocates per frame (byte arrays), so it is not for benchmarks.
 */
public final class MemoryPort implements NodePort
{
    private final String name;
    private final Ports.Kind kind;
    private final long mac;
    private final long peerMac;
    private final Queue<byte[]> inbound = new ConcurrentLinkedQueue<>();
    private final Queue<byte[]> sent = new ConcurrentLinkedQueue<>();
    private final AtomicLong received = new AtomicLong();
    private final AtomicLong transmitted = new AtomicLong();
    private volatile boolean closed;

    /**
     * @param name    interface name.
     * @param kind    what it stands for.
     * @param mac     ferry's MAC on this link.
     * @param peerMac the far side's MAC.
     */
    public MemoryPort(final String name, final Ports.Kind kind, final long mac, final long peerMac)
    {
        this.name = name;
        this.kind = kind;
        this.mac = mac;
        this.peerMac = peerMac;
    }

    @Override
    public String name()
    {
        return name;
    }

    @Override
    public Ports.Kind kind()
    {
        return kind;
    }

    @Override
    public long mac()
    {
        return mac;
    }

    @Override
    public long peerMac()
    {
        return peerMac;
    }

    /**
     * Queues a frame for the worker to receive (any thread).
     *
     * @param frame the frame; not copied until received.
     */
    public void inject(final byte[] frame)
    {
        inbound.add(frame);
    }

    /** @return frames injected and not yet received. */
    public int pendingInbound()
    {
        return inbound.size();
    }

    /** @return frames the worker received from this port. */
    public long receivedCount()
    {
        return received.get();
    }

    /** @return frames the worker transmitted on this port. */
    public long transmittedCount()
    {
        return transmitted.get();
    }

    /** @return whether the worker closed the port. */
    public boolean isClosed()
    {
        return closed;
    }

    /**
     * Takes every frame sent so far (any thread).
     *
     * @return the frames, oldest first.
     */
    public List<byte[]> drainSent()
    {
        final List<byte[]> out = new ArrayList<>();
        byte[] f;
        while ((f = sent.poll()) != null)
        {
            out.add(f);
        }
        return out;
    }

    @Override
    public int receive(final PacketPool pool, final PacketVector out)
    {
        int n = 0;
        while (!out.isFull())
        {
            final byte[] frame = inbound.peek();
            if (frame == null)
            {
                break;
            }
            final int h = pool.allocate();
            if (h == PacketPool.NO_BUFFER)
            {
                break;
            }
            inbound.poll();
            final int len = Math.min(frame.length, pool.bufferSize() - pool.headroom());
            pool.write(h, frame, 0, len);
            out.add(h);
            n++;
        }
        received.addAndGet(n);
        return n;
    }

    @Override
    public void transmit(final PacketPool pool, final int handle)
    {
        sent.add(pool.toArray(handle));
        transmitted.incrementAndGet();
        pool.free(handle);
    }

    @Override
    public void close()
    {
        closed = true;
    }
}
