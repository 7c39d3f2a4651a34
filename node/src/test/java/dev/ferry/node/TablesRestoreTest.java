package dev.ferry.node;

import dev.ferry.core.packet.FrameBuilder;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.tables.ServiceInfo;
import dev.ferry.nodeapi.NodeApiClient;
import dev.ferry.tapio.MemoryPort;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static dev.ferry.node.NodeFixture.POD_A;
import static dev.ferry.node.NodeFixture.POD_B;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The last applied tables saved in stateDir: a node restarted without clusterDir serves a ClusterIP flow from
 * them before any push; the agent's first push replaces them whatever its generation; a damaged file is set
 * aside.
 */
class TablesRestoreTest
{
    private static final int WEB_IP = Ip4.parse("10.96.0.80");

    @TempDir
    Path dir;

    private NodeConfig config()
    {
        return NodeConfig.defaults(NodeFixture.NODE, dir.resolve("api/ferry.sock"), "eth9")
            .withThreading(ThreadingMode.SHARED).withStateDir(dir.resolve("state"))
            .withWorkers(NodeFixture.workers());
    }

    @Test
    void shouldServeAClusterIpFromTheSavedTablesBeforeAnyPush() throws Exception
    {
        try (NodeFixture first = new NodeFixture(config(), null))
        {
            assertThat(first.daemon.push(withWeb(7)).get()).isEqualTo(7L);
        }
        assertThat(dir.resolve("state").resolve(TablesFile.NAME)).exists();

        try (NodeFixture second = new NodeFixture(config(), null);
            NodeApiClient client = NodeApiClient.connect(second.socket()))
        {
            assertThat(client.health().path("generation").asLong()).as("restored, not pushed").isEqualTo(7);
            second.daemon.attach(NodeFixture.attachRequest("ca", POD_A)).get();
            second.daemon.attach(NodeFixture.attachRequest("cb", POD_B)).get();
            final MemoryPortView a = second.ports.port("tap0af40102");
            final MemoryPortView b = second.ports.port("tap0af40103").keepTransmitted(true);
            a.enqueue(new FrameBuilder().eth(Ip4.podMac(POD_A), NodeFixture.GATEWAY_MAC).ip4(POD_A, WEB_IP).id(1)
                .tcp(40000, 80, 0x02, 1000, 0).build());
            NodeFixture.await("the SYN DNATed to pod B", () -> b.txPackets() == 1, Duration.ofSeconds(30));
            final ByteBuffer out = ByteBuffer.wrap(b.transmitted().get(0).bytes());
            assertThat(out.getInt(30)).as("DNATed to the backend, not passed untranslated").isEqualTo(POD_B);
            assertThat(out.getShort(36) & 0xffff).isEqualTo(8080);

            // a restarted agent counts from 1 again: its first push is taken
            assertThat(second.daemon.push(withWeb(1)).get()).isEqualTo(1L);
            assertThat(client.health().path("generation").asLong()).isEqualTo(1);
            assertThatThrownBy(() -> client.push(1, withWeb(1))).as("after that, generations must grow again")
                .hasMessageContaining("not newer");
        }
    }

    @Test
    void shouldSetADamagedFileAsideAndWaitForTheAgent() throws Exception
    {
        try (NodeFixture first = new NodeFixture(config(), null))
        {
            first.daemon.push(withWeb(3)).get();
        }
        final Path file = dir.resolve("state").resolve(TablesFile.NAME);
        final byte[] bytes = Files.readAllBytes(file);
        bytes[bytes.length - 10] ^= 1;
        Files.write(file, bytes);

        try (NodeFixture second = new NodeFixture(config(), null);
            NodeApiClient client = NodeApiClient.connect(second.socket()))
        {
            assertThat(client.health().path("generation").asLong()).isZero();
            assertThat(file).doesNotExist();
            try (var files = Files.list(dir.resolve("state")))
            {
                assertThat(files.map(p -> p.getFileName().toString()).toList())
                    .anySatisfy(n -> assertThat(n).startsWith(TablesFile.NAME + ".corrupt-"));
            }
        }
        Files.writeString(file, "not json\n", StandardCharsets.UTF_8);
        try (NodeFixture third = new NodeFixture(config(), null);
            NodeApiClient client = NodeApiClient.connect(third.socket()))
        {
            assertThat(client.health().path("generation").asLong()).isZero();
            assertThat(file).doesNotExist();
        }
    }

    private static NodeTables withWeb(final long generation)
    {
        final NodeTables t = NodeFixture.basic(generation);
        final ServiceInfo web = new ServiceInfo("default", "web", "ClusterIP", null, List.of(WEB_IP), List.of(),
            List.of(), false, ServiceInfo.DEFAULT_AFFINITY_TIMEOUT, false, false, List.of(new ServiceInfo.ServicePort(
                "web", 6, 80, 0, List.of(new ServiceInfo.Endpoint(POD_B, 8080, true, true, false, NodeFixture.NODE, "",
                    true)))));
        return new NodeTables(generation, t.node(), t.cluster(), t.pods(), t.remoteNodes(), List.of(web), Map.of());
    }
}
