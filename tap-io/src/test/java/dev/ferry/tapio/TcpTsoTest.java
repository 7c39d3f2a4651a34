package dev.ferry.tapio;

import dev.ferry.core.header.Checksum;
import dev.ferry.core.header.Wire;
import dev.ferry.core.route.Ip4;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Random;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** The uplink's TCP superframe header ({@link TcpTso#prepare}) and what it refuses, without a kernel. */
class TcpTsoTest
{
    static final int SRC = Ip4.parse("10.244.1.5");
    static final int DST = Ip4.parse("192.168.60.9");
    static final int HEADROOM = 16;
    static final int ACK = 0x10;
    static final int CWR = 0x80;

    /**
     * An Ethernet + IPv4 + TCP superframe at offset {@link #HEADROOM} of the returned array, with IPv4 and TCP option
     * bytes (NOPs), complete IPv4 header checksum and a zero TCP checksum.
     */
    static byte[] superframe(final int ipOptions, final int tcpOptions, final int payload, final int flags,
        final long seed)
    {
        final int ihl = 20 + ipOptions;
        final int doff = 20 + tcpOptions;
        final byte[] a = new byte[HEADROOM + 14 + ihl + doff + payload];
        final MemorySegment m = MemorySegment.ofArray(a);
        final int f = HEADROOM;
        Wire.u48(m, f, 0x02fe00000001L);
        Wire.u48(m, f + 6, 0x02fe00000002L);
        Wire.u16(m, f + 12, 0x0800);
        final int ip = f + 14;
        Wire.u8(m, ip, 0x40 | ihl / 4);
        Wire.u16(m, ip + 2, ihl + doff + payload);
        Wire.u16(m, ip + 4, 0x1234);
        Wire.u16(m, ip + 6, 0x4000);
        Wire.u8(m, ip + 8, 63);
        Wire.u8(m, ip + 9, 6);
        Wire.u32(m, ip + 12, SRC);
        Wire.u32(m, ip + 16, DST);
        Arrays.fill(a, ip + 20, ip + ihl, (byte)1);
        Wire.u16(m, ip + 10, Checksum.compute(m, ip, ihl));
        final int tcp = ip + ihl;
        Wire.u16(m, tcp, 30080);
        Wire.u16(m, tcp + 2, 41000);
        Wire.u32(m, tcp + 4, 0x10000000);
        Wire.u32(m, tcp + 8, 0x20000000);
        Wire.u8(m, tcp + 12, doff / 4 << 4);
        Wire.u8(m, tcp + 13, flags);
        Wire.u16(m, tcp + 14, 502);
        Arrays.fill(a, tcp + 20, tcp + doff, (byte)1);
        final byte[] p = new byte[payload];
        new Random(seed).nextBytes(p);
        System.arraycopy(p, 0, a, tcp + doff, payload);
        return a;
    }

    private static int prepare(final byte[] a, final int gsoSize, final int mtu)
    {
        final MemorySegment m = MemorySegment.ofArray(a);
        return TcpTso.prepare(m, HEADROOM, a.length - HEADROOM, 14, gsoSize, mtu, m, HEADROOM - VirtioNetHeader.SIZE);
    }

    /**
     * Whatever the headers, segment size and MTU: the header names TCPV4 with NEEDS_CSUM at the TCP checksum, the
     * segment size never makes a packet bigger than the MTU nor larger than the frame's own, the segments it implies
     * cover the payload exactly, and the checksum fields are what the kernel completes: a valid IPv4 header, and a TCP
     * field that finishes to a valid checksum over the whole superframe.
     */
    @Property(tries = 300)
    void shouldDescribeTheSuperframeForTheKernel(@ForAll @IntRange(min = 0, max = 10) final int ipWords,
        @ForAll @IntRange(min = 0, max = 10) final int tcpWords, @ForAll @IntRange(min = 1, max = 60000) final int size,
        @ForAll @IntRange(min = 1, max = 9000) final int gsoSize, @ForAll @IntRange(min = 576, max = 9000) final int mtu,
        @ForAll final boolean cwr)
    {
        final int headers = 40 + 4 * ipWords + 4 * tcpWords;
        final int payload = Math.min(size, 65535 - headers);
        final byte[] a = superframe(4 * ipWords, 4 * tcpWords, payload, ACK | (cwr ? CWR : 0), size);
        final int mss = Math.min(gsoSize, mtu - headers);
        final int expected = (payload + mss - 1) / mss;
        final int segments = prepare(a, gsoSize, mtu);
        if (expected > TcpTso.MAX_SEGMENTS)
        {
            assertThat(segments).as("too many segments: the software segmenter decides").isEqualTo(TcpTso.SOFTWARE);
            return;
        }
        assertThat(segments).isEqualTo(expected);
        final MemorySegment m = MemorySegment.ofArray(a);
        final int v = HEADROOM - VirtioNetHeader.SIZE;
        assertThat(VirtioNetHeader.flags(m, v)).isEqualTo(VirtioNetHeader.F_NEEDS_CSUM);
        assertThat(VirtioNetHeader.csumStart(m, v)).isEqualTo(14 + 20 + 4 * ipWords);
        assertThat(VirtioNetHeader.csumOffset(m, v)).isEqualTo(16);
        assertThat(Wire.u16(m, v + 2) & 0xffff).as("hdr_len (little-endian)")
            .isEqualTo(Short.reverseBytes((short)(14 + headers)) & 0xffff);
        if (segments == 1)
        {
            assertThat(VirtioNetHeader.gsoType(m, v)).as("one segment: a checksum offload only")
                .isEqualTo(VirtioNetHeader.GSO_NONE);
        }
        else
        {
            assertThat(VirtioNetHeader.gsoType(m, v)).isEqualTo(VirtioNetHeader.GSO_TCPV4
                | (cwr ? VirtioNetHeader.GSO_ECN : 0));
            final int size1 = VirtioNetHeader.gsoSize(m, v);
            assertThat(size1).isEqualTo(mss).isLessThanOrEqualTo(gsoSize);
            assertThat(headers + size1).as("every segment fits the MTU").isLessThanOrEqualTo(mtu);
            assertThat((long)(segments - 1) * size1).isLessThan(payload);
        }
        final int ip = HEADROOM + 14;
        assertThat(Checksum.compute(m, ip, 20 + 4 * ipWords)).as("IPv4 header checksum").isZero();
        final int tcp = ip + 20 + 4 * ipWords;
        final int tcpLength = a.length - tcp;
        // the kernel's CHECKSUM_PARTIAL completion: the complement of the sum from csum_start with the field as is
        Wire.u16(m, tcp + 16, Checksum.finish(Checksum.sum(m, tcp, tcpLength)));
        assertThat(Checksum.fold(Checksum.sum(m, tcp, tcpLength) + Checksum.pseudoHeader(SRC, DST, 6, tcpLength)))
            .as("TCP checksum once completed").isEqualTo(0xffff);
        assertThat(TcpTso.wireBytes(m, HEADROOM, segments)).isEqualTo((long)(segments - 1) * (14 + headers)
            + a.length - HEADROOM);
    }

