package dev.ferry.cli;

import dev.ferry.agent.cli.AgentCommand;
import dev.ferry.node.cli.NodeCommand;
import dev.ferry.node.cli.ShowCommand;
import dev.ferry.node.cli.TopCommand;
import dev.ferry.node.cli.TraceCommand;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code ferry} command: {@code replay} (a capture through one node's graph), {@code node} (the node
 * dataplane), {@code agent} (computes and pushes tables), {@code show} and {@code trace} (query a running
 * node), {@code scenario} (writes the bundled example captures).
 */
@Command(name = "ferry", mixinStandardHelpOptions = true, version = "ferry 0.1.0",
    description = "User-space packet-forwarding dataplane for Kubernetes nodes.",
    subcommands = {ReplayCommand.class, NodeCommand.class, AgentCommand.class, ShowCommand.class, TraceCommand.class,
        ScenarioCommand.class, dev.ferry.lab.LabCommand.class, TopCommand.class, CompletionCommand.class,
        CommandLine.HelpCommand.class})
public final class Ferry
{
    private Ferry()
    {
    }

    /**
     * Builds the command line with ferry's error handling: a user error is one clear line, not a trace.
     *
     * @return the command line.
     */
    public static CommandLine commandLine()
    {
        final CommandLine cl = new CommandLine(new Ferry());
        cl.setExecutionExceptionHandler((ex, cmd, parseResult) ->
        {
            final Throwable t = ex instanceof java.io.UncheckedIOException u ? u.getCause() : ex;
            cmd.getErr().println("ferry " + cmd.getCommandName() + ": " + UserErrors.message(t));
            if (System.getenv("FERRY_DEBUG") != null || debug(parseResult))
            {
                t.printStackTrace(cmd.getErr());
            }
            return UserErrors.isUserError(t) ? UserErrors.EXIT_BAD_INPUT : UserErrors.EXIT_INTERNAL;
        });
        return cl;
    }

    private static boolean debug(final CommandLine.ParseResult parseResult)
    {
        for (CommandLine.ParseResult r = parseResult; r != null; r = r.subcommand())
        {
            if (r.hasMatchedOption("--debug"))
            {
                return true;
            }
        }
        return false;
    }

    /**
     * Entry point.
     *
     * @param args command-line arguments.
     */
    public static void main(final String[] args)
    {
        System.exit(commandLine().execute(args));
    }
}
