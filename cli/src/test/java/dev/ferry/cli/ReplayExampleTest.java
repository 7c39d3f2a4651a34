package dev.ferry.cli;

import dev.ferry.cli.scenario.ExampleScenarios;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Replays the bundled example through node-a and checks the output with tshark, frame by frame.
 */
class ReplayExampleTest
{
    static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
    static final Path CLUSTER = ROOT.resolve("examples/two-node/cluster");
    static final Path EXAMPLE = ROOT.resolve("examples/two-node/node-a.pcap");

    @TempDir
    static Path tmp;
    static Path out;
    static String stdout;
    static int exit;

    @BeforeAll
    static void replay()
    {
        out = tmp.resolve("out.pcap");
        final StringWriter sw = new StringWriter();
        final StringWriter err = new StringWriter();
        exit = Ferry.commandLine().setOut(new PrintWriter(sw)).setErr(new PrintWriter(err)).execute(
            "replay", "--cluster", CLUSTER.toString(), "--node", "node-a", "--in", EXAMPLE.toString(),
            "--out", out.toString(), "--trace", "2", "--stats");
        stdout = sw + err.toString();
    }

    @Test
    void shouldExitCleanly()
    {
        assertThat(exit).as(stdout).isZero();
        assertThat(stdout).contains("Frames:", "#1 ", "Drops:", "Trace:", "Packet 1:");
    }

    @Test
    void committedExampleCaptureIsWhatTheGeneratorWrites() throws Exception
    {
        final Path regenerated = tmp.resolve("regen.pcap");
        ScenarioCommand.write(regenerated, ExampleScenarios.nodeA());
        assertThat(Files.readAllBytes(regenerated)).as("examples/two-node/node-a.pcap is generated: run "
            + "./ferry scenario --out examples/two-node").isEqualTo(Files.readAllBytes(EXAMPLE));
    }

    @Test
    void replayIsDeterministic() throws Exception
    {
        final Path second = tmp.resolve("second.pcap");
        final int rc = Ferry.commandLine().setOut(new PrintWriter(new StringWriter())).execute("replay",
            "--cluster", CLUSTER.toString(), "--node", "node-a", "--in", EXAMPLE.toString(), "--out",
            second.toString());
        assertThat(rc).isZero();
        assertThat(Files.readAllBytes(second)).isEqualTo(Files.readAllBytes(out));
    }

    @Test
    void podToPodOnOneNodeIsRoutedWithValidChecksums() throws Exception
    {
        Tshark.assumeAvailable();
        // the TCP conversation between client-1 and web-1 on port 8080 (client port 40001)
        final List<List<String>> rows = Tshark.fields(out, List.of("-Y", "tcp.port == 40001"),
            "eth.src", "eth.dst", "ip.src", "ip.dst", "ip.ttl", "ip.checksum.status", "tcp.checksum.status",
            "tcp.len");
        assertThat(rows).as("all 7 segments forwarded").hasSize(7);
        final List<String> syn = rows.get(0);
        assertThat(syn.get(0)).as("src MAC is the gateway").isEqualTo("0a:58:0a:f4:01:01");
        assertThat(syn.get(1)).as("dst MAC is web-1").isEqualTo("0a:58:0a:f4:01:02");
        assertThat(syn.get(2)).isEqualTo("10.244.1.3");
        assertThat(syn.get(3)).isEqualTo("10.244.1.2");
        for (final List<String> r : rows)
        {
            assertThat(r.get(4)).as("TTL one less than 64").isEqualTo("63");
            assertThat(r.get(5)).as("IP checksum good").isEqualTo("1");
            assertThat(r.get(6)).as("TCP checksum good").isEqualTo("1");
        }
        final List<List<String>> data = Tshark.fields(out, List.of("-Y", "tcp.port == 40001 && tcp.len > 0"),
            "tcp.payload");
        assertThat(data.get(0).get(0)).as("payload unchanged")
            .isEqualTo(hex("GET / HTTP/1.1\r\nHost: web\r\n\r\n"));
    }

    @Test
    void arpRequestForGatewayGetsReply() throws Exception
    {
        Tshark.assumeAvailable();
        final List<List<String>> rows = Tshark.fields(out, List.of("-Y", "arp"), "arp.opcode", "arp.src.hw_mac",
            "arp.src.proto_ipv4", "arp.dst.hw_mac", "arp.dst.proto_ipv4", "eth.dst");
        assertThat(rows).hasSize(1);
        assertThat(rows.get(0)).containsExactly("2", "0a:58:0a:f4:01:01", "10.244.1.1", "0a:58:0a:f4:01:03",
            "10.244.1.3", "0a:58:0a:f4:01:03");
    }

    @Test
    void ttlOneGetsTimeExceededQuotingTheHeader() throws Exception
    {
        Tshark.assumeAvailable();
        final List<List<String>> rows = Tshark.fields(out, List.of("-Y", "icmp.type == 11"), "ip.src", "ip.dst",
            "icmp.code", "icmp.checksum.status", "ip.checksum.status", "udp.srcport", "udp.dstport", "ip.ttl");
        assertThat(rows).hasSize(1);
        final List<String> r = rows.get(0);
        assertThat(r.get(0)).as("outer from the gateway, quoted from the pod").isEqualTo("10.244.1.1,10.244.1.3");
        assertThat(r.get(1)).as("outer to the pod, quoted to the destination").isEqualTo("10.244.1.3,10.244.1.2");
        assertThat(r.get(2)).isEqualTo("0");
        assertThat(r.get(3)).as("ICMP checksum good").isEqualTo("1");
        assertThat(r.get(4)).as("outer and quoted IP checksums good").isEqualTo("1,1");
        assertThat(r.get(5)).as("quoted UDP source port").isEqualTo("40005");
        assertThat(r.get(6)).as("quoted UDP destination port").isEqualTo("8080");
        assertThat(r.get(7)).as("outer TTL 64, quoted TTL 1").isEqualTo("64,1");
    }

    @Test
    void malformedFramesAreDroppedUnderTheirOwnReasons()
    {
        assertThat(stdout).as("each drop printed as the catalogue names it: id, counter name, sentence").contains(
            "ip4-input          19 bad-checksum: \"bad IPv4 header checksum\"",
            "ip4-input          14 truncated: \"IPv4 header truncated\"",
            "ip4-input          18 length-exceeds-frame: \"IPv4 total length larger than the frame\"",
            "ethernet-input     6 ip6-not-supported: \"IPv6 is not supported yet\"");
    }

    static String hex(final String s)
    {
        final StringBuilder sb = new StringBuilder();
        for (final byte b : s.getBytes(java.nio.charset.StandardCharsets.US_ASCII))
        {
            sb.append(String.format("%02x", b));
        }
        return sb.toString();
    }
}
