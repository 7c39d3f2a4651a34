package dev.ferry.node;

import dev.ferry.core.header.TcpHeader;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.tapio.MemoryPort;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

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
 * A whole node ({@link NodeDaemon}) with {@code workers: 2} on in-memory ports: every device has one queue per
 * worker, each worker a thread, and pod to ClusterIP to a pod on another node works whichever queue each
 * direction arrives on; the views sum the workers.
 */
class WorkersNodeTest
{
    private static final int VIP_REMOTE = Ip4.parse("10.96.0.20");
    private static final int REMOTE_POD = Ip4.parse("10.244.2.5");
    private static final long VTEP_MAC = Ip4.parseMac("aa:aa:aa:00:00:01");
    private static final long REMOTE_VTEP_MAC = Ip4.parseMac("aa:aa:aa:00:00:02");
    private static final int FLOWS = 32;
    private static final Duration WAIT = Duration.ofSeconds(20);

    @TempDir
    Path dir;

    private static NodeTables tables()
    {
        final NodeTables base = NodeFixture.tables(1, List.of(POD_A, POD_B), List.of("10.244.2.0/24"));
        return new NodeTables(1, base.node(), base.cluster(), base.pods(), base.remoteNodes(),
            List.of(WorkerHandoffTest.service("remote", VIP_REMOTE, REMOTE_POD, false)),
            Map.of(NODE_B_IP, Ip4.podMac(NODE_B_IP)));
    }

    /** Frames both queues of a device sent, drained. */
    private static List<byte[]> sent(final NodeFixture node, final String device)
    {
        final List<byte[]> out = new ArrayList<>();
        for (int q = 0; q < 2; q++)
        {
            final MemoryPort p = node.ports.port(device, q);
            if (p != null)
            {
                p.drainTransmitted().forEach(f -> out.add(f.bytes()));
            }
        }
        return out;
    }

    private static List<byte[]> await(final NodeFixture node, final String device, final String what)
        throws InterruptedException
    {
        final List<byte[]> got = new ArrayList<>();
        NodeFixture.await(what, () ->
        {
            got.addAll(sent(node, device));
            return !got.isEmpty();
        }, WAIT);
        return got;
    }

    @Test
    void shouldForwardPodToClusterIpToARemotePodAndBackOnTwoWorkers() throws Exception
    {
        final NodeConfig config = NodeConfig.defaults(NodeFixture.NODE, dir.resolve("api/ferry.sock"), "eth9")
            .withThreading(ThreadingMode.DEDICATED).withWorkers(2);
        try (NodeFixture node = new NodeFixture(config, tables()))
        {
            node.daemon.attach(NodeFixture.attachRequest("ca", POD_A)).get(10, TimeUnit.SECONDS);
            assertThat(node.ports.port(tap(POD_A), 1)).as("one queue per worker").isNotNull();
            assertThat(node.ports.port("eth9", 1)).isNotNull();
            assertThat(node.ports.port("ferry0", 1)).isNotNull();
            for (int f = 0; f < FLOWS; f++)
            {
                final int sport = 30000 + f;
                // the SYN on one worker's queue of the pod's TAP, the reply on the other worker's uplink socket
                node.ports.port(tap(POD_A), f % 2).enqueue(tcp(Ip4.podMac(POD_A), GATEWAY_MAC, POD_A, VIP_REMOTE,
                    sport, 80, TcpHeader.SYN));
                final List<byte[]> out = await(node, "eth9", "flow " + f + " encapsulated");
                assertThat(out).hasSize(1);
                assertThat(u32(out.get(0), 64 + 16)).as("DNAT to the remote endpoint").isEqualTo(REMOTE_POD);
                final int natSport = u16(out.get(0), 64 + 20);
                final byte[] synAck = tcp(REMOTE_VTEP_MAC, VTEP_MAC, REMOTE_POD, POD_A, 8080, natSport,
                    TcpHeader.SYN | TcpHeader.ACK);
                node.ports.port("eth9", (f + 1) % 2).enqueue(WorkerHandoffTest.vxlan(synAck, 49152 + f));
                final List<byte[]> back = await(node, tap(POD_A), "flow " + f + "'s reply at the pod");
                assertThat(back).hasSize(1);
                assertThat(u32(back.get(0), 26)).as("source is the ClusterIP again").isEqualTo(VIP_REMOTE);
                assertThat(u16(back.get(0), 34)).isEqualTo(80);
                assertThat(u16(back.get(0), 36)).isEqualTo(sport);
            }
            final List<String> stats = node.daemon.show("stats").get(10, TimeUnit.SECONDS);
            assertThat(stats).contains("workers: 2").contains("No drops");
            final List<String> runtime = node.daemon.show("runtime").get(10, TimeUnit.SECONDS);
            assertThat(runtime).contains("Thread 0 ferry-worker-0", "Thread 1 ferry-worker-1", "Total (2 workers)");
            assertThat(runtime).anyMatch(l -> l.startsWith(WorkerHandoff.NAME));
            final List<String> conntrack = node.daemon.show("conntrack").get(10, TimeUnit.SECONDS);
            assertThat(conntrack).as("every shard's entries").hasSize(FLOWS);
            assertThat(node.daemon.health()).as("every worker answers").isNull();
            assertThat(node.daemon.detach("ca", "eth0").get(10, TimeUnit.SECONDS)).isTrue();
            assertThat(node.ports.port(tap(POD_A), 0).isClosed()).as("worker 0's queue closed").isTrue();
            assertThat(node.ports.port(tap(POD_A), 1).isClosed()).as("worker 1's queue closed").isTrue();
        }
    }

