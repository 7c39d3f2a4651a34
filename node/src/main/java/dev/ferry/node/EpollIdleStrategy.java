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
 *   work &gt; 0                    → {@link BusyPollWindow#worked}: the window learns from the gap since the last work
 *   empty, &lt; 20 µs since work    → Thread.onSpinWait (a burst's next frame is usually microseconds away)
 *   empty, inside the window      → Thread.yield (another runnable thread may have the core; port upkeep every ms);
 *                                   a yield that kept the worker off the core over 200 µs ends the window
 *   otherwise                     → port upkeep (link checks), epoll re-registration of changed descriptors,
 *                                   announce the block (Wakeup.park), look at the queues once more, then
 *                                   epoll_wait(UPKEEP_WAIT_MS) — a timeout for upkeep only (link checks,
 *                                   neighbour retries, feature housekeeping), never for a frame
 * </pre>
 *
 * <p>The window ({@link BusyPollWindow}) is adaptive, at most the node's {@code busyPollMicros}: a frame inside it
 * needs no thread wake-up, at the price of a core kept busy (yielding) that long after traffic.
 *
 * <p>Wake-ups: a port's descriptor (TAP, AF_PACKET ring: per frame with TPACKET_V2); the worker's eventfd, written
 * by {@link Wakeup} when a command is queued, when the VXLAN socket's netty thread queues frames in a port's ring,
 * and, in {@link ThreadingMode#SHARED} mode, when a task is queued for the API agent or its waker thread sees a
 * client connect or write ({@link ApiAgent#wakeOnInput}). Only while some attached port has neither a descriptor
 * nor a wake-up (a test's port) is the wait capped, at {@link #SHORT_WAIT_MS}.
 * <p>The same epoll set serves busy cycles as a readiness probe ({@link PortPoller.Readiness}): one
 * {@code epoll_wait} with timeout 0 per cycle tells the poller which TAPs to read, instead of a {@code read()} on each.
 * A port attached while the worker is busy joins the set at the next probe.
 * Runs on the worker thread only; allocates nothing after the first registrations.
 */
final class EpollIdleStrategy implements IdleStrategy, PortPoller.Readiness
{
    /** Longest wait while some port has neither a descriptor to wait on nor a wake-up. */
    static final int SHORT_WAIT_MS = 1;
    /** Longest wait otherwise: port upkeep only (link checks every 100 ms). */
    static final int UPKEEP_WAIT_MS = 100;
    /** Port upkeep (link checks) while polling in a long window, at most this often. */
    private static final long MAINTAIN_NANOS = 1_000_000L;
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
    // each registered descriptor's generation (Port#fdGeneration): a port reopened under the same number re-registers
    private long[] registeredGeneration = new long[16];
    private long portsVersion = -1;
    private long lastFullSync;
    private final BusyPollWindow window;
    private long lastMaintain;

    /**
     * @param worker    the worker whose ports and queues this strategy waits on.
     * @param sharedApi the API agent when it shares the worker's thread, else null: looked at before each block
     *                  (its wake-ups are wired by {@link ApiAgent#wakeOnInput}).
     * @param busyPollMicros the longest busy-poll window after work ({@code busyPollMicros} in node.yaml).
     * @throws NativeException when the epoll instance or its eventfd cannot be made.
     */
    EpollIdleStrategy(final Worker worker, final ApiAgent sharedApi, final long busyPollMicros)
        throws NativeException
    {
        this.window = new BusyPollWindow(busyPollMicros, System.nanoTime());
        this.worker = worker;
        this.ports = worker.poller();
        this.wakeup = worker.wakeup();
        this.api = sharedApi;
        this.profile = worker.profile();
        this.epoll = new Epoll(EPOLL_EVENTS);
        Arrays.fill(registered, -1);
        wakeup.epoll(epoll);
        ports.readiness(this);
    }

    @Override
    public int readyNow(final long[] tokens)
    {
        if (ports.version() != portsVersion)
        {
            // a port attached or detached while the worker is busy: register it now, not at the next block
            sync();
        }
        final int n = Math.min(epoll.await(0), tokens.length);
        for (int i = 0; i < n; i++)
        {
            tokens[i] = epoll.token(i);
        }
        return n;
    }

    @Override
    public boolean watches(final int id, final int fd)
    {
        return fd >= 0 && id < registered.length && registered[id] == fd;
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
        final long now = System.nanoTime();
        final int next = window.next(now);
        if (next == BusyPollWindow.SPIN)
        {
            Thread.onSpinWait();
            return;
        }
        if (next == BusyPollWindow.YIELD)
        {
            if (now - lastMaintain >= MAINTAIN_NANOS)
            {
                lastMaintain = now;
                ports.maintain();
            }
            Thread.yield();
            window.yielded(System.nanoTime() - now);
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
        window.blocked();
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
     * was attached or detached, when a descriptor changed (an uplink reopened, also under the number of the closed
     * one: {@code Port#fdGeneration}), and once a second (a port whose descriptor changes without a generation).
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
            registeredGeneration = Arrays.copyOf(registeredGeneration, registered.length);
            Arrays.fill(registered, old, registered.length, -1);
        }
        for (int id = 0; id < slots; id++)
        {
            final int fd = ports.fd(id);
            changed |= fd != registered[id] || fd >= 0 && ports.fdGeneration(id) != registeredGeneration[id];
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
                    registeredGeneration[id] = ports.fdGeneration(id);
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
        window.worked(System.nanoTime());
    }

    /** @return the busy-poll window now (ns; worker thread, or a test). */
    long windowNanos()
    {
        return window.window();
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
