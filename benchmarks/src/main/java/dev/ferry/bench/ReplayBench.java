package dev.ferry.bench;

import dev.ferry.cli.Ferry;
import dev.ferry.cli.ScenarioCommand;
import dev.ferry.cli.scenario.MixScenario;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

/**
 * Replay throughput, end to end and in-process (JVM start excluded): generates a mix capture once
 * ({@code ferry scenario --kind mix}), then times {@code ferry replay --node node-a} over it several times (read,
 * graph, write), prints frames/s median [min..max], times {@code tcpdump -r IN -w OUT} on the same file for scale,
 * and writes the figures as JSON. Run it through {@code benchmarks/replay-bench.sh}.
 *
 * <pre>
 *   ReplayBench CLUSTER_DIR RESULTS_DIR [frames] [flows] [runs] [gapNanos] [perTimestamp] [warmups]
 * </pre>
 *
 * <p>The first {@code warmups} runs (default 2) let the JIT compile the graph; they are printed but left out of
 * the figures.
 */
public final class ReplayBench
{
    private ReplayBench()
    {
    }

    /**
     * Runs the benchmark.
     *
     * @param args cluster directory, results directory, then optionally frames, flows, runs, gap, frames per
     *             timestamp.
     * @throws Exception when a step fails.
     */
    public static void main(final String[] args) throws Exception
    {
        if (args.length < 2)
        {
            System.err.println("usage: ReplayBench CLUSTER_DIR RESULTS_DIR [frames] [flows] [runs] [gapNanos] "
                + "[perTimestamp] [warmups]");
            System.exit(2);
        }
        final Path cluster = Path.of(args[0]);
        final Path results = Path.of(args[1]);
        final long frames = args.length > 2 ? Long.parseLong(args[2]) : 1_000_000L;
        final int flows = args.length > 3 ? Integer.parseInt(args[3]) : 10_000;
        final int runs = args.length > 4 ? Integer.parseInt(args[4]) : 5;
        final long gap = args.length > 5 ? Long.parseLong(args[5]) : 1000L;
        final int perTick = args.length > 6 ? Integer.parseInt(args[6]) : 1;
        final int warmups = args.length > 7 ? Integer.parseInt(args[7]) : 2;
        final Path dir = Files.createTempDirectory("ferry-replay-bench");
        try
        {
            final Path in = dir.resolve("mix.pcap");
            final long g0 = System.nanoTime();
            ScenarioCommand.writeMix(in, new MixScenario(frames, flows, 1, gap, perTick));
            final double genSeconds = (System.nanoTime() - g0) / 1e9;
            System.out.printf(Locale.ROOT, "generated %s: %d frames, %d flows, gap %d ns, %d per timestamp, "
                + "%.1f MB in %.2f s%n", in, frames, flows, gap, perTick, Files.size(in) / 1e6, genSeconds);
            final double[] rates = new double[runs];
            for (int r = -warmups; r < runs; r++)
            {
                final Path out = dir.resolve("out.pcap");
                final StringWriter sw = new StringWriter();
                final long t0 = System.nanoTime();
                final int rc = Ferry.commandLine().setOut(new PrintWriter(sw)).setErr(new PrintWriter(sw))
                    .execute("replay", "--quiet", "--fates", "0", "--cluster", cluster.toString(), "--node",
                        "node-a", "--in", in.toString(), "--out", out.toString());
                final long nanos = System.nanoTime() - t0;
                if (rc != 0)
                {
                    throw new IllegalStateException("ferry replay exited " + rc + ":\n" + sw);
                }
                final double rate = frames / (nanos / 1e9);
                System.out.printf(Locale.ROOT, "%s %d: %.3f s, %,.0f frames/s%n", r < 0 ? "warmup" : "run",
                    r < 0 ? r + warmups + 1 : r + 1, nanos / 1e9, rate);
                if (r >= 0)
                {
                    rates[r] = rate;
                }
                Files.delete(out);
            }
            final double[] sorted = rates.clone();
            Arrays.sort(sorted);
            final double median = sorted.length % 2 == 1 ? sorted[sorted.length / 2]
                : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
            System.out.printf(Locale.ROOT, "ferry replay: %,.0f frames/s median [%,.0f..%,.0f] over %d runs%n",
                median, sorted[0], sorted[sorted.length - 1], runs);
            final double tcpdump = tcpdump(in, dir.resolve("tcpdump.pcap"), frames);
            writeJson(results, frames, flows, gap, perTick, warmups, genSeconds, rates, median, sorted, tcpdump);
        }
        finally
        {
            try (var files = Files.list(dir))
            {
                for (final Path p : files.toList())
                {
                    Files.deleteIfExists(p);
                }
            }
            Files.deleteIfExists(dir);
        }
    }

    /** Times tcpdump -r IN -w OUT; returns frames/s, or -1 when tcpdump is absent. */
    private static double tcpdump(final Path in, final Path out, final long frames) throws IOException,
        InterruptedException
    {
        final Path exe = List.of(Path.of("/usr/bin/tcpdump"), Path.of("/usr/sbin/tcpdump")).stream()
            .filter(Files::isExecutable).findFirst().orElse(null);
        if (exe == null)
        {
            System.out.println("tcpdump: not installed, skipped (Debian package tcpdump)");
            return -1;
        }
        final long t0 = System.nanoTime();
        final Process p = new ProcessBuilder(exe.toString(), "-r", in.toString(), "-w", out.toString())
            .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        if (!p.waitFor(10, TimeUnit.MINUTES) || p.exitValue() != 0)
        {
            p.destroy();
            System.out.println("tcpdump: failed, skipped");
            return -1;
        }
        final double rate = frames / ((System.nanoTime() - t0) / 1e9);
        System.out.printf(Locale.ROOT, "tcpdump -r IN -w OUT: %,.0f frames/s (one run, process start included)%n",
            rate);
        return rate;
    }

    private static void writeJson(final Path results, final long frames, final int flows, final long gap,
        final int perTick, final int warmups, final double genSeconds, final double[] rates, final double median,
        final double[] sorted, final double tcpdump) throws IOException
    {
        Files.createDirectories(results);
        final String stamp = DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss'Z'").withZone(ZoneOffset.UTC)
            .format(Instant.now());
        final Path file = results.resolve(stamp + "-replay.json");
        final List<String> runs = new ArrayList<>();
        for (final double r : rates)
        {
            runs.add(String.format(Locale.ROOT, "%.0f", r));
        }
        final String json = String.format(Locale.ROOT, "{%n  \"benchmark\": \"ferry replay --node node-a, "
            + "in-process, end to end\",%n  \"frames\": %d,%n  \"flows\": %d,%n  \"gapNanos\": %d,%n"
            + "  \"framesPerTimestamp\": %d,%n  \"warmupRuns\": %d,%n  \"generateSeconds\": %.3f,%n"
            + "  \"framesPerSecond\": {\"median\": %.0f, \"min\": %.0f, \"max\": %.0f, \"runs\": [%s]},%n"
            + "  \"tcpdumpFramesPerSecond\": %s,%n  \"cores\": %d,%n  \"jdk\": \"%s\"%n}%n", frames, flows, gap,
            perTick, warmups, genSeconds, median, sorted[0], sorted[sorted.length - 1], String.join(", ", runs),
            tcpdump < 0 ? "null" : String.format(Locale.ROOT, "%.0f", tcpdump),
            Runtime.getRuntime().availableProcessors(), System.getProperty("java.version"));
        Files.writeString(file, json, StandardCharsets.UTF_8);
        System.out.println("wrote " + file);
    }
}
