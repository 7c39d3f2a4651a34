package dev.ferry.node;

import dev.ferry.core.Clock;
import dev.ferry.core.Counters;
import dev.ferry.core.PacketPool;

/**
 * What a port needs when it opens: the worker's pool (receive fills its buffers), the worker's counters (the
 * port registers {@code port/NAME/...} there), the clock and the port's id in {@link dev.ferry.core.Ports}.
 *
 * @param pool     the worker's packet pool.
 * @param counters the worker's counters.
 * @param clock    time.
 * @param id       the port's id.
 */
public record PortContext(PacketPool pool, Counters counters, Clock clock, int id)
{
}
