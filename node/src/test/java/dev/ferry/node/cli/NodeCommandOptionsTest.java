package dev.ferry.node.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/** {@code ferry node}'s --log-level and --healthz-bind-address: checked with node.yaml's rules before starting. */
class NodeCommandOptionsTest
{
    @TempDir
    Path dir;

    private String refusal(final String... extra) throws Exception
    {
        final Path yaml = Files.writeString(dir.resolve("node.yaml"), "nodeName: node-a\nuplink: eth9\n");
        final String[] args = new String[extra.length + 2];
        args[0] = "--config";
        args[1] = yaml.toString();
        System.arraycopy(extra, 0, args, 2, extra.length);
        final ByteArrayOutputStream err = new ByteArrayOutputStream();
        final PrintStream saved = System.err;
        final int code;
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try
        {
            code = new CommandLine(new NodeCommand()).execute(args);
        }
        finally
        {
            System.setErr(saved);
        }
        assertThat(code).as("refused before starting").isEqualTo(2);
        return err.toString(StandardCharsets.UTF_8).strip();
    }

    @Test
    void shouldRefuseAnUnknownLogLevelAndABadHealthzAddress() throws Exception
    {
        assertThat(refusal("--log-level", "loud")).isEqualTo("ferry node: logLevel: 'loud' is not one of error, warn,"
            + " info, debug, trace");
        assertThat(refusal("--healthz-bind-address", "localhost:10256")).isEqualTo("ferry node: healthzBindAddress: "
            + "'localhost:10256' is not IP:PORT (e.g. 0.0.0.0:10256)");
        assertThat(new CommandLine(new NodeCommand()).getUsageMessage()).contains("--log-level=LEVEL")
            .contains("--healthz-bind-address=IP:PORT");
    }
}
