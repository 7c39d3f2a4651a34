package dev.ferry.tapio;

import dev.ferry.core.header.Checksum;
import dev.ferry.core.header.Wire;
import dev.ferry.core.packet.FrameBuilder;
import dev.ferry.core.route.Ip4;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** Run detection, superframe headers and the receive split of {@link UdpGso}, without a kernel. */
class UdpGsoTest
{
    static final long SRC_MAC = Ip4.parseMac("02:fe:00:00:00:01");
    static final long DST_MAC = Ip4.parseMac("02:fe:00:00:00:02");
    static final int SRC = Ip4.parse("192.168.50.1");
    static final int DST = Ip4.parse("192.168.50.2");

    static byte[] datagram(final int sport, final int id, final boolean df, final int payloadLength, final long seed)
    {
        final byte[] p = new byte[payloadLength];
        new Random(seed).nextBytes(p);
        return new FrameBuilder().eth(SRC_MAC, DST_MAC).ip4(SRC, DST).df(df).id(id).udp(sport, 8472).payload(p)
            .build();
    }

    /** Lays frames out one after another in one segment, as pool buffers would be. */
    private record Laid(MemorySegment mem, long[] at, int[] length)
    {
        static Laid of(final List<byte[]> frames)
        {
            final int stride = 70_000;
            final MemorySegment mem = MemorySegment.ofArray(new byte[stride * frames.size()]);
            final long[] at = new long[frames.size()];
            final int[] length = new int[frames.size()];
            for (int i = 0; i < frames.size(); i++)
            {
                at[i] = (long)i * stride;
                length[i] = frames.get(i).length;
                MemorySegment.copy(MemorySegment.ofArray(frames.get(i)), 0, mem, at[i], length[i]);
            }
            return new Laid(mem, at, length);
        }

        int run(final int from)
        {
            return UdpGso.runLength(mem, at, length, from, at.length);
        }
    }

    @Test
    void shouldTakeEqualFramesAndOneShorterLastIntoARun()
    {
        final List<byte[]> frames = new ArrayList<>();
        for (int i = 0; i < 5; i++)
        {
            frames.add(datagram(40000, i, false, 1400, i));
        }
        frames.add(datagram(40000, 5, false, 700, 5));
        frames.add(datagram(40000, 6, false, 700, 6));
        final Laid laid = Laid.of(frames);
        assertThat(laid.run(0)).as("a shorter frame ends the run").isEqualTo(6);
        assertThat(laid.run(6)).isEqualTo(1);
    }

    @Test
    void shouldBreakARunOnAnyOtherHeaderDifferenceOrALongerFrame()
    {
        final byte[] base = datagram(40000, 0, true, 1000, 1);
        assertThat(runOf(base, datagram(40001, 0, true, 1000, 2))).as("source port").isEqualTo(1);
        assertThat(runOf(base, datagram(40000, 0, false, 1000, 2))).as("DF").isEqualTo(1);
        assertThat(runOf(base, datagram(40000, 0, true, 1001, 2))).as("longer").isEqualTo(1);
        assertThat(runOf(base, datagram(40000, 9, true, 1000, 2))).as("id only").isEqualTo(2);
        final byte[] ttl = datagram(40000, 0, true, 1000, 2);
        ttl[22] = 63;
        assertThat(runOf(base, ttl)).as("TTL").isEqualTo(1);
        final byte[] tos = datagram(40000, 0, true, 1000, 2);
        tos[15] = 2;
        assertThat(runOf(base, tos)).as("TOS").isEqualTo(1);
        final byte[] mac = datagram(40000, 0, true, 1000, 2);
        mac[5] = 9;
        assertThat(runOf(base, mac)).as("destination MAC").isEqualTo(1);
        final byte[] padded = Arrays.copyOf(datagram(40000, 0, true, 1000, 2), 1000 + 42 + 4);
        assertThat(runOf(base, padded)).as("padding").isEqualTo(1);
        final byte[] tcp = new FrameBuilder().eth(SRC_MAC, DST_MAC).ip4(SRC, DST).tcp(1, 2, 0x10, 1, 1)
            .payload(new byte[1000]).build();
        assertThat(runOf(tcp, tcp)).as("not UDP").isEqualTo(1);
    }

