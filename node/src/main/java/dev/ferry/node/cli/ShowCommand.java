package dev.ferry.node.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ferry.node.NodeConfig;
import dev.ferry.nodeapi.NodeApiClient;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * {@code ferry show routes|neighbors|services|conntrack|stats|runtime|ports|trace}: asks a running node. Each view
 * is a subcommand with its own help (and shell completion: {@code ferry completion bash}); every view takes
 * {@code -o text|json|wide}.
 */
@Command(name = "show", mixinStandardHelpOptions = true,
    description = "Show a running node's state: routes (ip route), neighbors (ip neigh), services (ipvsadm -Ln),"
        + " conntrack (conntrack -L/-C/-D/-F), stats and runtime (VPP show runtime), trace, ports.",
    subcommands = {ShowCommand.Routes.class, ShowCommand.Neighbors.class, ShowCommand.Services.class,
        ConntrackCommand.class, ShowCommand.Stats.class, ShowCommand.Runtime.class, ShowCommand.Ports.class,
        ShowCommand.Trace.class})
public final class ShowCommand implements Callable<Integer>
{
    static final ObjectMapper MAPPER = new ObjectMapper();

    @Spec
    private CommandSpec spec;

    @Override
    public Integer call()
    {
        spec.commandLine().usage(spec.commandLine().getErr());
        return 2;
    }

    /** How a view prints. */
    public enum Output
    {
        /** What the classic tool prints. */
        text,
        /** One JSON document (the schemas are in node's README). */
        json,
        /** Text with every column (conntrack: the per-direction counters). */
        wide
    }

    /** The options every view takes: the node's socket and the output format. */
    public static final class Common
    {
        @Option(names = "--socket", paramLabel = "PATH", description = "API socket (default ${DEFAULT-VALUE})")
        Path socket = NodeConfig.DEFAULT_SOCKET;

        @Option(names = {"-o", "--output"}, paramLabel = "FORMAT",
            description = "text, json or wide (default ${DEFAULT-VALUE})")
        Output output = Output.text;
    }

    /**
     * A view the node answers with the {@code show} op: text lines, or with {@code -o json} the view's data on one
     * line (the {@code show} op's {@code "format":"json"} answer without the protocol's envelope).
     */
    abstract static class LinesView implements Callable<Integer>
    {
        @Mixin
        Common common;

        @Spec
        CommandSpec spec;

        /** @return the node's name for the view: the subcommand's name ({@code show} op's {@code what}). */
        String what()
        {
            return spec.name();
        }

        @Override
        public Integer call()
        {
            final PrintWriter out = spec.commandLine().getOut();
            try (NodeApiClient client = NodeApiClient.connect(common.socket))
            {
                if (common.output == Output.json)
                {
                    out.println(json(client));
                }
                else
                {
                    client.show(what()).forEach(out::println);
                }
                out.flush();
                return 0;
            }
            catch (final IOException e)
            {
                spec.commandLine().getErr().println("ferry show " + what() + ": " + e.getMessage());
                return 1;
            }
        }

        JsonNode json(final NodeApiClient client) throws IOException
        {
            return withoutEnvelope(client.showJson(what()));
        }
    }

    /** A view over the worker's counters: JSON is the {@code stats} op's answer. */
    abstract static class StatsView extends LinesView
    {
        @Override
        JsonNode json(final NodeApiClient client) throws IOException
        {
            return withoutEnvelope(client.callOk(MAPPER.createObjectNode().put("op", "stats")));
        }
    }

    /**
     * @param answer an API answer.
     * @return it without the protocol's {@code v}, {@code ok} and {@code op} fields.
     */
    static ObjectNode withoutEnvelope(final JsonNode answer)
    {
        final ObjectNode o = ((ObjectNode)answer).deepCopy();
        o.remove(java.util.List.of("v", "ok", "op"));
        return o;
    }

    /** {@code ferry show routes}. */
    @Command(name = "routes", mixinStandardHelpOptions = true, description = "The FIB, ip route style.")
    static final class Routes extends LinesView
    {
    }

    /** {@code ferry show neighbors}. */
    @Command(name = "neighbors", aliases = "neighbours", mixinStandardHelpOptions = true,
        description = "Neighbours (pods, remote nodes, learned underlay), ip neigh style.")
    static final class Neighbors extends LinesView
    {
    }

    /** {@code ferry show services}. */
    @Command(name = "services", mixinStandardHelpOptions = true,
        description = "The Service table, ipvsadm -Ln style.")
    static final class Services extends LinesView
    {
    }

    /** {@code ferry show stats}. */
    @Command(name = "stats", mixinStandardHelpOptions = true,
        description = "Per-stage runtime, drops by reason, buffers.")
    static final class Stats extends StatsView
    {
    }

    /** {@code ferry show runtime}. */
    @Command(name = "runtime", mixinStandardHelpOptions = true, description = "Per-stage runtime, VPP style.")
    static final class Runtime extends StatsView
    {
    }

    /** {@code ferry show ports}. */
    @Command(name = "ports", mixinStandardHelpOptions = true, description = "Ports and their counters.")
    static final class Ports extends LinesView
    {
    }

    /** {@code ferry show trace}. */
    @Command(name = "trace", mixinStandardHelpOptions = true,
        description = "Packets traced since 'ferry trace add N'.")
    static final class Trace extends LinesView
    {
    }
}
