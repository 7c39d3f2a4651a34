package dev.ferry.node;

import dev.ferry.core.header.TcpHeader;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.tapio.MemoryPort;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import static dev.ferry.node.NodeFixture.GATEWAY_MAC;
import static dev.ferry.node.NodeFixture.NODE_B_IP;
import static dev.ferry.node.NodeFixture.POD_A;
import static dev.ferry.node.NodeFixture.POD_B;
import static dev.ferry.node.WorkerHandoffTest.tap;
import static dev.ferry.node.WorkerHandoffTest.tcp;
import static dev.ferry.node.WorkerHandoffTest.u16;
import static dev.ferry.node.WorkerHandoffTest.u32;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 17's table swap under load, with two workers: while both forward new flows to a ClusterIP, the control
 * thread swaps the node's tables back and forth as fast as it can between two versions that only make sense whole.
 * Version A sends the Service to a local pod and has no route to the remote pod CIDR; version B sends it to a remote
 * pod and has that route. A worker that read one table from one version and another from the other (the Service
 * from B, the routes from A) would DNAT to a pod it cannot route to and drop the packet; a freed table would crash
 * or corrupt. So every SYN must come out, whole, at the pod of A or at the uplink encapsulated for B, and nothing is
 * dropped: each worker adopts one published snapshot for a whole graph run.
 */
class TableSwapStressTest
{
    private static final int VIP = Ip4.parse("10.96.0.30");
    private static final int REMOTE_POD = Ip4.parse("10.244.2.5");
    private static final int FLOWS = 20_000;
    private static final Duration WAIT = Duration.ofSeconds(30);

    @TempDir
    Path dir;

    /** Version A (odd generations): the Service's endpoint is local, no remote node. B (even): remote, routed. */
    private static NodeTables version(final long generation)
    {
        final boolean local = generation % 2 == 1;
        final NodeTables base = NodeFixture.tables(generation, List.of(POD_A, POD_B),
            local ? List.of() : List.of("10.244.2.0/24"));
        return new NodeTables(generation, base.node(), base.cluster(), base.pods(), base.remoteNodes(),
            List.of(WorkerHandoffTest.service("swap", VIP, local ? POD_B : REMOTE_POD, local)),
            local ? Map.of() : Map.of(NODE_B_IP, Ip4.podMac(NODE_B_IP)));
    }

    @Test
    void shouldForwardEveryPacketWithOneWholeVersionOfTheTablesWhileTheyAreSwapped() throws Exception
    {
        final NodeConfig config = NodeConfig.defaults(NodeFixture.NODE, dir.resolve("api/ferry.sock"), "eth9")
            .withThreading(ThreadingMode.DEDICATED).withWorkers(2);
        try (NodeFixture node = new NodeFixture(config, version(1)))
        {
            node.daemon.attach(NodeFixture.attachRequest("ca", POD_A)).get(10, TimeUnit.SECONDS);
            node.daemon.attach(NodeFixture.attachRequest("cb", POD_B)).get(10, TimeUnit.SECONDS);
            final AtomicBoolean sending = new AtomicBoolean(true);
            final AtomicLong swaps = new AtomicLong();
            final Thread swapper = new Thread(() ->
            {
                long generation = 2;
                try
                {
                    while (sending.get())
                    {
                        node.daemon.push(version(generation++)).get(10, TimeUnit.SECONDS);
                        swaps.incrementAndGet();
                    }
                }
                catch (final Exception e)
                {
                    throw new IllegalStateException(e);
                }
            }, "ferry-test-swapper");
            swapper.start();
            int toLocal = 0;
            int toRemote = 0;
            try
            {
                for (int i = 0; i < FLOWS; i++)
                {
                    // a new flow each time: each SYN takes the Service decision of the tables its worker holds
                    final int sport = 1024 + i;
                    node.ports.port(tap(POD_A), i % 2).enqueue(tcp(Ip4.podMac(POD_A), GATEWAY_MAC, POD_A, VIP,
                        sport, 80, TcpHeader.SYN));
                    if (i % 500 == 499)
                    {
                        // let the workers keep up, so that the swaps land among the flows, not after them
                        final int sent = i + 1;
                        NodeFixture.await("the first " + sent + " flows forwarded",
                            () -> pendingReceive(node) == 0, WAIT);
                    }
                }
                final int[] counts = new int[2];
                try
                {
                    NodeFixture.await("every flow forwarded", () ->
                    {
                        counts[0] += checkLocal(node);
                        counts[1] += checkRemote(node);
                        return counts[0] + counts[1] >= FLOWS;
                    }, WAIT);
                }
                catch (final AssertionError e)
                {
                    throw new AssertionError("forwarded " + counts[0] + " with version A and " + counts[1]
                        + " with version B of " + FLOWS + "; " + String.join(" / ",
                        node.daemon.show("stats").get(10, TimeUnit.SECONDS)), e);
                }
                toLocal = counts[0];
                toRemote = counts[1];
            }
            finally
            {
                sending.set(false);
                swapper.join(TimeUnit.SECONDS.toMillis(20));
            }
            assertThat(swaps.get()).as("table swaps while forwarding").isGreaterThan(20);
            assertThat(toLocal).as("flows forwarded with version A").isPositive();
            assertThat(toRemote).as("flows forwarded with version B").isPositive();
            assertThat(toLocal + toRemote).as("every flow, once").isEqualTo(FLOWS);
            assertThat(node.daemon.show("stats").get(10, TimeUnit.SECONDS)).contains("No drops");
            assertThat(node.daemon.health()).as("every worker answers").isNull();
        }
    }

    private static int pendingReceive(final NodeFixture node)
    {
        int n = 0;
        for (int q = 0; q < 2; q++)
        {
            n += node.ports.port(tap(POD_A), q).pendingReceive();
        }
        return n;
    }

    /** SYNs at pod B's TAP: DNAT to it, port 8080 (version A). */
    private static int checkLocal(final NodeFixture node)
    {
        int n = 0;
        for (int q = 0; q < 2; q++)
        {
            for (final MemoryPort.Frame f : node.ports.port(tap(POD_B), q).drainTransmitted())
            {
                final byte[] b = f.bytes();
                assertThat(u32(b, 30)).as("DNAT to the local endpoint").isEqualTo(POD_B);
                assertThat(u16(b, 36)).isEqualTo(8080);
                n++;
            }
        }
        return n;
    }

    /** SYNs at the uplink: VXLAN to node B, inner DNAT to the remote pod, port 8080 (version B). */
    private static int checkRemote(final NodeFixture node)
    {
        int n = 0;
        for (int q = 0; q < 2; q++)
        {
            for (final MemoryPort.Frame f : node.ports.port("eth9", q).drainTransmitted())
            {
                final byte[] b = f.bytes();
                assertThat(u32(b, 30)).as("outer destination: node B").isEqualTo(NODE_B_IP);
                assertThat(u32(b, 64 + 16)).as("inner DNAT to the remote endpoint").isEqualTo(REMOTE_POD);
                assertThat(u16(b, 64 + 22)).isEqualTo(8080);
                n++;
            }
        }
        return n;
    }
}
