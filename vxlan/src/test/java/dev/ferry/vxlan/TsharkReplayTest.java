package dev.ferry.vxlan;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** Node 1's VXLAN output, replayed into node 2, dissected by tshark on both layers. */
class TsharkReplayTest
{
    private final VxlanNode n1 = VxlanNode.node1(VxlanSettings.defaults());
    private final VxlanNode n2 = VxlanNode.node2(VxlanSettings.defaults());

    @AfterEach
    void poolsAreFull()
    {
        assertThat(n1.pool.available()).isEqualTo(n1.pool.capacity());
        assertThat(n2.pool.available()).isEqualTo(n2.pool.capacity());
        n1.close();
        n2.close();
    }

    private static List<String> tshark(final Path pcap, final String... fields) throws Exception
    {
        final List<String> cmd = new ArrayList<>(List.of("tshark", "-n", "-r", pcap.toString(),
            "-d", "udp.port==8472,vxlan", "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
            "-T", "fields", "-E", "separator=|"));
        for (final String f : fields)
        {
            cmd.add("-e");
            cmd.add(f);
        }
        return Shell.run(cmd.toArray(new String[0])).lines().filter(l -> l.contains("|")).toList();
    }

    @Test
    void shouldDissectBothLayersWithValidChecksumsAndFlannelTtlAndMacs(@TempDir final Path dir) throws Exception
    {
        Assumptions.assumeTrue(Shell.has("tshark"),
            "needs tshark on the PATH to dissect the output (apt-get install tshark; .ci/run installs it)");
        final List<byte[]> vxlan = new ArrayList<>();
        for (int i = 0; i < 8; i++)
        {
            n1.sent.clear();
            n1.receive(n1.podPort, Frames.podToPod(40000 + i, 53, 16 + i * 100, i % 2 == 0));
            vxlan.add(n1.sent.get(0).bytes());
        }
        final Path out1 = dir.resolve("node1-out.pcap");
        Pcap.write(out1, vxlan);
        final List<String> rows = tshark(out1, "frame.protocols", "eth.dst", "eth.src", "ip.ttl",
            "ip.checksum.status", "udp.checksum.status", "vxlan.vni", "udp.dstport");
        assertThat(rows).hasSize(8).allSatisfy(r ->
        {
            final String[] f = r.split("\\|", -1);
            assertThat(f[0]).as("both layers").startsWith("eth:ethertype:ip:udp:vxlan:eth:ethertype:ip:udp");
            assertThat(f[1]).isEqualTo("02:00:00:00:02:02,66:22:22:22:22:02");
            assertThat(f[2]).isEqualTo("02:00:00:00:01:01,66:11:11:11:11:01");
            assertThat(f[3]).as("outer TTL 64, inner TTL 63").isEqualTo("64,63");
            assertThat(f[4]).as("outer and inner IP checksums good (1 = good)").isEqualTo("1,1");
            assertThat(f[5]).as("outer and inner UDP checksums good").isEqualTo("1,1");
            assertThat(f[6]).isEqualTo("1");
            assertThat(f[7]).isEqualTo("8472,53");
        });

        for (final byte[] f : vxlan)
        {
            n2.receive(n2.uplink, f);
        }
        final List<byte[]> delivered = new ArrayList<>();
        for (final VxlanNode.Tx tx : n2.sent)
        {
            assertThat(tx.port()).isEqualTo(n2.podPort);
            delivered.add(tx.bytes());
        }
        final Path out2 = dir.resolve("node2-pod-b.pcap");
        Pcap.write(out2, delivered);
        final List<String> rows2 = tshark(out2, "eth.dst", "eth.src", "ip.dst", "ip.ttl", "ip.checksum.status",
            "udp.checksum.status");
        assertThat(rows2).hasSize(8).allSatisfy(r ->
            assertThat(r).isEqualTo("0a:58:0a:f4:02:14|0a:58:0a:f4:02:01|10.244.2.20|62|1|1"));
    }
}
