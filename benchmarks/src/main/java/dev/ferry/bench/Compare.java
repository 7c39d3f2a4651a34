package dev.ferry.bench;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Compares two JMH results files benchmark by benchmark, so that a change can be judged against the last run
 * on the same machine.
 *
 * <pre>
 *   benchmarks/compare.sh results/OLD.json results/NEW.json
 *
 *   benchmark                                     unit       old ± err         new ± err     new/old ± err   verdict
 *   L3GraphBenchmark.forward frameSize=64 [avgt]  ns/op   40.12 ± 1.10      36.50 ± 0.90    0.910 ± 0.032   better
 * </pre>
 *
 * <p>The ratio is new/old. Its error bar combines both scoreErrors (JMH's 99.9% half widths) in quadrature on
 * the relative scale: {@code ratio * sqrt((eOld/old)^2 + (eNew/new)^2)}. A change is flagged {@code better} or
 * {@code WORSE} only when the ratio is further from 1 than that error bar (lower is better for time modes,
 * higher for throughput); {@code ~} means within the noise, {@code ?} means a side has no error bar (one
 * iteration, as in a smoke run). When the {@code .machine.json} files beside the results differ in CPU,
 * cores, JDK or kernel, a warning says so.
 */
public final class Compare
{
    private Compare()
    {
    }

    /**
     * Prints the comparison.
     *
     * @param args the old and the new results file.
     */
    public static void main(final String[] args)
    {
        if (args.length != 2)
        {
            System.err.println("usage: compare.sh OLD.json NEW.json");
            System.exit(2);
        }
        try
        {
            System.exit(run(Path.of(args[0]), Path.of(args[1]), System.out));
        }
        catch (final IOException e)
        {
            System.err.println("compare: " + e.getMessage());
            System.exit(2);
        }
    }

    /**
     * Compares two files.
     *
     * @param oldFile the baseline.
     * @param newFile the candidate.
     * @param out     where the table goes.
     * @return 0 (the comparison informs; it does not judge).
     * @throws IOException when a file cannot be read.
     */
    public static int run(final Path oldFile, final Path newFile, final PrintStream out) throws IOException
    {
        warnOnMachineChange(oldFile, newFile, out);
        final Map<String, JmhResult> olds = byKey(JmhResult.read(oldFile));
        final Map<String, JmhResult> news = byKey(JmhResult.read(newFile));
        out.printf(Locale.ROOT, "%-58s %-7s %20s %20s %16s  %s%n", "benchmark", "unit", "old ± err", "new ± err",
            "new/old ± err", "verdict");
        for (final Map.Entry<String, JmhResult> e : news.entrySet())
        {
            final JmhResult n = e.getValue();
            final JmhResult o = olds.get(e.getKey());
            if (o == null)
            {
                out.printf(Locale.ROOT, "%-58s %-7s %20s %20s %16s  %s%n", e.getKey(), n.unit(), "-",
                    scoreText(n.score(), n.error()), "-", "new");
                continue;
            }
            final Row row = row(o, n);
            out.printf(Locale.ROOT, "%-58s %-7s %20s %20s %16s  %s%n", e.getKey(), n.unit(),
                scoreText(o.score(), o.error()), scoreText(n.score(), n.error()),
                scoreText(row.ratio(), row.ratioError()), row.verdict());
        }
        for (final String k : olds.keySet())
        {
            if (!news.containsKey(k))
            {
                out.printf(Locale.ROOT, "%-58s %-7s %20s %20s %16s  %s%n", k, olds.get(k).unit(),
                    scoreText(olds.get(k).score(), olds.get(k).error()), "-", "-", "gone");
            }
        }
        return 0;
    }

    /**
     * One compared benchmark.
     *
     * @param ratio      new / old.
     * @param ratioError combined error bar of the ratio (NaN when a side has none).
     * @param verdict    {@code better}, {@code WORSE}, {@code ~} (within noise) or {@code ?} (no error bar).
     */
    public record Row(double ratio, double ratioError, String verdict)
    {
    }

    /**
     * Compares one benchmark.
     *
     * @param o old result.
     * @param n new result.
     * @return the ratio, its error bar and the verdict.
     */
    public static Row row(final JmhResult o, final JmhResult n)
    {
        final double ratio = n.score() / o.score();
        final double rel = Math.sqrt(square(o.error() / o.score()) + square(n.error() / n.score()));
        final double ratioError = ratio * rel;
        final String verdict;
        if (Double.isNaN(ratioError) || Double.isInfinite(ratioError))
        {
            verdict = "?";
        }
        else if (Math.abs(ratio - 1) <= ratioError)
        {
            verdict = "~";
        }
        else
        {
            final boolean up = ratio > 1;
            verdict = up == n.higherIsBetter() ? "better" : "WORSE";
        }
        return new Row(ratio, ratioError, verdict);
    }

    private static double square(final double v)
    {
        return v * v;
    }

    private static Map<String, JmhResult> byKey(final List<JmhResult> results)
    {
        final Map<String, JmhResult> out = new LinkedHashMap<>();
        for (final JmhResult r : results)
        {
            out.put(r.key(), r);
        }
        return out;
    }

    private static String scoreText(final double score, final double error)
    {
        if (Double.isNaN(error))
        {
            return String.format(Locale.ROOT, "%.3f ± ?", score);
        }
        return String.format(Locale.ROOT, "%.3f ± %.3f", score, error);
    }

    private static void warnOnMachineChange(final Path oldFile, final Path newFile, final PrintStream out)
        throws IOException
    {
        final Map<String, String> o = MachineInfo.readBeside(oldFile);
        final Map<String, String> n = MachineInfo.readBeside(newFile);
        if (o.isEmpty() || n.isEmpty())
        {
            out.println("note: no .machine.json beside " + (o.isEmpty() ? oldFile : newFile)
                + "; cannot tell whether both ran on the same machine");
            return;
        }
        for (final String k : MachineInfo.IDENTITY_KEYS)
        {
            final String a = o.getOrDefault(k, "");
            final String b = n.getOrDefault(k, "");
            if (!a.equals(b))
            {
                out.println("WARNING: " + k + " differs: '" + a + "' vs '" + b + "'; ratios mix machine and code");
            }
        }
        out.println("old: " + o.getOrDefault("date", "?") + " load " + o.getOrDefault("loadAverage", "?")
            + "   new: " + n.getOrDefault("date", "?") + " load " + n.getOrDefault("loadAverage", "?"));
    }
}
