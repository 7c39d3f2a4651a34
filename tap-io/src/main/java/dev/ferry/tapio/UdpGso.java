package dev.ferry.tapio;

import dev.ferry.core.header.Checksum;
import dev.ferry.core.header.Wire;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * UDP segmentation offload ({@code VIRTIO_NET_HDR_GSO_UDP_L4}, the kernel's {@code SKB_GSO_UDP_L4}) for a packet
 * socket with {@code PACKET_VNET_HDR}: a run of VXLAN frames to one peer leaves as one UDP superframe, and a
 * received UDP superframe is split back into ordinary frames. AF_PACKET cannot carry VXLAN-in-GSO (the tunnel
 * types), but it carries plain UDP GSO, and a run of VXLAN datagrams with equal headers is exactly that.
 *
 * <pre>
 *   run:        [eth|IPv4 len a|UDP len a][payload 0]  [eth|IPv4|UDP][payload 1] ... [eth|IPv4|UDP][payload k-1]
 *   superframe: [vnet: NEEDS_CSUM 34/6, UDP_L4, gso_size = |payload 0|][eth|IPv4 len all|UDP len all, csum pseudo]
 *               + payload 0 + payload 1 + ... + payload k-1          (every payload but the last |payload 0| long)
 * </pre>
 *
 * <p>The kernel insists on {@code NEEDS_CSUM} for UDP_L4 ({@code virtio_net_hdr_to_skb}), so the outer UDP
 * checksum of a superframe's segments is always the kernel's (or stays partial on a veth and is trusted by the
 * receiver), even when the frames themselves carried 0. A split segment gets checksum 0: IPv4 VXLAN allows it, and
 * the inner frames carry complete checksums of their own.
 *
 * <p>Only untagged IPv4 without options or fragmentation is batched or split. Everything here works on raw
 * offsets (absolute within the given segments) and allocates nothing.
 */
final class UdpGso
{
    /** Ethernet, IPv4 without options, UDP. */
    static final int HEADERS = 14 + 20 + 8;
    /** Where the UDP header starts. */
    static final int UDP_AT = 34;
    /** The kernel's {@code UDP_MAX_SEGMENTS} (128 since 2024). */
    static final int MAX_SEGMENTS = 128;
    /** The largest IPv4 datagram. */
    static final int MAX_IP_LENGTH = 65535;
    /** VXLAN header (8) and inner Ethernet (14): where a VXLAN frame's inner IPv4 header starts after UDP. */
    static final int INNER_IP_AT = HEADERS + 8 + 14;
    /** {@link #segments} result: the frame is not a UDP superframe this port can split. */
    static final int MALFORMED = -1;

    private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED;
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfShort LE16 = ValueLayout.JAVA_SHORT_UNALIGNED;

    private UdpGso()
    {
    }

    /**
     * Whether a frame may be part of a run: untagged IPv4, 20-byte header, not a fragment, UDP, IPv4 and UDP
     * lengths matching the frame exactly (no padding), at least one payload byte.
     */
    static boolean eligible(final MemorySegment mem, final long f, final int len)
    {
        return len > HEADERS && Wire.u16(mem, f + 12) == 0x0800 && Wire.u8(mem, f + 14) == 0x45
            && Wire.u8(mem, f + 23) == 17 && (Wire.u16(mem, f + 20) & 0x3fff) == 0
            && Wire.u16(mem, f + 16) == len - 14 && Wire.u16(mem, f + 38) == len - UDP_AT;
    }

    /**
     * Whether two eligible frames have the same outer headers except IPv4 length, id and checksum and UDP length
     * and checksum: MACs, EtherType, TOS, DF, TTL, addresses, ports.
     */
    static boolean sameFlow(final MemorySegment mem, final long a, final long b)
    {
        // bytes 0..15: MACs, EtherType, version/IHL, TOS; 20..23: flags, TTL, protocol; 26..37: addresses, ports
        return mem.get(LONG, a) == mem.get(LONG, b) && mem.get(LONG, a + 8) == mem.get(LONG, b + 8)
            && mem.get(INT, a + 20) == mem.get(INT, b + 20) && mem.get(LONG, a + 26) == mem.get(LONG, b + 26)
            && mem.get(INT, a + 34) == mem.get(INT, b + 34);
    }

    /**
     * Length of the run of frames starting at {@code from} that can leave as one UDP superframe: same flow,
     * the first frame's length for all but a shorter last one, at most {@link #MAX_SEGMENTS} frames and one
     * IPv4 datagram.
     *
     * @param mem     memory holding the frames.
     * @param frames  absolute offset of each frame.
     * @param lengths length of each frame.
     * @param from    first frame of the run.
     * @param n       frames in the arrays.
     * @return frames in the run, at least 1 (1: send the frame on its own).
     */
    static int runLength(final MemorySegment mem, final long[] frames, final int[] lengths, final int from,
        final int n)
    {
        final long f0 = frames[from];
        final int len0 = lengths[from];
        if (!eligible(mem, f0, len0))
        {
            return 1;
        }
        int ipLength = len0 - 14;
        int k = 1;
        while (from + k < n && k < MAX_SEGMENTS)
        {
            final long f = frames[from + k];
            final int len = lengths[from + k];
            if (len > len0 || ipLength + len - HEADERS > MAX_IP_LENGTH || !eligible(mem, f, len)
                || !sameFlow(mem, f0, f))
            {
                break;
            }
            ipLength += len - HEADERS;
            k++;
            if (len < len0)
            {
                break;
            }
        }
        return k;
    }

    /**
     * Writes a superframe's virtio header and outer headers: the first frame's headers with the IPv4 total length
     * and checksum and the UDP length of the whole datagram, and the UDP checksum field holding the pseudo-header
     * sum (the kernel completes it per segment).
     *
     * @param mem      memory holding the first frame.
     * @param first    absolute offset of the first frame (its bytes are not changed).
     * @param out      where to write.
     * @param at       absolute offset in {@code out}: {@link VirtioNetHeader#SIZE} + {@link #HEADERS} bytes are
     *                 written.
     * @param payload  UDP payload bytes of the whole run.
     * @param gsoSize  UDP payload bytes per segment (the first frame's).
     */
    static void writeSuperframeHeader(final MemorySegment mem, final long first, final MemorySegment out,
        final long at, final int payload, final int gsoSize)
    {
        // struct virtio_net_hdr (little-endian fields on the hosts we run on)
        out.set(ValueLayout.JAVA_BYTE, at, (byte)VirtioNetHeader.F_NEEDS_CSUM);
        out.set(ValueLayout.JAVA_BYTE, at + 1, (byte)VirtioNetHeader.GSO_UDP_L4);
        out.set(LE16, at + 2, (short)HEADERS);
        out.set(LE16, at + 4, (short)gsoSize);
        out.set(LE16, at + 6, (short)UDP_AT);
        out.set(LE16, at + 8, (short)6);
        final long h = at + VirtioNetHeader.SIZE;
        MemorySegment.copy(mem, first, out, h, HEADERS);
        final int udpLength = 8 + payload;
        Wire.u16(out, h + 16, 20 + udpLength);
        Wire.u16(out, h + 24, 0);
        Wire.u16(out, h + 24, Checksum.compute(out, h + 14, 20));
        Wire.u16(out, h + 38, udpLength);
        final long pseudo = Checksum.pseudoHeader(Wire.u32(out, h + 26), Wire.u32(out, h + 30), 17, udpLength);
        Wire.u16(out, h + 40, Checksum.fold(pseudo));
    }

    /**
     * Writes a zero virtio header (a frame that needs nothing from the kernel).
     *
     * @param out where.
     * @param at  absolute offset.
     */
    static void writePlainHeader(final MemorySegment out, final long at)
    {
        out.set(LONG, at, 0L);
        out.set(LE16, at + 8, (short)0);
    }

    /**
     * Checks a received UDP superframe and counts its segments.
     *
     * @param mem     memory holding the frame.
     * @param f       absolute offset of the frame.
     * @param len     bytes of the frame that are present.
     * @param gsoSize UDP payload bytes per segment from the virtio header.
     * @return segments it splits into (1 to {@link #MAX_SEGMENTS}), or {@link #MALFORMED}.
     */
    static int segments(final MemorySegment mem, final long f, final int len, final int gsoSize)
    {
        if (len <= HEADERS || gsoSize <= 0 || Wire.u16(mem, f + 12) != 0x0800 || Wire.u8(mem, f + 14) != 0x45
            || Wire.u8(mem, f + 23) != 17 || (Wire.u16(mem, f + 20) & 0x3fff) != 0)
        {
            return MALFORMED;
        }
        final int ipLength = Wire.u16(mem, f + 16);
        if (ipLength <= 28 || 14 + ipLength > len)
        {
            return MALFORMED;
        }
        final int payload = ipLength - 28;
        final int count = (payload + gsoSize - 1) / gsoSize;
        return count > MAX_SEGMENTS ? MALFORMED : count;
    }

    /**
     * Whether a frame is a kernel VXLAN device's TCP superframe ({@code SKB_GSO_UDP_TUNNEL}, which a packet socket's
     * virtio header reports as TCPV4 with the checksum range at the inner TCP header): untagged outer IPv4 without
     * options or fragments, UDP, both lengths matching the frame, the VXLAN I flag, inner Ethernet carrying IPv4. The
     * inner headers are checked by the caller.
     *
     * @param mem memory holding the frame.
     * @param f   absolute offset of the frame.
     * @param len bytes of the frame.
     * @return whether the outer headers are a VXLAN tunnel's.
     */
    static boolean isVxlanFrame(final MemorySegment mem, final long f, final int len)
    {
        return len > INNER_IP_AT + 40 && Wire.u16(mem, f + 12) == 0x0800 && Wire.u8(mem, f + 14) == 0x45
            && Wire.u8(mem, f + 23) == 17 && (Wire.u16(mem, f + 20) & 0x3fff) == 0
            && Wire.u16(mem, f + 16) == len - 14 && Wire.u16(mem, f + 38) == len - UDP_AT
            && Wire.u8(mem, f + HEADERS) == 0x08 && Wire.u16(mem, f + HEADERS + 8 + 12) == 0x0800;
    }

    /**
     * Re-makes the outer IPv4 and UDP headers of one segment cut from a tunnel superframe (the segmenter fixed the
     * inner ones): lengths from the segment, IPv4 id, checksum, UDP checksum 0.
     *
     * @param mem memory holding the segment.
     * @param f   absolute offset of the segment.
     * @param len the segment's length.
     * @param id  its outer IPv4 id.
     */
    static void fixOuter(final MemorySegment mem, final long f, final int len, final int id)
    {
        Wire.u16(mem, f + 16, len - 14);
        Wire.u16(mem, f + 18, id & 0xffff);
        Wire.u16(mem, f + 24, 0);
        Wire.u16(mem, f + 24, Checksum.compute(mem, f + 14, 20));
        Wire.u16(mem, f + 38, len - UDP_AT);
        Wire.u16(mem, f + 40, 0);
    }

    /**
     * Writes segment {@code k} of a checked superframe as an ordinary frame: the outer headers with the IPv4
     * length, id (first id + k, as the kernel numbers GSO segments) and checksum and the UDP length of this
     * segment, UDP checksum 0, then its slice of the payload.
     *
     * @param src     memory holding the superframe.
     * @param f       absolute offset of the superframe.
     * @param gsoSize payload bytes per segment.
     * @param k       segment index, below {@link #segments}.
     * @param dst     memory to write the segment to.
     * @param d       absolute offset of the segment (room for {@link #HEADERS} + gsoSize bytes).
     * @return the segment's length.
     */
    static int writeSegment(final MemorySegment src, final long f, final int gsoSize, final int k,
        final MemorySegment dst, final long d)
    {
        final int payload = Wire.u16(src, f + 16) - 28;
        final int off = k * gsoSize;
        final int size = Math.min(gsoSize, payload - off);
        MemorySegment.copy(src, f, dst, d, HEADERS);
        Wire.u16(dst, d + 16, 28 + size);
        Wire.u16(dst, d + 18, Wire.u16(src, f + 18) + k & 0xffff);
        Wire.u16(dst, d + 24, 0);
        Wire.u16(dst, d + 24, Checksum.compute(dst, d + 14, 20));
        Wire.u16(dst, d + 38, 8 + size);
        Wire.u16(dst, d + 40, 0);
        MemorySegment.copy(src, f + HEADERS + off, dst, d + HEADERS, size);
        return HEADERS + size;
    }
}
