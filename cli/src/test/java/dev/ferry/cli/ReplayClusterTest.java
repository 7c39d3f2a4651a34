package dev.ferry.cli;

import dev.ferry.agent.ClusterState;
import dev.ferry.agent.ManifestLoader;
import dev.ferry.agent.NodeTablesCompiler;
import dev.ferry.cli.replay.ClusterReplay;
import dev.ferry.cli.replay.ReplayEngine;
import dev.ferry.cli.scenario.Scenario;
import dev.ferry.cli.scenario.TimedFrame;
import dev.ferry.core.header.EthernetHeader;
import dev.ferry.core.header.Ip4Header;
import dev.ferry.core.header.TcpHeader;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.nat.Nat;
import dev.ferry.tapio.PcapReader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Whole-cluster replay ({@code ferry replay} without {@code --node}): every node runs, joined by an underlay.
 */
class ReplayClusterTest
{
    private static final long T0 = 1_767_225_600_000_000_000L;
    private static final int NODE_B = Ip4.parse("192.168.50.12");

    @TempDir
    Path tmp;

    /** Frames per port, as "timestamp hex" lines. */
    private static final class Collector
    {
        final Map<String, List<String>> byPort = new TreeMap<>();

        void add(final String port, final long ns, final MemorySegment mem, final long off, final int len)
        {
            final byte[] b = new byte[len];
            MemorySegment.copy(mem, ValueLayout.JAVA_BYTE, off, b, 0, len);
            byPort.computeIfAbsent(port, k -> new ArrayList<>()).add(ns + " " + HexFormat.of().formatHex(b));
        }
    }

    private static List<TimedFrame> read(final Path file) throws IOException
    {
        final List<TimedFrame> frames = new ArrayList<>();
        try (PcapReader r = PcapReader.open(file))
        {
            while (r.next())
            {
                frames.add(new TimedFrame(r.timestampNanos(), r.frame()));
            }
        }
        return frames;
    }

    private static Map<String, List<String>> wholeCluster(final ClusterState state, final List<TimedFrame> in)
    {
        final Collector c = new Collector();
        try (ClusterReplay replay = new ClusterReplay(state, Nat.Balancing.RANDOM,
            (ns, node, port, mem, off, len) -> c.add(node + "/" + port, ns, mem, off, len), 0, 0))
        {
            for (final TimedFrame f : in)
            {
                replay.feed(f.epochNanos(), f.frame(), f.frame().length);
            }
            replay.finish();
        }
        return c.byPort;
    }

    @Test
    void twoNodeExampleGivesEachPodWhatChainingNodeAIntoNodeBByHandGives() throws IOException
    {
        final ClusterState state = ManifestLoader.load(ReplayExampleTest.CLUSTER, n -> { });
        final List<TimedFrame> in = read(ReplayExampleTest.EXAMPLE);
        final Map<String, List<String>> cluster = wholeCluster(state, in);

        // by hand: node-a on the capture; node-b on what node-a sent on its uplink to node-b's address
        final Collector hand = new Collector();
        final List<TimedFrame> toB = new ArrayList<>();
        final NodeTables a = NodeTablesCompiler.compile(state, "node-a", 1);
        try (ReplayEngine e = new ReplayEngine(a, Nat.Balancing.RANDOM, (ns, port, mem, off, len) ->
        {
            if (port.equals(ReplayEngine.UPLINK) && len >= 34
                && new EthernetHeader().wrap(mem, off).etherType() == EthernetHeader.TYPE_IP4 && new Ip4Header().wrap(mem, off + EthernetHeader.LENGTH).dst() == NODE_B)
            {
                final byte[] b = new byte[len];
                MemorySegment.copy(mem, ValueLayout.JAVA_BYTE, off, b, 0, len);
                toB.add(new TimedFrame(ns, b));
            }
            else
            {
                hand.add("node-a/" + port, ns, mem, off, len);
            }
        }, 0, 0))
        {
            in.forEach(f -> e.feed(f.epochNanos(), f.frame()));
            e.finish();
        }
        assertThat(toB).as("node-a sends something to node-b").isNotEmpty();
        final NodeTables b = NodeTablesCompiler.compile(state, "node-b", 1);
        try (ReplayEngine e = new ReplayEngine(b, Nat.Balancing.RANDOM,
            (ns, port, mem, off, len) -> hand.add("node-b/" + port, ns, mem, off, len), 0, 0))
        {
            toB.forEach(f -> e.feed(f.epochNanos(), f.frame()));
            e.finish();
        }

        final List<String> pods = new ArrayList<>();
        a.pods().forEach(p -> pods.add("node-a/" + p.portName()));
        b.pods().forEach(p -> pods.add("node-b/" + p.portName()));
        final String web2 = "node-b/" + NodeTablesCompiler.portName(Ip4.parse("10.244.2.2"));
        assertThat(cluster.get(web2)).as("the cross-node SYN reaches web-2").isNotEmpty();
        for (final String pod : pods)
        {
            assertThat(cluster.getOrDefault(pod, List.of())).as(pod)
                .isEqualTo(hand.byPort.getOrDefault(pod, List.of()));
        }
        assertThat(cluster.keySet()).as("nothing leaves on node-a's uplink to node-b: it goes through the underlay")
            .allMatch(p -> !p.equals("node-a/uplink") || cluster.get(p).stream().noneMatch(f -> f.contains(
                "c0a8320c")));
    }

