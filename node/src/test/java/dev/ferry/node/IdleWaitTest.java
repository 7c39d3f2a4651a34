package dev.ferry.node;

import dev.ferry.tapio.MemoryPort;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.stream.Stream;

import static dev.ferry.node.NodeFixture.POD_A;
import static dev.ferry.node.NodeFixture.POD_B;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * The worker's idle wait end to end (issue #11): after its busy-poll window the worker thread sleeps in
 * {@code epoll_wait} (the kernel's {@code wchan}), and a frame queued on a port then wakes it and is forwarded.
 */
class IdleWaitTest
{
    private static final Duration TIMEOUT = Duration.ofSeconds(10);

    @TempDir
    Path dir;

    @ParameterizedTest(name = "busyPollMicros {0}")
    @ValueSource(longs = {0, 10_000})
    void shouldBlockAfterTheWindowAndWakeForAFrame(final long busyPollMicros) throws Exception
    {
        final NodeConfig config = NodeConfig.defaults(NodeFixture.NODE, dir.resolve("api/ferry.sock"), "eth9")
            .withThreading(ThreadingMode.DEDICATED).withBusyPollMicros(busyPollMicros)
            .withWorkers(NodeFixture.workers());
        try (NodeFixture node = new NodeFixture(config, NodeFixture.basic(1)))
        {
            node.daemon.attach(NodeFixture.attachRequest("ca", POD_A)).get();
            node.daemon.attach(NodeFixture.attachRequest("cb", POD_B)).get();
            final MemoryPortView a = node.ports.port("tap0af40102");
            final MemoryPortView b = node.ports.port("tap0af40103");
            final Path worker = workerTask();
            for (int i = 0; i < 3; i++)
            {
                NodeFixture.await("the worker asleep in epoll_wait", () -> inEpollWait(worker), TIMEOUT);
                a.enqueue(NodeFixture.udp(POD_A, POD_B, i));
                final int sent = i + 1;
                NodeFixture.await("frame " + i + " forwarded by the woken worker", () -> b.txPackets() == sent,
                    TIMEOUT);
            }
        }
    }

    /** The /proc task directory of this JVM's forwarding thread (its native name is the agent's role name). */
    private static Path workerTask() throws IOException
    {
        try (Stream<Path> tasks = Files.list(Path.of("/proc/self/task")))
        {
            return tasks.filter(t -> "ferry-worker".equals(read(t.resolve("comm")))).findFirst()
                .orElseThrow(() -> new AssertionError("no ferry-worker thread"));
        }
    }

    private static boolean inEpollWait(final Path task)
    {
        return read(task.resolve("wchan")).contains("epoll_wait");
    }

    private static String read(final Path file)
    {
        try
        {
            return Files.readString(file).strip();
        }
        catch (final IOException e)
        {
            return "";
        }
    }
}
