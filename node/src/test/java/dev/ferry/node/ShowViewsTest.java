package dev.ferry.node;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ferry.node.cli.ShowCommand;
import dev.ferry.nodeapi.NodeApiClient;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code ferry show VIEW} against a running node (memory ports): each subcommand, an alias included, asks the node
 * for the view it is named after and prints what the API's {@code show} op answers, as text or (routes) as JSON fields.
 */
class ShowViewsTest
{
    private static final ObjectMapper MAPPER = new ObjectMapper();

    @TempDir
    Path dir;

    private static List<String> run(final Path socket, final String... args)
    {
        final StringWriter out = new StringWriter();
        final StringWriter err = new StringWriter();
        final CommandLine cl = new CommandLine(new ShowCommand());
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(err));
        final String[] all = new String[args.length + 2];
        System.arraycopy(args, 0, all, 0, args.length);
        all[args.length] = "--socket";
        all[args.length + 1] = socket.toString();
        assertThat(cl.execute(all)).as("ferry show " + String.join(" ", args) + ": " + err).isZero();
        return out.toString().lines().toList();
    }

    @Test
    void shouldPrintTheViewEachSubcommandIsNamedAfter() throws Exception
    {
        try (NodeFixture node = new NodeFixture(dir, ThreadingMode.DEDICATED, NodeFixture.basic(1));
            NodeApiClient client = NodeApiClient.connect(node.socket()))
        {
            for (final String view : List.of("routes", "neighbors", "services", "trace"))
            {
                final List<String> expected = client.show(view);
                assertThat(expected).as(view + ": the node answers it").isNotEmpty()
                    .noneMatch(l -> l.startsWith("No feature answers"));
                assertThat(run(node.socket(), view)).as("ferry show " + view).isEqualTo(expected);
            }
            assertThat(run(node.socket(), "neighbours")).as("the alias asks for the same view")
                .isEqualTo(client.show("neighbors"));

            final JsonNode json = MAPPER.readTree(String.join("\n", run(node.socket(), "routes", "-o", "json")));
            final List<String> lines = new ArrayList<>();
            lines.add("# generation " + json.path("generation").asLong());
            json.path("routes").forEach(r -> lines.add(r.path("prefix").asText() + " " + r.path("kind").asText() + " "
                + r.path("description").asText()));
            assertThat(lines).as("-o json: the routes as fields (ShowJsonTest checks every view)")
                .isEqualTo(client.show("routes"));
        }
    }
}