    /**
     * Issue 17's silent loss: one worker takes a burst from its uplink socket while the other is busy (here: held in
     * a command; on a loaded machine: descheduled) and does not drain its ring. The ring holds a few hundred
     * frames; every frame must still reach the pod, none lost, and {@code show stats} must say so.
     */
    @Test
    void shouldLoseNothingWhenTheOwnerDoesNotDrainForAWhile() throws Exception
    {
        final NodeConfig config = NodeConfig.defaults(NodeFixture.NODE, dir.resolve("api/ferry.sock"), "eth9")
            .withThreading(ThreadingMode.DEDICATED).withWorkers(2);
        try (NodeFixture node = new NodeFixture(config, tables()))
        {
            node.daemon.attach(NodeFixture.attachRequest("ca", POD_A)).get(10, TimeUnit.SECONDS);
            final java.util.concurrent.CountDownLatch busy = new java.util.concurrent.CountDownLatch(1);
            final java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
            node.daemon.worker(1).submit(new WorkerCommand.FeatureTask(() ->
            {
                busy.countDown();
                try
                {
                    release.await(WAIT.toSeconds(), TimeUnit.SECONDS);
                }
                catch (final InterruptedException e)
                {
                    Thread.currentThread().interrupt();
                }
            }));
            assertThat(busy.await(10, TimeUnit.SECONDS)).as("worker 1 busy").isTrue();
            // 32 flows from a remote pod, 3,000 full-sized datagrams in all (4.5 MB, the ring to worker 1 is 256
            // KiB), all on worker 0's uplink socket: about half the flows are worker 1's
            final int frames = 3000;
            final MemoryPort uplink = node.ports.port("eth9", 0);
            // built first, queued in one go: worker 0 must find the burst there, not as fast as the test builds it
            final List<byte[]> burst = new ArrayList<>();
            for (int i = 0; i < frames; i++)
            {
                final int flow = i % FLOWS;
                final byte[] payload = new byte[1400];
                payload[0] = (byte)(i >>> 8);
                payload[1] = (byte)i;
                final byte[] inner = new dev.ferry.core.packet.FrameBuilder().eth(REMOTE_VTEP_MAC, VTEP_MAC)
                    .ip4(REMOTE_POD, POD_A).udp(40000 + flow, 5201).payload(payload).build();
                burst.add(WorkerHandoffTest.vxlan(inner, 49152 + flow));
            }
            burst.forEach(uplink::enqueue);
            // worker 0 takes in what it can (it must not take it all and drop the overflow), then worker 1 wakes
            NodeFixture.await("worker 0 took the burst in or holds frames for worker 1", () ->
                uplink.pendingReceive() == 0 || node.daemon.worker(0).pending(), WAIT);
            release.countDown();
            final List<byte[]> got = new ArrayList<>();
            NodeFixture.await("every datagram at the pod, or counted as dropped", () ->
            {
                got.addAll(sent(node, tap(POD_A)));
                return got.size() + dropped(node) >= frames;
            }, WAIT);
            final List<String> stats = node.daemon.show("stats").get(10, TimeUnit.SECONDS);
            final long dropped = dropped(node);
            if (dropped > 0)
            {
                assertThat(stats).as("show stats lists the %d handoff drops", dropped)
                    .anyMatch(l -> l.contains("(handoff)"));
            }
            assertThat(dropped).as("handoff drops (ring to the busy owner full)").isZero();
            assertThat(got).as("every datagram reached the pod").hasSize(frames);
            assertThat(stats).contains("No drops");
        }
    }

    /** Handoff drops of both workers (their counters; {@code show stats} must list them too). */
    private static long dropped(final NodeFixture node)
    {
        long sum = 0;
        for (int w = 0; w < 2; w++)
        {
            final dev.ferry.core.Counters c = node.daemon.worker(w).portContext(0).counters();
            for (final dev.ferry.core.workers.Handoff.Drop d : dev.ferry.core.workers.Handoff.Drop.values())
            {
                sum += c.get(dev.ferry.core.workers.Handoff.DROP_PREFIX + d.counterName());
            }
        }
        return sum;
    }
}
