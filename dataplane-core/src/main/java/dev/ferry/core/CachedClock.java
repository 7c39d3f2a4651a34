package dev.ferry.core;

/**
 * A clock read once per duty cycle: the worker calls {@link #refresh()} when it wakes, and every stage and port of
 * that cycle reads the cached value, as VPP's nodes read {@code vlib_time_now} of their vector. Reading the system
 * clock costs a {@code clock_gettime} (tens of ns on a VM); conntrack alone read it twice per packet. Timeouts
 * are seconds long, so a cycle's worth of staleness (microseconds) does not matter.
 *
 * <p>The worker thread refreshes; other threads (a port opened from the control side) may read, so the field is
 * volatile: a plain load on x86, and never a torn or zero value.
 */
public final class CachedClock implements Clock
{
    private final Clock source;
    private volatile long now;

    /**
     * @param source the clock to cache (the system clock on a node; tests pass a manual one).
     */
    public CachedClock(final Clock source)
    {
        this.source = source;
        this.now = source.nanos();
    }

    /**
     * Reads the source clock and caches it (the worker, once per duty cycle).
     *
     * @return the time read.
     */
    public long refresh()
    {
        final long t = source.nanos();
        now = t;
        return t;
    }

    @Override
    public long nanos()
    {
        return now;
    }
}
