package dev.ferry.agent;

import dev.ferry.node.MemoryPortFactory;
import dev.ferry.node.NodeConfig;
import dev.ferry.node.NodeDaemon;
import dev.ferry.node.ThreadingMode;

import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The real node daemon on in-memory ports, its API on a Unix socket in a temp directory: what the agent pushes
 * to in tests. Closing it stops the daemon and checks that no packet buffer leaked.
 */
final class TestNode implements AutoCloseable
{
    final NodeDaemon daemon;
    final Path socket;

    TestNode(final Path dir, final String nodeName) throws Exception
    {
        socket = dir.resolve("run/ferry.sock");
        final NodeConfig config = NodeConfig.defaults(nodeName, socket, "eth9").withThreading(ThreadingMode.SHARED);
        daemon = NodeDaemon.builder(config).portFactory(new MemoryPortFactory()).build();
        daemon.start();
    }

    long generation()
    {
        return daemon.generation();
    }

    List<String> routes() throws Exception
    {
        return daemon.show("routes").get();
    }

    @Override
    public void close()
    {
        daemon.stop();
        assertThat(daemon.leakedBuffers()).as("packet buffers still in use after stop").isZero();
    }
}
