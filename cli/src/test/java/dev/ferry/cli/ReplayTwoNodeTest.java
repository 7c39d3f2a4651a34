package dev.ferry.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Node-a's output (VXLAN frames on its uplink) replayed into node-b reaches the right pod there.
 */
class ReplayTwoNodeTest
{
    @TempDir
    Path tmp;

    private static int replay(final String node, final Path in, final Path out)
    {
        final StringWriter sw = new StringWriter();
        return Ferry.commandLine().setOut(new PrintWriter(sw)).setErr(new PrintWriter(sw)).execute("replay",
            "--cluster", ReplayExampleTest.CLUSTER.toString(), "--node", node, "--in", in.toString(), "--out",
            out.toString());
    }

    @Test
    void shouldCarryPodTrafficAcrossNodesAsFlannelWould() throws Exception
    {
        Tshark.assumeAvailable();
        final Path a = tmp.resolve("a.pcap");
        final Path b = tmp.resolve("b.pcap");
        assertThat(replay("node-a", ReplayExampleTest.EXAMPLE, a)).isZero();
        assertThat(replay("node-b", a, b)).isZero();

        final List<String> vx = List.of("-d", "udp.port==8472,vxlan", "-Y", "vxlan && tcp.port == 40003");
        final List<List<String>> onA = Tshark.fields(a, vx, "ip.src", "ip.dst", "ip.ttl", "ip.checksum.status",
            "udp.checksum.status", "vxlan.vni", "eth.src", "eth.dst", "ip.flags.df");
        assertThat(onA).as("one encapsulated SYN leaves node-a").hasSize(1);
        final List<String> r = onA.get(0);
        assertThat(r.get(0)).as("outer then inner source").isEqualTo("192.168.50.11,10.244.1.3");
        assertThat(r.get(1)).isEqualTo("192.168.50.12,10.244.2.2");
        assertThat(r.get(2)).as("outer TTL 64, inner TTL decremented once").isEqualTo("64,63");
        assertThat(r.get(3)).as("outer and inner IP checksums good").isEqualTo("1,1");
        assertThat(r.get(4)).as("outer UDP checksum computed, as Linux does").isEqualTo("1");
        assertThat(r.get(5)).isEqualTo("1");
        assertThat(r.get(8)).as("outer DF clear, inner DF as the pod set it").isEqualTo("0,1");

        final List<List<String>> onB = Tshark.fields(b, List.of("-Y", "tcp.port == 40003 && !vxlan"),
            "eth.src", "eth.dst", "ip.ttl", "ip.checksum.status", "tcp.checksum.status", "tcp.flags.syn");
        assertThat(onB).as("the SYN reaches web-2 on node-b").hasSize(1);
        assertThat(onB.get(0)).containsExactly("0a:58:0a:f4:02:01", "0a:58:0a:f4:02:02", "62", "1", "1", "1");
    }
}
