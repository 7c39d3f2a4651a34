package dev.ferry.core.header;

import java.lang.foreign.MemorySegment;

/**
 * Flyweight over a UDP header (RFC 768).
 *
 * <pre>
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |          Source Port          |       Destination Port        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |            Length             |           Checksum            |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * </pre>
 */
public final class UdpHeader
{
    /** Header length. */
    public static final int LENGTH = 8;
    /** Offset of the checksum. */
    public static final int CHECKSUM_OFFSET = 6;

    private MemorySegment seg;
    private long off;

    /**
     * @param segment memory.
     * @param offset  absolute offset of the header.
     * @return this.
     */
    public UdpHeader wrap(final MemorySegment segment, final long offset)
    {
        this.seg = segment;
        this.off = offset;
        return this;
    }

    /** @return source port. */
    public int srcPort()
    {
        return Wire.u16(seg, off);
    }

    /**
     * @param v source port.
     * @return this.
     */
    public UdpHeader srcPort(final int v)
    {
        Wire.u16(seg, off, v);
        return this;
    }

    /** @return destination port. */
    public int dstPort()
    {
        return Wire.u16(seg, off + 2);
    }

    /**
     * @param v destination port.
     * @return this.
     */
    public UdpHeader dstPort(final int v)
    {
        Wire.u16(seg, off + 2, v);
        return this;
    }

    /** @return UDP length (header plus data). */
    public int length()
    {
        return Wire.u16(seg, off + 4);
    }

    /**
     * @param v UDP length.
     * @return this.
     */
    public UdpHeader length(final int v)
    {
        Wire.u16(seg, off + 4, v);
        return this;
    }

    /** @return checksum field (0 means none). */
    public int checksum()
    {
        return Wire.u16(seg, off + CHECKSUM_OFFSET);
    }

    /**
     * @param v checksum field.
     * @return this.
     */
    public UdpHeader checksum(final int v)
    {
        Wire.u16(seg, off + CHECKSUM_OFFSET, v);
        return this;
    }

    /**
     * Computes and stores the checksum over pseudo-header, header and data.
     *
     * @param src source address of the enclosing IPv4 header.
     * @param dst destination address of the enclosing IPv4 header.
     * @return this.
     */
    public UdpHeader updateChecksum(final int src, final int dst)
    {
        final int len = length();
        checksum(0);
        final int c = Checksum.finish(Checksum.pseudoHeader(src, dst, Ip4Header.PROTO_UDP, len)
            + Checksum.sum(seg, off, len));
        checksum(c == 0 ? 0xffff : c);
        return this;
    }

    /**
     * @param src source address of the enclosing IPv4 header.
     * @param dst destination address of the enclosing IPv4 header.
     * @return whether the checksum is absent (0) or verifies.
     */
    public boolean checksumValid(final int src, final int dst)
    {
        if (checksum() == 0)
        {
            return true;
        }
        final int len = length();
        return Checksum.fold(Checksum.pseudoHeader(src, dst, Ip4Header.PROTO_UDP, len)
            + Checksum.sum(seg, off, len)) == 0xffff;
    }
}
