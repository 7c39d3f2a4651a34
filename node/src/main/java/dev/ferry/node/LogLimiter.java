package dev.ferry.node;

import java.util.logging.Logger;

/**
 * Logs at most a few warnings per window and counts the rest, so that a burst of identical trouble (every
 * destination running out of masquerade ports at once) cannot flood the log. The first line after a window with
 * suppressed lines says how many were left out. Control thread only.
 */
final class LogLimiter
{
    private final Logger log;
    private final int maxLines;
    private final long windowNanos;
    private long windowStart;
    private int lines;
    private long suppressed;

    LogLimiter(final Logger log, final int maxLines, final long windowNanos, final long now)
    {
        this.log = log;
        this.maxLines = maxLines;
        this.windowNanos = windowNanos;
        this.windowStart = now;
    }

    /**
     * Logs a warning unless this window's lines are spent.
     *
     * @param now  clock, nanoseconds.
     * @param line the line.
     * @return whether it was logged.
     */
    boolean warn(final long now, final String line)
    {
        roll(now);
        if (lines < maxLines)
        {
            lines++;
            log.warning(line);
            return true;
        }
        suppressed++;
        return false;
    }

    /**
     * Starts a new window when the current one is over, reporting what it suppressed.
     *
     * @param now clock, nanoseconds.
     */
    void roll(final long now)
    {
        if (now - windowStart < windowNanos)
        {
            return;
        }
        if (suppressed > 0)
        {
            final long n = suppressed;
            log.warning(() -> n + " more such warnings suppressed in the last " + windowNanos / 1_000_000_000L
                + " s (at most " + maxLines + " per window are logged)");
        }
        windowStart = now;
        lines = 0;
        suppressed = 0;
    }
}
