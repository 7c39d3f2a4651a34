package dev.ferry.node;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ferry.core.packet.FrameBuilder;
import dev.ferry.core.route.Ip4;
import dev.ferry.nodeapi.NodeApiClient;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static dev.ferry.node.NodeFixture.POD_A;
import static dev.ferry.node.NodeFixture.POD_B;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code show stats} with several workers says how many frames crossed between them: a memory port's frames all
 * arrive on worker 0's queue, so the flows worker 1 owns are handed over, and the counts add up (every frame sent
 * was received, and each was forwarded once).
 */
class ShowStatsHandoffTest
{
    private static final Duration TIMEOUT = Duration.ofSeconds(10);
    private static final int FLOWS = 32;
    private static final Pattern HANDOFF = Pattern.compile(
        "handoff: (\\d+) frames sent to their owner worker, (\\d+) received, (\\d+) held for a full ring");

    @TempDir
    Path dir;

    @Test
    void shouldShowTheFramesHandedToTheirOwnerAndTakenWithTwoWorkers() throws Exception
    {
        final NodeConfig config = NodeConfig.defaults(NodeFixture.NODE, dir.resolve("api/ferry.sock"), "eth9")
            .withWorkers(2);
        try (NodeFixture node = new NodeFixture(config, NodeFixture.basic(1)))
        {
            node.daemon.attach(NodeFixture.attachRequest("ca", POD_A)).get();
            node.daemon.attach(NodeFixture.attachRequest("cb", POD_B)).get();
            final MemoryPortView a = node.ports.port("tap0af40102");
            final MemoryPortView b = node.ports.port("tap0af40103");
            for (int i = 0; i < FLOWS; i++)
            {
                a.enqueue(new FrameBuilder().eth(Ip4.podMac(POD_A), NodeFixture.GATEWAY_MAC).ip4(POD_A, POD_B)
                    .udp(40000 + i, 8080).payload(new byte[] {(byte)i}).build());
            }
            NodeFixture.await(FLOWS + " frames forwarded", () -> b.txPackets() == FLOWS, TIMEOUT);

            final List<String> stats = node.daemon.show("stats").get(10, TimeUnit.SECONDS);
            final Matcher m = stats.stream().map(HANDOFF::matcher).filter(Matcher::matches).findFirst()
                .orElseThrow(() -> new AssertionError("no handoff line in show stats:\n" + String.join("\n", stats)));
            final long sent = Long.parseLong(m.group(1));
            assertThat(sent).as("flows of worker 1 handed over by worker 0, of " + FLOWS).isBetween(1L, FLOWS - 1L);
            assertThat(Long.parseLong(m.group(2))).as("received = sent").isEqualTo(sent);
            assertThat(Long.parseLong(m.group(3))).as("held: the ring never filled").isZero();

            try (NodeApiClient client = NodeApiClient.connect(node.socket()))
            {
                final JsonNode json = client.callOk(new ObjectMapper().createObjectNode().put("op", "stats"));
                assertThat(json.path("handoff").path("sent").asLong()).as("stats op: " + json).isEqualTo(sent);
                assertThat(json.path("handoff").path("received").asLong()).isEqualTo(sent);
            }
        }
    }

    @Test
    void shouldShowNoHandoffLineWithOneWorker() throws Exception
    {
        final NodeConfig config = NodeConfig.defaults(NodeFixture.NODE, dir.resolve("api/ferry.sock"), "eth9")
            .withWorkers(1);
        try (NodeFixture node = new NodeFixture(config, NodeFixture.basic(1)))
        {
            assertThat(node.daemon.show("stats").get(10, TimeUnit.SECONDS)).noneMatch(l -> l.startsWith("handoff:"))
                .contains("workers: 1");
        }
    }
}
