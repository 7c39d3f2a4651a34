package dev.ferry.node.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ferry.conntrack.ConntrackFilter;
import dev.ferry.core.route.Ip4;
import dev.ferry.node.ConntrackJson;
import dev.ferry.nodeapi.NodeApiClient;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.regex.Pattern;

/**
 * {@code ferry show conntrack}: conntrack(8) on a running node. Lists ({@code -L}, the default), counts
 * ({@code -C}), deletes ({@code -D}) or flushes ({@code -F}) the entries that conntrack's filters select:
 * {@code -p}, {@code -s/-d/--sport/--dport} on the original direction's tuple and {@code -r/-q} on the reply
 * direction's. The node walks its table a bounded step at a time; a list arrives in answers of at most 65,536
 * entries, printed as they come. {@code -E} streams NEW, UPDATE and DESTROY events as they happen, polling the
 * node a few times a second, until interrupted (or {@code --limit} events).
 */
@Command(name = "conntrack", mixinStandardHelpOptions = true,
    description = "The connection tracking table, conntrack(8) style: list (default), -C count, -D delete,"
        + " -F flush, -E events, with conntrack's filters.")
public final class ConntrackCommand implements Callable<Integer>
{
    private static final Pattern COUNTERS = Pattern.compile(" packets=\\d+ bytes=\\d+");
    // conntrack -E prints no timeout on DESTROY: "tcp      6 431999 ESTABLISHED" -> "tcp      6 ESTABLISHED"
    private static final Pattern NO_TIMEOUT = Pattern.compile("^(\\S+\\s+\\d+) \\d+ ");
    /** Pause between two polls of an event stream with nothing more waiting. */
    private static final long POLL_MILLIS = 200;

    @Mixin
    private ShowCommand.Common common;

    @Spec
    private CommandSpec spec;

    @ArgGroup(exclusive = true)
    private Action action = new Action();

    /** One of list, count, delete, flush. */
    static final class Action
    {
        @Option(names = {"-L", "--dump"}, description = "list the selected entries (the default)")
        boolean list;

        @Option(names = {"-C", "--count"}, description = "print how many entries are selected")
        boolean count;

        @Option(names = {"-D", "--delete"},
            description = "delete the selected entries (as if they expired: masquerade ports are released)")
        boolean delete;

        @Option(names = {"-F", "--flush"}, description = "delete every entry (filters are refused)")
        boolean flush;

        @Option(names = {"-E", "--event"},
            description = "stream NEW, UPDATE and DESTROY events of the selected entries until interrupted")
        boolean events;
    }

    @Option(names = {"-p", "--proto"}, paramLabel = "PROTO", completionCandidates = Protocols.class,
        description = "protocol: tcp, udp, icmp or a number")
    private String proto;

    @Option(names = {"-s", "--src", "--orig-src"}, paramLabel = "IP", description = "original source address")
    private String src;

    @Option(names = {"-d", "--dst", "--orig-dst"}, paramLabel = "IP", description = "original destination address")
    private String dst;

    @Option(names = {"--sport", "--orig-port-src"}, paramLabel = "PORT",
        description = "original source port (needs -p tcp or udp)")
    private Integer sport;

    @Option(names = {"--dport", "--orig-port-dst"}, paramLabel = "PORT",
        description = "original destination port (needs -p tcp or udp)")
    private Integer dport;

    @Option(names = {"-r", "--reply-src"}, paramLabel = "IP",
        description = "reply source address (where a Service's connection was DNATed to)")
    private String replySrc;

    @Option(names = {"-q", "--reply-dst"}, paramLabel = "IP",
        description = "reply destination address (the SNAT address of a masqueraded connection)")
    private String replyDst;

    @Option(names = "--limit", paramLabel = "N",
        description = "list at most N entries (default: all); with -E, stop after N events")
    private long limit;

    /** Completion candidates of {@code -p}. */
    static final class Protocols extends java.util.ArrayList<String>
    {
        private static final long serialVersionUID = 1L;

        Protocols()
        {
            super(java.util.List.of("tcp", "udp", "icmp"));
        }
    }

    /**
     * @return the filter the options describe.
     * @throws ParameterException when an option's value is wrong, naming it.
     */
    ConntrackFilter filter()
    {
        final int p = protocol();
        if ((sport != null || dport != null) && p != 6 && p != 17)
        {
            throw new ParameterException(spec.commandLine(), "--sport and --dport need -p tcp or -p udp");
        }
        try
        {
            return new ConntrackFilter(p, address("-s", src), address("-d", dst), port("--sport", sport),
                port("--dport", dport), address("-r", replySrc), address("-q", replyDst));
        }
        catch (final IllegalArgumentException e)
        {
            throw new ParameterException(spec.commandLine(), e.getMessage());
        }
    }

    private int protocol()
    {
        if (proto == null)
        {
            return ConntrackFilter.ANY;
        }
        return switch (proto.toLowerCase(Locale.ROOT))
        {
            case "tcp" -> 6;
            case "udp" -> 17;
            case "icmp" -> 1;
            default ->
            {
                try
                {
                    final int n = Integer.parseInt(proto);
                    if (n < 0 || n > 255)
                    {
                        throw new NumberFormatException();
                    }
                    yield n;
                }
                catch (final NumberFormatException e)
                {
                    throw new ParameterException(spec.commandLine(), "-p: '" + proto
                        + "' is not tcp, udp, icmp or a protocol number 0..255");
                }
            }
        };
    }

    private long address(final String option, final String text)
    {
        if (text == null)
        {
            return ConntrackFilter.ANY;
        }
        try
        {
            return Integer.toUnsignedLong(Ip4.parse(text));
        }
        catch (final IllegalArgumentException e)
        {
            throw new ParameterException(spec.commandLine(), option + ": '" + text + "' is not an IPv4 address");
        }
    }

