package dev.ferry.core.gso;

import dev.ferry.core.PacketPool;
import dev.ferry.core.header.Checksum;
import dev.ferry.core.header.Wire;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@link TcpSegmenter}: segmenting a TSO superframe and concatenating the segments' payloads gives the original
 * payload; every segment has a valid IPv4 header checksum, a TCP checksum that verifies, the right length, id,
 * sequence number and flags; the pool gets every buffer back.
 */
class TcpSegmenterTest
{
    static final int SRC = 0x0af40102;
    static final int DST = 0x0af40203;

    /**
     * A TSO superframe as a pod's TAP hands it over: IPv4 total length of the whole, TCP checksum field holding the
     * pseudo-header sum only.
     */
    static byte[] superframe(final byte[] payload, final int tcpFlags, final int optionBytes, final int id,
        final int seq)
    {
        final int doff = 20 + optionBytes;
        final int total = 20 + doff + payload.length;
        final byte[] f = new byte[14 + total];
        final MemorySegment m = MemorySegment.ofArray(f);
        Wire.u48(m, 0, 0x0a580af40203L);
        Wire.u48(m, 6, 0x0a580af40102L);
        Wire.u16(m, 12, 0x0800);
        Wire.u8(m, 14, 0x45);
        Wire.u16(m, 16, total);
        Wire.u16(m, 18, id);
        Wire.u16(m, 20, 0x4000);
        Wire.u8(m, 22, 64);
        Wire.u8(m, 23, 6);
        Wire.u32(m, 26, SRC);
        Wire.u32(m, 30, DST);
        Wire.u16(m, 24, Checksum.compute(m, 14, 20));
        Wire.u16(m, 34, 40000);
        Wire.u16(m, 36, 8080);
        Wire.u32(m, 38, seq);
        Wire.u32(m, 42, 0x11223344);
        Wire.u8(m, 46, doff / 4 << 4);
        Wire.u8(m, 47, tcpFlags);
        Wire.u16(m, 48, 502);
        for (int i = 0; i < optionBytes; i++)
        {
            // NOPs, then a timestamp-looking pattern: options must be copied into every segment
            f[54 + i] = (byte)(i < 2 ? 1 : 0x40 + i);
        }
        System.arraycopy(payload, 0, f, 14 + 20 + doff, payload.length);
        Wire.u16(m, 50, Checksum.fold(Checksum.pseudoHeader(SRC, DST, 6, doff + payload.length)));
        return f;
    }

    static int load(final PacketPool pool, final byte[] frame, final int mss)
    {
        final int h = pool.allocateLarge();
        pool.write(h, frame, 0, frame.length);
        pool.l3Offset(h, 14);
        pool.gso(h, PacketPool.GSO_TCPV4, mss);
        pool.checksumPartial(h, 34, 16);
        return h;
    }

    @Property(tries = 300)
    void shouldSplitIntoValidSegmentsWhosePayloadsConcatenateToTheOriginal(
        @ForAll @IntRange(min = 1, max = 65535 - 40 - 12) final int payloadLength,
        @ForAll @IntRange(min = 256, max = 8948) final int mss,
        @ForAll @IntRange(min = 0, max = 3) final int flagChoice,
        @ForAll final boolean options,
        @ForAll @IntRange(min = 0, max = 0xffff) final int id,
        @ForAll final int seq)
    {
        final int optionBytes = options ? 12 : 0;
        final byte[] payload = new byte[Math.min(payloadLength, 65535 - 40 - optionBytes)];
        new Random(payloadLength * 31L + mss).nextBytes(payload);
        final int flags = new int[] {0x18, 0x10, 0x19, 0x98}[flagChoice];
        try (PacketPool pool = new PacketPool(300, PacketPool.DEFAULT_BUFFER_SIZE, PacketPool.DEFAULT_HEADROOM, 40))
        {
            final int h = load(pool, superframe(payload, flags, optionBytes, id, seq), mss);
            final TcpSegmenter seg = new TcpSegmenter(pool);
            final int n = seg.segment(h);
            final int expected = (payload.length + mss - 1) / mss;
            if (expected > TcpSegmenter.MAX_SEGMENTS)
            {
                assertThat(n).isEqualTo(TcpSegmenter.TOO_MANY_SEGMENTS);
                pool.free(h);
                assertThat(pool.available()).isEqualTo(pool.capacity());
                return;
            }
            assertThat(n).isEqualTo(expected);
            final ByteArrayOutputStream joined = new ByteArrayOutputStream();
            final MemorySegment mem = pool.memory();
            for (int i = 0; i < n; i++)
            {
                final int s = seg.get(i);
                final long f = pool.frameOffset(s);
                final int len = pool.length(s);
                final int doff = 20 + optionBytes;
                final int segPayload = Math.min(mss, payload.length - i * mss);
                assertThat(len).isEqualTo(14 + 20 + doff + segPayload);
                assertThat(pool.gsoSize(s)).as("a segment is a plain packet").isZero();
                assertThat(pool.checksumPartial(s)).isFalse();
                assertThat(Wire.u16(mem, f + 16)).as("IPv4 total length").isEqualTo(20 + doff + segPayload);
                assertThat(Wire.u16(mem, f + 18)).as("IPv4 id counts up").isEqualTo((id + i) & 0xffff);
                assertThat(Checksum.compute(mem, f + 14, 20)).as("IPv4 header checksum verifies").isZero();
                assertThat(Wire.u32(mem, f + 38)).as("sequence number").isEqualTo(seq + i * mss);
                final int segFlags = Wire.u8(mem, f + 47);
                final boolean last = i == n - 1;
                assertThat(segFlags & 0x09).as("FIN/PSH only on the last").isEqualTo(last ? flags & 0x09 : 0);
                assertThat(segFlags & 0x80).as("CWR only on the first").isEqualTo(i == 0 ? flags & 0x80 : 0);
                assertThat(segFlags & 0x10).as("ACK on all").isEqualTo(flags & 0x10);
                assertThat(Checksum.fold(Checksum.pseudoHeader(SRC, DST, 6, doff + segPayload)
                    + Checksum.sum(mem, f + 34, doff + segPayload))).as("TCP checksum verifies").isEqualTo(0xffff);
                final byte[] options2 = new byte[optionBytes];
                MemorySegment.copy(mem, java.lang.foreign.ValueLayout.JAVA_BYTE, f + 54, options2, 0, optionBytes);
                final byte[] want = new byte[optionBytes];
                System.arraycopy(superframe(payload, flags, optionBytes, id, seq), 54, want, 0, optionBytes);
                assertThat(options2).as("TCP options copied").isEqualTo(want);
                final byte[] p = new byte[segPayload];
                MemorySegment.copy(mem, java.lang.foreign.ValueLayout.JAVA_BYTE, f + 34 + doff, p, 0, segPayload);
                joined.writeBytes(p);
                pool.free(s);
            }
            assertThat(joined.toByteArray()).isEqualTo(payload);
            assertThat(seg.get(0)).as("the superframe's buffer is segment 0 (freed above)").isEqualTo(h);
            assertThat(pool.available()).as("every buffer back").isEqualTo(pool.capacity());
        }
    }