    private static int runOf(final byte[] a, final byte[] b)
    {
        return Laid.of(List.of(a, b)).run(0);
    }

    @Test
    void shouldStopARunAtTheLargestDatagramAndTheSegmentLimit()
    {
        final List<byte[]> big = new ArrayList<>();
        for (int i = 0; i < 60; i++)
        {
            big.add(datagram(40000, 0, true, 1422, i));
        }
        // 28 + 46 * 1422 = 65440 fits, a 47th would not
        assertThat(Laid.of(big).run(0)).isEqualTo(46);
        final List<byte[]> small = new ArrayList<>();
        for (int i = 0; i < 200; i++)
        {
            small.add(datagram(40000, 0, true, 100, i));
        }
        assertThat(Laid.of(small).run(0)).isEqualTo(UdpGso.MAX_SEGMENTS);
    }

    /**
     * A run written as a superframe (virtio header, rewritten outer headers, the payloads back to back) is what a
     * veth hands the peer whole; splitting it gives back every frame, with ids numbered from the first and UDP
     * checksum 0.
     */
    @Property(tries = 200)
    void shouldSplitASuperframeBackIntoTheRun(@ForAll @IntRange(min = 1, max = 1472) final int gsoSize,
        @ForAll @IntRange(min = 2, max = 128) final int wanted, @ForAll @IntRange(min = 1, max = 1472) final int last,
        @ForAll @IntRange(min = 0, max = 65535) final int id0, @ForAll final boolean df)
    {
        final int tail = Math.min(last, gsoSize);
        final int count = Math.min(wanted, (65535 - 28 - tail) / gsoSize + 1);
        final List<byte[]> frames = new ArrayList<>();
        for (int k = 0; k < count; k++)
        {
            frames.add(datagram(40000, df ? 0 : id0 + k & 0xffff, df, k == count - 1 ? tail : gsoSize, k));
        }
        final Laid laid = Laid.of(frames);
        final int run = laid.run(0);
        assertThat(run).isEqualTo(count);

        final MemorySegment sf = superframe(laid, count);
        final int gso = sf.get(ValueLayout.JAVA_SHORT_UNALIGNED, 4) & 0xffff;
        assertThat(gso).isEqualTo(gsoSize);
        final MemorySegment frame = sf.asSlice(VirtioNetHeader.SIZE);
        assertThat(Checksum.compute(frame, 14, 20)).as("superframe IPv4 checksum").isZero();
        assertThat(UdpGso.segments(frame, 0, (int)frame.byteSize(), gso)).isEqualTo(count);
        final MemorySegment out = MemorySegment.ofArray(new byte[2048]);
        for (int k = 0; k < count; k++)
        {
            final int len = UdpGso.writeSegment(frame, 0, gso, k, out, 0);
            final byte[] expected = datagram(40000, (df ? 0 : id0) + k & 0xffff, df,
                k == count - 1 ? tail : gsoSize, k);
            expected[40] = 0;
            expected[41] = 0;
            assertThat(out.asSlice(0, len).toArray(ValueLayout.JAVA_BYTE)).as("segment %d", k).isEqualTo(expected);
        }
    }

