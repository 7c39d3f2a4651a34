package dev.ferry.core;

/**
 * A clock that only moves when told to: replay sets it from each packet's timestamp, tests advance it.
 */
public final class ManualClock implements Clock
{
    private long nanos;

    /**
     * @param startNanos initial time in nanoseconds since the epoch.
     */
    public ManualClock(final long startNanos)
    {
        this.nanos = startNanos;
    }

    @Override
    public long nanos()
    {
        return nanos;
    }

    /**
     * Sets the time; it never goes backwards (an out-of-order capture keeps the latest time).
     *
     * @param value nanoseconds since the epoch.
     */
    public void set(final long value)
    {
        if (value > nanos)
        {
            nanos = value;
        }
    }

    /**
     * Moves time forward.
     *
     * @param delta nanoseconds.
     */
    public void advance(final long delta)
    {
        nanos += delta;
    }
}
