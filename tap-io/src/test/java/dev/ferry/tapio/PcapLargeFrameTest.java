package dev.ferry.tapio;

import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;

import java.nio.file.Path;
import java.util.Random;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Frames over 2048 bytes (a 9000-byte jumbo, a 65,549-byte offload superframe) go from a pool's buffers into a
 * capture and back whole: no truncation, no silent skip. A frame beyond a small buffer lands in a large one.
 */
class PcapLargeFrameTest
{
    @TempDir
    Path dir;

    @Test
    void shouldWriteAndReadJumboAndSuperframesWhole() throws Exception
    {
        final Path file = dir.resolve("large.pcap");
        final byte[] jumbo = new byte[9000];
        final byte[] superframe = new byte[14 + 65535];
        new Random(9).nextBytes(jumbo);
        new Random(64).nextBytes(superframe);
        try (PacketPool pool = new PacketPool(8, PacketPool.DEFAULT_BUFFER_SIZE, PacketPool.DEFAULT_HEADROOM, 2))
        {
            try (PcapWriter w = PcapWriter.create(file))
            {
                for (final byte[] f : new byte[][] {jumbo, superframe})
                {
                    final int h = pool.allocateLarge();
                    pool.write(h, f, 0, f.length);
                    w.write(pool, h);
                    pool.free(h);
                }
            }
            final PacketVector v = new PacketVector();
            try (PcapReader r = PcapReader.open(file))
            {
                assertThat(r.receive(pool, v, 3)).isEqualTo(2);
                assertThat(r.oversizeFrames()).isZero();
            }
            assertThat(pool.toArray(v.get(0))).isEqualTo(jumbo);
            assertThat(pool.toArray(v.get(1))).isEqualTo(superframe);
            assertThat(pool.isLarge(v.get(1))).isTrue();
            pool.free(v.get(0));
            pool.free(v.get(1));
            assertThat(pool.available()).isEqualTo(pool.capacity());
        }
    }

    @Test
    void shouldCountAFrameThatFitsNoBufferInsteadOfTruncatingIt() throws Exception
    {
        final Path file = dir.resolve("one.pcap");
        try (PcapWriter w = PcapWriter.create(file))
        {
            w.write(1L, new byte[9000]);
        }
        // no large buffers: the frame is skipped and counted, never cut
        try (PacketPool pool = new PacketPool(8); PcapReader r = PcapReader.open(file))
        {
            final PacketVector v = new PacketVector();
            assertThat(r.receive(pool, v, 3)).isZero();
            assertThat(r.oversizeFrames()).isEqualTo(1);
            assertThat(pool.available()).isEqualTo(pool.capacity());
        }
    }
}
