package dev.ferry.node;

import dev.ferry.core.packet.FrameBuilder;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.route.Ip4Prefix;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.nodeapi.AttachRequest;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A node daemon on in-memory ports with its API socket in a temp directory: node-a, pod CIDR 10.244.1.0/24,
 * a remote node-b (10.244.2.0/24). Closing it stops the daemon and checks that no packet buffer leaked.
 */
final class NodeFixture implements AutoCloseable
{
    static final String NODE = "node-a";
    static final int POD_A = Ip4.parse("10.244.1.2");
    static final int POD_B = Ip4.parse("10.244.1.3");
    static final int GATEWAY = Ip4.parse("10.244.1.1");
    static final long GATEWAY_MAC = Ip4.podMac(GATEWAY);
    static final int NODE_IP = Ip4.parse("192.168.50.11");
    static final int NODE_B_IP = Ip4.parse("192.168.50.12");

    final MemoryPortFactory ports = new MemoryPortFactory();
    final NodeConfig config;
    final NodeDaemon daemon;

    NodeFixture(final Path dir, final ThreadingMode mode, final NodeTables initial) throws Exception
    {
        this(dir, mode, initial, NodeConfig.METRICS_OFF);
    }

    /** A node that also serves metrics (port 0: any free one) and has the given features wired in. */
    NodeFixture(final Path dir, final ThreadingMode mode, final NodeTables initial, final int metricsPort,
        final NodeFeature... features) throws Exception
    {
        this(NodeConfig.defaults(NODE, dir.resolve("api/ferry.sock"), "eth9").withThreading(mode)
            .withMetricsPort(metricsPort).withWorkers(workers()), initial, features);
    }

    /**
     * The worker count the tests run their nodes with: {@code -Dferry.test.workers} (CI runs the in-memory node
     * tests once more with 2), else 1. A test that builds its own {@link NodeConfig} applies it too.
     */
    static int workers()
    {
        final String value = System.getProperty("ferry.test.workers");
        return value == null || value.isBlank() ? 1 : Integer.parseInt(value.strip());
    }

    /** A node with the given configuration (its socket under the test's directory) and features. */
    NodeFixture(final NodeConfig config, final NodeTables initial, final NodeFeature... features) throws Exception
    {
        this.config = config;
        final NodeDaemon.Builder b = NodeDaemon.builder(config).portFactory(ports).initialTables(initial);
        for (final NodeFeature f : features)
        {
            b.feature(f);
        }
        daemon = b.build();
        daemon.start();
    }

    Path socket()
    {
        return config.apiSocket();
    }

    /** Tables for node-a: pods listed by the agent's naming convention, remote nodes as given. */
    static NodeTables tables(final long generation, final List<Integer> pods, final List<String> remoteCidrs)
    {
        final NodeTables.NodeInfo node = new NodeTables.NodeInfo(NODE, List.of(NODE_IP),
            Ip4Prefix.parse("10.244.1.0/24"), GATEWAY, GATEWAY_MAC, MemoryPortFactory.UPLINK_MAC,
            Ip4.parseMac("aa:aa:aa:00:00:01"), NODE_IP, 0, Ip4Prefix.parse("192.168.50.0/24"), 1500);
        final List<NodeTables.PodInfo> podInfos = new ArrayList<>();
        for (final int ip : pods)
        {
            podInfos.add(new NodeTables.PodInfo("default", "pod-" + (ip & 0xff), ip, Ip4.podMac(ip),
                "tap" + String.format("%08x", ip)));
        }
        final List<NodeTables.RemoteNode> remotes = new ArrayList<>();
        int n = 0;
        for (final String cidr : remoteCidrs)
        {
            final int addr = NODE_B_IP + n++;
            remotes.add(new NodeTables.RemoteNode("node-" + (char)('b' + n - 1), Ip4Prefix.parse(cidr), addr,
                Ip4.parseMac("aa:aa:aa:00:00:0" + (n + 1)), Ip4.podMac(addr), List.of(addr)));
        }
        return new NodeTables(generation, node, NodeTables.ClusterSettings.defaults(), podInfos, remotes, List.of(),
            Map.of());
    }

    static NodeTables basic(final long generation)
    {
        return tables(generation, List.of(POD_A, POD_B), List.of("10.244.2.0/24"));
    }

    static AttachRequest attachRequest(final String container, final int ip)
    {
        return new AttachRequest(container, "eth0", "/var/run/netns/" + container, "default", "pod-" + (ip & 0xff),
            ip, -1);
    }

    static byte[] udp(final int src, final int dst, final int seq)
    {
        final byte[] payload = new byte[] {(byte)(seq >>> 24), (byte)(seq >>> 16), (byte)(seq >>> 8), (byte)seq};
        return new FrameBuilder().eth(Ip4.podMac(src), GATEWAY_MAC).ip4(src, dst).id(seq & 0xffff)
            .udp(40000, 8080).payload(payload).build();
    }

    static int seqOf(final byte[] frame)
    {
        final int off = 14 + 20 + 8;
        return (frame[off] & 0xff) << 24 | (frame[off + 1] & 0xff) << 16 | (frame[off + 2] & 0xff) << 8
            | (frame[off + 3] & 0xff);
    }

    /**
     * Cuts {@code show trace}'s lines into its blocks, each with its heading: one per packet ({@code Packet N:}),
     * and with several workers one per worker's part of a packet ({@code Packet N (worker W):}), a packet handed
     * over to its flow's owner having two.
     */
    static List<List<String>> traceParts(final List<String> lines)
    {
        final List<List<String>> parts = new ArrayList<>();
        for (final String line : lines)
        {
            if (parts.isEmpty() || line.startsWith("Packet "))
            {
                parts.add(new ArrayList<>());
            }
            parts.get(parts.size() - 1).add(line);
        }
        return parts;
    }

    /**
     * @param line   a line of {@code show trace}.
     * @param packet a packet number.
     * @return whether it heads a block (a packet, or one worker's part of it) of that packet.
     */
    static boolean headsPacket(final String line, final int packet)
    {
        return line.matches("Packet " + packet + "( \\(worker \\d+\\))?:");
    }

    static void await(final String what, final BooleanSupplier condition, final Duration timeout)
        throws InterruptedException
    {
        final long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.getAsBoolean())
        {
            if (System.nanoTime() > deadline)
            {
                throw new AssertionError("timed out waiting for " + what);
            }
            Thread.sleep(2);
        }
    }

    @Override
    public void close()
    {
        daemon.stop();
        assertThat(daemon.leakedBuffers()).as("packet buffers still in use after stop").isZero();
    }
}