    private int port(final String option, final Integer p)
    {
        if (p == null)
        {
            return ConntrackFilter.ANY;
        }
        if (p < 0 || p > 65535)
        {
            throw new ParameterException(spec.commandLine(), option + ": " + p + " is not a port 0..65535");
        }
        return p;
    }

    @Override
    public Integer call()
    {
        final ConntrackFilter filter = filter();
        if (action.flush && !filter.equals(ConntrackFilter.ALL))
        {
            throw new ParameterException(spec.commandLine(), "-F takes no filter (use -D with the filter)");
        }
        final PrintWriter out = spec.commandLine().getOut();
        try (NodeApiClient client = NodeApiClient.connect(common.socket))
        {
            if (action.count || action.delete || action.flush)
            {
                final String verb = action.count ? "count" : "delete";
                final JsonNode a = client.callOk(request(verb, filter));
                final long n = a.path("matched").asLong();
                if (common.output == ShowCommand.Output.json)
                {
                    out.println(ShowCommand.MAPPER.createObjectNode().put(action.count ? "count" : "deleted", n));
                }
                else if (action.count)
                {
                    out.println(n);
                }
                else if (action.flush)
                {
                    out.println("connection tracking table has been emptied (" + n + " flow entries deleted).");
                }
                else
                {
                    out.println(n + " flow entries have been deleted.");
                }
            }
            else if (action.events)
            {
                events(client, filter, out);
            }
            else
            {
                list(client, filter, out);
            }
            out.flush();
            return 0;
        }
        catch (final IOException e)
        {
            spec.commandLine().getErr().println("ferry show conntrack: " + e.getMessage());
            return 1;
        }
    }

    private ObjectNode request(final String verb, final ConntrackFilter filter)
    {
        final ObjectNode r = ShowCommand.MAPPER.createObjectNode().put("op", "conntrack").put("action", verb);
        r.set("filter", ConntrackJson.encode(filter));
        return r;
    }

    /**
     * Streams events: opens a stream, then polls it, at once while the node says more wait, else after a short
     * pause. Text lines as conntrack -E prints them ({@code [NEW]} right-aligned, no timeout on DESTROY); json:
     * one object per line. A count of lost events is a line of its own where they were lost.
     */
    private void events(final NodeApiClient client, final ConntrackFilter filter, final PrintWriter out)
        throws IOException
    {
        final boolean json = common.output == ShowCommand.Output.json;
        final long id = client.callOk(request("events", filter)).path("id").asLong();
        long shown = 0;
        try
        {
            while (limit <= 0 || shown < limit)
            {
                final JsonNode a = client.callOk(stream(id));
                final long lost = a.path("lost").asLong();
                if (lost > 0)
                {
                    out.println(json ? ShowCommand.MAPPER.createObjectNode().put("lost", lost).toString()
                        : lost + " events lost");
                }
                for (final JsonNode e : a.path("events"))
                {
                    if (limit > 0 && shown >= limit)
                    {
                        break;
                    }
                    out.println(json ? e.toString() : eventLine(e));
                    shown++;
                }
                out.flush();
                if (!a.path("more").asBoolean() && (limit <= 0 || shown < limit))
                {
                    Thread.sleep(POLL_MILLIS);
                }
            }
        }
        catch (final InterruptedException e)
        {
            Thread.currentThread().interrupt();
        }
        client.callOk(stream(id).put("close", true));
    }

    /** @return a request about the open event stream {@code id} (a poll, or with {@code close} its end). */
    private static ObjectNode stream(final long id)
    {
        return ShowCommand.MAPPER.createObjectNode().put("op", "conntrack").put("action", "events").put("id", id);
    }

    /**
     * @param e an event's JSON.
     * @return its conntrack -E line.
     */
    public static String eventLine(final JsonNode e)
    {
        final String type = e.path("type").asText("?");
        String line = COUNTERS.matcher(ConntrackJson.decode(e).format()).replaceAll("");
        if ("DESTROY".equals(type))
        {
            line = NO_TIMEOUT.matcher(line).replaceFirst("$1 ");
        }
        return String.format(Locale.ROOT, "%9s %s", "[" + type + "]", line);
    }

    /** Lists answer by answer, each continuing where the last stopped, printing as they arrive. */
    private void list(final NodeApiClient client, final ConntrackFilter filter, final PrintWriter out)
        throws IOException
    {
        final boolean json = common.output == ShowCommand.Output.json;
        if (json)
        {
            out.print("{\"entries\":[");
        }
        long shown = 0;
        int from = 0;
        while (from >= 0 && (limit <= 0 || shown < limit))
        {
            final ObjectNode r = request("list", filter).put("from", from);
            if (limit > 0)
            {
                r.put("limit", Math.min(limit - shown, Integer.MAX_VALUE));
            }
            final JsonNode a = client.callOk(r);
            for (final JsonNode e : a.path("entries"))
            {
                if (json)
                {
                    out.print(shown == 0 ? "\n" : ",\n");
                    out.print(e);
                }
                else
                {
                    final String line = ConntrackJson.decode(e).format();
                    out.println(common.output == ShowCommand.Output.wide ? line
                        : COUNTERS.matcher(line).replaceAll(""));
                }
                shown++;
            }
            out.flush();
            from = a.path("next").asInt(-1);
        }
        if (json)
        {
            out.println((shown == 0 ? "" : "\n") + "],\"count\":" + shown + "}");
        }
        else
        {
            spec.commandLine().getErr().println("ferry show conntrack: " + shown + " flow entries have been shown.");
        }
    }
}
