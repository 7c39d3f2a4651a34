package dev.ferry.node;

import dev.ferry.core.Ports;
import dev.ferry.core.route.Ip4;
import dev.ferry.tapio.MemoryPort;
import dev.ferry.tapio.Port;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Opens tap-io's {@link MemoryPort}s and remembers the latest port of each name, so that tests can queue and
 * collect frames from their own threads.
 */
public final class MemoryPortFactory implements PortFactory
{
    /** ferry's MAC on the in-memory uplink. */
    public static final long UPLINK_MAC = Ip4.parseMac("02:fe:00:00:00:01");
    /** ferry's MAC on the in-memory host TAP. */
    public static final long HOST_MAC = Ip4.parseMac("02:fe:00:00:00:02");
    /** The kernel's MAC on the in-memory host TAP. */
    public static final long HOST_PEER_MAC = Ip4.parseMac("02:fe:00:00:00:03");

    private final Map<String, MemoryPort> ports = new ConcurrentHashMap<>();
    private volatile String failNext;

    @Override
    public Opened openUplink(final String ifName, final PortContext context)
    {
        return new Opened(remember(ifName, context), Ports.Kind.UPLINK, UPLINK_MAC, 0);
    }

    @Override
    public Opened openHostTap(final String name, final PortContext context)
    {
        return new Opened(remember(name, context), Ports.Kind.HOST, HOST_MAC, HOST_PEER_MAC);
    }

    @Override
    public Port openPodTap(final PodAttachment pod, final PortContext context, final boolean restore)
        throws IOException
    {
        if (pod.tapName().equals(failNext))
        {
            failNext = null;
            throw new IOException("cannot create " + pod.tapName() + " (injected failure)");
        }
        return remember(pod.tapName(), context);
    }

    /**
     * Makes the next {@link #openPodTap} of that name fail, as a failing ioctl would.
     *
     * @param tapName the TAP name.
     */
    public void failNextOpen(final String tapName)
    {
        failNext = tapName;
    }

    /**
     * @param name interface name.
     * @return every queue of the latest port opened under that name (queue 0, then 1, 2.. as far as opened), or
     *     null if none is.
     */
    public MemoryPortView port(final String name)
    {
        final List<MemoryPort> queues = new ArrayList<>();
        MemoryPort q;
        while ((q = port(name, queues.size())) != null)
        {
            queues.add(q);
        }
        return queues.isEmpty() ? null : new MemoryPortView(queues);
    }

    /**
     * @param name  interface name.
     * @param queue a worker's queue (a node of several workers opens one per worker).
     * @return the latest port opened under that name for that queue, or null.
     */
    public MemoryPort port(final String name, final int queue)
    {
        return ports.get(queue == 0 ? name : name + "#" + queue);
    }

    private MemoryPort remember(final String name, final PortContext c)
    {
        final MemoryPort p = new MemoryPort(name, c.id(), c.pool(), c.counters(), c.clock());
        ports.put(c.queue() == 0 ? name : name + "#" + c.queue(), p);
        return p;
    }
}
