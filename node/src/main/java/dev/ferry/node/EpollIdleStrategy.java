package dev.ferry.node;

import dev.ferry.tapio.Epoll;
import dev.ferry.tapio.NativeException;
import org.agrona.concurrent.IdleStrategy;

import java.util.Arrays;

/**
 * The worker's idle strategy: after a few empty duty cycles it blocks in {@code epoll_wait} over the descriptors
 * of every attached port, so an idle node sleeps in the kernel and wakes on the first frame, instead of parking
 * for a fixed time and polling again.
 *
 * <pre>
 *   work &gt; 0           → reset
 *   empty, spins left  → Thread.onSpinWait (a burst's next frame is usually microseconds away)
 *   empty, yields left → Thread.yield
 *   otherwise          → port upkeep (link checks), epoll re-registration of changed descriptors,
 *                        epoll_wait(LONG_WAIT_MS), or SHORT_WAIT_MS while a port has no descriptor
 * </pre>
 *
 * <p>Ports without a descriptor (memory ports, the VXLAN UDP socket that netty serves on its own thread) cap the
 * wait at {@link #SHORT_WAIT_MS}; so does the API agent in {@link ThreadingMode#SHARED} mode, whose requests are
 * answered within one wait. Runs on the worker thread only; allocates nothing after the first registrations.
 */
final class EpollIdleStrategy implements IdleStrategy
{
    /** Longest wait while some port has no descriptor to wait on, or the API shares the thread. */
    static final int SHORT_WAIT_MS = 1;
    /** Longest wait when every port has a descriptor. */
    static final int LONG_WAIT_MS = 10;
    private static final int SPINS = 20;
    private static final int YIELDS = 5;
    private static final long FULL_SYNC_NANOS = 1_000_000_000L;

    private final PortPoller ports;
    private final Epoll epoll;
    private final boolean shared;
    private int[] registered = new int[16];
    private long portsVersion = -1;
    private long lastFullSync;
    private int spins;
    private int yields;

    EpollIdleStrategy(final Worker worker, final boolean sharedWithApi) throws NativeException
    {
        this.ports = worker.poller();
        this.shared = sharedWithApi;
        this.epoll = new Epoll(64);
        Arrays.fill(registered, -1);
    }

    @Override
    public void idle(final int workCount)
    {
        if (workCount > 0)
        {
            reset();
            return;
        }
        idle();
    }

    @Override
    public void idle()
    {
        if (spins < SPINS)
        {
            spins++;
            Thread.onSpinWait();
            return;
        }
        if (yields < YIELDS)
        {
            yields++;
            Thread.yield();
            return;
        }
        ports.maintain();
        final boolean allHaveFds = sync();
        epoll.await(allHaveFds && !shared ? LONG_WAIT_MS : SHORT_WAIT_MS);
    }

    /**
     * Brings the epoll set in line with the ports' current descriptors: everything is registered again when a port
     * was attached or detached, when a descriptor changed (an uplink reopened), and once a second (a descriptor
     * closed and reopened under the same number leaves the epoll set silently).
     *
     * @return whether every attached port has a descriptor.
     */
    private boolean sync()
    {
        final int slots = ports.slots();
        final long version = ports.version();
        final long now = System.nanoTime();
        boolean changed = version != portsVersion || now - lastFullSync > FULL_SYNC_NANOS;
        boolean all = true;
        if (slots > registered.length)
        {
            final int old = registered.length;
            registered = Arrays.copyOf(registered, Math.max(slots, old * 2));
            Arrays.fill(registered, old, registered.length, -1);
        }
        for (int id = 0; id < slots; id++)
        {
            final int fd = ports.fd(id);
            changed |= fd != registered[id];
            all &= fd >= 0 || !ports.attached(id);
        }
        if (!changed)
        {
            return all;
        }
        // removals first: a descriptor number may have moved from one port to another
        for (int id = 0; id < registered.length; id++)
        {
            if (registered[id] >= 0)
            {
                try
                {
                    epoll.remove(registered[id]);
                }
                catch (final NativeException e)
                {
                    // a closed descriptor has left the epoll set by itself
                }
                registered[id] = -1;
            }
        }
        for (int id = 0; id < slots; id++)
        {
            final int fd = ports.fd(id);
            if (fd >= 0)
            {
                try
                {
                    epoll.add(fd, id);
                    registered[id] = fd;
                }
                catch (final NativeException e)
                {
                    all = false;
                }
            }
        }
        portsVersion = version;
        lastFullSync = now;
        return all;
    }

    @Override
    public void reset()
    {
        spins = 0;
        yields = 0;
    }

    @Override
    public String alias()
    {
        return "epoll";
    }

    /** Closes the epoll descriptor (after the worker stopped). */
    void close()
    {
        epoll.close();
    }
}
