package dev.ferry.core;

/**
 * Wall time in nanoseconds since the epoch, injected everywhere time matters so that tests and replay are
 * deterministic (replay drives it from packet timestamps).
 */
@FunctionalInterface
public interface Clock
{
    /** @return nanoseconds since the epoch. */
    long nanos();

    /** @return the system clock. */
    static Clock system()
    {
        return () ->
        {
            final java.time.Instant now = java.time.Instant.now();
            return now.getEpochSecond() * 1_000_000_000L + now.getNano();
        };
    }
}