    @Test
    void shouldCutTheSegmentSizeToTheMtu()
    {
        final byte[] a = superframe(0, 12, 40000, ACK, 1);
        assertThat(prepare(a, 1448, 1400)).isEqualTo((40000 + 1347) / 1348);
        assertThat(VirtioNetHeader.gsoSize(MemorySegment.ofArray(a), HEADROOM - VirtioNetHeader.SIZE))
            .isEqualTo(1400 - 52);
        assertThat(TcpTso.mss(0, 1500, 40)).isEqualTo(1460);
        assertThat(TcpTso.mss(1448, 1500, 52)).isEqualTo(1448);
        assertThat(TcpTso.mss(1448, 60, 80)).isZero();
    }

    /** Frames a pod or a stage could have made that must not reach the kernel as a superframe. */
    @Test
    void shouldLeaveWhatItCannotDescribeToTheSoftwareSegmenter()
    {
        final byte[] ok = superframe(0, 0, 5000, ACK, 2);
        assertThat(prepare(ok.clone(), 1000, 1500)).isEqualTo(5);

        final byte[] cut = Arrays.copyOf(ok, ok.length - 1);
        assertThat(prepare(cut, 1000, 1500)).as("IPv4 length beyond the frame").isEqualTo(TcpTso.SOFTWARE);

        final byte[] doff = ok.clone();
        Wire.u8(MemorySegment.ofArray(doff), HEADROOM + 34 + 12, 0x40);
        assertThat(prepare(doff, 1000, 1500)).as("TCP header shorter than 20").isEqualTo(TcpTso.SOFTWARE);

        final byte[] tiny = superframe(0, 0, 0, ACK, 3);
        Wire.u8(MemorySegment.ofArray(tiny), HEADROOM + 34 + 12, 0xf0);
        assertThat(prepare(tiny, 1000, 1500)).as("TCP header beyond the IPv4 length").isEqualTo(TcpTso.SOFTWARE);

        final byte[] fragment = ok.clone();
        Wire.u16(MemorySegment.ofArray(fragment), HEADROOM + 20, 0x2000);
        assertThat(prepare(fragment, 1000, 1500)).as("a fragment").isEqualTo(TcpTso.SOFTWARE);

        final byte[] udp = ok.clone();
        Wire.u8(MemorySegment.ofArray(udp), HEADROOM + 23, 17);
        assertThat(prepare(udp, 1000, 1500)).as("not TCP").isEqualTo(TcpTso.SOFTWARE);

        final byte[] vlan = ok.clone();
        Wire.u16(MemorySegment.ofArray(vlan), HEADROOM + 12, 0x8100);
        assertThat(prepare(vlan, 1000, 1500)).as("tagged").isEqualTo(TcpTso.SOFTWARE);

        assertThat(prepare(ok.clone(), 10, 1500)).as("more than 256 segments").isEqualTo(TcpTso.SOFTWARE);
        assertThat(prepare(ok.clone(), 0, 1500)).as("a plain frame larger than the MTU").isEqualTo(TcpTso.SOFTWARE);
        assertThat(prepare(ok.clone(), 0, 9000)).as("a plain frame with a partial checksum").isEqualTo(1);
        assertThat(prepare(ok.clone(), 9000, 1500)).as("gso_size above the MTU: cut to it").isEqualTo(4);
        assertThat(prepare(ok.clone(), 6000, 9000)).as("gso_size above the payload: one segment").isEqualTo(1);
        assertThat(prepare(ok.clone(), 1000, 40)).as("not one byte fits").isEqualTo(TcpTso.SOFTWARE);
        assertThat(TcpTso.headerBytes(MemorySegment.ofArray(ok), HEADROOM, 50, 14)).isEqualTo(-1);
        assertThat(TcpTso.headerBytes(MemorySegment.ofArray(ok), HEADROOM, ok.length - HEADROOM, 14)).isEqualTo(40);
    }
}