    @Test
    void shouldGiveEveryBufferBackWhenThePoolRunsOut()
    {
        try (PacketPool pool = new PacketPool(10, PacketPool.DEFAULT_BUFFER_SIZE, PacketPool.DEFAULT_HEADROOM, 1))
        {
            final byte[] payload = new byte[60000];
            final int h = load(pool, superframe(payload, 0x10, 0, 1, 1), 1448);
            final byte[] before = pool.toArray(h);
            assertThat(new TcpSegmenter(pool).segment(h)).isEqualTo(TcpSegmenter.NO_BUFFER);
            assertThat(pool.toArray(h)).as("a failed split leaves the superframe as it was").isEqualTo(before);
            assertThat(pool.gsoSize(h)).isEqualTo(1448);
            pool.free(h);
            assertThat(pool.available()).isEqualTo(pool.capacity());
        }
    }

    @Test
    void shouldRefuseWhatIsNotIpv4Tcp()
    {
        try (PacketPool pool = new PacketPool(64, PacketPool.DEFAULT_BUFFER_SIZE, PacketPool.DEFAULT_HEADROOM, 1))
        {
            final byte[] frame = superframe(new byte[3000], 0x10, 0, 1, 1);
            frame[23] = 17;
            final int h = load(pool, frame, 1448);
            assertThat(new TcpSegmenter(pool).segment(h)).isEqualTo(TcpSegmenter.NOT_TCP);
            // an IPv4 total length beyond the frame
            frame[23] = 6;
            pool.write(h, frame, 0, 100);
            assertThat(new TcpSegmenter(pool).segment(h)).isEqualTo(TcpSegmenter.NOT_TCP);
            pool.free(h);
            assertThat(pool.available()).isEqualTo(pool.capacity());
        }
    }

    @Test
    void shouldKeepLargeBuffersApartFromSmallOnes()
    {
        try (PacketPool pool = new PacketPool(4, PacketPool.DEFAULT_BUFFER_SIZE, PacketPool.DEFAULT_HEADROOM, 2))
        {
            assertThat(pool.capacity()).isEqualTo(6);
            final int a = pool.allocateLarge();
            final int b = pool.allocateLarge();
            assertThat(pool.allocateLarge()).isEqualTo(PacketPool.NO_BUFFER);
            assertThat(pool.isLarge(a) && pool.isLarge(b)).isTrue();
            final byte[] big = new byte[65549];
            Arrays.fill(big, (byte)7);
            pool.write(a, big, 0, big.length);
            assertThat(pool.toArray(a)).isEqualTo(big);
            final int s = pool.allocate();
            assertThat(pool.isLarge(s)).isFalse();
            assertThat(pool.frameOffset(b) - pool.frameOffset(a)).isEqualTo(pool.bufferSizeOf(a));
            pool.free(a);
            pool.free(b);
            pool.free(s);
            assertThat(pool.available()).isEqualTo(6);
            assertThat(pool.availableLarge()).isEqualTo(2);
        }
    }
}
