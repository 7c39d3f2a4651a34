package dev.ferry.cli;

import dev.ferry.core.packet.FrameBuilder;
import dev.ferry.core.route.Ip4;
import dev.ferry.tapio.PcapWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A capture of one million frames replays with the default heap: frames stream through the pool and out
 * to the file; nothing accumulates per frame.
 */
class ReplayMillionTest
{
    @TempDir
    Path tmp;

    @Test
    void shouldReplayOneMillionFramesWithTheDefaultHeap() throws Exception
    {
        final int frames = 1_000_000;
        final Path in = tmp.resolve("million.pcap");
        final int client = Ip4.parse("10.244.1.3");
        final int web = Ip4.parse("10.244.1.2");
        try (PcapWriter w = PcapWriter.create(in))
        {
            final long t0 = 1_767_225_600_000_000_000L;
            for (int i = 0; i < frames; i++)
            {
                final byte[] f = new FrameBuilder().eth(Ip4.podMac(client), Ip4.podMac(Ip4.parse("10.244.1.1")))
                    .ip4(client, web).id(i).udp(10000 + (i & 0x3fff), 8080).payload(new byte[18]).build();
                w.write(t0 + i * 1000L, f);
            }
        }
        final Path out = tmp.resolve("out.pcap");
        final StringWriter sw = new StringWriter();
        final int rc = Ferry.commandLine().setOut(new PrintWriter(sw)).setErr(new PrintWriter(sw)).execute(
            "replay", "--cluster", ReplayExampleTest.CLUSTER.toString(), "--node", "node-a", "--in", in.toString(),
            "--out", out.toString(), "--fates", "0");
        assertThat(rc).as(sw.toString()).isZero();
        assertThat(sw.toString()).contains(frames + " frames in, " + frames + " frames out");
        // 24-byte header + (16 + 60) per frame: every frame written whole
        assertThat(Files.size(out)).isEqualTo(24L + frames * (16L + 60L));
    }
}
