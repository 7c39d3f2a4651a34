package dev.ferry.node;

import dev.ferry.nodeapi.NodeApiClient;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class RestartTest
{
    @TempDir
    Path dir;

    @Test
    void shouldStartAgainOnTheSameSocketAfterAStop() throws Exception
    {
        final NodeFixture first = new NodeFixture(dir, ThreadingMode.SHARED, NodeFixture.basic(1));
        first.close();
        assertThat(first.socket()).as("socket removed at stop").doesNotExist();

        try (NodeFixture second = new NodeFixture(dir, ThreadingMode.DEDICATED, NodeFixture.basic(1));
            NodeApiClient client = NodeApiClient.connect(second.socket()))
        {
            assertThat(client.health().path("generation").asLong()).isEqualTo(1);
        }
    }

    @Test
    void shouldRemoveTheStaleSocketOfACrashedNode() throws Exception
    {
        final Path socket = dir.resolve("api/ferry.sock");
        Files.createDirectories(socket.getParent());
        // a node that died without cleaning up leaves the file and nobody listening
        try (ServerSocketChannel crashed = ServerSocketChannel.open(StandardProtocolFamily.UNIX))
        {
            crashed.bind(UnixDomainSocketAddress.of(socket));
        }
        assertThat(socket).exists();

        try (NodeFixture node = new NodeFixture(dir, ThreadingMode.SHARED, NodeFixture.basic(1));
            NodeApiClient client = NodeApiClient.connect(node.socket()))
        {
            assertThat(client.health().path("node").asText()).isEqualTo("node-a");
        }
    }

    @Test
    void shouldRefuseToStartWhileAnotherNodeServesTheSocket() throws Exception
    {
        try (NodeFixture running = new NodeFixture(dir, ThreadingMode.SHARED, NodeFixture.basic(1)))
        {
            assertThatThrownBy(() -> new NodeFixture(dir, ThreadingMode.SHARED, NodeFixture.basic(1)))
                .hasMessageEndingWith("ferry.sock is served by another running node; stop it first");
            try (NodeApiClient client = NodeApiClient.connect(running.socket()))
            {
                assertThat(client.health().path("generation").asLong()).as("the running node is untouched")
                    .isEqualTo(1);
            }
        }
    }
}
