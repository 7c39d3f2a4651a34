package dev.ferry.tapio;

import dev.ferry.core.PacketPool;
import dev.ferry.core.gso.TcpSegmenter;
import dev.ferry.core.header.Checksum;
import dev.ferry.core.header.Wire;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@link VxlanGro}: a peer ferry's UDP superframe (a pod superframe cut by {@link TcpSegmenter}, each segment in
 * VXLAN) merges back into one VXLAN frame whose inner frame is the superframe; cutting that again gives the original
 * inner frames byte for byte; anything that breaks the rules, or a hostile underlay's bad bytes, splits instead.
 */
class VxlanGroTest
{
    private static final int SRC = 0x0af40102;
    private static final int DST = 0x0af40203;
    private static final int OUTER_SRC = 0xc0a83201;
    private static final int OUTER_DST = 0xc0a83202;
    private static final int ROOM = PacketPool.LARGE_BUFFER_SIZE - PacketPool.DEFAULT_HEADROOM;

    private final PacketPool pool = new PacketPool(512, PacketPool.DEFAULT_BUFFER_SIZE, PacketPool.DEFAULT_HEADROOM,
        8);
    private final TcpSegmenter segmenter = new TcpSegmenter(pool);

    @AfterEach
    void close()
    {
        pool.close();
    }

    /** A pod's TCP superframe: inner Ethernet, IPv4 (DF), TCP with 12 option bytes (NOP NOP timestamp). */
    static byte[] podSuperframe(final byte[] payload, final int sport, final int seq, final int flags)
    {
        final int doff = 32;
        final int total = 20 + doff + payload.length;
        final byte[] f = new byte[14 + total];
        final MemorySegment m = MemorySegment.ofArray(f);
        Wire.u48(m, 0, 0x0a580af40203L);
        Wire.u48(m, 6, 0x0a580af40102L);
        Wire.u16(m, 12, 0x0800);
        Wire.u8(m, 14, 0x45);
        Wire.u16(m, 16, total);
        Wire.u16(m, 18, 0x1234);
        Wire.u16(m, 20, 0x4000);
        Wire.u8(m, 22, 63);
        Wire.u8(m, 23, 6);
        Wire.u32(m, 26, SRC);
        Wire.u32(m, 30, DST);
        Wire.u16(m, 24, Checksum.compute(m, 14, 20));
        Wire.u16(m, 34, sport);
        Wire.u16(m, 36, 5201);
        Wire.u32(m, 38, seq);
        Wire.u32(m, 42, 0x11223344);
        Wire.u8(m, 46, doff / 4 << 4);
        Wire.u8(m, 47, flags);
        Wire.u16(m, 48, 502);
        f[54] = 1;
        f[55] = 1;
        f[56] = 8;
        f[57] = 10;
        Wire.u32(m, 58, 0x01020304);
        Wire.u32(m, 62, 0x05060708);
        System.arraycopy(payload, 0, f, 14 + 20 + doff, payload.length);
        return f;
    }

    /** What a peer's vxlan-encap makes of it: TcpSegmenter's segments, MSS {@code mss}. */
    private List<byte[]> segments(final byte[] superframe, final int mss)
    {
        final int h = pool.allocateLarge();
        pool.write(h, superframe, 0, superframe.length);
        pool.l3Offset(h, 14);
        pool.gso(h, PacketPool.GSO_TCPV4, mss);
        pool.checksumPartial(h, 34, 16);
        final int n = segmenter.segment(h);
        assertThat(n).isPositive();
        final List<byte[]> out = new ArrayList<>();
        for (int k = 0; k < n; k++)
        {
            out.add(pool.toArray(segmenter.get(k)));
            pool.free(segmenter.get(k));
        }
        return out;
    }

