package dev.ferry.node;

/**
 * How long the worker keeps polling its ports after work before it blocks in {@code epoll_wait} (issue #11): an
 * adaptive window, at most the node's {@code busyPollMicros}. A frame that arrives inside the window is read by the
 * next duty cycle; one that arrives after it waits for a thread wake-up (on a shared VM ~0.1–0.2 ms each).
 *
 * <p>The window learns from the gaps between bursts, the time from the last work to the next (like NAPI's
 * deferred interrupts or VPP's adaptive mode, without a timer):
 * <pre>
 *   a gap the window missed (the worker had blocked), no longer than the maximum
 *                                                  → window = the larger of 2 × gap and 2 × window (capped)
 *   a gap the window caught                        → window fades by 1/16 toward 2 × gap, never below the base
 *   a gap longer than the maximum (sparse traffic) → window shrinks by 1/8, never below the base
 * </pre>
 * Doubling on a miss and shrinking slowly on long gaps keep a sparse request/response flow's answers inside the
 * window although their timing jitters on a loaded machine.
 *
 * <p>Polling only pays while the core is the worker's: when a {@code Thread.yield} between polls kept the worker
 * off the core longer than {@link #CONTENDED_NANOS} (another thread ran a slice), a frame arriving meanwhile waits
 * for that slice, longer than a wake-up from {@code epoll_wait}, where the kernel's wake-up preemption puts the
 * worker back at once. Such a yield ends the window ({@link #contended}); the gap that follows teaches nothing.
 * So a request/response flow whose answers come within the maximum is polled for about twice its answer time,
 * back-to-back traffic keeps the worker polling, and once traffic stops the worker blocks after the current window;
 * with no traffic at all it blocks after {@link #BASE_NANOS}. Not thread-safe: one instance per worker thread.
 */
final class BusyPollWindow
{
    /**
     * Default {@code busyPollMicros}: 0, block as soon as a duty cycle is empty. Polling after traffic takes CPU from
     * the pods that share the node's cores: in the lab benchmark (2 vCPUs, quiet) a 10 ms window gave cross-node TCP
     * 0.46x the kernel at 2.9x its CPU per GB with runs spread 4.2-7.0 Gbit/s, blocking 0.50x at 2.05x, spread
     * 6.3-6.5. A node with cores to spare sets a window for latency (node README, "Idle wait").
     */
    static final long DEFAULT_MAX_MICROS = 0L;
    /** Largest {@code busyPollMicros} accepted (one second). */
    static final long MAX_MICROS = 1_000_000L;
    /** The window after a long idle time: a burst's next frame (the fixed window before issue #11's adaptive one). */
    static final long BASE_NANOS = 100_000L;
    /** Polls right after work spin ({@code onSpinWait}) this long, then give the core away between polls. */
    static final long SPIN_NANOS = 20_000L;

    /** A yield longer than this means the core is contended: block instead of polling on (see the class comment). */
    static final long CONTENDED_NANOS = 200_000L;

    /** {@link #next}: poll again after {@code Thread.onSpinWait}. */
    static final int SPIN = 0;
    /** {@link #next}: poll again after {@code Thread.yield}, which lets another runnable thread have the core. */
    static final int YIELD = 1;
    /** {@link #next}: the window has passed: block until a descriptor or the eventfd wakes the worker. */
    static final int BLOCK = 2;

    private final long maxNanos;
    private final long baseNanos;
    private long window;
    private long lastWork;
    private boolean idleSinceWork;
    private boolean blockedSinceWork;
    private boolean contended;

    /**
     * @param maxMicros the longest window, {@code 0 ..} {@link #MAX_MICROS}; 0 blocks as soon as a cycle is empty.
     * @param now       the clock now (ns), taken as the time of the last work.
     */
    BusyPollWindow(final long maxMicros, final long now)
    {
        check(maxMicros);
        this.maxNanos = maxMicros * 1000L;
        this.baseNanos = Math.min(BASE_NANOS, maxNanos);
        this.window = baseNanos;
        // as if the last work was long ago: the first empty cycle blocks
        this.lastWork = now - maxNanos - 1;
        this.blockedSinceWork = true;
    }

    /**
     * @param maxMicros a {@code busyPollMicros} value.
     * @throws IllegalArgumentException when it is out of range.
     */
    static void check(final long maxMicros)
    {
        if (maxMicros < 0 || maxMicros > MAX_MICROS)
        {
            throw new IllegalArgumentException("busyPollMicros: " + maxMicros + " is out of range 0.." + MAX_MICROS
                + " (µs of polling after traffic before the worker blocks; 0: block at once)");
        }
    }

    /**
     * A duty cycle did work.
     *
     * @param now the clock (ns).
     */
    void worked(final long now)
    {
        if (idleSinceWork && !contended)
        {
            learn(now - lastWork, blockedSinceWork);
        }
        idleSinceWork = false;
        blockedSinceWork = false;
        contended = false;
        lastWork = now;
    }

    private void learn(final long gap, final boolean missed)
    {
        if (gap > maxNanos)
        {
            window = Math.max(baseNanos, window - (window >> 3));
        }
        else if (missed)
        {
            window = Math.max(baseNanos, Math.min(maxNanos, Math.max(gap, window) << 1));
        }
        else
        {
            window = Math.max(baseNanos, Math.max(window - (window >> 4), Math.min(maxNanos, gap << 1)));
        }
    }

    /**
     * A duty cycle found nothing: what the worker does next.
     *
     * @param now the clock (ns).
     * @return {@link #SPIN}, {@link #YIELD} or {@link #BLOCK}.
     */
    int next(final long now)
    {
        idleSinceWork = true;
        final long since = now - lastWork;
        if (since >= window || contended)
        {
            return BLOCK;
        }
        return since < SPIN_NANOS ? SPIN : YIELD;
    }

    /** The worker blocks (the window passed, or it was told to): the next gap is one the window missed. */
    void blocked()
    {
        idleSinceWork = true;
        blockedSinceWork = true;
    }

    /**
     * A yield between polls took {@code yieldNanos}: past {@link #CONTENDED_NANOS} the worker blocks at its next
     * empty cycle, until work comes.
     *
     * @param yieldNanos how long the yield kept the worker off the core (ns).
     */
    void yielded(final long yieldNanos)
    {
        if (yieldNanos > CONTENDED_NANOS)
        {
            contended = true;
        }
    }

    /** @return the current window (ns). */
    long window()
    {
        return window;
    }

    /** @return the longest window (ns). */
    long maxNanos()
    {
        return maxNanos;
    }
}
