package dev.ferry.cli;

import dev.ferry.agent.ManifestLoader;
import dev.ferry.agent.NodeTablesCompiler;
import dev.ferry.cli.replay.ReplayEngine;
import dev.ferry.core.header.IcmpHeader;
import dev.ferry.core.header.Ip4Header;
import dev.ferry.core.header.TcpHeader;
import dev.ferry.core.header.Wire;
import dev.ferry.core.packet.FrameBuilder;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.nat.Nat;
import dev.ferry.tapio.PcapWriter;
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
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Services through the replay engine (node-a of the example cluster plus the Services of
 * {@code src/test/resources/nat-cluster/10-nat-services.yaml}), with the output dissected by tshark. Peers
 * answer what they see, so replies carry the ports that masquerade chose.
 */
class ReplayServicesTest
{
    static final Path CLUSTER = Path.of("src/test/resources/nat-cluster").toAbsolutePath();
    static final int CLIENT = Ip4.parse("10.244.1.3");
    static final int WEB1 = Ip4.parse("10.244.1.2");
    static final int DNS1 = Ip4.parse("10.244.1.4");
    static final int GATEWAY = Ip4.parse("10.244.1.1");
    static final int NODE = Ip4.parse("192.168.50.11");
    static final int EXTERNAL = Ip4.parse("203.0.113.7");
    static final int SERVER = Ip4.parse("203.0.113.10");
    static final long EXTERNAL_MAC = Ip4.parseMac("02:00:cb:00:71:07");
    static final int SYN = TcpHeader.SYN;
    static final int ACK = TcpHeader.ACK;
    static final int FIN = TcpHeader.FIN;
    static final int PSH = TcpHeader.PSH;

    @TempDir
    Path tmp;

    /** A replay fed frame by frame: each frame runs through the graph before the next is built. */
    final class Live implements AutoCloseable
    {
        final Path pcap = tmp.resolve("out.pcap");
        final PcapWriter writer;
        final ReplayEngine engine;
        final List<String> ports = new ArrayList<>();
        final List<byte[]> frames = new ArrayList<>();
        long now = 1_700_000_000_000_000_000L;

        Live() throws IOException
        {
            final NodeTables tables = NodeTablesCompiler.compile(ManifestLoader.load(CLUSTER, n -> { }), "node-a",
                1);
            writer = PcapWriter.create(pcap);
            engine = new ReplayEngine(tables, Nat.Balancing.RANDOM, (ns, port, mem, off, len) ->
            {
                writer.write(ns, mem, off, len);
                ports.add(port);
                frames.add(mem.asSlice(off, len).toArray(ValueLayout.JAVA_BYTE));
            }, 0, now);
        }

        /** Feeds one frame; returns the frames it caused, as (port, bytes). */
        List<Object[]> send(final byte[] frame)
        {
            final int before = frames.size();
            now += 1_000_000;
            engine.feed(now, frame);
            engine.finish();
            final List<Object[]> out = new ArrayList<>();
            for (int i = before; i < frames.size(); i++)
            {
                out.add(new Object[] {ports.get(i), frames.get(i)});
            }
            return out;
        }

        byte[] one(final byte[] frame)
        {
            final List<Object[]> out = send(frame);
            assertThat(out).as("one frame out; drops: %s", engine.dropReport()).hasSize(1);
            return (byte[])out.get(0)[1];
        }

        List<List<String>> tshark(final String filter, final String... fields) throws Exception
        {
            writer.flush();
            return Tshark.fields(pcap, List.of("-Y", filter), fields);
        }

        @Override
        public void close() throws IOException
        {
            engine.close();
            writer.close();
        }
    }

    static byte[] fromPod(final int pod, final int dst, final int sport, final int dport, final int flags,
        final String data)
    {
        return new FrameBuilder().eth(Ip4.podMac(pod), Ip4.podMac(GATEWAY)).ip4(pod, dst).df(true)
            .tcp(sport, dport, flags, 100, 200).payload(data.getBytes()).build();
    }

    static byte[] fromOutside(final int src, final int dst, final int sport, final int dport, final int flags)
    {
        return new FrameBuilder().eth(EXTERNAL_MAC, Ip4.podMac(NODE)).ip4(src, dst).df(true)
            .tcp(sport, dport, flags, 100, 200).build();
    }

    /** A DNS query for the A record of web.default.svc.cluster.local. */
    static byte[] dnsQuery()
    {
        final java.io.ByteArrayOutputStream b = new java.io.ByteArrayOutputStream();
        b.writeBytes(new byte[] {0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00});
        question(b);
        return b.toByteArray();
    }

