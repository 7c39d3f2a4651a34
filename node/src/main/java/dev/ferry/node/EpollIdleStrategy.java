package dev.ferry.node;

import dev.ferry.tapio.Epoll;
import dev.ferry.tapio.NativeException;
import org.agrona.concurrent.IdleStrategy;

import java.util.Arrays;

/**
 * The worker's idle strategy: a bounded busy-poll after traffic, then a block in {@code epoll_wait} over the
 * descriptors of every attached port and the worker's eventfd, so that an idle node sleeps in the kernel and a
 * frame on any port, or a control command, wakes it at once; no timer stands between a frame and the graph.
 *
 * <pre>
 *   work &gt; 0                      → remember when
 *   empty, &lt; SPIN_NANOS since work  → Thread.onSpinWait (a burst's next frame is usually microseconds away)
 *   empty, &lt; YIELD_NANOS since work → Thread.yield
 *   otherwise                     → port upkeep (link checks), epoll re-registration of changed descriptors,
 *                                   announce the block (Wakeup.park), look at the queues once more, then
 *                                   epoll_wait(UPKEEP_WAIT_MS) — a timeout for upkeep only (link checks,
 *                                   neighbour retries, feature housekeeping), never for a frame
 * </pre>
 *
 * <p>Wake-ups: a port's descriptor (TAP, AF_PACKET ring: per frame with TPACKET_V2); the worker's eventfd, written
 * by {@link Wakeup} when a command is queued, when the VXLAN socket's netty thread queues frames in a port's ring,
 * and, in {@link ThreadingMode#SHARED} mode, when a task is queued for the API agent or its waker thread sees a
 * client connect or write ({@link ApiAgent#wakeOnInput}). Only while some attached port has neither a descriptor
 * nor a wake-up (a test's port) is the wait capped, at {@link #SHORT_WAIT_MS}.
 * Runs on the worker thread only; allocates nothing after the first registrations.
 */
final class EpollIdleStrategy implements IdleStrategy
{
    /** Longest wait while some port has neither a descriptor to wait on nor a wake-up. */
    static final int SHORT_WAIT_MS = 1;
    /** Longest wait otherwise: port upkeep only (link checks every 100 ms). */
    static final int UPKEEP_WAIT_MS = 100;
    /** Busy-poll with {@code onSpinWait} this long after the last work ({@code -Dferry.idle.spinMicros}, 20). */
    static final long SPIN_NANOS = Long.getLong("ferry.idle.spinMicros", 20L) * 1000L;
    /** Then {@code Thread.yield} until this long after the last work, then block ({@code ferry.idle.pollMicros}). */
    static final long YIELD_NANOS = Math.max(SPIN_NANOS, Long.getLong("ferry.idle.pollMicros", 100L) * 1000L);
    private static final long FULL_SYNC_NANOS = 1_000_000_000L;
    /** Most descriptors one epoll_wait reports. */
    static final int EPOLL_EVENTS = 64;

    private final PortPoller ports;
    private final Worker worker;
    private final Wakeup wakeup;
    private final ApiAgent api;
    private final WakeProfile profile;
    private final long[] tokens = new long[EPOLL_EVENTS];
    private final Epoll epoll;
    private int[] registered = new int[16];
    private long portsVersion = -1;
    private long lastFullSync;
    private long lastWork = System.nanoTime() - YIELD_NANOS;

    /**
     * @param worker    the worker whose ports and queues this strategy waits on.
     * @param sharedApi the API agent when it shares the worker's thread, else null: looked at before each block
     *                  (its wake-ups are wired by {@link ApiAgent#wakeOnInput}).
     * @throws NativeException when the epoll instance or its eventfd cannot be made.
     */
    EpollIdleStrategy(final Worker worker, final ApiAgent sharedApi) throws NativeException
    {
        this.worker = worker;
        this.ports = worker.poller();
        this.wakeup = worker.wakeup();
        this.api = sharedApi;
        this.profile = worker.profile();
        this.epoll = new Epoll(EPOLL_EVENTS);
        Arrays.fill(registered, -1);
        wakeup.epoll(epoll);
    }

    @Override
    public void idle(final int workCount)
    {
        if (WakeProfile.ENABLED)
        {
            profile.end();
        }
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
        final long sinceWork = System.nanoTime() - lastWork;
        if (sinceWork < SPIN_NANOS)
        {
            Thread.onSpinWait();
            return;
        }
        if (sinceWork < YIELD_NANOS)
        {
            Thread.yield();
            return;
        }
        ports.maintain();
        final boolean allWake = sync();
        wakeup.park();
        if (worker.pending() || api != null && api.pending())
        {
            wakeup.unpark();
            return;
        }
        final int ready = epoll.await(allWake ? UPKEEP_WAIT_MS : SHORT_WAIT_MS);
        wakeup.unpark();
        if (WakeProfile.ENABLED && ready > 0)
        {
            profile.wake();
        }
        for (int i = 0; i < ready; i++)
        {
            tokens[i] = epoll.token(i);
        }
        // the next duty cycle reads only the ports that woke the worker, when nothing else did
        ports.woken(tokens, ready);
    }

    /**
     * Brings the epoll set in line with the ports' current descriptors: everything is registered again when a port
     * was attached or detached, when a descriptor changed (an uplink reopened), and once a second (a descriptor
     * closed and reopened under the same number leaves the epoll set silently).
     *
     * @return whether every attached port has a descriptor or a wake-up.
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
            all &= fd >= 0 || !ports.attached(id) || ports.wakes(id);
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
        lastWork = System.nanoTime();
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
