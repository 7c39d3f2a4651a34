package dev.ferry.node;

import dev.ferry.core.PacketVector;
import dev.ferry.tapio.MemoryPort;
import dev.ferry.tapio.Port;
import dev.ferry.tapio.PortCounters;

/**
 * A test port over one {@link MemoryPort} queue, for a test that changes how a port is read (counts receives,
 * gives it a descriptor, stops the worker inside a receive) and keeps everything else: name, counters, receive,
 * transmit and close go to the queue. The {@link Port} defaults stay (no wake-up, no descriptor) unless a subclass
 * overrides them.
 */
abstract class MemoryPortWrapper implements Port
{
    /** The wrapped queue. */
    final MemoryPort queue;

    MemoryPortWrapper(final MemoryPort queue)
    {
        this.queue = queue;
    }

    @Override
    public int receive(final PacketVector out)
    {
        return queue.receive(out);
    }

    @Override
    public String name()
    {
        return queue.name();
    }

    @Override
    public PortCounters counters()
    {
        return queue.counters();
    }

    @Override
    public void transmit(final int handle)
    {
        queue.transmit(handle);
    }

    @Override
    public void close()
    {
        queue.close();
    }
}
