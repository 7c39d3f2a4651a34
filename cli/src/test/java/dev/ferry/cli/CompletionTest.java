package dev.ferry.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code ferry completion bash|zsh}, run by a real bash: the script completes {@code ferry show}'s views, the
 * conntrack options and the values of {@code -o} and {@code -p}; {@code ferry show} without a view prints its
 * usage and exits 2.
 */
class CompletionTest
{
    @TempDir
    Path dir;

    private static String[] run(final String... args)
    {
        final StringWriter out = new StringWriter();
        final StringWriter err = new StringWriter();
        final int code = Ferry.commandLine().setOut(new PrintWriter(out)).setErr(new PrintWriter(err)).execute(args);
        return new String[] {String.valueOf(code), out.toString(), err.toString()};
    }

    /**
     * What bash offers for the words typed so far (the last one being completed); compopt complains outside a real
     * completion, so stderr is discarded.
     */
    private List<String> complete(final String script, final String... words) throws Exception
    {
        final Path file = dir.resolve("ferry-completion.bash");
        Files.writeString(file, script);
        final StringBuilder w = new StringBuilder();
        for (final String word : words)
        {
            w.append(" '").append(word).append('\'');
        }
        final String cmd = "source " + file + "; COMP_WORDS=(" + w + "); COMP_CWORD=" + (words.length - 1)
            + "; COMP_LINE=\"${COMP_WORDS[*]}\"; COMP_POINT=${#COMP_LINE}; _complete_ferry; printf '%s\\n'"
            + " \"${COMPREPLY[@]}\"";
        final Process p = new ProcessBuilder("bash", "-c", cmd)
            .redirectError(ProcessBuilder.Redirect.DISCARD).start();
        final String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        return Arrays.stream(out.split("\n")).map(String::trim).filter(s -> !s.isEmpty()).toList();
    }

    @Test
    void shouldCompleteViewsOptionsAndValuesInBash() throws Exception
    {
        final String[] r = run("completion", "bash");
        assertThat(r[0]).as(r[2]).isEqualTo("0");
        final String script = r[1];

        assertThat(complete(script, "ferry", "show", "")).contains("routes", "neighbors", "services", "conntrack",
            "stats", "runtime", "ports", "trace");
        assertThat(complete(script, "ferry", "show", "conntrack", "--d")).contains("--dport", "--dst", "--delete",
            "--dump");
        assertThat(complete(script, "ferry", "show", "conntrack", "-o", "")).containsExactlyInAnyOrder("text",
            "json", "wide");
        assertThat(complete(script, "ferry", "show", "conntrack", "-p", "")).containsExactlyInAnyOrder("tcp",
            "udp", "icmp");
        assertThat(complete(script, "ferry", "to")).contains("top");
    }

    @Test
    void shouldPrintAZshScriptAndRefuseOtherShells()
    {
        final String[] zsh = run("completion", "zsh");
        assertThat(zsh[0]).isEqualTo("0");
        assertThat(zsh[1]).startsWith("autoload -U +X compinit && compinit\nautoload -U +X bashcompinit")
            .contains("complete -F _complete_ferry");
        final String[] fish = run("completion", "fish");
        assertThat(fish[0]).isEqualTo("2");
        assertThat(fish[2]).contains("'fish' is not bash or zsh");
    }

    @Test
    void shouldShowUsageForShowWithoutAView()
    {
        final String[] r = run("show");
        assertThat(r[0]).isEqualTo("2");
        assertThat(r[2]).contains("Usage: ferry show").contains("conntrack").contains("services");
        final String[] help = run("show", "conntrack", "--help");
        assertThat(help[0]).isEqualTo("0");
        assertThat(help[1]).contains("--dport=PORT").contains("-D, --delete").contains("-o, --output=FORMAT");
    }
}
