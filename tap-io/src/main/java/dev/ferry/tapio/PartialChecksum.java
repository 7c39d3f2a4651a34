package dev.ferry.tapio;

import dev.ferry.core.header.Checksum;
import dev.ferry.core.header.Wire;

import java.lang.foreign.MemorySegment;

/**
 * Completes a checksum that the kernel left partial (checksum offload: the field holds only the pseudo-header
 * sum). A TAP with {@code IFF_VNET_HDR} names the range in the virtio header; a packet socket only flags the
 * packet, so for IPv4 TCP/UDP the range is found from the headers. For a VXLAN frame (UDP to 4789 or 8472 with the
 * I flag) the partial checksum is the inner frame's TCP/UDP checksum, not the outer one: the kernel's VXLAN device
 * encapsulates without completing it when the underlay device offers tx checksum offload.
 */
final class PartialChecksum
{
    /** VXLAN's IANA port. */
    static final int VXLAN_IANA_PORT = 4789;
    /** The Linux kernel's (and flannel's) VXLAN port. */
    static final int VXLAN_LINUX_PORT = 8472;
    /** Outer UDP (8) plus VXLAN (8) header bytes in front of the inner Ethernet frame. */
    private static final int UDP_AND_VXLAN = 16;

    private PartialChecksum()
    {
    }

    /**
     * Sums {@code [start, length)} of the frame (the checksum field included) and stores the complement at
     * {@code start + field}.
     *
     * @return false when the range does not fit the frame.
     */
    static boolean complete(final MemorySegment mem, final long frame, final int length, final int start,
        final int field)
    {
        if (start < 0 || field < 0 || start + field + 2 > length)
        {
            return false;
        }
        int c = Checksum.compute(mem, frame + start, length - start);
        if (c == 0)
        {
            // a computed zero is sent as all ones (a zero UDP checksum means "none")
            c = 0xffff;
        }
        Wire.u16(mem, frame + start + field, c);
        return true;
    }

    /**
     * Completes the TCP or UDP checksum of an IPv4 frame (untagged or with one 802.1Q tag).
     *
     * @return false when the frame is not IPv4 TCP/UDP or is too short.
     */
    static boolean completeIp4(final MemorySegment mem, final long frame, final int length)
    {
        if (length < 34)
        {
            return false;
        }
        int l3 = 14;
        int type = Wire.u16(mem, frame + 12);
        if (type == 0x8100)
        {
            l3 = 18;
            type = Wire.u16(mem, frame + 16);
        }
        if (type != 0x0800 || length < l3 + 20)
        {
            return false;
        }
        final int ihl = (Wire.u8(mem, frame + l3) & 0x0f) * 4;
        final int proto = Wire.u8(mem, frame + l3 + 9);
        final int field = proto == 6 ? 16 : proto == 17 ? 6 : -1;
        // the IPv4 total length, not the frame, bounds the L4 segment (short frames are padded)
        final int end = Math.min(length, l3 + Wire.u16(mem, frame + l3 + 2));
        if (ihl < 20 || field < 0)
        {
            return false;
        }
        final int l4 = l3 + ihl;
        if (proto == 17 && isVxlan(mem, frame, end, l4))
        {
            // a kernel VXLAN device encapsulates with the inner L4 checksum still partial: the outer UDP checksum
            // is zero (flannel's default) or already final (local checksum offload counts on the inner one being
            // completed), so the checksum to complete is the inner frame's
            final int inner = l4 + UDP_AND_VXLAN;
            return completeIp4(mem, frame + inner, end - inner);
        }
        return complete(mem, frame, end, l4, field);
    }

    private static boolean isVxlan(final MemorySegment mem, final long frame, final int end, final int l4)
    {
        if (l4 + UDP_AND_VXLAN + 34 > end)
        {
            return false;
        }
        final int dport = Wire.u16(mem, frame + l4 + 2);
        // RFC 7348: the I flag (0x08) set, the other flag bits and reserved fields zero
        return (dport == VXLAN_IANA_PORT || dport == VXLAN_LINUX_PORT)
            && Wire.u8(mem, frame + l4 + 8) == 0x08;
    }
}