    /** Its answer: one A record, 10.96.0.10. */
    static byte[] dnsAnswer()
    {
        final java.io.ByteArrayOutputStream b = new java.io.ByteArrayOutputStream();
        b.writeBytes(new byte[] {0x12, 0x34, (byte)0x81, (byte)0x80, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00});
        question(b);
        b.writeBytes(new byte[] {(byte)0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x1e, 0x00, 0x04, 10, 96,
            0, 10});
        return b.toByteArray();
    }

    private static void question(final java.io.ByteArrayOutputStream b)
    {
        for (final String label : "web.default.svc.cluster.local".split("\\."))
        {
            b.write(label.length());
            b.writeBytes(label.getBytes(java.nio.charset.StandardCharsets.US_ASCII));
        }
        b.writeBytes(new byte[] {0x00, 0x00, 0x01, 0x00, 0x01});
    }

    static int ip(final byte[] f, final int off)
    {
        return Wire.u32(MemorySegment.ofArray(f), 14 + off);
    }

    static int u16(final byte[] f, final int off)
    {
        return Wire.u16(MemorySegment.ofArray(f), 14 + off);
    }

    static int srcIp(final byte[] f)
    {
        return ip(f, Ip4Header.SRC_OFFSET);
    }

    static int dstIp(final byte[] f)
    {
        return ip(f, Ip4Header.DST_OFFSET);
    }

    static int sport(final byte[] f)
    {
        return u16(f, 20);
    }

    @Test
    void tcpThroughClusterIpToTheSameNodeOnlyEverShowsTheClusterIp() throws Exception
    {
        Tshark.assumeAvailable();
        try (Live r = new Live())
        {
            final int vip = Ip4.parse("10.96.0.20");
            r.one(fromPod(CLIENT, vip, 40100, 80, SYN, ""));
            r.one(fromPod(WEB1, CLIENT, 8080, 40100, SYN | ACK, ""));
            r.one(fromPod(CLIENT, vip, 40100, 80, ACK, ""));
            r.one(fromPod(CLIENT, vip, 40100, 80, PSH | ACK, "GET / HTTP/1.1\r\n\r\n"));
            r.one(fromPod(WEB1, CLIENT, 8080, 40100, PSH | ACK, "HTTP/1.1 200 OK\r\n\r\n"));
            r.one(fromPod(CLIENT, vip, 40100, 80, FIN | ACK, ""));
            r.one(fromPod(WEB1, CLIENT, 8080, 40100, FIN | ACK, ""));
            r.one(fromPod(CLIENT, vip, 40100, 80, ACK, ""));
            final List<List<String>> toClient = r.tshark("ip.dst == 10.244.1.3", "ip.src", "tcp.srcport",
                "tcp.dstport", "ip.checksum.status", "tcp.checksum.status", "tcp.flags.str");
            assertThat(toClient).hasSize(3);
            for (final List<String> row : toClient)
            {
                assertThat(row.subList(0, 5)).containsExactly("10.96.0.20", "80", "40100", "1", "1");
            }
            final List<List<String>> toWeb = r.tshark("ip.dst == 10.244.1.2", "ip.src", "tcp.srcport", "tcp.dstport",
                "ip.checksum.status", "tcp.checksum.status");
            assertThat(toWeb).hasSize(5);
            for (final List<String> row : toWeb)
            {
                assertThat(row).containsExactly("10.244.1.3", "40100", "8080", "1", "1");
            }
        }
    }

    @Test
    void udpRequestAndResponseThroughClusterIp() throws Exception
    {
        Tshark.assumeAvailable();
        try (Live r = new Live())
        {
            final byte[] query = new FrameBuilder().eth(Ip4.podMac(CLIENT), Ip4.podMac(GATEWAY))
                .ip4(CLIENT, Ip4.parse("10.96.0.53")).udp(53001, 53).payload(dnsQuery()).build();
            r.one(query);
            final byte[] answer = new FrameBuilder().eth(Ip4.podMac(DNS1), Ip4.podMac(GATEWAY)).ip4(DNS1, CLIENT)
                .udp(53, 53001).payload(dnsAnswer()).build();
            r.one(answer);
            final List<List<String>> rows = r.tshark("dns", "ip.src", "ip.dst", "udp.srcport", "udp.dstport",
                "udp.checksum.status", "dns.flags.response", "dns.qry.name");
            assertThat(rows).hasSize(2);
            assertThat(rows.get(0)).containsExactly("10.244.1.3", "10.244.1.4", "53001", "53", "1", "0",
                "web.default.svc.cluster.local");
            assertThat(rows.get(1)).containsExactly("10.96.0.53", "10.244.1.3", "53", "53001", "1", "1",
                "web.default.svc.cluster.local");
        }
    }

