package dev.ferry.tapio;

import dev.ferry.core.header.Checksum;
import dev.ferry.core.header.Wire;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * TCP segmentation offload on the uplink ({@code VIRTIO_NET_HDR_GSO_TCPV4}, the kernel's {@code SKB_GSO_TCPV4}) for
 * a packet socket with {@code PACKET_VNET_HDR}: a pod's TCP superframe leaving without a tunnel (a NodePort reply,
 * masquerade egress) goes out as one message, and the kernel, the NIC or the next veth cuts it.
 *
 * <pre>
 *   superframe:  [eth|IPv4 (options) len all|TCP seq, flags, csum][payload 0 .. P)
 *   message:     [vnet: NEEDS_CSUM l4/16, TCPV4 (+ECN if CWR), hdr_len = l4 + doff, gso_size = mss][superframe]
 *                mss = min(the frame's gso_size, MTU - IPv4 header - TCP header)
 *   in place:    IPv4 header checksum recomputed; TCP checksum = the pseudo-header sum over the whole TCP length
 * </pre>
 *
 * <p>The superframe comes from a pod (a TAP's virtio header, checked at input but crafted by the pod) and has since
 * been rewritten by the graph, so every field is checked again against the frame here: anything this class does not
 * accept is handed to the software segmenter by the caller, which refuses what it cannot cut (a tx-error). The
 * kernel is given only frames it would accept ({@code virtio_net_hdr_to_skb}, {@code tcp4_gso_segment}), so a
 * crafted frame cannot make it fail in a loop. Nothing is allocated.
 */
final class TcpTso
{
    /** {@link #prepare} result: not a superframe this offload sends whole; segment it in software. */
    static final int SOFTWARE = -1;
    /** Most segments one message may carry (the software segmenter's limit, far below the kernel's 65535). */
    static final int MAX_SEGMENTS = 256;
    /** The TCP CWR flag. */
    private static final int CWR = 0x80;
    private static final ValueLayout.OfShort LE16 = ValueLayout.JAVA_SHORT_UNALIGNED;

    private TcpTso()
    {
    }

    /**
     * The segment size a superframe leaves with: its own, never more than fits the link's MTU.
     *
     * @param gsoSize the frame's segment size (payload bytes), 0 for none.
     * @param mtu     the link's MTU (IPv4 packet bytes).
     * @param headers IPv4 and TCP header bytes of each segment.
     * @return payload bytes per segment, at least 1, or 0 when not even one byte fits.
     */
    static int mss(final int gsoSize, final int mtu, final int headers)
    {
        final int fits = Math.max(0, mtu - headers);
        return gsoSize == 0 ? fits : Math.min(gsoSize, fits);
    }

    /**
     * Checks a TCP superframe queued for transmission and prepares it to go out whole: writes the virtio header,
     * recomputes the IPv4 header checksum and puts the pseudo-header sum into the TCP checksum field (the kernel's
     * {@code CHECKSUM_PARTIAL} convention). Accepted: untagged Ethernet, IPv4 (options allowed) not fragmented, TCP,
     * the headers and the IPv4 total length inside the frame, at most {@link #MAX_SEGMENTS} segments of
     * {@link #mss}. A frame whose payload fits one segment gets {@code GSO_NONE} with {@code NEEDS_CSUM}.
     *
     * @param mem     memory holding the frame.
     * @param frame   absolute offset of the frame.
     * @param len     the frame's length.
     * @param l3      where its IPv4 header starts (must be 14).
     * @param gsoSize its segment size from the pool (0: a frame with a partial checksum only).
     * @param mtu     the link's MTU.
     * @param out     where the virtio header goes.
     * @param at      absolute offset in {@code out} ({@link VirtioNetHeader#SIZE} bytes).
     * @return the IPv4 packets the message becomes on the wire (1 or more), or {@link #SOFTWARE}.
     */
    static int prepare(final MemorySegment mem, final long frame, final int len, final int l3, final int gsoSize,
        final int mtu, final MemorySegment out, final long at)
    {
        if (l3 != 14 || len < 14 + 40 || Wire.u16(mem, frame + 12) != 0x0800)
        {
            return SOFTWARE;
        }
        final long ip = frame + l3;
        final int vihl = Wire.u8(mem, ip);
        final int ihl = (vihl & 0x0f) * 4;
        final int total = Wire.u16(mem, ip + 2);
        if ((vihl & 0xf0) != 0x40 || ihl < 20 || Wire.u8(mem, ip + 9) != 6 || (Wire.u16(mem, ip + 6) & 0x3fff) != 0
            || l3 + total > len || ihl + 20 > total)
        {
            return SOFTWARE;
        }
        final long tcp = ip + ihl;
        final int doff = (Wire.u8(mem, tcp + 12) >>> 4) * 4;
        if (doff < 20 || ihl + doff > total)
        {
            return SOFTWARE;
        }
        final int payload = total - ihl - doff;
        final int mss = mss(gsoSize, mtu, ihl + doff);
        if (mss == 0)
        {
            return SOFTWARE;
        }
        final int segments = Math.max(1, (payload + mss - 1) / mss);
        // a plain frame (partial checksum only) larger than the MTU is not made a superframe here
        if (segments > MAX_SEGMENTS || gsoSize == 0 && segments > 1)
        {
            return SOFTWARE;
        }
        Wire.u16(mem, ip + 10, 0);
        Wire.u16(mem, ip + 10, Checksum.compute(mem, ip, ihl));
        final int tcpLength = total - ihl;
        Wire.u16(mem, tcp + 16, Checksum.fold(Checksum.pseudoHeader(Wire.u32(mem, ip + 12), Wire.u32(mem, ip + 16),
            6, tcpLength)));
        int type = VirtioNetHeader.GSO_NONE;
        if (segments > 1)
        {
            type = VirtioNetHeader.GSO_TCPV4 | ((Wire.u8(mem, tcp + 13) & CWR) != 0 ? VirtioNetHeader.GSO_ECN : 0);
        }
        out.set(ValueLayout.JAVA_BYTE, at, (byte)VirtioNetHeader.F_NEEDS_CSUM);
        out.set(ValueLayout.JAVA_BYTE, at + 1, (byte)type);
        out.set(LE16, at + 2, (short)(l3 + ihl + doff));
        out.set(LE16, at + 4, (short)(segments > 1 ? mss : 0));
        out.set(LE16, at + 6, (short)(l3 + ihl));
        out.set(LE16, at + 8, (short)16);
        return segments;
    }

    /**
     * IPv4 and TCP header bytes of a frame, for sizing software segments.
     *
     * @param mem   memory holding the frame.
     * @param frame absolute offset of the frame.
     * @param len   the frame's length.
     * @param l3    where its IPv4 header starts.
     * @return IPv4 header plus TCP header length, or -1 when they are not both inside the frame.
     */
    static int headerBytes(final MemorySegment mem, final long frame, final int len, final int l3)
    {
        if (l3 < 0 || l3 + 40 > len)
        {
            return -1;
        }
        final int ihl = (Wire.u8(mem, frame + l3) & 0x0f) * 4;
        if (ihl < 20 || l3 + ihl + 20 > len)
        {
            return -1;
        }
        final int doff = (Wire.u8(mem, frame + l3 + ihl + 12) >>> 4) * 4;
        return doff < 20 ? -1 : ihl + doff;
    }

    /**
     * Bytes a prepared superframe puts on the wire: its headers once per segment and its payload.
     *
     * @param mem      memory holding the frame.
     * @param frame    absolute offset of the frame.
     * @param segments what {@link #prepare} returned.
     * @return frame bytes of all segments together.
     */
    static long wireBytes(final MemorySegment mem, final long frame, final int segments)
    {
        final int ihl = (Wire.u8(mem, frame + 14) & 0x0f) * 4;
        final int doff = (Wire.u8(mem, frame + 14 + ihl + 12) >>> 4) * 4;
        final int total = Wire.u16(mem, frame + 16);
        return (long)(segments - 1) * (14 + ihl + doff) + 14 + total;
    }

    /**
     * The frame length a prepared superframe is sent with: up to the end of its IPv4 packet (no trailing bytes).
     *
     * @param mem   memory holding the frame.
     * @param frame absolute offset of the frame.
     * @return 14 + the IPv4 total length.
     */
    static int sendLength(final MemorySegment mem, final long frame)
    {
        return 14 + Wire.u16(mem, frame + 16);
    }
}
