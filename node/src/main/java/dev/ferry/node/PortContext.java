package dev.ferry.node;

import dev.ferry.core.Clock;
import dev.ferry.core.Counters;
import dev.ferry.core.PacketPool;

/**
 * What a port needs when it opens: the worker's pool (receive fills its buffers), the worker's counters (the
 * port registers {@code port/NAME/...} there), the clock and the port's id in {@link dev.ferry.core.Ports}. On a
 * node of several workers each worker opens its own queue of every device: a TAP queue ({@code IFF_MULTI_QUEUE}),
 * an AF_PACKET socket of the link's fanout group, a UDP socket sharing the tunnel port ({@code SO_REUSEPORT}).
 *
 * @param pool     the worker's packet pool.
 * @param counters the worker's counters.
 * @param clock    time.
 * @param id       the port's id.
 * @param queue    the opening worker's queue, {@code 0 .. queues - 1}.
 * @param queues   the node's workers: more than one opens multi-queue devices and fanout sockets.
 */
public record PortContext(PacketPool pool, Counters counters, Clock clock, int id, int queue, int queues)
{
    /**
     * A node of one worker: single-queue devices, as before.
     *
     * @param pool     the worker's packet pool.
     * @param counters the worker's counters.
     * @param clock    time.
     * @param id       the port's id.
     */
    public PortContext(final PacketPool pool, final Counters counters, final Clock clock, final int id)
    {
        this(pool, counters, clock, id, 0, 1);
    }

    /** @return whether the device is opened as one queue of several. */
    public boolean multiQueue()
    {
        return queues > 1;
    }
}
