package dev.ferry.tapio;

import dev.ferry.core.gso.TcpSegmenter;
import dev.ferry.core.header.Checksum;
import dev.ferry.core.header.TcpHeader;
import dev.ferry.core.header.Wire;

import java.lang.foreign.MemorySegment;

/**
 * Receive GRO for a run of VXLAN datagrams that arrived as one UDP superframe ({@link UdpGso}): when consecutive
 * datagrams carry consecutive segments of one inner TCP flow (what a peer's {@link TcpSegmenter} cut from one pod
 * superframe), they become ONE VXLAN frame whose inner frame is a TCP superframe, made with one copy out of the ring.
 * The graph then decapsulates, routes and NATs it once, and the pod TAP writes it with its virtio header.
 *
 * <pre>
 *   UDP superframe: [eth|IPv4|UDP][VXLAN|eth|IPv4|TCP seq s|d0] [VXLAN|eth|IPv4|TCP seq s+|d0|][d1] ... [..][dk]
 *   merged frame:   [eth|IPv4 len|UDP len, csum 0][VXLAN|eth|IPv4 len, csum|TCP seq s, csum = pseudo][d0 d1 .. dk]
 *                   gso TCPV4 size |d0|, partial checksum from the inner TCP header ({@link #TCP_AT}, 16)
 * </pre>
 *
 * <p>A datagram joins a run only under the TAP coalescer's rules ({@code TcpCoalescer}): the same VXLAN header (the
 * first with the I flag) and
 * inner Ethernet header, inner IPv4 without options or padding, not a fragment, with the same TOS, DF/reserved bits,
 * TTL and addresses and a valid header checksum; TCP with the same ports, ack, header length and option bytes, flags
 * ACK (ACK|PSH ends the run; a first segment with PSH is not merged), no reserved bits, a non-empty payload, sequence
 * numbers contiguous, every payload the first one's size except a shorter last one (which ends the run); the inner
 * IPv4 datagram at most {@link #MAX_INNER_IP} bytes (so the outer one stays within 65,535), at most
 * {@link TcpSegmenter#MAX_SEGMENTS} segments. The merged superframe goes to a pod with {@code NEEDS_CSUM}, so the pod
 * will not check its payload: unless the caller says the outer UDP checksum already covered these bytes
 * ({@code covered}), each segment's TCP checksum must verify too. A datagram that breaks a rule ends the run before it.
 *
 * <p>Reads stay inside the superframe ({@link UdpGso#segments} checked its length; every header read here is
 * checked against its datagram's size first), a run is one pass over at most 128 datagrams, and nothing is
 * allocated.
 */
final class VxlanGro
{
    /** Where the inner TCP header starts in a merged frame (outer headers, VXLAN, inner Ethernet, inner IPv4). */
    static final int TCP_AT = UdpGso.INNER_IP_AT + 20;
    /** The largest inner IPv4 datagram: outer IPv4 + UDP + VXLAN + inner Ethernet (50 bytes) must fit 65,535. */
    static final int MAX_INNER_IP = UdpGso.MAX_IP_LENGTH - (20 + 8 + 8 + 14);

    /** Offsets within one datagram's UDP payload. */
    private static final int VXLAN = 8;
    private static final int INNER_IP = VXLAN + 14;
    private static final int INNER_TCP = INNER_IP + 20;
    /** Smallest datagram payload with a TCP segment of one data byte. */
    private static final int MIN_DATAGRAM = INNER_TCP + 20 + 1;
    private static final int ACK = 0x10;
    private static final int ACK_PSH = 0x18;

    private VxlanGro()
    {
    }

    /** Where datagram k's UDP payload starts. */
    private static long datagram(final long f, final int gsoSize, final int k)
    {
        return f + UdpGso.HEADERS + (long)k * gsoSize;
    }

    /** Datagram k's UDP payload size. */
    private static int datagramSize(final MemorySegment mem, final long f, final int gsoSize, final int k)
    {
        return Math.min(gsoSize, Wire.u16(mem, f + 16) - 28 - k * gsoSize);
    }

