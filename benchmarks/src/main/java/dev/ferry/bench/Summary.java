package dev.ferry.bench;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Collections;
import java.util.List;
import java.util.Locale;

/**
 * Prints a results file as the figures we report: the score with JMH's error, the median of the per-fork
 * means with their spread (min to max), allocation per operation, and, for per-packet nanosecond scores,
 * the rate in millions per second on one core ({@code 1000 / ns}).
 *
 * <pre>
 *   java -cp benchmarks.jar dev.ferry.bench.Summary results/2025-01-01T120000-abc1234.json
 * </pre>
 */
public final class Summary
{
    private Summary()
    {
    }

    /**
     * Prints the summary.
     *
     * @param args one results file.
     */
    public static void main(final String[] args)
    {
        if (args.length != 1)
        {
            System.err.println("usage: Summary RESULTS.json");
            System.exit(2);
        }
        try
        {
            print(JmhResult.read(Path.of(args[0])), System.out);
        }
        catch (final IOException e)
        {
            System.err.println("summary: " + e.getMessage());
            System.exit(2);
        }
    }

    /**
     * @param results results of one run.
     * @param out     where the table goes.
     */
    public static void print(final List<JmhResult> results, final PrintStream out)
    {
        out.printf(Locale.ROOT, "%-58s %-7s %18s %6s %10s %21s %10s %9s%n", "benchmark", "unit", "score ± err",
            "forks", "median", "fork min..max", "Mops/s", "B/op");
        for (final JmhResult r : results)
        {
            final List<Double> means = r.forkMeans();
            final double median = JmhResult.median(means);
            final String spread = means.isEmpty() ? "-" : String.format(Locale.ROOT, "%.3f..%.3f",
                Collections.min(means), Collections.max(means));
            final String rate = "ns/op".equals(r.unit()) && "avgt".equals(r.mode())
                ? String.format(Locale.ROOT, "%.2f", 1000.0 / median) : "-";
            final String err = Double.isNaN(r.error()) ? "?" : String.format(Locale.ROOT, "%.3f", r.error());
            out.printf(Locale.ROOT, "%-58s %-7s %18s %6d %10.3f %21s %10s %9.3f%n", r.key(), r.unit(),
                String.format(Locale.ROOT, "%.3f ± %s", r.score(), err), means.size(), median, spread, rate,
                r.allocatedPerOp());
        }
    }
}
