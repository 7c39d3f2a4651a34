package dev.ferry.node;

import dev.ferry.core.tables.NodeTables;
import dev.ferry.nodeapi.NodeApiClient;
import dev.ferry.tapio.MemoryPort;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;

import static dev.ferry.node.NodeFixture.POD_A;
import static dev.ferry.node.NodeFixture.POD_B;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 6's in-memory "update under traffic": pod A sends a bounded stream of numbered frames to pod B while
 * 1,000 table pushes (each changing the remote routes) are applied over the API. Every frame must come out on
 * pod B's port exactly once, none anywhere else, and nothing may be dropped.
 */
class UpdateUnderTrafficTest
{
    private static final int FRAMES = 20_000;
    private static final int PUSHES = 1_000;
    private static final int BURST = 64;

    @TempDir
    Path dir;

    @ParameterizedTest
    @EnumSource(ThreadingMode.class)
    void shouldLoseNoPacketWhileThousandPushesAreApplied(final ThreadingMode mode) throws Exception
    {
        try (NodeFixture node = new NodeFixture(dir, mode, NodeFixture.basic(1));
            NodeApiClient client = NodeApiClient.connect(node.socket()))
        {
            client.attach(NodeFixture.attachRequest("ca", POD_A));
            client.attach(NodeFixture.attachRequest("cb", POD_B));
            final MemoryPortView a = node.ports.port("tap0af40102");
            final MemoryPortView b = node.ports.port("tap0af40103");
            final MemoryPortView uplink = node.ports.port("eth9");
            final MemoryPortView host = node.ports.port("ferry0");

            final Thread traffic = new Thread(() ->
            {
                for (int seq = 0; seq < FRAMES; seq++)
                {
                    a.enqueue(NodeFixture.udp(POD_A, POD_B, seq));
                    if (seq % BURST == BURST - 1)
                    {
                        // keep the backlog bounded: the pool holds 8192 buffers
                        while (a.pendingReceive() > 1024)
                        {
                            Thread.onSpinWait();
                        }
                    }
                }
            }, "traffic");
            traffic.start();
            final List<Long> acks = new ArrayList<>();
            for (int g = 2; g < 2 + PUSHES; g++)
            {
                final List<String> remotes = g % 2 == 0 ? List.of("10.244.2.0/24")
                    : List.of("10.244.2.0/24", "10.244.3.0/24", "10.244.4.0/24");
                final NodeTables t = NodeFixture.tables(g, List.of(POD_A, POD_B), remotes);
                acks.add(client.push(g, t));
            }
            traffic.join();
            NodeFixture.await("all frames forwarded", () -> b.txPackets() == FRAMES, Duration.ofSeconds(60));

            assertThat(acks).as("every push acknowledged with its generation").hasSize(PUSHES)
                .startsWith(2L, 3L).endsWith((long)PUSHES + 1);
            assertThat(client.health().path("generation").asLong()).isEqualTo(PUSHES + 1);
            assertThat(a.rxPackets()).as("frames taken in").isEqualTo(FRAMES);
            final BitSet seen = new BitSet(FRAMES);
            for (final byte[] f : b.drainTransmitted().stream().map(MemoryPort.Frame::bytes).toList())
            {
                final int seq = NodeFixture.seqOf(f);
                assertThat(seen.get(seq)).as("frame %d delivered twice", seq).isFalse();
                seen.set(seq);
            }
            assertThat(seen.cardinality()).as("distinct frames on pod B").isEqualTo(FRAMES);
            assertThat(a.txPackets() + uplink.txPackets() + host.txPackets())
                .as("frames misrouted elsewhere").isZero();
            assertThat(client.show("stats")).as("no drop of any kind").contains("No drops");
        }
    }

    @Test
    void shouldStopCleanlyWithTrafficInFlight() throws Exception
    {
        final NodeFixture node = new NodeFixture(dir, ThreadingMode.SHARED, NodeFixture.basic(1));
        node.daemon.attach(NodeFixture.attachRequest("ca", POD_A)).get();
        node.daemon.attach(NodeFixture.attachRequest("cb", POD_B)).get();
        final MemoryPortView a = node.ports.port("tap0af40102");
        for (int seq = 0; seq < 2_000; seq++)
        {
            a.enqueue(NodeFixture.udp(POD_A, POD_B, seq));
        }
        node.close();

        assertThat(a.isClosed()).as("pod port closed at stop").isTrue();
        assertThat(node.ports.port("eth9").isClosed()).as("uplink closed at stop").isTrue();
        assertThat(node.ports.port("ferry0").isClosed()).as("host TAP closed at stop").isTrue();
        assertThat(node.socket()).as("API socket removed").doesNotExist();
    }
}
