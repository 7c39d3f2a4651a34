package dev.ferry.vxlan;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs bounded commands for the root tests. */
final class Shell
{
    private Shell()
    {
    }

    static String run(final String... cmd) throws IOException, InterruptedException
    {
        final Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        if (!p.waitFor(60, TimeUnit.SECONDS))
        {
            p.destroyForcibly();
            throw new IOException("timed out: " + String.join(" ", cmd));
        }
        final String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (p.exitValue() != 0)
        {
            throw new IOException("exit " + p.exitValue() + ": " + String.join(" ", cmd) + "\n" + out);
        }
        return out;
    }

    static void quiet(final String... cmd)
    {
        try
        {
            new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .start().waitFor(30, TimeUnit.SECONDS);
        }
        catch (final IOException | InterruptedException e)
        {
            // best-effort cleanup
        }
    }

    static void sh(final String script) throws IOException, InterruptedException
    {
        run("sh", "-ec", script);
    }

    static Process start(final List<String> cmd) throws IOException
    {
        return new ProcessBuilder(cmd).redirectErrorStream(true).start();
    }

    static boolean has(final String tool)
    {
        try
        {
            return new ProcessBuilder("sh", "-c", "command -v " + tool).start().waitFor() == 0;
        }
        catch (final IOException | InterruptedException e)
        {
            return false;
        }
    }

    static boolean isRoot()
    {
        return "root".equals(System.getProperty("user.name"));
    }
}
