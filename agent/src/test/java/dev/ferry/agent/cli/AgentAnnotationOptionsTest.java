package dev.ferry.agent.cli;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import static org.assertj.core.api.Assertions.assertThat;

/** The node-annotation flag: on by default (ferry replaces flannel), off with its negation. */
class AgentAnnotationOptionsTest
{
    private static boolean publishes(final String... args)
    {
        final CommandLine cli = new CommandLine(new AgentCommand());
        cli.parseArgs(args);
        return cli.getCommandSpec().findOption("--publish-node-annotations").<Boolean>getValue();
    }

    @Test
    void shouldPublishByDefaultAndNotWhenNegated()
    {
        assertThat(publishes("--node", "node-a")).isTrue();
        assertThat(publishes("--node", "node-a", "--no-publish-node-annotations")).isFalse();
        assertThat(new CommandLine(new AgentCommand()).getUsageMessage())
            .contains("--[no-]publish-node-annotations");
    }
}