    /** A UDP superframe as the packet socket hands it over: outer headers for the whole, then each VXLAN payload. */
    static byte[] udpSuperframe(final List<byte[]> inner)
    {
        final ByteArrayOutputStream payloads = new ByteArrayOutputStream();
        for (final byte[] frame : inner)
        {
            payloads.writeBytes(new byte[] {8, 0, 0, 0, 0, 0, 1, 0});
            payloads.writeBytes(frame);
        }
        final byte[] p = payloads.toByteArray();
        final byte[] f = new byte[UdpGso.HEADERS + p.length];
        final MemorySegment m = MemorySegment.ofArray(f);
        Wire.u48(m, 0, 0x02fe00000002L);
        Wire.u48(m, 6, 0x02fe00000001L);
        Wire.u16(m, 12, 0x0800);
        Wire.u8(m, 14, 0x45);
        Wire.u16(m, 16, 28 + p.length);
        Wire.u16(m, 18, 700);
        Wire.u8(m, 22, 64);
        Wire.u8(m, 23, 17);
        Wire.u32(m, 26, OUTER_SRC);
        Wire.u32(m, 30, OUTER_DST);
        Wire.u16(m, 24, Checksum.compute(m, 14, 20));
        Wire.u16(m, 34, 33333);
        Wire.u16(m, 36, 8472);
        Wire.u16(m, 38, 8 + p.length);
        Wire.u16(m, 40, 0xabcd);
        System.arraycopy(p, 0, f, UdpGso.HEADERS, p.length);
        return f;
    }

    private static int gsoSize(final List<byte[]> inner)
    {
        return 8 + inner.get(0).length;
    }

    /** A merged frame put in the pool as the port leaves it, then cut like a segmenting output would. */
    private List<byte[]> cut(final byte[] merged, final int segmentSize)
    {
        final int h = pool.allocateLarge();
        pool.write(h, merged, 0, merged.length);
        // as after vxlan-decap and ip4-input: the inner frame, l3 offset found
        pool.gso(h, PacketPool.GSO_TCPV4, segmentSize);
        pool.checksumPartial(h, VxlanGro.TCP_AT, 16);
        pool.advance(h, UdpGso.HEADERS + 8);
        assertThat(pool.checksumStart(h)).as("csum_start moves with the decap").isEqualTo(34);
        pool.l3Offset(h, 14);
        final int n = segmenter.segment(h);
        assertThat(n).isPositive();
        final List<byte[]> out = new ArrayList<>();
        for (int k = 0; k < n; k++)
        {
            out.add(pool.toArray(segmenter.get(k)));
            pool.free(segmenter.get(k));
        }
        return out;
    }

    /** Runs the port's loop over a superframe: each element one output frame, merged (a run) or one datagram. */
    private static List<int[]> runs(final MemorySegment m, final int gsoSize, final boolean covered)
    {
        final int count = UdpGso.segments(m, 0, (int)m.byteSize(), gsoSize);
        final List<int[]> runs = new ArrayList<>();
        for (int k = 0; k < count; )
        {
            final int run = VxlanGro.runLength(m, 0, gsoSize, count, k, covered, ROOM);
            assertThat(run).isBetween(1, count - k);
            runs.add(new int[] {k, run});
            k += run;
        }
        return runs;
    }

    private static byte[] merge(final MemorySegment m, final int gsoSize, final int from, final int n)
    {
        final byte[] out = new byte[ROOM];
        final int len = VxlanGro.write(m, 0, gsoSize, from, n, MemorySegment.ofArray(out), 0);
        return Arrays.copyOf(out, len);
    }

