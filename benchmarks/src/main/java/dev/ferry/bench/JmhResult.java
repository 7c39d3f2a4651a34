package dev.ferry.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * One benchmark result from a JMH {@code -rf json} file: the primary score with its error, the per-fork raw
 * data, and the secondary metrics (the gc profiler's {@code gc.alloc.rate.norm} among them).
 *
 * @param benchmark full benchmark name, e.g. {@code dev.ferry.bench.L3GraphBenchmark.forward}.
 * @param mode      JMH mode ({@code avgt}, {@code thrpt}, {@code sample}, {@code ss}).
 * @param params    the {@code @Param} values, sorted by name.
 * @param score     primary score.
 * @param error     JMH's scoreError (half width of the 99.9% interval), NaN when there was one sample.
 * @param unit      score unit, e.g. {@code ns/op}.
 * @param forks     raw primary data: one list of iteration scores per fork.
 * @param secondary secondary metrics by name.
 */
public record JmhResult(
    String benchmark,
    String mode,
    Map<String, String> params,
    double score,
    double error,
    String unit,
    List<List<Double>> forks,
    Map<String, Metric> secondary)
{
    /** Prefix left out of printed names. */
    public static final String PACKAGE_PREFIX = "dev.ferry.bench.";
    /** The gc profiler's allocation per operation, in bytes. */
    public static final String ALLOC_NORM = "gc.alloc.rate.norm";
    /** Benchmark methods whose name starts with this measure control-plane work and may allocate. */
    public static final String CONTROL_PREFIX = "control";

    /**
     * Copies the collections.
     *
     * @param benchmark full name.
     * @param mode      mode.
     * @param params    parameters.
     * @param score     score.
     * @param error     score error.
     * @param unit      unit.
     * @param forks     raw data per fork.
     * @param secondary secondary metrics.
     */
    public JmhResult
    {
        params = Collections.unmodifiableMap(new TreeMap<>(params));
        forks = List.copyOf(forks);
        secondary = Collections.unmodifiableMap(new TreeMap<>(secondary));
    }

    /**
     * A secondary metric.
     *
     * @param score score.
     * @param error score error.
     * @param unit  unit.
     */
    public record Metric(double score, double error, String unit)
    {
    }

    /**
     * Reads a JMH JSON results file.
     *
     * @param file the file.
     * @return its results, in file order.
     * @throws IOException when the file cannot be read or is not a JMH results array.
     */
    public static List<JmhResult> read(final Path file) throws IOException
    {
        final JsonNode root = new ObjectMapper().readTree(file.toFile());
        if (root == null || !root.isArray())
        {
            throw new IOException(file + ": not a JMH JSON results file (expected an array)");
        }
        final List<JmhResult> out = new ArrayList<>();
        for (final JsonNode b : root)
        {
            out.add(parse(b));
        }
        return out;
    }

    private static JmhResult parse(final JsonNode b)
    {
        final Map<String, String> params = new TreeMap<>();
        final JsonNode p = b.path("params");
        for (final Map.Entry<String, JsonNode> e : p.properties())
        {
            params.put(e.getKey(), e.getValue().asText());
        }
        final JsonNode primary = b.path("primaryMetric");
        final List<List<Double>> forks = new ArrayList<>();
        for (final JsonNode fork : primary.path("rawData"))
        {
            final List<Double> iterations = new ArrayList<>();
            for (final JsonNode v : fork)
            {
                iterations.add(v.asDouble());
            }
            forks.add(iterations);
        }
        final Map<String, Metric> secondary = new TreeMap<>();
        for (final Map.Entry<String, JsonNode> e : b.path("secondaryMetrics").properties())
        {
            secondary.put(e.getKey(), new Metric(number(e.getValue().path("score")),
                number(e.getValue().path("scoreError")), e.getValue().path("scoreUnit").asText()));
        }
        return new JmhResult(b.path("benchmark").asText(), b.path("mode").asText(), params,
            number(primary.path("score")), number(primary.path("scoreError")), primary.path("scoreUnit").asText(),
            forks, secondary);
    }

    /** JMH writes "NaN" as a string when a value is undefined. */
    private static double number(final JsonNode n)
    {
        if (n.isNumber())
        {
            return n.asDouble();
        }
        return Double.NaN;
    }

    /** @return the benchmark name without the package, e.g. {@code L3GraphBenchmark.forward}. */
    public String shortName()
    {
        return benchmark.startsWith(PACKAGE_PREFIX) ? benchmark.substring(PACKAGE_PREFIX.length()) : benchmark;
    }

    /** @return the method (or group) name. */
    public String method()
    {
        return benchmark.substring(benchmark.lastIndexOf('.') + 1);
    }

    /** @return the parameters as {@code a=1,b=2}, or an empty string. */
    public String paramText()
    {
        final StringBuilder sb = new StringBuilder();
        for (final Map.Entry<String, String> e : params.entrySet())
        {
            if (!sb.isEmpty())
            {
                sb.append(',');
            }
            sb.append(e.getKey()).append('=').append(e.getValue());
        }
        return sb.toString();
    }

    /** @return what identifies this result across runs: name, parameters and mode. */
    public String key()
    {
        final String p = paramText();
        return shortName() + (p.isEmpty() ? "" : " " + p) + " [" + mode + "]";
    }

    /**
     * The naming rule of the gc check: every benchmark is hot path (must allocate nothing) unless its method
     * name starts with {@value #CONTROL_PREFIX} (table compilation and other control-plane work).
     *
     * @return whether the gc check applies.
     */
    public boolean hotPath()
    {
        return !method().startsWith(CONTROL_PREFIX);
    }

    /** @return bytes allocated per operation, or NaN when the gc profiler did not run. */
    public double allocatedPerOp()
    {
        final Metric m = secondary.get(ALLOC_NORM);
        return m == null ? Double.NaN : m.score();
    }

    /** @return whether higher scores are better (throughput mode). */
    public boolean higherIsBetter()
    {
        return "thrpt".equals(mode);
    }

    /** @return the mean of each fork's iterations, in fork order. */
    public List<Double> forkMeans()
    {
        final List<Double> out = new ArrayList<>();
        for (final List<Double> f : forks)
        {
            double sum = 0;
            for (final double v : f)
            {
                sum += v;
            }
            out.add(f.isEmpty() ? Double.NaN : sum / f.size());
        }
        return out;
    }

    /**
     * @param values numbers.
     * @return their median, or NaN when empty.
     */
    public static double median(final List<Double> values)
    {
        if (values.isEmpty())
        {
            return Double.NaN;
        }
        final List<Double> sorted = new ArrayList<>(values);
        Collections.sort(sorted);
        final int n = sorted.size();
        return n % 2 == 1 ? sorted.get(n / 2) : (sorted.get(n / 2 - 1) + sorted.get(n / 2)) / 2;
    }
}