    /** The example cluster with web's only endpoint web-2, on node-b. */
    private Path clusterWithWebOnNodeB() throws IOException
    {
        final Path dir = Files.createDirectories(tmp.resolve("cluster"));
        try (var files = Files.list(ReplayExampleTest.CLUSTER))
        {
            for (final Path f : files.toList())
            {
                Files.copy(f, dir.resolve(f.getFileName()));
            }
        }
        final Path slices = dir.resolve("endpointslices.yaml");
        final String yaml = Files.readString(slices);
        final int from = yaml.indexOf("  - addresses:\n    - 10.244.1.2\n");
        final int to = yaml.indexOf("  - addresses:\n    - 10.244.2.2\n");
        assertThat(from).isPositive();
        assertThat(to).isGreaterThan(from);
        Files.writeString(slices, yaml.substring(0, from) + yaml.substring(to));
        return dir;
    }

    private static List<String> tcp(final List<String> frames)
    {
        final List<String> out = new ArrayList<>();
        for (final String f : frames)
        {
            final MemorySegment m = MemorySegment.ofArray(HexFormat.of().parseHex(f.substring(f.indexOf(' ') + 1)));
            final Ip4Header ip = new Ip4Header().wrap(m, EthernetHeader.LENGTH);
            final TcpHeader t = new TcpHeader().wrap(m, EthernetHeader.LENGTH + ip.headerLength());
            out.add(Ip4.format(ip.src()) + ":" + t.srcPort() + ">" + Ip4.format(ip.dst()) + ":" + t.dstPort() + " "
                + Integer.toHexString(t.flags()));
        }
        return out;
    }

    @Test
    void crossNodeClusterIpConnectionReplaysFromOneCaptureHandshakeToClose() throws IOException
    {
        final ClusterState state = ManifestLoader.load(clusterWithWebOnNodeB(), n -> { });
        final Scenario s = new Scenario(T0);
        final Scenario.Host client = s.pod("10.244.1.3", "10.244.1.1");
        final Scenario.Host web2 = s.pod("10.244.2.2", "10.244.2.1");
        s.tcp(client, 40010, Ip4.parse("10.96.0.10"), 80).backendPort(8080).syn()
            .synAckFrom(web2, client.ip(), 40010).ack().send("GET / HTTP/1.1\r\n\r\n")
            .replyFrom(web2, client.ip(), 40010, "HTTP/1.1 200 OK\r\n\r\n").fin()
            .finFrom(web2, client.ip(), 40010).ack();

        final Collector c = new Collector();
        final List<String> drops = new ArrayList<>();
        try (ClusterReplay replay = new ClusterReplay(state, Nat.Balancing.RANDOM,
            (ns, node, port, mem, off, len) -> c.add(node + "/" + port, ns, mem, off, len), 20, 0))
        {
            for (final TimedFrame f : s.frames())
            {
                replay.feed(f.epochNanos(), f.frame(), f.frame().length);
            }
            replay.finish();
            replay.members().forEach(m -> drops.addAll(m.engine().dropReport()));
            assertThat(replay.underlayFrames()).as("every frame crosses the underlay once").isEqualTo(8);
            assertThat(replay.fates()).hasSize(16);
        }
        assertThat(drops).isEmpty();
        final String atClient = "node-a/" + NodeTablesCompiler.portName(client.ip());
        final String atWeb2 = "node-b/" + NodeTablesCompiler.portName(web2.ip());
        assertThat(c.byPort.keySet()).containsExactlyInAnyOrder(atClient, atWeb2);
        final String toWeb2 = "10.244.1.3:40010>10.244.2.2:8080 ";
        assertThat(tcp(c.byPort.get(atWeb2))).as("DNATed to web-2, in order").containsExactly(toWeb2 + "2",
            toWeb2 + "10", toWeb2 + "18", toWeb2 + "11", toWeb2 + "10");
        final String fromService = "10.96.0.10:80>10.244.1.3:40010 ";
        assertThat(tcp(c.byPort.get(atClient))).as("replies un-DNATed to the ClusterIP").containsExactly(
            fromService + "12", fromService + "18", fromService + "11");
    }