    @Test
    void shouldCarryThePseudoHeaderSumForTheKernelToComplete()
    {
        final Laid laid = Laid.of(List.of(datagram(40000, 0, true, 1000, 1), datagram(40000, 0, true, 500, 2)));
        final MemorySegment sf = superframe(laid, 2);
        assertThat(sf.get(ValueLayout.JAVA_BYTE, 0)).as("NEEDS_CSUM").isEqualTo((byte)VirtioNetHeader.F_NEEDS_CSUM);
        assertThat(sf.get(ValueLayout.JAVA_BYTE, 1)).isEqualTo((byte)VirtioNetHeader.GSO_UDP_L4);
        assertThat(sf.get(ValueLayout.JAVA_SHORT_UNALIGNED, 6)).as("csum_start").isEqualTo((short)34);
        assertThat(sf.get(ValueLayout.JAVA_SHORT_UNALIGNED, 8)).as("csum_offset").isEqualTo((short)6);
        final MemorySegment f = sf.asSlice(VirtioNetHeader.SIZE);
        final int udpLength = 8 + 1500;
        assertThat(Wire.u16(f, 38)).isEqualTo(udpLength);
        assertThat(Wire.u16(f, 40)).isEqualTo(Checksum.fold(Checksum.pseudoHeader(SRC, DST, 17, udpLength)));
        // completing it over the whole datagram gives a checksum that verifies
        Wire.u16(f, 40, Checksum.compute(f, 34, udpLength));
        assertThat(Checksum.fold(Checksum.sum(f, 34, udpLength) + Checksum.pseudoHeader(SRC, DST, 17, udpLength)))
            .isEqualTo(0xffff);
    }

    @Test
    void shouldRejectZeroSegmentSizeAndSplitAnOversizedOneIntoOne()
    {
        final byte[] one = datagram(40000, 0, true, 1000, 1);
        final MemorySegment f = MemorySegment.ofArray(one);
        assertThat(UdpGso.segments(f, 0, one.length, 0)).isEqualTo(UdpGso.MALFORMED);
        assertThat(UdpGso.segments(f, 0, one.length, 5000)).isEqualTo(1);
        assertThat(UdpGso.segments(f, 0, one.length, 7)).as("143 segments").isEqualTo(UdpGso.MALFORMED);
        assertThat(UdpGso.segments(f, 0, one.length - 1, 1000)).as("truncated").isEqualTo(UdpGso.MALFORMED);
    }

    /**
     * Whatever a hostile underlay puts in a frame and its virtio header, the split either refuses it or writes
     * segments that stay inside the bytes that arrived (a segment exactly as long as the frame throws on any
     * overread) and inside a 2 KB buffer.
     */
    @Property(tries = 1000)
    void shouldNeverReadPastACraftedFrame(@ForAll @Size(min = 0, max = 3000) final byte[] noise,
        @ForAll @IntRange(min = 0, max = 65535) final int gsoSize, @ForAll @IntRange(min = 0, max = 65535) final int
            ipLength, @ForAll final boolean plausible)
    {
        final byte[] bytes = Arrays.copyOf(noise, Math.max(noise.length, 43));
        if (plausible)
        {
            // make the headers pass, keep the lengths hostile
            bytes[12] = 0x08;
            bytes[13] = 0;
            bytes[14] = 0x45;
            bytes[20] = 0;
            bytes[21] = 0;
            bytes[23] = 17;
            bytes[16] = (byte)(ipLength >>> 8);
            bytes[17] = (byte)ipLength;
        }
        final MemorySegment f = MemorySegment.ofArray(bytes);
        final int count = UdpGso.segments(f, 0, bytes.length, gsoSize);
        if (count == UdpGso.MALFORMED)
        {
            return;
        }
        assertThat(count).isBetween(1, UdpGso.MAX_SEGMENTS);
        if (UdpGso.HEADERS + gsoSize > 2048)
        {
            // the port drops these: a segment would not fit a buffer
            return;
        }
        final MemorySegment out = MemorySegment.ofArray(new byte[2048]);
        int payload = 0;
        for (int k = 0; k < count; k++)
        {
            final int len = UdpGso.writeSegment(f, 0, gsoSize, k, out, 0);
            assertThat(len).isBetween(UdpGso.HEADERS + 1, UdpGso.HEADERS + gsoSize);
            assertThat(Wire.u16(out, 16)).isEqualTo(len - 14);
            payload += len - UdpGso.HEADERS;
        }
        assertThat(payload).isEqualTo(Wire.u16(f, 16) - 28);
    }

