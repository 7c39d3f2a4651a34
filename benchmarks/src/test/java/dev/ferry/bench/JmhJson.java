package dev.ferry.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** Writes small JMH-shaped results files for the tools' tests. */
final class JmhJson
{
    private final List<String> entries = new ArrayList<>();

    /**
     * Adds a benchmark entry shaped like JMH 1.37's {@code -rf json} output.
     *
     * @param benchmark full name.
     * @param params    "name=value" pairs, or empty.
     * @param mode      mode.
     * @param score     score.
     * @param error     score error, NaN for "NaN".
     * @param alloc     gc.alloc.rate.norm, NaN to leave the metric out.
     * @param forks     raw data per fork.
     * @return this.
     */
    JmhJson add(final String benchmark, final String params, final String mode, final double score,
        final double error, final double alloc, final double[]... forks)
    {
        final StringBuilder sb = new StringBuilder();
        sb.append("{\"jmhVersion\":\"1.37\",\"benchmark\":\"").append(benchmark).append("\",\"mode\":\"")
            .append(mode).append("\",\"threads\":1,\"forks\":").append(forks.length).append(',');
        if (!params.isEmpty())
        {
            sb.append("\"params\":{");
            final String[] kv = params.split(",");
            for (int i = 0; i < kv.length; i++)
            {
                final String[] p = kv[i].split("=");
                sb.append(i > 0 ? "," : "").append('"').append(p[0]).append("\":\"").append(p[1]).append('"');
            }
            sb.append("},");
        }
        sb.append("\"primaryMetric\":").append(metric(score, error, "ns/op", forks));
        sb.append(",\"secondaryMetrics\":{");
        if (!Double.isNaN(alloc))
        {
            sb.append("\"gc.alloc.rate.norm\":").append(metric(alloc, Double.NaN, "B/op", new double[] {alloc}));
        }
        sb.append("}}");
        entries.add(sb.toString());
        return this;
    }

    private static String metric(final double score, final double error, final String unit, final double[]... raw)
    {
        final StringBuilder sb = new StringBuilder();
        sb.append("{\"score\":").append(num(score)).append(",\"scoreError\":").append(num(error))
            .append(",\"scoreUnit\":\"").append(unit).append("\",\"rawData\":[");
        for (int f = 0; f < raw.length; f++)
        {
            sb.append(f > 0 ? "," : "").append('[');
            for (int i = 0; i < raw[f].length; i++)
            {
                sb.append(i > 0 ? "," : "").append(num(raw[f][i]));
            }
            sb.append(']');
        }
        return sb.append("]}").toString();
    }

    private static String num(final double v)
    {
        return Double.isNaN(v) ? "\"NaN\"" : String.format(Locale.ROOT, "%.6f", v);
    }

    Path write(final Path file) throws IOException
    {
        Files.writeString(file, "[" + String.join(",\n", entries) + "]");
        return file;
    }
}
