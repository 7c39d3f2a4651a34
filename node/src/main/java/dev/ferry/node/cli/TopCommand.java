package dev.ferry.node.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.ferry.node.NodeConfig;
import dev.ferry.nodeapi.NodeApiClient;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;

/**
 * {@code ferry top}: a live view of a running node, refreshed like top(1): per-stage packets/s, drops/s by
 * reason, per-port rates and the conntrack table's use. Rates are the differences of two {@code stats} answers
 * divided by the node's own clock between them. {@code q} quits; {@code --once} prints one frame (two samples
 * an interval apart) and exits, for scripts and tests.
 */
@Command(name = "top", mixinStandardHelpOptions = true,
    description = "Live view of a running node: packets/s per stage, drops/s by reason, ports, conntrack. q quits.")
public final class TopCommand implements Callable<Integer>
{
    private static final String CLEAR = "\033[H\033[2J";
    private static final String BOLD = "\033[1m";
    private static final String REVERSE = "\033[7m";
    private static final String RED = "\033[31m";
    private static final String RESET = "\033[0m";

    @Option(names = "--socket", paramLabel = "PATH", description = "API socket (default ${DEFAULT-VALUE})")
    private java.nio.file.Path socket = NodeConfig.DEFAULT_SOCKET;

    @Option(names = "--interval", paramLabel = "SECONDS", description = "refresh interval (default ${DEFAULT-VALUE})")
    private double interval = 1.0;

    @Option(names = "--once", description = "print one frame (rates over one interval) and exit")
    private boolean once;

    @Option(names = "--no-color", description = "no ANSI attributes (--once prints none unless --color)")
    private boolean noColor;

    @Option(names = "--color", description = "ANSI attributes even with --once")
    private boolean color;

    @Spec
    private CommandSpec spec;

