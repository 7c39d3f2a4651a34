package dev.ferry.core.header;

import java.lang.foreign.MemorySegment;

/**
 * Flyweight over an ICMPv4 header (RFC 792). For echo the rest-of-header holds identifier and sequence;
 * for "fragmentation needed" (type 3 code 4) its low 16 bits hold the next-hop MTU (RFC 1191).
 *
 * <pre>
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |     Type      |     Code      |          Checksum             |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |     Identifier / unused       |  Sequence / next-hop MTU      |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |     Data (errors: the offending IP header + 8 bytes) ...
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-
 * </pre>
 */
public final class IcmpHeader
{
    /** Header length. */
    public static final int LENGTH = 8;
    /** Type: echo reply. */
    public static final int TYPE_ECHO_REPLY = 0;
    /** Type: destination unreachable. */
    public static final int TYPE_DEST_UNREACHABLE = 3;
    /** Type: echo request. */
    public static final int TYPE_ECHO_REQUEST = 8;
    /** Type: time exceeded. */
    public static final int TYPE_TIME_EXCEEDED = 11;
    /** Code for destination unreachable: network unreachable. */
    public static final int CODE_NET_UNREACHABLE = 0;
    /** Code for destination unreachable: host unreachable. */
    public static final int CODE_HOST_UNREACHABLE = 1;
    /** Code for destination unreachable: port unreachable. */
    public static final int CODE_PORT_UNREACHABLE = 3;
    /** Code for destination unreachable: fragmentation needed and DF set. */
    public static final int CODE_FRAG_NEEDED = 4;
    /** Code for destination unreachable: communication administratively prohibited. */
    public static final int CODE_ADMIN_PROHIBITED = 13;
    /** Code for time exceeded: TTL exceeded in transit. */
    public static final int CODE_TTL_EXCEEDED = 0;

    private MemorySegment seg;
    private long off;

    /**
     * @param segment memory.
     * @param offset  absolute offset of the header.
     * @return this.
     */
    public IcmpHeader wrap(final MemorySegment segment, final long offset)
    {
        this.seg = segment;
        this.off = offset;
        return this;
    }

    /** @return type. */
    public int type()
    {
        return Wire.u8(seg, off);
    }

    /**
     * @param v type.
     * @return this.
     */
    public IcmpHeader type(final int v)
    {
        Wire.u8(seg, off, v);
        return this;
    }

    /** @return code. */
    public int code()
    {
        return Wire.u8(seg, off + 1);
    }

    /**
     * @param v code.
     * @return this.
     */
    public IcmpHeader code(final int v)
    {
        Wire.u8(seg, off + 1, v);
        return this;
    }

    /** @return checksum field. */
    public int checksum()
    {
        return Wire.u16(seg, off + 2);
    }

    /**
     * @param v checksum field.
     * @return this.
     */
    public IcmpHeader checksum(final int v)
    {
        Wire.u16(seg, off + 2, v);
        return this;
    }

    /** @return echo identifier (first half of rest-of-header). */
    public int identifier()
    {
        return Wire.u16(seg, off + 4);
    }

    /**
     * @param v echo identifier.
     * @return this.
     */
    public IcmpHeader identifier(final int v)
    {
        Wire.u16(seg, off + 4, v);
        return this;
    }

    /** @return echo sequence, or next-hop MTU for fragmentation needed (second half). */
    public int sequence()
    {
        return Wire.u16(seg, off + 6);
    }

    /**
     * @param v echo sequence or next-hop MTU.
     * @return this.
     */
    public IcmpHeader sequence(final int v)
    {
        Wire.u16(seg, off + 6, v);
        return this;
    }

    /**
     * @param v the whole 32-bit rest-of-header.
     * @return this.
     */
    public IcmpHeader restOfHeader(final int v)
    {
        Wire.u32(seg, off + 4, v);
        return this;
    }

    /** @return whether this type is an error that quotes an offending packet. */
    public boolean isError()
    {
        final int t = type();
        return t == TYPE_DEST_UNREACHABLE || t == TYPE_TIME_EXCEEDED || t == 4 || t == 5 || t == 12;
    }

    /**
     * Computes and stores the checksum over header and data.
     *
     * @param length ICMP message length in bytes.
     * @return this.
     */
    public IcmpHeader updateChecksum(final int length)
    {
        checksum(0);
        checksum(Checksum.compute(seg, off, length));
        return this;
    }

    /**
     * @param length ICMP message length in bytes.
     * @return whether the checksum verifies.
     */
    public boolean checksumValid(final int length)
    {
        return Checksum.fold(Checksum.sum(seg, off, length)) == 0xffff;
    }
}