    /** A VXLAN frame carrying a TCP frame, as a kernel VXLAN device's tunnel superframe would look (small here). */
    private static byte[] vxlanTcp(final int innerPayload)
    {
        final byte[] inner = new FrameBuilder().eth(SRC_MAC, DST_MAC).ip4(Ip4.parse("10.244.1.2"),
            Ip4.parse("10.244.2.2")).tcp(40000, 80, 0x10, 1, 1).payload(new byte[innerPayload]).build();
        final byte[] vx = new byte[8 + inner.length];
        vx[0] = 0x08;
        vx[6] = 1;
        System.arraycopy(inner, 0, vx, 8, inner.length);
        return new FrameBuilder().eth(SRC_MAC, DST_MAC).ip4(SRC, DST).udp(40000, 8472).payload(vx).build();
    }

    @Test
    void shouldKnowATunnelFrameOnlyByItsWholeOuterHeaders()
    {
        final byte[] ok = vxlanTcp(3000);
        assertThat(UdpGso.isVxlanFrame(MemorySegment.ofArray(ok), 0, ok.length)).isTrue();
        assertThat(UdpGso.isVxlanFrame(MemorySegment.ofArray(ok), 0, ok.length - 1)).as("length").isFalse();
        final byte[] flags = ok.clone();
        flags[42] = 0;
        assertThat(UdpGso.isVxlanFrame(MemorySegment.ofArray(flags), 0, flags.length)).as("I flag").isFalse();
        final byte[] options = ok.clone();
        options[14] = 0x46;
        assertThat(UdpGso.isVxlanFrame(MemorySegment.ofArray(options), 0, options.length)).as("IHL").isFalse();
        final byte[] fragment = ok.clone();
        fragment[20] = 0x20;
        assertThat(UdpGso.isVxlanFrame(MemorySegment.ofArray(fragment), 0, fragment.length)).as("MF").isFalse();
        final byte[] arp = ok.clone();
        arp[50 + 12] = 0x08;
        arp[50 + 13] = 0x06;
        assertThat(UdpGso.isVxlanFrame(MemorySegment.ofArray(arp), 0, arp.length)).as("inner not IPv4").isFalse();
    }

    @Test
    void shouldRemakeTheOuterHeadersOfACutSegment()
    {
        final byte[] whole = vxlanTcp(3000);
        // a segment as the segmenter leaves it: the superframe's outer headers over a shorter frame
        final byte[] seg = Arrays.copyOf(whole, 1514);
        final MemorySegment m = MemorySegment.ofArray(seg);
        UdpGso.fixOuter(m, 0, seg.length, 7);
        assertThat(Wire.u16(m, 16)).isEqualTo(1500);
        assertThat(Wire.u16(m, 18)).isEqualTo(7);
        assertThat(Checksum.compute(m, 14, 20)).isZero();
        assertThat(Wire.u16(m, 38)).isEqualTo(1480);
        assertThat(Wire.u16(m, 40)).as("UDP checksum: none").isZero();
    }

    private static MemorySegment superframe(final Laid laid, final int count)
    {
        int payload = 0;
        for (int k = 0; k < count; k++)
        {
            payload += laid.length()[k] - UdpGso.HEADERS;
        }
        final MemorySegment header = MemorySegment.ofArray(new byte[VirtioNetHeader.SIZE + UdpGso.HEADERS]);
        UdpGso.writeSuperframeHeader(laid.mem(), laid.at()[0], header, 0, payload,
            laid.length()[0] - UdpGso.HEADERS);
        final ByteArrayOutputStream all = new ByteArrayOutputStream();
        all.writeBytes(header.toArray(ValueLayout.JAVA_BYTE));
        for (int k = 0; k < count; k++)
        {
            all.writeBytes(laid.mem().asSlice(laid.at()[k] + UdpGso.HEADERS, laid.length()[k] - UdpGso.HEADERS)
                .toArray(ValueLayout.JAVA_BYTE));
        }
        return MemorySegment.ofArray(all.toByteArray());
    }
}
