package dev.ferry.lab;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Runs the lab's commands ({@code ip}, {@code bridge}, {@code curl}, ...) with a bound on every wait: a command
 * that outlives its timeout is killed (by its own PID) and reported as timed out.
 */
public final class Shell
{
    /** Exit code reported for a command killed at its timeout (as {@code timeout(1)} reports it). */
    public static final int TIMED_OUT = 124;

    private static final long DEFAULT_TIMEOUT_MS = 20_000;

    private Shell()
    {
    }

    /**
     * What a finished command left.
     *
     * @param command the command line.
     * @param exit    exit code ({@link #TIMED_OUT} when killed at the timeout).
     * @param out     standard output.
     * @param err     standard error.
     * @param millis  how long it ran.
     */
    public record Result(List<String> command, int exit, String out, String err, long millis)
    {
        /** @return whether it exited with 0. */
        public boolean ok()
        {
            return exit == 0;
        }

        /**
         * @return this result.
         * @throws IllegalStateException when the command failed, with its command line and standard error.
         */
        public Result check()
        {
            if (exit != 0)
            {
                throw new IllegalStateException(String.join(" ", command) + " failed (exit " + exit + "): "
                    + (err.isBlank() ? out : err).strip());
            }
            return this;
        }
    }

    /**
     * Runs a command with the default timeout (20 s).
     *
     * @param command the command and its arguments.
     * @return what it left.
     */
    public static Result run(final String... command)
    {
        return run(List.of(command), DEFAULT_TIMEOUT_MS, null);
    }

    /**
     * Runs a command and fails when it fails.
     *
     * @param command the command and its arguments.
     * @return what it left.
     * @throws IllegalStateException when it exits non-zero.
     */
    public static Result must(final String... command)
    {
        return run(command).check();
    }

    /**
     * Runs a command inside a network namespace ({@code ip netns exec NS ...}).
     *
     * @param timeoutMs bound on the wait.
     * @param netns     the namespace.
     * @param command   the command and its arguments.
     * @return what it left.
     */
    public static Result inNetns(final long timeoutMs, final String netns, final String... command)
    {
        final List<String> full = new ArrayList<>(List.of("ip", "netns", "exec", netns));
        full.addAll(List.of(command));
        return run(full, timeoutMs, null);
    }

    /**
     * Runs a command.
     *
     * @param command   the command and its arguments.
     * @param timeoutMs bound on the wait; the command is killed after it.
     * @param stdin     text for standard input, or null for none.
     * @return what it left.
     */
    public static Result run(final List<String> command, final long timeoutMs, final String stdin)
    {
        return run(command, timeoutMs, stdin, Map.of());
    }

    /**
     * Runs a command with extra environment variables.
     *
     * @param command   the command and its arguments.
     * @param timeoutMs bound on the wait; the command is killed after it.
     * @param stdin     text for standard input, or null for none.
     * @param env       variables added to the environment.
     * @return what it left.
     */
    public static Result run(final List<String> command, final long timeoutMs, final String stdin,
        final Map<String, String> env)
    {
        final long start = System.nanoTime();
        final ProcessBuilder pb = new ProcessBuilder(command);
        pb.environment().putAll(env);
        if (stdin == null)
        {
            pb.redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()));
        }
        final Process p;
        try
        {
            p = pb.start();
        }
        catch (final IOException e)
        {
            return new Result(command, 127, "", "cannot run " + command.getFirst() + ": " + e.getMessage(), 0);
        }
        final ByteArrayOutputStream out = new ByteArrayOutputStream();
        final ByteArrayOutputStream err = new ByteArrayOutputStream();
        final Thread o = drain(p.getInputStream(), out);
        final Thread e = drain(p.getErrorStream(), err);
        try
        {
            if (stdin != null)
            {
                try (var w = p.getOutputStream())
                {
                    w.write(stdin.getBytes(StandardCharsets.UTF_8));
                }
                catch (final IOException ignored)
                {
                    // the command exited before reading all its input; its exit code tells the story
                }
            }
            int exit;
            if (p.waitFor(timeoutMs, TimeUnit.MILLISECONDS))
            {
                exit = p.exitValue();
            }
            else
            {
                p.destroyForcibly();
                p.waitFor(5, TimeUnit.SECONDS);
                exit = TIMED_OUT;
            }
            o.join(2_000);
            e.join(2_000);
            return new Result(command, exit, out.toString(StandardCharsets.UTF_8),
                err.toString(StandardCharsets.UTF_8), (System.nanoTime() - start) / 1_000_000);
        }
        catch (final InterruptedException ie)
        {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while running " + String.join(" ", command), ie);
        }
    }

    /**
     * Starts a long-running command in the background, its output going to a log file. The caller records
     * the PID before doing anything else, so that {@code down} can stop it even after a crash.
     *
     * @param command the command and its arguments.
     * @param log     file for standard output and error (appended).
     * @param env     variables added to the environment.
     * @return the process.
     */
    public static Process start(final List<String> command, final Path log, final Map<String, String> env)
    {
        final ProcessBuilder pb = new ProcessBuilder(command);
        pb.environment().putAll(env);
        pb.redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()));
        pb.redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        pb.redirectErrorStream(true);
        try
        {
            return pb.start();
        }
        catch (final IOException e)
        {
            throw new UncheckedIOException("cannot start " + String.join(" ", command), e);
        }
    }

    private static Thread drain(final InputStream in, final ByteArrayOutputStream to)
    {
        final Thread t = new Thread(() ->
        {
            try (in)
            {
                in.transferTo(to);
            }
            catch (final IOException ignored)
            {
                // the process went away; what was read is kept
            }
        }, "lab-drain");
        t.setDaemon(true);
        t.start();
        return t;
    }
}
