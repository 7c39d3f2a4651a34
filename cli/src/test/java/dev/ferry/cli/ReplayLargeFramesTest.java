package dev.ferry.cli;

import dev.ferry.core.header.Wire;
import dev.ferry.core.packet.FrameBuilder;
import dev.ferry.core.route.Ip4;
import dev.ferry.tapio.PcapReader;
import dev.ferry.tapio.PcapWriter;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code ferry replay} takes frames over 2048 bytes into the graph whole: a 9000-byte jumbo and a 65,549-byte frame
 * (IPv4's largest datagram, what an offload superframe is on a TAP) from a pod, with DF, each answered with an ICMP
 * fragmentation-needed quoting its header (the pod MTU is smaller), and none is dropped as "oversize" by replay.
 */
class ReplayLargeFramesTest
{
    private static final int CLIENT = Ip4.parse("10.244.1.3");
    private static final int WEB1 = Ip4.parse("10.244.1.2");
    private static final int GATEWAY = Ip4.parse("10.244.1.1");

    @TempDir
    Path dir;

    private static byte[] podUdp(final int frameLength, final int id)
    {
        return new FrameBuilder().eth(Ip4.podMac(CLIENT), Ip4.podMac(GATEWAY)).ip4(CLIENT, WEB1).id(id).df(true)
            .udp(40007, 8080).payload(new byte[frameLength - 14 - 20 - 8]).build();
    }

    @Test
    void shouldCarryJumboAndSuperframeSizedFramesIntoTheGraph() throws Exception
    {
        final Path in = dir.resolve("in.pcap");
        final Path out = dir.resolve("out.pcap");
        try (PcapWriter w = PcapWriter.create(in))
        {
            w.write(1_000_000_000L, podUdp(9000, 0x9000));
            w.write(2_000_000_000L, podUdp(14 + 65535, 0xffff));
        }
        final StringWriter so = new StringWriter();
        final StringWriter se = new StringWriter();
        final int rc = Ferry.commandLine().setOut(new PrintWriter(so)).setErr(new PrintWriter(se)).execute("replay",
            "--cluster", ReplayExampleTest.CLUSTER.toString(), "--node", "node-a", "--in", in.toString(), "--out",
            out.toString());
        assertThat(rc).as(se.toString()).isZero();
        assertThat(so.toString()).as("replay's summary").doesNotContain("oversize");
        final List<Integer> quotedIds = new ArrayList<>();
        try (PcapReader r = PcapReader.open(out))
        {
            while (r.next())
            {
                final MemorySegment f = MemorySegment.ofArray(r.frame());
                if (r.capturedLength() >= 14 + 20 + 8 + 20 && Wire.u8(f, 23) == 1 && Wire.u8(f, 34) == 3
                    && Wire.u8(f, 35) == 4 && Wire.u32(f, 30) == CLIENT)
                {
                    // the quoted header's IPv4 id and total length: the whole frame reached ip4-rewrite
                    quotedIds.add(Wire.u16(f, 42 + 4));
                    assertThat(Wire.u16(f, 42 + 2)).as("quoted total length").isIn(9000 - 14, 65535);
                }
            }
        }
        assertThat(quotedIds).as("fragmentation-needed for each, in order: " + so).containsExactly(0x9000, 0xffff);
    }
}
