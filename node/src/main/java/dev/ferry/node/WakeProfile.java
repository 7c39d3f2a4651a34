package dev.ferry.node;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.Locale;

/**
 * Where the first duty cycle after an epoll block spends its time ({@code -Dferry.wakeProfile=true}; off by
 * default, and then every hook is a branch on a constant that the JIT removes). Each phase gets a preallocated
 * histogram of wall time and of the worker thread's CPU time in 1 µs buckets; {@link #format()} prints them at stop.
 *
 * <pre>
 *   epoll_wait returns ─ wake ─► doWork ─ commands ─► ─ ports ─► ─ graph (stages) ─► ─ tx (ports' flush) ─►
 *     ─ upkeep ─► ─ rest (the shared API agent, the agent runner) ─► next idle()     sent = wake … end of tx
 * </pre>
 *
 * <p>CPU time is the thread's own clock, so it stays meaningful on a loaded machine where wall time includes
 * waiting for a core. Worker thread only; allocates nothing while recording.
 */
final class WakeProfile
{
    /** Whether the profile records ({@code -Dferry.wakeProfile=true}). */
    static final boolean ENABLED = Boolean.getBoolean("ferry.wakeProfile");

    static final int WAKE = 0;
    static final int COMMANDS = 1;
    static final int PORTS = 2;
    static final int GRAPH = 3;
    static final int TX = 4;
    static final int UPKEEP = 5;
    static final int REST = 6;
    static final int SENT = 7;
    private static final String[] NAMES = {"wake", "commands", "ports", "graph", "tx", "upkeep", "api+rest", "sent"};
    private static final int BUCKETS = 2048;

    private final ThreadMXBean threads = ENABLED ? ManagementFactory.getThreadMXBean() : null;
    private final long[][] wall = new long[NAMES.length][ENABLED ? BUCKETS : 0];
    private final long[][] cpu = new long[NAMES.length][ENABLED ? BUCKETS : 0];
    private final long[] wallSum = new long[NAMES.length];
    private final long[] cpuSum = new long[NAMES.length];
    private final long[] count = new long[NAMES.length];
    private boolean armed;
    private boolean graphMarked;
    private long wakeWall;
    private long wakeCpu;
    private long lastWall;
    private long lastCpu;
    private long portsWoken;
    private long portsRead;

    /** The worker returned from epoll_wait with something ready: the next duty cycle is measured. */
    void wake()
    {
        armed = true;
        graphMarked = false;
        wakeWall = System.nanoTime();
        wakeCpu = cpuNow();
        lastWall = wakeWall;
        lastCpu = wakeCpu;
    }

    /** @return whether the current duty cycle is the first after a wake and its graph phase is still open. */
    boolean inGraph()
    {
        return armed && !graphMarked;
    }

    /** The graph's stages are done and it flushes the ports (the first flush of a woken cycle). */
    void graphDone()
    {
        mark(GRAPH);
        graphMarked = true;
    }

    /** The graph run is over (its flush included): ends the graph phase if no flush did, then the tx phase. */
    void runDone()
    {
        if (!graphMarked)
        {
            mark(GRAPH);
        }
        mark(TX);
    }

    /** @return whether the current duty cycle is the first after a wake. */
    boolean armed()
    {
        return armed;
    }

    /**
     * Ends a phase that began where the previous one ended.
     *
     * @param phase the phase.
     */
    void mark(final int phase)
    {
        final long w = System.nanoTime();
        final long c = cpuNow();
        record(phase, w - lastWall, c - lastCpu);
        lastWall = w;
        lastCpu = c;
    }

    /** The frame has left (after the ports' flush): records wake → here. */
    void sent()
    {
        record(SENT, lastWall - wakeWall, lastCpu - wakeCpu);
    }

    /**
     * Counts how the woken cycle read ports.
     *
     * @param read ports read.
     */
    void portsRead(final int read)
    {
        portsWoken++;
        portsRead += read;
    }

    /** The duty cycle and whatever ran after it on this thread are over (the idle strategy is called again). */
    void end()
    {
        if (armed)
        {
            mark(REST);
            armed = false;
        }
    }

    private long cpuNow()
    {
        return threads.getCurrentThreadCpuTime();
    }

    private void record(final int phase, final long wallNanos, final long cpuNanos)
    {
        wall[phase][bucket(wallNanos)]++;
        cpu[phase][bucket(cpuNanos)]++;
        wallSum[phase] += wallNanos;
        cpuSum[phase] += cpuNanos;
        count[phase]++;
    }

    private static int bucket(final long nanos)
    {
        return (int)Math.min(Math.max(nanos, 0) / 1000, BUCKETS - 1);
    }

    /** @return one line per phase: count, wall p50/p90/p99 and mean, CPU p50 and mean, in µs (any thread, at stop). */
    String format()
    {
        final StringBuilder b = new StringBuilder("wake profile (first duty cycle after an epoll block, µs; "
            + "ports read per woken cycle " + String.format(Locale.ROOT, "%.2f",
            portsWoken == 0 ? 0.0 : (double)portsRead / portsWoken) + "):");
        for (int p = 0; p < NAMES.length; p++)
        {
            final long n = count[p];
            b.append(String.format(Locale.ROOT,
                "%n  %-9s n=%d wall p50 %d p90 %d p99 %d mean %.1f | cpu p50 %d mean %.1f",
                NAMES[p], n, percentile(wall[p], n, 0.5), percentile(wall[p], n, 0.9), percentile(wall[p], n, 0.99),
                n == 0 ? 0.0 : wallSum[p] / 1000.0 / n, percentile(cpu[p], n, 0.5),
                n == 0 ? 0.0 : cpuSum[p] / 1000.0 / n));
        }
        return b.toString();
    }

    private static long percentile(final long[] histogram, final long n, final double q)
    {
        final long rank = (long)Math.ceil(q * n);
        long seen = 0;
        for (int i = 0; i < histogram.length; i++)
        {
            seen += histogram[i];
            if (seen >= rank && seen > 0)
            {
                return i;
            }
        }
        return 0;
    }
}
