package dev.ferry.agent.cli;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.assertj.core.api.Assertions.assertThat;

/** The agent's metrics flags: a default port away from kube-proxy's 10249, a loopback default address. */
class AgentMetricsOptionsTest
{
    @Test
    void shouldDefaultToPort9732OnLoopback()
    {
        final CommandLine cli = new CommandLine(new AgentCommand());
        cli.parseArgs("--node", "node-a");

        assertThat(cli.getCommandSpec().findOption("--metrics-port").<Integer>getValue())
            .as("not kube-proxy's 10249, next to the node's 9731").isEqualTo(9732);
        assertThat(cli.getCommandSpec().findOption("--metrics-bind-address").<String>getValue())
            .isEqualTo("127.0.0.1");
        assertThat(cli.getUsageMessage().replaceAll("\\s+", " ")).contains("--metrics-bind-address=IP").contains("default: 9732")
            .contains("default: 127.0.0.1");
    }

    @Test
    void shouldTakeABindAddressAndRefuseANameBeforeStarting()
    {
        final CommandLine ok = new CommandLine(new AgentCommand());
        ok.parseArgs("--node", "node-a", "--metrics-bind-address", "0.0.0.0", "--metrics-port", "10249");
        assertThat(ok.getCommandSpec().findOption("--metrics-bind-address").<String>getValue()).isEqualTo("0.0.0.0");
        assertThat(ok.getCommandSpec().findOption("--metrics-port").<Integer>getValue()).isEqualTo(10249);

        final ByteArrayOutputStream err = new ByteArrayOutputStream();
        final PrintStream saved = System.err;
        final int code;
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try
        {
            code = new CommandLine(new AgentCommand()).execute("--node", "node-a", "--manifests", "/nonexistent",
                "--metrics-bind-address", "localhost");
        }
        finally
        {
            System.setErr(saved);
        }
        assertThat(code).isEqualTo(2);
        assertThat(err.toString(StandardCharsets.UTF_8)).isEqualTo("ferry agent: --metrics-bind-address: "
            + "'localhost' is not an IP address (e.g. 127.0.0.1, 0.0.0.0, ::)" + System.lineSeparator());
    }

    @Test
    void shouldRefuseAnUnknownLogLevelBeforeStarting()
    {
        final ByteArrayOutputStream err = new ByteArrayOutputStream();
        final PrintStream saved = System.err;
        final int code;
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try
        {
            code = new CommandLine(new AgentCommand()).execute("--node", "node-a", "--manifests", "/nonexistent",
                "--log-level", "loud");
        }
        finally
        {
            System.setErr(saved);
        }
        assertThat(code).isEqualTo(2);
        assertThat(err.toString(StandardCharsets.UTF_8)).isEqualTo("ferry agent: --log-level: 'loud' is not one of "
            + "error, warn, info, debug, trace" + System.lineSeparator());
        assertThat(new CommandLine(new AgentCommand()).getUsageMessage()).contains("--log-level=LEVEL");
    }
}
