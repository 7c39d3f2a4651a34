package dev.ferry.bench;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The gc check of {@code run.sh}: every hot-path benchmark in a results file (see {@link JmhResult#hotPath()}
 * for the naming rule) must show {@code gc.alloc.rate.norm} below {@value #LIMIT_BYTES} byte per operation.
 *
 * <pre>
 *   java -cp benchmarks.jar dev.ferry.bench.AllocationCheck results/2025-01-01T120000-abc1234.json
 * </pre>
 *
 * <p>Prints one line per benchmark and exits 0 when all pass, 1 naming the offenders, 2 when the file cannot
 * be read or holds no result.
 */
public final class AllocationCheck
{
    /** A hot-path benchmark must allocate less than this many bytes per operation. */
    public static final double LIMIT_BYTES = 1.0;

    private AllocationCheck()
    {
    }

    /**
     * Runs the check.
     *
     * @param args one results file.
     */
    public static void main(final String[] args)
    {
        if (args.length != 1)
        {
            System.err.println("usage: AllocationCheck RESULTS.json");
            System.exit(2);
        }
        System.exit(run(Path.of(args[0]), System.out, System.err));
    }

    /**
     * Checks one file, printing a line per benchmark.
     *
     * @param file results file.
     * @param out  where the report goes.
     * @param err  where failures are named.
     * @return the exit code: 0 pass, 1 offenders, 2 unreadable or empty.
     */
    public static int run(final Path file, final PrintStream out, final PrintStream err)
    {
        final List<JmhResult> results;
        try
        {
            results = JmhResult.read(file);
        }
        catch (final IOException e)
        {
            err.println("gc check: cannot read " + file + ": " + e.getMessage());
            return 2;
        }
        if (results.isEmpty())
        {
            err.println("gc check: " + file + " holds no benchmark result");
            return 2;
        }
        for (final JmhResult r : results)
        {
            final double alloc = r.allocatedPerOp();
            final String verdict = !r.hotPath() ? "exempt (control)" : verdict(r) == null ? "ok" : "FAIL";
            out.printf(Locale.ROOT, "gc check: %-60s %10s B/op  %s%n", r.key(), format(alloc), verdict);
        }
        final List<String> offenders = offenders(results);
        if (!offenders.isEmpty())
        {
            err.println("gc check FAILED: " + offenders.size() + " hot-path benchmark(s) allocate:");
            for (final String o : offenders)
            {
                err.println("  " + o);
            }
            return 1;
        }
        out.println("gc check: all " + results.size() + " benchmark(s) pass (hot path < " + LIMIT_BYTES + " B/op)");
        return 0;
    }

    /**
     * @param results results of one run.
     * @return one line per hot-path benchmark that fails, naming it and why; empty when all pass.
     */
    public static List<String> offenders(final List<JmhResult> results)
    {
        final List<String> out = new ArrayList<>();
        for (final JmhResult r : results)
        {
            final String why = r.hotPath() ? verdict(r) : null;
            if (why != null)
            {
                out.add(r.key() + ": " + why);
            }
        }
        return out;
    }

    private static String verdict(final JmhResult r)
    {
        final double alloc = r.allocatedPerOp();
        if (Double.isNaN(alloc))
        {
            return "no " + JmhResult.ALLOC_NORM + " (run with -prof gc)";
        }
        if (alloc >= LIMIT_BYTES)
        {
            return String.format(Locale.ROOT, "%.3f B/op allocated", alloc);
        }
        return null;
    }

    private static String format(final double v)
    {
        return Double.isNaN(v) ? "n/a" : String.format(Locale.ROOT, "%.3f", v);
    }
}