    private int command(final Path in, final Path out, final StringWriter sw)
    {
        return Ferry.commandLine().setOut(new PrintWriter(sw)).setErr(new PrintWriter(sw)).execute("replay",
            "--cluster", ReplayExampleTest.CLUSTER.toString(), "--in", in.toString(), "--out", out.toString());
    }

    @Test
    void commandWritesPcapngWithAnInterfacePerNodePortDeterministically() throws Exception
    {
        final Path one = tmp.resolve("one.pcapng");
        final Path two = tmp.resolve("two.pcapng");
        final StringWriter sw = new StringWriter();
        assertThat(command(ReplayExampleTest.EXAMPLE, one, sw)).as(sw.toString()).isZero();
        assertThat(command(ReplayExampleTest.EXAMPLE, two, new StringWriter())).isZero();
        assertThat(Files.mismatch(one, two)).as("byte-identical").isEqualTo(-1L);
        final String report = sw.toString();
        assertThat(report).contains("whole cluster, 2 nodes").contains("Node node-a:").contains("Node node-b:")
            .contains("underlay from node-a").contains("21 frames in, 2 through the underlay, 17 frames out")
            .contains("Node node-a: 21 frames in, 17 frames out (2 of them to other nodes through the underlay)");
        try (PcapReader r = PcapReader.open(one))
        {
            assertThat(r.format()).isEqualTo(PcapReader.Format.PCAPNG);
        }
        Tshark.assumeAvailable();
        final List<List<String>> rows = Tshark.fields(one, List.of("-Y", "tcp.port == 40003"),
            "frame.interface_name", "ip.dst");
        assertThat(rows).as("the SYN to web-2 leaves at web-2's port on node-b")
            .containsExactly(List.of("node-b/" + NodeTablesCompiler.portName(Ip4.parse("10.244.2.2")), "10.244.2.2"));
    }

    @Test
    void nodeOnlyOptionsAreAUsageErrorWithoutNode()
    {
        final StringWriter sw = new StringWriter();
        assertThat(Ferry.commandLine().setOut(new PrintWriter(sw)).setErr(new PrintWriter(sw)).execute("replay",
            "--cluster", ReplayExampleTest.CLUSTER.toString(), "--in", ReplayExampleTest.EXAMPLE.toString(),
            "--out", tmp.resolve("x.pcapng").toString(), "--conntrack-dump", tmp.resolve("ct").toString()))
            .isEqualTo(2);
        assertThat(sw.toString()).contains("--conntrack-dump need --node");
    }

    @Test
    void aFrameFromOutsideToAClusterIpGoesNowhereAndIsReported() throws IOException
    {
        final ClusterState state = ManifestLoader.load(ReplayExampleTest.CLUSTER, n -> { });
        final Scenario s = new Scenario(T0);
        final Scenario.Host outside = s.host("203.0.113.7", Ip4.parseMac("02:00:cb:00:71:07"),
            Ip4.podMac(Ip4.parse("192.168.50.11")));
        s.tcp(outside, 50000, Ip4.parse("10.96.0.10"), 80).syn();
        try (ClusterReplay replay = new ClusterReplay(state, Nat.Balancing.RANDOM, (ns, node, port, mem, off, len) ->
        {
            throw new AssertionError("nothing leaves");
        }, 5, 0))
        {
            final TimedFrame f = s.frames().get(0);
            replay.feed(f.epochNanos(), f.frame(), f.frame().length);
            replay.finish();
            assertThat(replay.unrouted()).isEqualTo(1);
            assertThat(replay.fates().get(0)).contains("NOT REPLAYED").contains("10.96.0.10");
            replay.members().forEach(m -> assertThat(m.engine().framesIn()).isZero());
        }
    }
}
