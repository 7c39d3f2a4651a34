package dev.ferry.node.live;

import dev.ferry.node.cli.NodeCommand;
import dev.ferry.nodeapi.NodeApiClient;
import picocli.CommandLine;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * {@code ferry node} as its own process inside a network namespace, the way an operator runs it: started with
 * {@code ip netns exec}, stopped with SIGTERM. Its standard error goes to a file the test reads.
 */
final class NodeProcess implements AutoCloseable
{
    private final Process process;
    private final Path log;
    private final Path socket;

    private NodeProcess(final Process process, final Path log, final Path socket)
    {
        this.process = process;
        this.log = log;
        this.socket = socket;
    }

    /** Entry point of the child JVM. */
    public static void main(final String[] args)
    {
        System.exit(new CommandLine(new NodeCommand()).execute(args));
    }

    static NodeProcess start(final String ns, final Path config, final Path socket, final Path log,
        final String... extra) throws IOException, InterruptedException
    {
        final List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", ns));
        cmd.addAll(nodeJvm(config));
        cmd.addAll(List.of(extra));
        return launch(cmd, socket, log);
    }

    /**
     * {@code ferry node} under {@code deploy/ferry-supervise} (packet mode's watchdog), as an operator runs it:
     * the returned process is the supervisor; the node JVM's PID is in {@code stateDir/ferry.pid}.
     */
    static NodeProcess startSupervised(final String ns, final String nic, final String hostTap, final Path stateDir,
        final Path config, final Path socket, final Path log) throws IOException, InterruptedException
    {
        final Path script = Path.of("..", "deploy", "ferry-supervise").toAbsolutePath().normalize();
        final List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", ns, "bash", script.toString(),
            "--host-tap", hostTap, "--state-dir", stateDir.toString(), "--restart-delay", "1", nic, "--"));
        cmd.addAll(nodeJvm(config));
        return launch(cmd, socket, log);
    }

    /** The child JVM that runs {@code ferry node --config config}; {@code -Dferry.probe.jvm} adds JVM options. */
    private static List<String> nodeJvm(final Path config)
    {
        final List<String> cmd = new ArrayList<>(List.of(
            Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx256m",
            "--enable-native-access=ALL-UNNAMED"));
        for (final String o : System.getProperty("ferry.probe.jvm", "").split(" "))
        {
            if (!o.isBlank())
            {
                cmd.add(o);
            }
        }
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), NodeProcess.class.getName(), "--config",
            config.toString()));
        return cmd;
    }

    private static NodeProcess launch(final List<String> cmd, final Path socket, final Path log)
        throws IOException, InterruptedException
    {
        final Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
        final NodeProcess node = new NodeProcess(p, log, socket);
        node.awaitHealthy();
        return node;
    }

    /** Waits until the node answers on its socket (at start, or after a restart by the supervisor). */
    void awaitHealthy() throws IOException, InterruptedException
    {
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (System.nanoTime() < deadline)
        {
            if (!process.isAlive())
            {
                throw new IllegalStateException("ferry node exited with " + process.exitValue() + ": " + log());
            }
            if (Files.exists(socket))
            {
                try (NodeApiClient c = NodeApiClient.connect(socket))
                {
                    c.health();
                    return;
                }
                catch (final IOException e)
                {
                    // not answering yet
                }
            }
            Thread.sleep(50);
        }
        throw new IllegalStateException("ferry node did not answer within 30 s: " + log());
    }

    /** @return the node JVM's process id ({@code ip netns exec} execs java in place). */
    long pid()
    {
        return process.pid();
    }

    NodeApiClient client() throws IOException
    {
        return NodeApiClient.connect(socket);
    }

    String log() throws IOException
    {
        return Files.exists(log) ? Files.readString(log) : "";
    }

    /** Sends SIGTERM and waits for the exit code. */
    int terminate() throws InterruptedException
    {
        process.destroy();
        if (!process.waitFor(20, TimeUnit.SECONDS))
        {
            process.destroyForcibly();
            process.waitFor(5, TimeUnit.SECONDS);
            return -1;
        }
        return process.exitValue();
    }

    /** Kills without a shutdown (a crash). */
    void kill() throws InterruptedException
    {
        process.destroyForcibly();
        process.waitFor(10, TimeUnit.SECONDS);
    }

    @Override
    public void close()
    {
        if (process.isAlive())
        {
            try
            {
                terminate();
            }
            catch (final InterruptedException e)
            {
                process.destroyForcibly();
                Thread.currentThread().interrupt();
            }
        }
    }
}
