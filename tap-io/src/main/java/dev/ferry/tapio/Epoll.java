package dev.ferry.tapio;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * An epoll instance for idle waits: an I/O thread registers its ports' descriptors, and when a receive pass
 * found nothing it blocks here instead of spinning a core. Its own eventfd is in the set too, so that another
 * thread (a control command, a frame queued by another thread) ends the wait at once with {@link #wake()}.
 *
 * <pre>
 *   epoll.add(tap.fd(), 0); epoll.add(uplink.fd(), 1);
 *   int n = epoll.await(10);             // ready descriptors, 0 on timeout
 *   for (i &lt; n) token(i), events(i)     // the token given to add(), EPOLLIN/EPOLLERR bits
 * </pre>
 *
 * <p>Used by one thread, except {@link #wake()} (any thread). {@link #await(int)} does not allocate.
 */
public final class Epoll implements AutoCloseable
{
    /** Readable. */
    public static final int IN = LinuxNative.EPOLLIN;
    /** Error condition (a packet socket whose link went down). */
    public static final int ERR = LinuxNative.EPOLLERR;
    /** Hang-up. */
    public static final int HUP = LinuxNative.EPOLLHUP;

    /** x86-64 packs {@code struct epoll_event} to 12 bytes; other architectures align it to 16. */
    private static final boolean PACKED = "amd64".equals(System.getProperty("os.arch"))
        || "x86_64".equals(System.getProperty("os.arch"));
    private static final int EVENT_SIZE = PACKED ? 12 : 16;
    private static final int DATA_OFFSET = PACKED ? 4 : 8;
    private static final ValueLayout.OfLong DATA = ValueLayout.JAVA_LONG_UNALIGNED;
    private static final ValueLayout.OfInt EVENTS = ValueLayout.JAVA_INT_UNALIGNED;
    /** The token of the wake eventfd, reported by {@link #token(int)} like a port's. */
    public static final long WAKE_TOKEN = -1L;

    private final Arena arena = Arena.ofShared();
    private final MemorySegment state = LinuxNative.newCallState(arena);
    private final MemorySegment events;
    private final MemorySegment one;
    private final int capacity;
    private final int epfd;
    private final int eventFd;
    private final MemorySegment one8;
    private final MemorySegment wakeState;
    private final MemorySegment drain;
    private boolean closed;

    /**
     * @param capacity most events returned by one {@link #await(int)}.
     * @throws NativeException when epoll_create1 fails.
     */
    public Epoll(final int capacity) throws NativeException
    {
        this.capacity = capacity;
        this.events = arena.allocate((long)capacity * EVENT_SIZE, 8);
        this.one = arena.allocate(16, 8);
        final int fd = LinuxNative.epollCreate1(state, LinuxNative.EPOLL_CLOEXEC);
        if (fd < 0)
        {
            final int e = LinuxNative.errno(state);
            arena.close();
            throw new NativeException("epoll_create1", e);
        }
        this.epfd = fd;
        this.one8 = arena.allocate(8, 8);
        this.one8.set(ValueLayout.JAVA_LONG, 0, 1L);
        this.drain = arena.allocate(8, 8);
        this.wakeState = LinuxNative.newCallState(arena);
        final int efd = LinuxNative.eventfd(state, 0, LinuxNative.O_NONBLOCK | LinuxNative.O_CLOEXEC);
        if (efd < 0)
        {
            final int e = LinuxNative.errno(state);
            LinuxNative.close(state, epfd);
            arena.close();
            throw new NativeException("eventfd", e);
        }
        this.eventFd = efd;
        try
        {
            ctl(LinuxNative.EPOLL_CTL_ADD, efd, WAKE_TOKEN);
        }
        catch (final NativeException e)
        {
            LinuxNative.close(state, efd);
            LinuxNative.close(state, epfd);
            arena.close();
            throw e;
        }
    }

    /**
     * Ends the current (or the next) {@link #await(int)} at once: any thread, a {@code write} to the eventfd.
     * Two wakes before one wait end that wait only.
     */
    public synchronized void wake()
    {
        if (!closed)
        {
            LinuxNative.write(wakeState, eventFd, one8.address(), 8);
        }
    }

    /**
     * Watches a descriptor for input (and errors, which epoll always reports).
     *
     * @param fd    the descriptor.
     * @param token returned by {@link #token(int)} when it is ready.
     * @throws NativeException when epoll_ctl fails.
     */
    public void add(final int fd, final long token) throws NativeException
    {
        ctl(LinuxNative.EPOLL_CTL_ADD, fd, token);
    }

    /**
     * Stops watching a descriptor.
     *
     * @param fd the descriptor.
     * @throws NativeException when epoll_ctl fails.
     */
    public void remove(final int fd) throws NativeException
    {
        ctl(LinuxNative.EPOLL_CTL_DEL, fd, 0);
    }

    private void ctl(final int op, final int fd, final long token) throws NativeException
    {
        one.set(EVENTS, 0, LinuxNative.EPOLLIN);
        one.set(DATA, DATA_OFFSET, token);
        LinuxNative.check(LinuxNative.epollCtl(state, epfd, op, fd, one), state,
            "epoll_ctl(" + op + ", fd " + fd + ")");
    }

    /**
     * Waits until a descriptor is ready, {@link #wake()} is called or the timeout passes. A wake is consumed here
     * (its event is still counted and reported, with {@link #WAKE_TOKEN}). An interrupted wait returns 0.
     *
     * @param timeoutMillis longest wait; 0 polls, -1 waits forever.
     * @return descriptors ready.
     */
    public int await(final int timeoutMillis)
    {
        final int n = Math.max(LinuxNative.epollWait(state, epfd, events.address(), capacity, timeoutMillis), 0);
        for (int i = 0; i < n; i++)
        {
            if (token(i) == WAKE_TOKEN)
            {
                LinuxNative.read(state, eventFd, drain.address(), 8);
            }
        }
        return n;
    }

    /**
     * @param i index below the last {@link #await(int)} result.
     * @return the token of that ready descriptor.
     */
    public long token(final int i)
    {
        return events.get(DATA, (long)i * EVENT_SIZE + DATA_OFFSET);
    }

    /**
     * @param i index below the last {@link #await(int)} result.
     * @return its event bits ({@link #IN}, {@link #ERR}, {@link #HUP}).
     */
    public int events(final int i)
    {
        return events.get(EVENTS, (long)i * EVENT_SIZE);
    }

    @Override
    public synchronized void close()
    {
        if (!closed)
        {
            closed = true;
            LinuxNative.close(state, eventFd);
            LinuxNative.close(state, epfd);
            arena.close();
        }
    }
}