    /**
     * Whether one datagram holds a VXLAN frame with a TCP segment a run may take: the checks that need no other
     * segment (inner Ethernet IPv4, IPv4 without options, exact length, not a fragment, TCP, a data byte, flags ACK
     * or ACK|PSH, no reserved bits, the IPv4 header checksum, and the TCP checksum unless covered).
     */
    private static boolean candidate(final MemorySegment mem, final long p, final int size, final boolean covered)
    {
        if (size < MIN_DATAGRAM || Wire.u16(mem, p + VXLAN + 12) != 0x0800 || Wire.u8(mem, p + INNER_IP) != 0x45
            || Wire.u16(mem, p + INNER_IP + 2) != size - INNER_IP || (Wire.u16(mem, p + INNER_IP + 6) & 0x3fff) != 0
            || Wire.u8(mem, p + INNER_IP + 9) != 6)
        {
            return false;
        }
        final int offsetByte = Wire.u8(mem, p + INNER_TCP + 12);
        final int doff = (offsetByte >>> 4) * 4;
        final int flags = Wire.u8(mem, p + INNER_TCP + 13);
        final int tcpLength = size - INNER_TCP;
        if (doff < 20 || doff >= tcpLength || (offsetByte & 0x0f) != 0 || flags != ACK && flags != ACK_PSH
            || Checksum.compute(mem, p + INNER_IP, 20) != 0)
        {
            return false;
        }
        if (covered)
        {
            return true;
        }
        return TcpHeader.checksumValid(mem, p + INNER_TCP, Wire.u32(mem, p + INNER_IP + 12),
            Wire.u32(mem, p + INNER_IP + 16), tcpLength);
    }

    /** TCP payload bytes of a candidate datagram. */
    private static int data(final MemorySegment mem, final long p, final int size)
    {
        return size - INNER_TCP - (Wire.u8(mem, p + INNER_TCP + 12) >>> 4) * 4;
    }

    /**
     * How many datagrams, from {@code from} on, merge into one superframe.
     *
     * @param mem     memory holding the UDP superframe (checked by {@link UdpGso#segments}).
     * @param f       absolute offset of the superframe.
     * @param gsoSize UDP payload bytes per datagram.
     * @param count   datagrams in the superframe ({@link UdpGso#segments}).
     * @param from    first datagram of the run.
     * @param covered whether the outer UDP checksum covered the inner frames (the TCP checksums need no check).
     * @param room    the most bytes a merged frame may have (a large buffer less its headroom).
     * @return datagrams in the run: 2 or more to merge, 1 to take datagram {@code from} on its own.
     */
    static int runLength(final MemorySegment mem, final long f, final int gsoSize, final int count, final int from,
        final boolean covered, final int room)
    {
        final long p0 = datagram(f, gsoSize, from);
        final int size0 = datagramSize(mem, f, gsoSize, from);
        // the VXLAN I flag on the first (the others must equal it): vxlan-decap checks the rest
        if (count - from < 2 || !candidate(mem, p0, size0, covered) || Wire.u8(mem, p0) != 0x08
            || Wire.u8(mem, p0 + INNER_TCP + 13) != ACK)
        {
            return 1;
        }
        final int doff = (Wire.u8(mem, p0 + INNER_TCP + 12) >>> 4) * 4;
        final int data0 = data(mem, p0, size0);
        final int most = Math.min(count - from, TcpSegmenter.MAX_SEGMENTS);
        final int limit = Math.min(MAX_INNER_IP, room - UdpGso.INNER_IP_AT);
        int innerIp = size0 - INNER_IP;
        int nextSeq = Wire.u32(mem, p0 + INNER_TCP + 4) + data0;
        int k = 1;
        while (k < most)
        {
            final long p = datagram(f, gsoSize, from + k);
            final int size = datagramSize(mem, f, gsoSize, from + k);
            if (!candidate(mem, p, size, covered) || !sameFlow(mem, p0, p, doff))
            {
                break;
            }
            final int d = data(mem, p, size);
            if (d > data0 || Wire.u32(mem, p + INNER_TCP + 4) != nextSeq || innerIp + d > limit)
            {
                break;
            }
            innerIp += d;
            nextSeq += d;
            k++;
            if (d < data0 || Wire.u8(mem, p + INNER_TCP + 13) != ACK)
            {
                break;
            }
        }
        return k;
    }