    @Test
    void nodePortFromAnExternalClientIsMasqueradedAndTheReplyRestored() throws Exception
    {
        Tshark.assumeAvailable();
        try (Live r = new Live())
        {
            final byte[] in = r.one(fromOutside(EXTERNAL, NODE, 50000, 30090, SYN));
            assertThat(srcIp(in)).as("SNAT to the pods' gateway toward a pod on this node").isEqualTo(GATEWAY);
            r.one(fromPod(WEB1, GATEWAY, 8080, sport(in), SYN | ACK, ""));
            final List<List<String>> rows = r.tshark("tcp.port == 50000 || tcp.port == " + sport(in), "ip.src",
                "ip.dst", "tcp.srcport", "tcp.dstport", "tcp.checksum.status", "ip.checksum.status");
            assertThat(rows).hasSize(2);
            assertThat(rows.get(0)).containsExactly("10.244.1.1", "10.244.1.2", String.valueOf(sport(in)), "8080",
                "1", "1");
            assertThat(rows.get(1)).containsExactly("192.168.50.11", "203.0.113.7", "30090", "50000", "1", "1");
        }
    }

    @Test
    void externalPolicyLocalKeepsTheClientIpAndDropsWithoutALocalEndpoint() throws Exception
    {
        Tshark.assumeAvailable();
        try (Live r = new Live())
        {
            for (int i = 0; i < 10; i++)
            {
                final byte[] in = r.one(fromOutside(EXTERNAL, NODE, 51000 + i, 30091, SYN));
                assertThat(dstIp(in)).as("only the local endpoint").isEqualTo(WEB1);
            }
            assertThat(r.send(fromOutside(EXTERNAL, NODE, 52000, 30092, SYN))).isEmpty();
            assertThat(r.engine.dropReport()).anyMatch(l -> l.contains(
                "externalTrafficPolicy Local and no usable endpoint on this node"));
            final List<List<String>> rows = r.tshark("tcp.dstport == 8080", "ip.src", "ip.dst");
            assertThat(rows).hasSize(10).allMatch(row -> row.equals(List.of("203.0.113.7", "10.244.1.2")));
        }
    }

    @Test
    void noEndpointsIsRejectedWithAPortUnreachableQuotingTheClusterIp() throws Exception
    {
        Tshark.assumeAvailable();
        try (Live r = new Live())
        {
            r.one(fromPod(CLIENT, Ip4.parse("10.96.0.30"), 40200, 80, SYN, ""));
            final List<List<String>> rows = r.tshark("icmp", "ip.src", "ip.dst", "icmp.type", "icmp.code",
                "icmp.checksum.status", "ip.checksum.status", "tcp.srcport", "tcp.dstport");
            assertThat(rows).hasSize(1);
            assertThat(rows.get(0)).containsExactly("10.244.1.1,10.244.1.3", "10.244.1.3,10.96.0.30", "3", "3", "1",
                "1,1", "40200", "80");
        }
    }

    @Test
    void hairpinIsMasqueradedToTheGateway() throws Exception
    {
        Tshark.assumeAvailable();
        try (Live r = new Live())
        {
            final byte[] in = r.one(fromPod(WEB1, Ip4.parse("10.96.0.20"), 40300, 80, SYN, ""));
            r.one(fromPod(WEB1, GATEWAY, 8080, sport(in), SYN | ACK, ""));
            final List<List<String>> rows = r.tshark("tcp", "ip.src", "ip.dst", "tcp.srcport", "tcp.dstport",
                "tcp.checksum.status");
            assertThat(rows).hasSize(2);
            assertThat(rows.get(0)).containsExactly("10.244.1.1", "10.244.1.2", String.valueOf(sport(in)), "8080",
                "1");
            assertThat(rows.get(1)).containsExactly("10.96.0.20", "10.244.1.2", "80", "40300", "1");
        }
    }

    @Test
    void twoPodsWithTheSameSourcePortGetDistinctTranslatedPorts() throws Exception
    {
        Tshark.assumeAvailable();
        try (Live r = new Live())
        {
            r.one(fromPod(CLIENT, SERVER, 45000, 443, SYN, ""));
            r.one(fromPod(WEB1, SERVER, 45000, 443, SYN, ""));
            final List<List<String>> rows = r.tshark("ip.dst == 203.0.113.10", "ip.src", "tcp.srcport",
                "tcp.checksum.status");
            assertThat(rows).hasSize(2);
            assertThat(rows.get(0).get(0)).isEqualTo("192.168.50.11");
            assertThat(rows.get(1).get(0)).isEqualTo("192.168.50.11");
            assertThat(rows.get(0).get(1)).isNotEqualTo(rows.get(1).get(1));
            assertThat(rows).allMatch(row -> row.get(2).equals("1"));
        }
    }

