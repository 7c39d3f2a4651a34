package dev.ferry.cni;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Runs a helper process (the IPAM plugin, {@code ip}, {@code nsenter}) with a given stdin and environment and
 * collects what it prints. Outputs here are a few kilobytes, under a pipe's buffer, so reading stdout and then
 * stderr in turn cannot deadlock.
 */
final class Exec
{
    /** How long a helper may run before it is killed. */
    static final long TIMEOUT_SECONDS = 30;

    private Exec()
    {
    }

    /**
     * What a helper did.
     *
     * @param exitCode its exit status.
     * @param stdout   what it printed on stdout.
     * @param stderr   what it printed on stderr.
     */
    record Outcome(int exitCode, String stdout, String stderr)
    {
        boolean ok()
        {
            return exitCode == 0;
        }

        String message()
        {
            final String s = stderr.isBlank() ? stdout : stderr;
            return s.strip();
        }
    }

    /**
     * Runs a command to completion.
     *
     * @param command the program and its arguments.
     * @param env     the environment to give it, or null to inherit the plugin's.
     * @param stdin   the bytes to write to its stdin (may be empty).
     * @return what it did.
     * @throws IOException when it cannot be started or does not finish in time.
     */
    static Outcome run(final List<String> command, final Map<String, String> env, final byte[] stdin)
        throws IOException
    {
        final ProcessBuilder pb = new ProcessBuilder(command);
        if (env != null)
        {
            final Map<String, String> e = pb.environment();
            e.clear();
            e.putAll(env);
        }
        final Process p = pb.start();
        try (OutputStream in = p.getOutputStream())
        {
            in.write(stdin);
        }
        catch (final IOException e)
        {
            // the helper may exit without reading stdin (a broken pipe); its exit status tells the story
        }
        final String out = read(p.getInputStream());
        final String err = read(p.getErrorStream());
        try
        {
            if (!p.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS))
            {
                p.destroyForcibly();
                throw new IOException(command.get(0) + " did not finish within " + TIMEOUT_SECONDS + " s");
            }
        }
        catch (final InterruptedException e)
        {
            Thread.currentThread().interrupt();
            p.destroyForcibly();
            throw new IOException(command.get(0) + " interrupted", e);
        }
        return new Outcome(p.exitValue(), out, err);
    }

    private static String read(final InputStream s) throws IOException
    {
        try (s)
        {
            return new String(s.readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}
