package dev.ferry.lab;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;

/**
 * The lab's state directory: the processes it started (PID, start time and a name, one line each, written
 * right after each start), its configuration files and logs. {@code down} reads it to stop exactly those
 * processes, also after a crash; a PID whose start time changed belongs to someone else now and is left alone.
 */
public final class LabState
{
    private static final long STOP_WAIT_MS = 5_000;

    private final Path dir;

    /**
     * A process the lab started.
     *
     * @param pid       process id.
     * @param startTime its start time in clock ticks since boot ({@code /proc/PID/stat} field 22).
     * @param name      what it is ({@code node1}, {@code p12-http}).
     */
    public record Started(long pid, long startTime, String name)
    {
    }

    /**
     * @param dir the state directory.
     */
    public LabState(final Path dir)
    {
        this.dir = dir;
    }

    /** @return the directory. */
    public Path dir()
    {
        return dir;
    }

    /**
     * @param name a file name.
     * @return the path of that file in the state directory.
     */
    public Path file(final String name)
    {
        return dir.resolve(name);
    }

    /**
     * Moves the last lab's logs (the node logs and {@code logs/}) into {@code previous/}, replacing what was there.
     * The processes append to their logs, so without this a new lab's reader could take an old lab's line (a
     * server's "ready") for its own.
     *
     * @throws IOException when a file cannot be moved or deleted.
     */
    public void rotateLogs() throws IOException
    {
        if (!Files.isDirectory(dir))
        {
            return;
        }
        final Path previous = dir.resolve("previous");
        deleteTree(previous);
        Files.createDirectories(previous);
        try (var entries = Files.list(dir))
        {
            for (final Path p : entries.toList())
            {
                final String name = p.getFileName().toString();
                if (name.endsWith(".log") || name.equals("logs"))
                {
                    Files.move(p, previous.resolve(name));
                }
            }
        }
    }

    private static void deleteTree(final Path root) throws IOException
    {
        if (!Files.exists(root))
        {
            return;
        }
        try (var walk = Files.walk(root))
        {
            for (final Path p : walk.sorted(Comparator.reverseOrder()).toList())
            {
                Files.delete(p);
            }
        }
    }

    private Path pidFile()
    {
        return dir.resolve("pids");
    }

    /**
     * Records a started process.
     *
     * @param pid  its PID.
     * @param name what it is.
     * @throws IOException when the record cannot be written.
     */
    public void record(final long pid, final String name) throws IOException
    {
        Files.createDirectories(dir);
        final long start = startTime(pid).orElse(-1L);
        Files.writeString(pidFile(), pid + " " + start + " " + name + "\n", StandardCharsets.UTF_8,
            StandardOpenOption.CREATE, StandardOpenOption.APPEND, StandardOpenOption.SYNC);
    }

    private Path containerFile()
    {
        return dir.resolve("containers");
    }

    /**
     * Records a container's name before it is started ({@code ferry lab up --image}), so that {@code down} removes
     * it by name even after a crash.
     *
     * @param name the container's name.
     * @throws IOException when the record cannot be written.
     */
    public void recordContainer(final String name) throws IOException
    {
        Files.createDirectories(dir);
        if (!containers().contains(name))
        {
            Files.writeString(containerFile(), name + "\n", StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                StandardOpenOption.APPEND, StandardOpenOption.SYNC);
        }
    }

    /**
     * @return the recorded container names.
     * @throws IOException when the record cannot be read.
     */
    public List<String> containers() throws IOException
    {
        if (!Files.exists(containerFile()))
        {
            return List.of();
        }
        return Files.readAllLines(containerFile()).stream().map(String::strip).filter(l -> !l.isEmpty()).toList();
    }

    /**
     * Forgets the recorded containers (after {@code down} removed them).
     *
     * @throws IOException when the record cannot be removed.
     */
    public void forgetContainers() throws IOException
    {
        Files.deleteIfExists(containerFile());
    }

    /**
     * @return the recorded processes, oldest first.
     * @throws IOException when the record cannot be read.
     */
    public List<Started> started() throws IOException
    {
        final List<Started> out = new ArrayList<>();
        if (!Files.exists(pidFile()))
        {
            return out;
        }
        for (final String line : Files.readAllLines(pidFile()))
        {
            final String[] f = line.trim().split(" ", 3);
            if (f.length == 3)
            {
                try
                {
                    out.add(new Started(Long.parseLong(f[0]), Long.parseLong(f[1]), f[2]));
                }
                catch (final NumberFormatException ignored)
                {
                    // a torn line from a crash: nothing to stop there
                }
            }
        }
        return out;
    }

    /**
     * @param name a recorded name.
     * @return the newest recorded process of that name that still runs.
     * @throws IOException when the record cannot be read.
     */
    public Optional<Started> running(final String name) throws IOException
    {
        final List<Started> all = started();
        for (int i = all.size() - 1; i >= 0; i--)
        {
            final Started s = all.get(i);
            if (s.name().equals(name) && isOurs(s))
            {
                return Optional.of(s);
            }
        }
        return Optional.empty();
    }

    /**
     * Stops one recorded process: SIGTERM, then SIGKILL after 5 s.
     *
     * @param s the process.
     * @return whether it was still running (and ours).
     */
    public static boolean stop(final Started s)
    {
        if (!isOurs(s))
        {
            return false;
        }
        final Optional<ProcessHandle> h = ProcessHandle.of(s.pid());
        if (h.isEmpty())
        {
            return false;
        }
        final ProcessHandle p = h.get();
        p.destroy();
        final long deadline = System.currentTimeMillis() + STOP_WAIT_MS;
        while (p.isAlive() && System.currentTimeMillis() < deadline)
        {
            sleep(50);
        }
        if (p.isAlive())
        {
            p.destroyForcibly();
            final long hard = System.currentTimeMillis() + STOP_WAIT_MS;
            while (p.isAlive() && System.currentTimeMillis() < hard)
            {
                sleep(50);
            }
        }
        return true;
    }

    /**
     * Stops every recorded process, newest first, and forgets them.
     *
     * @return the names of the processes that were stopped.
     * @throws IOException when the record cannot be read or removed.
     */
    public List<String> stopAll() throws IOException
    {
        final List<Started> all = started();
        final List<String> stopped = new ArrayList<>();
        for (int i = all.size() - 1; i >= 0; i--)
        {
            if (stop(all.get(i)))
            {
                stopped.add(all.get(i).name());
            }
        }
        Files.deleteIfExists(pidFile());
        return stopped;
    }

    /**
     * @param s a recorded process.
     * @return whether that PID still runs and is the same process (same start time).
     */
    public static boolean isOurs(final Started s)
    {
        final Optional<Long> now = startTime(s.pid());
        return now.isPresent() && (s.startTime() < 0 || now.get() == s.startTime());
    }

    /**
     * @param pid a PID.
     * @return its start time in clock ticks since boot, or empty when no such process.
     */
    public static Optional<Long> startTime(final long pid)
    {
        try
        {
            final String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
            // the command name may hold spaces and parentheses: fields start after the last ')'
            final String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return Optional.of(Long.parseLong(f[19]));
        }
        catch (final IOException | RuntimeException e)
        {
            return Optional.empty();
        }
    }

    static void sleep(final long ms)
    {
        try
        {
            Thread.sleep(ms);
        }
        catch (final InterruptedException e)
        {
            Thread.currentThread().interrupt();
        }
    }
}