    @Test
    void fragmentationNeededFromTheBackendIsTranslatedBackToTheClient() throws Exception
    {
        Tshark.assumeAvailable();
        try (Live r = new Live())
        {
            final byte[] in = r.one(fromPod(CLIENT, Ip4.parse("10.96.0.20"), 40400, 80, SYN, "x".repeat(64)));
            final byte[] quote = Arrays.copyOfRange(in, 14, 14 + 20 + 28);
            r.one(new FrameBuilder().eth(Ip4.podMac(WEB1), Ip4.podMac(GATEWAY)).ip4(WEB1, CLIENT)
                .icmp(IcmpHeader.TYPE_DEST_UNREACHABLE, IcmpHeader.CODE_FRAG_NEEDED, 1400).payload(quote).build());
            final List<List<String>> rows = r.tshark("icmp", "ip.src", "ip.dst", "icmp.code", "icmp.mtu",
                "icmp.checksum.status", "ip.checksum.status", "tcp.srcport", "tcp.dstport");
            assertThat(rows).hasSize(1);
            assertThat(rows.get(0)).containsExactly("10.96.0.20,10.244.1.3", "10.244.1.3,10.96.0.20", "4", "1400",
                "1", "1,1", "40400", "80");
        }
    }

    @Test
    void manyShortConnectionsToOneDestinationNeverReuseAPortAndNeverGoInvalid() throws Exception
    {
        Tshark.assumeAvailable();
        try (Live r = new Live())
        {
            final Set<Integer> ports = new HashSet<>();
            final int connections = 300;
            for (int i = 0; i < connections; i++)
            {
                // two pods take turns and use the same source port numbers, so their original tuples differ
                // only in the address; a client that reuses its own 4-tuple is tracked as the same flow
                // (netfilter reopens it from TIME_WAIT), which is transparent, so each original tuple is new
                final int pod = i % 2 == 0 ? CLIENT : WEB1;
                final int cport = 33000 + i / 2;
                final byte[] syn = r.one(fromPod(pod, SERVER, cport, 443, SYN, ""));
                final int port = sport(syn);
                assertThat(ports.add(port)).as("translated port %d reused toward the same server", port).isTrue();
                assertThat(dstIp(r.one(fromOutside(SERVER, NODE, 443, port, SYN | ACK)))).isEqualTo(pod);
                r.one(fromPod(pod, SERVER, cport, 443, ACK, ""));
                r.one(fromPod(pod, SERVER, cport, 443, FIN | ACK, ""));
                r.one(fromOutside(SERVER, NODE, 443, port, FIN | ACK));
                r.one(fromPod(pod, SERVER, cport, 443, ACK, ""));
            }
            assertThat(r.engine.dropReport()).as("nothing INVALID, nothing dropped").isEmpty();
            final List<List<String>> syns = r.tshark("tcp.flags == 0x002", "ip.src", "tcp.srcport",
                "tcp.checksum.status");
            assertThat(syns).hasSize(connections);
            assertThat(syns.stream().map(row -> row.get(1)).distinct().count()).isEqualTo(connections);
            assertThat(syns).allMatch(row -> row.get(0).equals("192.168.50.11") && row.get(2).equals("1"));
            final List<List<String>> synAcks = r.tshark("tcp.flags == 0x012", "ip.src", "ip.dst", "tcp.dstport");
            assertThat(synAcks).hasSize(connections)
                .allMatch(row -> row.get(1).equals("10.244.1.3") || row.get(1).equals("10.244.1.2"));
        }
    }

    @Test
    void replayCommandWritesTheConntrackTable() throws Exception
    {
        final Path in = tmp.resolve("in.pcap");
        try (PcapWriter w = PcapWriter.create(in))
        {
            w.write(1_000_000_000L, fromPod(CLIENT, Ip4.parse("10.96.0.20"), 40500, 80, SYN, ""));
            w.write(1_001_000_000L, fromPod(WEB1, CLIENT, 8080, 40500, SYN | ACK, ""));
        }
        final Path dump = tmp.resolve("ct.txt");
        final StringWriter sw = new StringWriter();
        final int rc = Ferry.commandLine().setOut(new PrintWriter(sw)).setErr(new PrintWriter(sw)).execute("replay",
            "--cluster", CLUSTER.toString(), "--node", "node-a", "--in", in.toString(), "--out",
            tmp.resolve("o.pcap").toString(), "--conntrack-dump", dump.toString(), "--show-services", "--lb",
            "maglev");
        assertThat(rc).as(sw.toString()).isZero();
        assertThat(sw.toString()).contains("TCP  10.96.0.30:80         default/empty (ClusterIP)  maglev",
            "(no usable endpoints: REJECT)", "not proxied: headless");
        assertThat(Files.readString(dump)).contains("SYN_RECV src=10.244.1.3 dst=10.96.0.20 sport=40500 dport=80",
            "src=10.244.1.2 dst=10.244.1.3 sport=8080 dport=40500");
    }
}
