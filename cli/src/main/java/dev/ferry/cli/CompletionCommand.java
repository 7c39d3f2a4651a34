package dev.ferry.cli;

import picocli.AutoComplete;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.util.concurrent.Callable;

/**
 * {@code ferry completion bash|zsh}: prints a completion script for every ferry command, subcommand, option and
 * enumerated value (picocli's {@link AutoComplete}). The script works in bash and, through bashcompinit, in zsh.
 */
@Command(name = "completion", mixinStandardHelpOptions = true,
    description = "Print a shell completion script: source <(ferry completion bash), or in zsh"
        + " source <(ferry completion zsh).")
public final class CompletionCommand implements Callable<Integer>
{
    @Parameters(index = "0", paramLabel = "SHELL", description = "bash or zsh")
    private String shell;

    @Spec
    private CommandSpec spec;

    @Override
    public Integer call()
    {
        final String script = AutoComplete.bash("ferry", spec.root().commandLine());
        switch (shell)
        {
            case "bash" -> spec.commandLine().getOut().print(script);
            case "zsh" -> spec.commandLine().getOut().print("autoload -U +X compinit && compinit\n"
                + "autoload -U +X bashcompinit && bashcompinit\n" + script);
            default -> throw new ParameterException(spec.commandLine(), "SHELL: '" + shell + "' is not bash or zsh");
        }
        spec.commandLine().getOut().flush();
        return 0;
    }
}
