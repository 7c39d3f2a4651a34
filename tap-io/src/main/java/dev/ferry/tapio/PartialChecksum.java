package dev.ferry.tapio;

import dev.ferry.core.header.Checksum;
import dev.ferry.core.header.Wire;

import java.lang.foreign.MemorySegment;

/**
 * Completes a checksum that the kernel left partial (checksum offload: the field holds only the pseudo-header
 * sum). A TAP with {@code IFF_VNET_HDR} names the range in the virtio header; a packet socket only flags the
 * packet, so for IPv4 TCP/UDP the range is found from the headers.
 */
final class PartialChecksum
{
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
        return field >= 0 && ihl >= 20 && complete(mem, frame, end, l3 + ihl, field);
    }
}