    private static byte[] random(final int n, final long seed)
    {
        final byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    @Test
    void shouldMergeAPeersRunIntoOneVxlanFrameWithTheInnerSuperframe()
    {
        final byte[] payload = random(40_000, 1);
        final byte[] pod = podSuperframe(payload, 40000, 1000, 0x18);
        final List<byte[]> inner = segments(pod, 1398);
        final MemorySegment m = MemorySegment.ofArray(udpSuperframe(inner));
        final int gsoSize = gsoSize(inner);
        assertThat(runs(m, gsoSize, true)).as("one run").hasSize(1);
        final byte[] merged = merge(m, gsoSize, 0, inner.size());
        final MemorySegment g = MemorySegment.ofArray(merged);
        assertThat(merged.length).isEqualTo(UdpGso.HEADERS + 8 + pod.length);
        // outer: lengths, checksum, UDP checksum 0
        assertThat(Wire.u16(g, 16)).isEqualTo(merged.length - 14);
        assertThat(Checksum.compute(g, 14, 20)).isZero();
        assertThat(Wire.u16(g, 38)).isEqualTo(merged.length - 34);
        assertThat(Wire.u16(g, 40)).isZero();
        // inner: exactly the pod's superframe, but for the TCP checksum field (the pseudo-header sum) and the header
        // checksum (valid)
        final byte[] innerFrame = Arrays.copyOfRange(merged, UdpGso.HEADERS + 8, merged.length);
        final MemorySegment i = MemorySegment.ofArray(innerFrame);
        assertThat(Checksum.compute(i, 14, 20)).isZero();
        assertThat(Wire.u16(i, 50)).isEqualTo(Checksum.fold(Checksum.pseudoHeader(SRC, DST, 6, 32 + payload.length)));
        final byte[] expected = pod.clone();
        Wire.u16(MemorySegment.ofArray(expected), 50, Wire.u16(i, 50));
        assertThat(innerFrame).isEqualTo(expected);
        assertThat(VxlanGro.segmentSize(m, 0, gsoSize, 0)).isEqualTo(1398);
        assertThat(cut(merged, 1398)).as("round trip").usingRecursiveComparison().isEqualTo(inner);
    }

    @Property(tries = 200)
    void shouldRoundTripAnyRunByteForByte(@ForAll @IntRange(min = 2, max = 60_000) final int payloadLength,
        @ForAll @IntRange(min = 500, max = 1448) final int mss, @ForAll final boolean covered,
        @ForAll final boolean push, @ForAll final long seed)
    {
        // a UDP superframe is one IPv4 datagram: every segment adds VXLAN and inner headers (74 bytes)
        final int fits = (int)((65535L - 28) * mss / (mss + 74)) - 74;
        final List<byte[]> inner = segments(podSuperframe(random(Math.min(payloadLength, fits), seed), 40000,
            (int)seed, push ? 0x18 : 0x10), mss);
        final MemorySegment m = MemorySegment.ofArray(udpSuperframe(inner));
        final int gsoSize = gsoSize(inner);
        final List<int[]> runs = runs(m, gsoSize, covered);
        assertThat(runs).as("a peer's cut superframe is one run").hasSize(1);
        if (inner.size() > 1)
        {
            assertThat(cut(merge(m, gsoSize, 0, inner.size()), VxlanGro.segmentSize(m, 0, gsoSize, 0)))
                .usingRecursiveComparison().isEqualTo(inner);
        }
    }

    @Test
    void shouldBreakRunsBetweenFlowsAndAroundFlagsAndOddSizes()
    {
        final List<byte[]> a = segments(podSuperframe(random(10 * 1000, 2), 40000, 5, 0x10), 1000);
        final List<byte[]> b = segments(podSuperframe(random(5 * 1000, 3), 40001, 9, 0x10), 1000);
        final List<byte[]> mixed = new ArrayList<>(a);
        mixed.addAll(b);
        MemorySegment m = MemorySegment.ofArray(udpSuperframe(mixed));
        assertThat(runs(m, gsoSize(mixed), true)).as("two flows, two runs")
            .extracting(r -> r[1]).containsExactly(10, 5);

        // a FIN in the middle
        final List<byte[]> fin = new ArrayList<>(a);
        final byte[] f5 = fin.get(5).clone();
        f5[47] = 0x11;
        fixTcp(f5);
        fin.set(5, f5);
        m = MemorySegment.ofArray(udpSuperframe(fin));
        assertThat(runs(m, gsoSize(fin), false)).extracting(r -> r[1]).containsExactly(5, 1, 4);

        // PSH in the middle ends the run after it
        final List<byte[]> psh = new ArrayList<>(a);
        final byte[] p3 = psh.get(3).clone();
        p3[47] = 0x18;
        fixTcp(p3);
        psh.set(3, p3);
        m = MemorySegment.ofArray(udpSuperframe(psh));
        assertThat(runs(m, gsoSize(psh), false)).extracting(r -> r[1]).containsExactly(4, 6);

        // a gap in the sequence numbers
        final List<byte[]> gap = new ArrayList<>(a);
        final byte[] g7 = gap.get(7).clone();
        Wire.u32(MemorySegment.ofArray(g7), 38, Wire.u32(MemorySegment.ofArray(g7), 38) + 1);
        fixTcp(g7);
        gap.set(7, g7);
        m = MemorySegment.ofArray(udpSuperframe(gap));
        assertThat(runs(m, gsoSize(gap), false)).extracting(r -> r[1]).containsExactly(7, 1, 2);

        // a different ack, a different timestamp
        for (final int at : new int[] {42, 62})
        {
            final List<byte[]> other = new ArrayList<>(a);
            final byte[] o = other.get(2).clone();
            o[at] ^= 1;
            fixTcp(o);
            other.set(2, o);
            m = MemorySegment.ofArray(udpSuperframe(other));
            assertThat(runs(m, gsoSize(other), false)).as("byte " + at).extracting(r -> r[1]).containsExactly(2, 1, 7);
        }

        // a lone datagram: nothing to merge
        final List<byte[]> one = segments(podSuperframe(random(900, 4), 40000, 5, 0x10), 1000);
        assertThat(runs(MemorySegment.ofArray(udpSuperframe(one)), gsoSize(one), true)).hasSize(1);
    }

    private static void fixTcp(final byte[] frame)
    {
        final MemorySegment m = MemorySegment.ofArray(frame);
        final int tcpLength = frame.length - 34;
        Wire.u16(m, 50, 0);
        Wire.u16(m, 50, Checksum.finish(Checksum.sum(m, 34, tcpLength) + Checksum.pseudoHeader(SRC, DST, 6,
            tcpLength)));
    }

    @Property(tries = 1000)
    void shouldNeverMergeAHostileByteWithoutTheChecksumCovering(
        @ForAll @IntRange(min = 2_000, max = 60_000) final int payloadLength,
        @ForAll @IntRange(min = 0, max = 65_535) final int where, @ForAll final byte value,
        @ForAll @IntRange(min = 0, max = 3) final int mutations, @ForAll final long seed)
    {
        final List<byte[]> inner = segments(podSuperframe(random(payloadLength, seed), 40000, 77, 0x10), 1300);
        final byte[] frame = udpSuperframe(inner);
        final Random r = new Random(seed ^ where);
        // hit the headers of the datagrams often: a random datagram, a random offset among its first 120 bytes
        for (int k = 0; k <= mutations; k++)
        {
            final int at = k == 0 ? where % frame.length
                : UdpGso.HEADERS + r.nextInt(inner.size()) * gsoSize(inner) + r.nextInt(120);
            frame[Math.min(at, frame.length - 1)] = k == 0 ? value : (byte)r.nextInt();
        }
        final MemorySegment m = MemorySegment.ofArray(frame);
        final int gsoSize = gsoSize(inner);
        if (UdpGso.segments(m, 0, frame.length, gsoSize) == UdpGso.MALFORMED)
        {
            return;
        }
        for (final int[] run : runs(m, gsoSize, false))
        {
            if (run[1] < 2)
            {
                continue;
            }
            // every datagram of a merged run is exactly what the cut gives back, and it verified
            final List<byte[]> originals = new ArrayList<>();
            for (int k = run[0]; k < run[0] + run[1]; k++)
            {
                final byte[] seg = new byte[UdpGso.HEADERS + gsoSize];
                final int len = UdpGso.writeSegment(m, 0, gsoSize, k, MemorySegment.ofArray(seg), 0);
                final byte[] innerFrame = Arrays.copyOfRange(seg, UdpGso.HEADERS + 8, len);
                final MemorySegment s = MemorySegment.ofArray(innerFrame);
                assertThat(Checksum.compute(s, 14, 20)).isZero();
                assertThat(Checksum.fold(Checksum.sum(s, 34, innerFrame.length - 34)
                    + Checksum.pseudoHeader(Wire.u32(s, 26), Wire.u32(s, 30), 6, innerFrame.length - 34)))
                    .isEqualTo(0xffff);
                originals.add(innerFrame);
            }
            final byte[] merged = merge(m, gsoSize, run[0], run[1]);
            final List<byte[]> back = cut(merged, VxlanGro.segmentSize(m, 0, gsoSize, run[0]));
            assertThat(back).usingRecursiveComparison().isEqualTo(originals);
        }
        assertThat(pool.available()).isEqualTo(pool.capacity());
    }
}
