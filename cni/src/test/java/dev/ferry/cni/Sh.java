package dev.ferry.cni;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs a shell-level command for tests (iproute2), with a bounded wait. */
final class Sh
{
    private Sh()
    {
    }

    /**
     * @param cmd the command.
     * @return its combined output.
     * @throws IllegalStateException when it fails.
     */
    static String run(final String... cmd)
    {
        final Result r = exec(cmd);
        if (r.exit != 0)
        {
            throw new IllegalStateException(String.join(" ", cmd) + " failed (" + r.exit + "): " + r.output);
        }
        return r.output;
    }

    static int runQuiet(final String... cmd)
    {
        return exec(cmd).exit;
    }

    record Result(int exit, String output)
    {
    }

    static Result exec(final String... cmd)
    {
        try
        {
            final Process p = new ProcessBuilder(List.of(cmd)).redirectErrorStream(true).start();
            p.getOutputStream().close();
            final String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(30, TimeUnit.SECONDS))
            {
                p.destroyForcibly();
                throw new IllegalStateException(String.join(" ", cmd) + " timed out");
            }
            return new Result(p.exitValue(), out);
        }
        catch (final IOException e)
        {
            throw new IllegalStateException(e);
        }
        catch (final InterruptedException e)
        {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