    @Override
    public Integer call() throws Exception
    {
        if (!(interval >= 0.05 && interval <= 3600))
        {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(),
                "--interval: " + interval + " is out of range 0.05..3600");
        }
        final PrintWriter out = spec.commandLine().getOut();
        final long pause = (long)(interval * 1e9);
        try (NodeApiClient client = NodeApiClient.connect(socket))
        {
            final String node = client.health().path("node").asText("?");
            JsonNode prev = stats(client);
            if (once)
            {
                TimeUnit.NANOSECONDS.sleep(pause);
                final JsonNode cur = stats(client);
                render(node, interval, prev, cur, color && !noColor).forEach(out::println);
                out.flush();
                return 0;
            }
            final String saved = Terminal.raw();
            out.print("\033[?1049h\033[?25l");
            try
            {
                final InputStream in = System.in;
                while (true)
                {
                    final long until = System.nanoTime() + pause;
                    while (System.nanoTime() < until)
                    {
                        if (in.available() > 0)
                        {
                            final int c = in.read();
                            if (c == 'q' || c == 'Q' || c == 3)
                            {
                                return 0;
                            }
                        }
                        TimeUnit.MILLISECONDS.sleep(50);
                    }
                    final JsonNode cur = stats(client);
                    out.print(CLEAR);
                    render(node, interval, prev, cur, !noColor).forEach(l -> out.print(l + "\r\n"));
                    out.flush();
                    prev = cur;
                }
            }
            finally
            {
                out.print("\033[?25h\033[?1049l");
                out.flush();
                Terminal.restore(saved);
            }
        }
        catch (final IOException e)
        {
            spec.commandLine().getErr().println("ferry top: " + e.getMessage());
            return 1;
        }
    }

    private static JsonNode stats(final NodeApiClient client) throws IOException
    {
        return client.callOk(ShowCommand.MAPPER.createObjectNode().put("op", "stats"));
    }

    /**
     * One frame from two {@code stats} answers.
     *
     * @param node     the node's name.
     * @param interval the refresh interval, seconds (shown in the header).
     * @param prev     the earlier answer.
     * @param cur      the later answer.
     * @param ansi     whether to use ANSI attributes.
     * @return the frame's lines.
     */
    static List<String> render(final String node, final double interval, final JsonNode prev, final JsonNode cur,
        final boolean ansi)
    {
        final double seconds = Math.max(1e-9, (cur.path("nanos").asLong() - prev.path("nanos").asLong()) / 1e9);
        final String bold = ansi ? BOLD : "";
        final String head = ansi ? REVERSE : "";
        final String red = ansi ? RED : "";
        final String reset = ansi ? RESET : "";
        final List<String> out = new ArrayList<>();
        final JsonNode ct = cur.path("conntrack");
        final long entries = ct.path("entries").asLong();
        final long capacity = ct.path("capacity").asLong();
        final JsonNode buf = cur.path("buffers");
        out.add(bold + String.format(Locale.ROOT, "ferry top - node %s, every %.1fs (q quits)", node, interval)
            + reset);
        out.add(String.format(Locale.ROOT, "conntrack: %d of %d entries (%.1f%%)   buffers: %d of %d in use, %d"
            + " allocation failures", entries, capacity, capacity == 0 ? 0.0 : 100.0 * entries / capacity,
            buf.path("inUse").asLong(), buf.path("capacity").asLong(), buf.path("allocationFailures").asLong()));
        out.add("");

        out.add(head + String.format(Locale.ROOT, "%-22s %12s %12s %10s", "STAGE", "PACKETS/S", "CALLS/S",
            "NS/PACKET") + reset);
        final Map<String, JsonNode> before = byKey(prev.path("stages"), "name");
        final List<String[]> stageRows = new ArrayList<>();
        final List<Double> stageRates = new ArrayList<>();
        for (final JsonNode s : cur.path("stages"))
        {
            final JsonNode p = before.get(s.path("name").asText());
            final long dp = s.path("packets").asLong() - (p == null ? 0 : p.path("packets").asLong());
            final long dc = s.path("calls").asLong() - (p == null ? 0 : p.path("calls").asLong());
            final long dn = s.path("nanos").asLong() - (p == null ? 0 : p.path("nanos").asLong());
            stageRates.add(dp / seconds);
            stageRows.add(new String[] {s.path("name").asText(), String.format(Locale.ROOT, "%12.0f", dp / seconds),
                String.format(Locale.ROOT, "%12.0f", dc / seconds),
                dp == 0 ? "         -" : String.format(Locale.ROOT, "%10.1f", (double)dn / dp)});
        }
        final List<Integer> order = sortedByRate(stageRates);
        for (final int i : order)
        {
            final String[] r = stageRows.get(i);
            out.add(String.format(Locale.ROOT, "%-22s %s %s %s", r[0], r[1], r[2], r[3]));
        }
        out.add("");

        out.add(head + String.format(Locale.ROOT, "%-22s %12s %12s  %s", "DROPPED BY", "DROPS/S", "TOTAL", "REASON")
            + reset);
        final Map<String, JsonNode> dropsBefore = new HashMap<>();
        for (final JsonNode d : prev.path("drops"))
        {
            dropsBefore.put(d.path("node").asText() + "\0" + d.path("reason").asText(), d);
        }
        int dropLines = 0;
        for (final JsonNode d : cur.path("drops"))
        {
            final JsonNode p = dropsBefore.get(d.path("node").asText() + "\0" + d.path("reason").asText());
            final long total = d.path("count").asLong();
            final double rate = (total - (p == null ? 0 : p.path("count").asLong())) / seconds;
            out.add((rate > 0 ? red : "") + String.format(Locale.ROOT, "%-22s %12.0f %12d  %s", d.path("node").asText(),
                rate, total, d.path("reason").asText()) + (rate > 0 ? reset : ""));
            dropLines++;
        }
        if (dropLines == 0)
        {
            out.add("(no drops)");
        }
        out.add("");

        out.add(head + String.format(Locale.ROOT, "%-15s %11s %11s %11s %11s %10s %10s", "PORT", "RX PKT/S",
            "TX PKT/S", "RX MBIT/S", "TX MBIT/S", "RX DROP/S", "TX DROP/S") + reset);
        final Map<String, JsonNode> portsBefore = byKey(prev.path("ports"), "name");
        for (final JsonNode p : cur.path("ports"))
        {
            final JsonNode b = portsBefore.get(p.path("name").asText());
            out.add(String.format(Locale.ROOT, "%-15s %11.0f %11.0f %11.2f %11.2f %10.0f %10.0f",
                p.path("name").asText(), rate(p, b, "rxPackets", seconds), rate(p, b, "txPackets", seconds),
                rate(p, b, "rxBytes", seconds) * 8 / 1e6, rate(p, b, "txBytes", seconds) * 8 / 1e6,
                rate(p, b, "rxDropped", seconds), rate(p, b, "txDropped", seconds)));
        }
        return out;
    }

    private static double rate(final JsonNode cur, final JsonNode prev, final String field, final double seconds)
    {
        return (cur.path(field).asLong() - (prev == null ? 0 : prev.path(field).asLong())) / seconds;
    }

    private static Map<String, JsonNode> byKey(final JsonNode array, final String key)
    {
        final Map<String, JsonNode> m = new HashMap<>();
        for (final JsonNode n : array)
        {
            m.put(n.path(key).asText(), n);
        }
        return m;
    }

    private static List<Integer> sortedByRate(final List<Double> rates)
    {
        final List<Integer> order = new ArrayList<>();
        for (int i = 0; i < rates.size(); i++)
        {
            order.add(i);
        }
        // busiest first; equal rates keep the graph's order
        order.sort(Comparator.comparingDouble((Integer i) -> -rates.get(i)));
        return order;
    }

    /** The controlling terminal in raw mode (stty), so that a single q quits without Enter. */
    private static final class Terminal
    {
        private Terminal()
        {
        }

        static String raw()
        {
            final String saved = stty("-g");
            if (saved != null)
            {
                stty("-icanon -echo min 0");
            }
            return saved;
        }

        static void restore(final String saved)
        {
            if (saved != null)
            {
                stty(saved);
            }
        }

        private static String stty(final String args)
        {
            try
            {
                final Process p = new ProcessBuilder("sh", "-c", "stty " + args + " < /dev/tty")
                    .redirectErrorStream(true).start();
                final String out = new String(p.getInputStream().readAllBytes(),
                    java.nio.charset.StandardCharsets.UTF_8).trim();
                return p.waitFor() == 0 ? out : null;
            }
            catch (final IOException e)
            {
                return null;
            }
            catch (final InterruptedException e)
            {
                Thread.currentThread().interrupt();
                return null;
            }
        }
    }
}
