package dev.ferry.core.header;

import java.lang.foreign.MemorySegment;

/**
 * Flyweight over a TCP header (RFC 9293).
 *
 * <pre>
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |          Source Port          |       Destination Port        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                        Sequence Number                        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Acknowledgment Number                      |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  Data |       |C|E|U|A|P|R|S|F|                               |
 * | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |           Checksum            |         Urgent Pointer        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * </pre>
 */
public final class TcpHeader
{
    /** Length without options. */
    public static final int MIN_LENGTH = 20;
    /** Offset of the checksum. */
    public static final int CHECKSUM_OFFSET = 16;
    /** FIN flag. */
    public static final int FIN = 0x01;
    /** SYN flag. */
    public static final int SYN = 0x02;
    /** RST flag. */
    public static final int RST = 0x04;
    /** PSH flag. */
    public static final int PSH = 0x08;
    /** ACK flag. */
    public static final int ACK = 0x10;

    private MemorySegment seg;
    private long off;

    /**
     * @param segment memory.
     * @param offset  absolute offset of the header.
     * @return this.
     */
    public TcpHeader wrap(final MemorySegment segment, final long offset)
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
    public TcpHeader srcPort(final int v)
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
    public TcpHeader dstPort(final int v)
    {
        Wire.u16(seg, off + 2, v);
        return this;
    }

    /** @return sequence number. */
    public int seq()
    {
        return Wire.u32(seg, off + 4);
    }

    /**
     * @param v sequence number.
     * @return this.
     */
    public TcpHeader seq(final int v)
    {
        Wire.u32(seg, off + 4, v);
        return this;
    }

    /** @return acknowledgment number. */
    public int ack()
    {
        return Wire.u32(seg, off + 8);
    }

    /**
     * @param v acknowledgment number.
     * @return this.
     */
    public TcpHeader ack(final int v)
    {
        Wire.u32(seg, off + 8, v);
        return this;
    }

    /** @return header length in bytes (data offset × 4). */
    public int headerLength()
    {
        return (Wire.u8(seg, off + 12) >>> 4) << 2;
    }

    /**
     * @param bytes header length in bytes, a multiple of 4.
     * @return this.
     */
    public TcpHeader headerLength(final int bytes)
    {
        Wire.u8(seg, off + 12, (bytes >>> 2) << 4);
        return this;
    }

    /** @return the flag bits (FIN..CWR). */
    public int flags()
    {
        return Wire.u8(seg, off + 13);
    }

    /**
     * @param v flag bits.
     * @return this.
     */
    public TcpHeader flags(final int v)
    {
        Wire.u8(seg, off + 13, v);
        return this;
    }

    /** @return window. */
    public int window()
    {
        return Wire.u16(seg, off + 14);
    }

    /**
     * @param v window.
     * @return this.
     */
    public TcpHeader window(final int v)
    {
        Wire.u16(seg, off + 14, v);
        return this;
    }

    /** @return checksum field. */
    public int checksum()
    {
        return Wire.u16(seg, off + CHECKSUM_OFFSET);
    }

    /**
     * @param v checksum field.
     * @return this.
     */
    public TcpHeader checksum(final int v)
    {
        Wire.u16(seg, off + CHECKSUM_OFFSET, v);
        return this;
    }

    /**
     * Computes and stores the checksum.
     *
     * @param src      source address of the enclosing IPv4 header.
     * @param dst      destination address of the enclosing IPv4 header.
     * @param segmentLength TCP header plus data, in bytes.
     * @return this.
     */
    public TcpHeader updateChecksum(final int src, final int dst, final int segmentLength)
    {
        checksum(0);
        checksum(Checksum.finish(Checksum.pseudoHeader(src, dst, Ip4Header.PROTO_TCP, segmentLength)
            + Checksum.sum(seg, off, segmentLength)));
        return this;
    }

    /**
     * @param src           source address of the enclosing IPv4 header.
     * @param dst           destination address of the enclosing IPv4 header.
     * @param segmentLength TCP header plus data, in bytes.
     * @return whether the checksum verifies.
     */
    public boolean checksumValid(final int src, final int dst, final int segmentLength)
    {
        return checksumValid(seg, off, src, dst, segmentLength);
    }

    /**
     * {@link #checksumValid(int, int, int)} without a flyweight, for code that reads headers by offset.
     *
     * @param mem           the memory holding the segment.
     * @param tcp           offset of the TCP header.
     * @param src           source address of the enclosing IPv4 header.
     * @param dst           destination address of the enclosing IPv4 header.
     * @param segmentLength TCP header plus data, in bytes.
     * @return whether the checksum verifies.
     */
    public static boolean checksumValid(final MemorySegment mem, final long tcp, final int src, final int dst,
        final int segmentLength)
    {
        return Checksum.fold(Checksum.pseudoHeader(src, dst, Ip4Header.PROTO_TCP, segmentLength)
            + Checksum.sum(mem, tcp, segmentLength)) == 0xffff;
    }
}
