package dev.ferry.node;

import dev.ferry.tapio.MemoryPort;

import java.util.ArrayList;
import java.util.List;

/**
 * Every queue of one in-memory port name (a node of N workers opens one queue per worker), seen as one port by a
 * test: frames are enqueued on queue 0 (its worker hands each to the flow's owner through the ring, as the kernel's
 * queue choice would), and what the queues transmitted and counted is merged. With one worker it is that one port.
 *
 * <p>Merged frames keep each queue's order, and a flow is transmitted by one worker on its own queue, so the order
 * within a flow holds; across flows of different owners there is no order.
 */
public final class MemoryPortView
{
    private final List<MemoryPort> queues;

    MemoryPortView(final List<MemoryPort> queues)
    {
        this.queues = List.copyOf(queues);
    }

    /** @return queue 0, the one that receives enqueued frames. */
    public MemoryPort first()
    {
        return queues.get(0);
    }

    /** @return the queues, queue 0 first. */
    public List<MemoryPort> queues()
    {
        return queues;
    }

    /**
     * Queues a frame on queue 0, timestamped when it is received.
     *
     * @param frame the frame (kept by reference).
     * @return this.
     */
    public MemoryPortView enqueue(final byte[] frame)
    {
        queues.get(0).enqueue(frame);
        return this;
    }

    /**
     * Queues a frame on queue 0.
     *
     * @param epochNanos timestamp given to the packet.
     * @param frame      the frame (kept by reference).
     * @return this.
     */
    public MemoryPortView enqueue(final long epochNanos, final byte[] frame)
    {
        queues.get(0).enqueue(epochNanos, frame);
        return this;
    }

    /**
     * @param value whether every queue copies transmitted frames.
     * @return this.
     */
    public MemoryPortView keepTransmitted(final boolean value)
    {
        for (final MemoryPort q : queues)
        {
            q.keepTransmitted(value);
        }
        return this;
    }

    /** @return the frames every queue transmitted and not yet drained: queue by queue, each oldest first. */
    public List<MemoryPort.Frame> transmitted()
    {
        final List<MemoryPort.Frame> out = new ArrayList<>();
        for (final MemoryPort q : queues)
        {
            out.addAll(q.transmitted());
        }
        return out;
    }

    /** @return the frames every queue transmitted since the last drain: queue by queue, each oldest first. */
    public List<MemoryPort.Frame> drainTransmitted()
    {
        final List<MemoryPort.Frame> out = new ArrayList<>();
        for (final MemoryPort q : queues)
        {
            out.addAll(q.drainTransmitted());
        }
        return out;
    }

    /** @return frames queued on queue 0 and not yet received. */
    public int pendingReceive()
    {
        return queues.get(0).pendingReceive();
    }

    /** @return packets every queue received. */
    public long rxPackets()
    {
        long n = 0;
        for (final MemoryPort q : queues)
        {
            n += q.rxPackets();
        }
        return n;
    }

    /** @return packets every queue transmitted. */
    public long txPackets()
    {
        long n = 0;
        for (final MemoryPort q : queues)
        {
            n += q.txPackets();
        }
        return n;
    }

    /** @return bytes every queue transmitted. */
    public long txBytes()
    {
        long n = 0;
        for (final MemoryPort q : queues)
        {
            n += q.counters().txBytes();
        }
        return n;
    }

    /** @return whether every queue was closed. */
    public boolean isClosed()
    {
        for (final MemoryPort q : queues)
        {
            if (!q.isClosed())
            {
                return false;
            }
        }
        return true;
    }
}
