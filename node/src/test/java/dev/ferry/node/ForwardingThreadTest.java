package dev.ferry.node;

import dev.ferry.core.tables.NodeTables;
import dev.ferry.tapio.MemoryPort;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static dev.ferry.node.NodeFixture.POD_A;
import static dev.ferry.node.NodeFixture.POD_B;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * What the forwarding thread does not do: wait for the host's {@code ip} commands, or count a frame twice.
 */
class ForwardingThreadTest
{
    private static final Duration TIMEOUT = Duration.ofSeconds(10);

    @TempDir
    Path dir;

    @Test
    void shouldForwardAndAcknowledgePushesWhileAHostRouteCommandIsStillRunning() throws Exception
    {
        final CountDownLatch routeRunning = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);
        final List<String> threads = new CopyOnWriteArrayList<>();
        final List<String> commands = new CopyOnWriteArrayList<>();
        // a slow `ip route`: the first route command holds its thread until the test releases it
        final HostNetwork.Runner slowIp = command ->
        {
            final String line = String.join(" ", command);
            commands.add(line);
            if (line.startsWith("ip route "))
            {
                threads.add(Thread.currentThread().getName());
                routeRunning.countDown();
                await(release);
            }
            return true;
        };
        final MemoryPortFactory factory = new MemoryPortFactory();
        // one thread for forwarding and the API: a subprocess run there would stop both
        final NodeConfig config = NodeConfig.defaults(NodeFixture.NODE, dir.resolve("api/ferry.sock"), "eth9")
            .withThreading(ThreadingMode.SHARED).withWorkers(NodeFixture.workers());
        final NodeDaemon daemon = NodeDaemon.builder(config).portFactory(factory).initialTables(NodeFixture.basic(1))
            .hostCommands(slowIp).build();
        try
        {
            daemon.start();
            assertThat(routeRunning.await(TIMEOUT.toSeconds(), TimeUnit.SECONDS)).as("host routes of generation 1")
                .isTrue();

            assertThat(daemon.push(withUnderlayMtu(NodeFixture.basic(2), 1400)).get(TIMEOUT.toSeconds(),
                TimeUnit.SECONDS)).as("a push is acknowledged while `ip route` runs").isEqualTo(2L);
            daemon.attach(NodeFixture.attachRequest("ca", POD_A)).get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
            daemon.attach(NodeFixture.attachRequest("cb", POD_B)).get(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
            final MemoryPortView a = factory.port("tap0af40102");
            final MemoryPortView b = factory.port("tap0af40103");
            a.enqueue(NodeFixture.udp(POD_A, POD_B, 1));
            NodeFixture.await("a frame forwarded while `ip route` runs", () -> b.txPackets() == 1, TIMEOUT);
            assertThat(release.getCount()).as("the route command is still held").isEqualTo(1);

            release.countDown();
            NodeFixture.await("generation 2's MTU on ferry0", () -> commands.contains("ip link set dev ferry0 mtu "
                + (1400 - 50) + " up"), TIMEOUT);
            assertThat(threads).as("threads that ran `ip route`").isNotEmpty()
                .allMatch(HostNetwork.THREAD_NAME::equals);
        }
        finally
        {
            release.countDown();
            daemon.stop();
        }
        assertThat(daemon.leakedBuffers()).isZero();
    }

    @Test
    void shouldCountEachFrameOncePerPort() throws Exception
    {
        try (NodeFixture node = new NodeFixture(dir, ThreadingMode.DEDICATED, NodeFixture.basic(1)))
        {
            node.daemon.attach(NodeFixture.attachRequest("ca", POD_A)).get();
            node.daemon.attach(NodeFixture.attachRequest("cb", POD_B)).get();
            final MemoryPortView a = node.ports.port("tap0af40102");
            final MemoryPortView b = node.ports.port("tap0af40103");
            for (int i = 0; i < 3; i++)
            {
                a.enqueue(NodeFixture.udp(POD_A, POD_B, i));
            }
            NodeFixture.await("3 frames forwarded", () -> b.txPackets() == 3, TIMEOUT);
            final List<String> ports = node.daemon.show("ports").get();
            assertThat(ports).as("rx on A, tx on B, once each")
                .anyMatch(l -> l.matches(".*tap0af40102 +pod .* 3 +\\d+ +0 +0 +0 +0 .*"))
                .anyMatch(l -> l.matches(".*tap0af40103 +pod .* 0 +0 +3 +\\d+ +0 +0 .*"));
            assertThat(a.rxPackets()).isEqualTo(3);
            assertThat(b.txBytes()).isEqualTo(3L * NodeFixture.udp(POD_A, POD_B, 0).length);
        }
    }

    private static NodeTables withUnderlayMtu(final NodeTables t, final int mtu)
    {
        final NodeTables.NodeInfo n = t.node();
        return new NodeTables(t.generation(), new NodeTables.NodeInfo(n.name(), n.addresses(), n.podCidr(),
            n.gatewayIp(), n.gatewayMac(), n.uplinkMac(), n.vtepMac(), n.publicIp(), n.underlayGateway(),
            n.underlayPrefix(), mtu), t.cluster(), t.pods(), t.remoteNodes(), t.services(), t.neighbours());
    }

    private static void await(final CountDownLatch latch)
    {
        try
        {
            latch.await(30, TimeUnit.SECONDS);
        }
        catch (final InterruptedException e)
        {
            Thread.currentThread().interrupt();
        }
    }
}