    /** The fields that must equal the run's first datagram's: VXLAN, inner L2, IPv4 (but length, id, checksum). */
    private static boolean sameFlow(final MemorySegment mem, final long p0, final long p, final int doff)
    {
        // VXLAN (8), inner Ethernet (14) and the IPv4 version/IHL and TOS (2): 24 bytes from the datagram start
        for (int i = 0; i < 24; i += 8)
        {
            if (mem.get(Wire.U64, p0 + i) != mem.get(Wire.U64, p + i))
            {
                return false;
            }
        }
        final long a = p0 + INNER_IP;
        final long b = p + INNER_IP;
        // DF/reserved bits, TTL, protocol; addresses; ports; ack; data offset
        if (Wire.u8(mem, a + 6) != Wire.u8(mem, b + 6) || Wire.u16(mem, a + 8) != Wire.u16(mem, b + 8)
            || mem.get(Wire.U64, a + 12) != mem.get(Wire.U64, b + 12)
            || Wire.u32(mem, a + 20) != Wire.u32(mem, b + 20) || Wire.u32(mem, a + 28) != Wire.u32(mem, b + 28)
            || Wire.u8(mem, a + 32) != Wire.u8(mem, b + 32))
        {
            return false;
        }
        // TCP options, timestamps included
        for (int i = 20; i < doff; i += 4)
        {
            if (Wire.u32(mem, a + 20 + i) != Wire.u32(mem, b + 20 + i))
            {
                return false;
            }
        }
        return true;
    }

    /**
     * @param mem     memory holding the UDP superframe.
     * @param f       its absolute offset.
     * @param gsoSize UDP payload bytes per datagram.
     * @param from    the run's first datagram.
     * @return the TCP payload bytes of that datagram: the merged superframe's segment size.
     */
    static int segmentSize(final MemorySegment mem, final long f, final int gsoSize, final int from)
    {
        return data(mem, datagram(f, gsoSize, from), datagramSize(mem, f, gsoSize, from));
    }

    /**
     * Writes a run ({@link #runLength} datagrams, at least 2) as one VXLAN frame with an inner TCP superframe: the
     * outer headers (IPv4 length, id of datagram {@code from} as the kernel numbers GSO segments, checksum; UDP
     * length, checksum 0), the first datagram's VXLAN and inner headers (inner IPv4 length and checksum; TCP PSH and
     * window of the last segment, checksum field = pseudo-header sum), then every segment's payload in turn.
     *
     * @param src     memory holding the UDP superframe.
     * @param f       its absolute offset.
     * @param gsoSize UDP payload bytes per datagram.
     * @param from    the run's first datagram.
     * @param n       datagrams in the run.
     * @param dst     memory to write to.
     * @param d       absolute offset (room for the frame, which {@link #runLength} checked).
     * @return the merged frame's length.
     */
    static int write(final MemorySegment src, final long f, final int gsoSize, final int from, final int n,
        final MemorySegment dst, final long d)
    {
        final long p0 = datagram(f, gsoSize, from);
        final int hdr = INNER_TCP + (Wire.u8(src, p0 + INNER_TCP + 12) >>> 4) * 4;
        MemorySegment.copy(src, f, dst, d, UdpGso.HEADERS);
        MemorySegment.copy(src, p0, dst, d + UdpGso.HEADERS, hdr);
        long at = d + UdpGso.HEADERS + hdr;
        long last = p0;
        for (int k = 0; k < n; k++)
        {
            final long p = datagram(f, gsoSize, from + k);
            final int size = datagramSize(src, f, gsoSize, from + k);
            final int payloadAt = INNER_TCP + (Wire.u8(src, p + INNER_TCP + 12) >>> 4) * 4;
            MemorySegment.copy(src, p + payloadAt, dst, at, size - payloadAt);
            at += size - payloadAt;
            last = p;
        }
        final int len = (int)(at - d);
        final long ip = d + UdpGso.INNER_IP_AT;
        final int innerIp = len - UdpGso.INNER_IP_AT;
        Wire.u16(dst, ip + 2, innerIp);
        Wire.u16(dst, ip + 10, 0);
        Wire.u16(dst, ip + 10, Checksum.compute(dst, ip, 20));
        final long tcp = ip + 20;
        Wire.u8(dst, tcp + 13, Wire.u8(dst, tcp + 13) | Wire.u8(src, last + INNER_TCP + 13) & 0x08);
        Wire.u16(dst, tcp + 14, Wire.u16(src, last + INNER_TCP + 14));
        Wire.u16(dst, tcp + 16, Checksum.fold(Checksum.pseudoHeader(Wire.u32(dst, ip + 12), Wire.u32(dst, ip + 16),
            6, innerIp - 20)));
        Wire.u16(dst, d + 16, len - 14);
        Wire.u16(dst, d + 18, Wire.u16(src, f + 18) + from & 0xffff);
        Wire.u16(dst, d + 24, 0);
        Wire.u16(dst, d + 24, Checksum.compute(dst, d + 14, 20));
        Wire.u16(dst, d + 38, len - UdpGso.UDP_AT);
        Wire.u16(dst, d + 40, 0);
        return len;
    }
}
