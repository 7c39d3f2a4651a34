package dev.ferry.agent;

import dev.ferry.core.Clock;

import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Runs one function no more often than a minimum interval and no less often than a maximum interval, with a
 * burst allowance: a port of kube-proxy's {@code async.BoundedFrequencyRunner}.
 *
 * <pre>
 *   run() ──► pending ──┐
 *   retryAfter(d) ──────┤   token bucket (burst, one token per minInterval)
 *   maxInterval ────────┴─► fn.run() on the runner's thread
 * </pre>
 *
 * <ul>
 *   <li>{@link #run()} asks for a run. It is cheap and never blocks: informer callbacks call it.</li>
 *   <li>Runs are rate-limited by a token bucket that holds up to {@code burst} tokens and refills one every
 *       {@code minInterval} (kube-proxy's {@code minSyncPeriod}, {@code burstSyncs}).</li>
 *   <li>Without any request, the function still runs every {@code maxInterval} (the periodic full resync).</li>
 *   <li>{@link #retryAfter(long)} asks for a run no later than a delay from now (a failed push).</li>
 * </ul>
 *
 * <p>The decision is a pure step, {@link #poll(long)}, over an injected {@link Clock}; {@link #loop()} drives
 * it on a thread and sleeps until the next deadline or request. Tests drive {@link #poll(long)} directly.
 */
public final class BoundedFrequencyRunner
{
    private static final Logger LOG = Logger.getLogger("dev.ferry.agent");

    private final String name;
    private final Runnable fn;
    private final long minIntervalNanos;
    private final long maxIntervalNanos;
    private final int burst;
    private final Clock clock;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition wake = lock.newCondition();

    private boolean pending;
    private long retryAt = Long.MAX_VALUE;
    private double tokens;
    private long lastRefill;
    private long lastRun;
    private long runs;
    private boolean stopped;

    /**
     * @param name             used in the thread name and log lines.
     * @param fn               the function (builds and pushes the full tables).
     * @param minIntervalNanos the shortest time between runs once the burst is used up.
     * @param maxIntervalNanos the longest time between runs.
     * @param burst            runs allowed back to back (at least 1).
     * @param clock            time source.
     */
    public BoundedFrequencyRunner(final String name, final Runnable fn, final long minIntervalNanos,
        final long maxIntervalNanos, final int burst, final Clock clock)
    {
        if (minIntervalNanos < 0 || maxIntervalNanos < minIntervalNanos || burst < 1)
        {
            throw new IllegalArgumentException("need 0 <= minInterval <= maxInterval and burst >= 1: "
                + minIntervalNanos + ", " + maxIntervalNanos + ", " + burst);
        }
        this.name = name;
        this.fn = fn;
        this.minIntervalNanos = minIntervalNanos;
        this.maxIntervalNanos = maxIntervalNanos;
        this.burst = burst;
        this.clock = clock;
        final long now = clock.nanos();
        this.tokens = burst;
        this.lastRefill = now;
        // the first run is due at once: the initial sync
        this.pending = true;
        this.lastRun = now - maxIntervalNanos;
    }

    /** Asks for a run as soon as the rate limit allows. Never blocks on the function. */
    public void run()
    {
        lock.lock();
        try
        {
            pending = true;
            wake.signalAll();
        }
        finally
        {
            lock.unlock();
        }
    }

    /**
     * Asks for a run no later than {@code delayNanos} from now, e.g. after a failed push.
     *
     * @param delayNanos the delay.
     */
    public void retryAfter(final long delayNanos)
    {
        lock.lock();
        try
        {
            retryAt = Math.min(retryAt, clock.nanos() + delayNanos);
            wake.signalAll();
        }
        finally
        {
            lock.unlock();
        }
    }

    /**
     * One step: runs the function when it is due, and says when to look again.
     *
     * @param now the current time (nanoseconds, from the same clock).
     * @return the time at which the next run may be due; {@link #run()} may make it earlier.
     */
    public long poll(final long now)
    {
        final boolean due;
        lock.lock();
        try
        {
            refill(now);
            final boolean forced = now - lastRun >= maxIntervalNanos || now >= retryAt;
            due = forced || pending && tokens >= 1.0;
            if (due)
            {
                // a forced run (resync, retry) spends a token when there is one, but never waits for it
                tokens = Math.max(0.0, tokens - 1.0);
                pending = false;
                retryAt = Long.MAX_VALUE;
                lastRun = now;
                runs++;
            }
        }
        finally
        {
            lock.unlock();
        }
        if (due)
        {
            fn.run();
        }
        return nextDeadline(now);
    }

    private long nextDeadline(final long now)
    {
        lock.lock();
        try
        {
            return deadline(now);
        }
        finally
        {
            lock.unlock();
        }
    }

    private long deadline(final long now)
    {
        // under the lock
        refill(now);
        long next = Math.min(lastRun + maxIntervalNanos, retryAt);
        if (pending)
        {
            next = Math.min(next, tokens >= 1.0 ? now : now + (long)Math.ceil((1.0 - tokens) * minIntervalNanos));
        }
        return next;
    }

    private void refill(final long now)
    {
        if (minIntervalNanos == 0)
        {
            tokens = burst;
        }
        else if (now > lastRefill)
        {
            tokens = Math.min(burst, tokens + (double)(now - lastRefill) / minIntervalNanos);
        }
        lastRefill = now;
    }

    /**
     * Drives {@link #poll(long)} until {@link #stop()}: sleeps until the next deadline or a request. A function
     * that throws is logged and the loop goes on (the function is expected to count its own errors).
     */
    public void loop()
    {
        while (true)
        {
            try
            {
                poll(clock.nanos());
            }
            catch (final RuntimeException e)
            {
                LOG.log(Level.WARNING, name + ": run failed: " + e, e);
            }
            lock.lock();
            try
            {
                while (!stopped)
                {
                    final long now = clock.nanos();
                    final long wait = deadline(now) - now;
                    if (wait <= 0)
                    {
                        break;
                    }
                    wake.awaitNanos(wait);
                }
                if (stopped)
                {
                    return;
                }
            }
            catch (final InterruptedException e)
            {
                Thread.currentThread().interrupt();
                return;
            }
            finally
            {
                lock.unlock();
            }
        }
    }

    /**
     * Starts {@link #loop()} on a daemon thread.
     *
     * @return the thread.
     */
    public Thread start()
    {
        final Thread t = new Thread(this::loop, name);
        t.setDaemon(true);
        t.start();
        return t;
    }

    /** Stops the loop after the current run. */
    public void stop()
    {
        lock.lock();
        try
        {
            stopped = true;
            wake.signalAll();
        }
        finally
        {
            lock.unlock();
        }
    }

    /** @return how many times the function ran. */
    public long runs()
    {
        lock.lock();
        try
        {
            return runs;
        }
        finally
        {
            lock.unlock();
        }
    }
}
