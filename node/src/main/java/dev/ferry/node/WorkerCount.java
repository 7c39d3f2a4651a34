package dev.ferry.node;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalInt;

/**
 * The {@code workers} setting: its bounds and its default, the CPUs this process may use minus one for the
 * control threads (API, host network), at least 1.
 *
 * <p>The CPUs: the cgroup's CPU quota when one is set ({@code cpu.max} in cgroup v2, {@code cpu.cfs_quota_us} /
 * {@code cpu.cfs_period_us} in v1, the smallest along the path to the root, rounded up), never more than the
 * affinity mask allows; else the affinity mask ({@link Runtime#availableProcessors()}, which is
 * {@code sched_getaffinity}). A Kubernetes pod with {@code resources.limits.cpu: 4} gets 3 workers.
 */
final class WorkerCount
{
    /** Most workers a node runs: the handoff holds one ring per ordered pair, 64 x 63 of them. */
    static final int MAX = 64;

    private static final Path CGROUP_ROOT = Path.of("/sys/fs/cgroup");
    private static final Path SELF_CGROUP = Path.of("/proc/self/cgroup");

    private WorkerCount()
    {
    }

    /**
     * @param workers a configured count.
     * @throws IllegalArgumentException when it is out of range, naming the setting.
     */
    static void check(final int workers)
    {
        if (workers < 1 || workers > MAX)
        {
            throw new IllegalArgumentException("workers: " + workers + " is out of range 1.." + MAX);
        }
    }

    /** @return the default count for this process: its CPUs minus one, at least 1. */
    static int defaultCount()
    {
        return fromCpus(cpus());
    }

    /**
     * @param cpus CPUs this process may use.
     * @return one worker per CPU but one, at least 1, at most {@link #MAX}.
     */
    static int fromCpus(final int cpus)
    {
        return Math.max(1, Math.min(MAX, cpus - 1));
    }

    /** @return the CPUs this process may use: the cgroup quota, bounded by the affinity mask. */
    static int cpus()
    {
        final int affinity = Runtime.getRuntime().availableProcessors();
        List<String> membership;
        try
        {
            membership = Files.readAllLines(SELF_CGROUP);
        }
        catch (final IOException | RuntimeException e)
        {
            membership = List.of();
        }
        final OptionalInt quota = quotaCpus(CGROUP_ROOT, membership);
        return quota.isPresent() ? Math.min(affinity, quota.getAsInt()) : affinity;
    }

    /**
     * The smallest CPU quota on the path from this process's cgroup up to the root, in CPUs rounded up.
     *
     * @param root       where the cgroup hierarchy is mounted ({@code /sys/fs/cgroup}).
     * @param membership the lines of {@code /proc/self/cgroup}.
     * @return the quota, or empty when none is set (or nothing can be read).
     */
    static OptionalInt quotaCpus(final Path root, final List<String> membership)
    {
        int best = Integer.MAX_VALUE;
        for (final String line : membership)
        {
            // hierarchy-id:controllers:path; v2 is "0::/path", v1's CPU controller lists "cpu" (often "cpu,cpuacct")
            final String[] f = line.split(":", 3);
            if (f.length != 3)
            {
                continue;
            }
            final boolean v2 = f[0].equals("0") && f[1].isEmpty();
            final boolean v1 = List.of(f[1].split(",")).contains("cpu");
            if (!v2 && !v1)
            {
                continue;
            }
            final Path base = v2 ? root : v1Mount(root, f[1]);
            Path dir = resolve(base, f[2]);
            while (dir != null && dir.startsWith(base))
            {
                final int cpus = v2 ? v2Quota(dir.resolve("cpu.max")) : v1Quota(dir);
                best = Math.min(best, cpus);
                dir = dir.equals(base) ? null : dir.getParent();
            }
        }
        return best == Integer.MAX_VALUE ? OptionalInt.empty() : OptionalInt.of(best);
    }

    private static Path v1Mount(final Path root, final String controllers)
    {
        final Path joined = root.resolve(controllers);
        return Files.isDirectory(joined) ? joined : root.resolve("cpu");
    }

    private static Path resolve(final Path base, final String path)
    {
        final String rel = path.startsWith("/") ? path.substring(1) : path;
        return rel.isEmpty() ? base : base.resolve(rel).normalize();
    }

    /** {@code cpu.max}: "max 100000" (no quota) or "QUOTA PERIOD" in µs. */
    private static int v2Quota(final Path file)
    {
        final String text = read(file);
        if (text == null)
        {
            return Integer.MAX_VALUE;
        }
        final String[] f = text.trim().split("\\s+");
        if (f.length < 1 || f[0].equals("max"))
        {
            return Integer.MAX_VALUE;
        }
        return ratio(f[0], f.length > 1 ? f[1] : "100000");
    }

    /** {@code cpu.cfs_quota_us} (-1: none) over {@code cpu.cfs_period_us}. */
    private static int v1Quota(final Path dir)
    {
        final String quota = read(dir.resolve("cpu.cfs_quota_us"));
        final String period = read(dir.resolve("cpu.cfs_period_us"));
        return quota == null || period == null ? Integer.MAX_VALUE : ratio(quota.trim(), period.trim());
    }

    private static int ratio(final String quota, final String period)
    {
        try
        {
            final long q = Long.parseLong(quota);
            final long p = Long.parseLong(period);
            if (q <= 0 || p <= 0)
            {
                return Integer.MAX_VALUE;
            }
            return (int)Math.min(Integer.MAX_VALUE - 1, (q + p - 1) / p);
        }
        catch (final NumberFormatException e)
        {
            return Integer.MAX_VALUE;
        }
    }

    private static String read(final Path file)
    {
        try
        {
            return Files.isRegularFile(file) ? Files.readString(file) : null;
        }
        catch (final IOException | RuntimeException e)
        {
            return null;
        }
    }
}
