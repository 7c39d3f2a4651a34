package dev.ferry.core.header;

import java.lang.foreign.MemorySegment;

/**
 * Flyweight over an IPv4 header (RFC 791); options are allowed and skipped via IHL.
 *
 * <pre>
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |Version|  IHL  |Type of Service|          Total Length         |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |         Identification        |Flags|      Fragment Offset    |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  Time to Live |    Protocol   |         Header Checksum       |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                       Source Address                          |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Destination Address                        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Options (IHL &gt; 5)                          |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * </pre>
 */
public final class Ip4Header
{
    /** Length without options. */
    public static final int MIN_LENGTH = 20;
    /** Protocol number of ICMP. */
    public static final int PROTO_ICMP = 1;
    /** Protocol number of TCP. */
    public static final int PROTO_TCP = 6;
    /** Protocol number of UDP. */
    public static final int PROTO_UDP = 17;
    /** Offset of the total length. */
    public static final int TOTAL_LENGTH_OFFSET = 2;
    /** Offset of the TTL. */
    public static final int TTL_OFFSET = 8;
    /** Offset of the header checksum. */
    public static final int CHECKSUM_OFFSET = 10;
    /** Offset of the source address. */
    public static final int SRC_OFFSET = 12;
    /** Offset of the destination address. */
    public static final int DST_OFFSET = 16;
    /** The don't-fragment flag in the flags/fragment word. */
    public static final int FLAG_DF = 0x4000;
    /** The more-fragments flag in the flags/fragment word. */
    public static final int FLAG_MF = 0x2000;

    private MemorySegment seg;
    private long off;

    /**
     * @param segment memory.
     * @param offset  absolute offset of the header.
     * @return this.
     */
    public Ip4Header wrap(final MemorySegment segment, final long offset)
    {
        this.seg = segment;
        this.off = offset;
        return this;
    }

    /** @return the memory the header is wrapped on. */
    public MemorySegment segment()
    {
        return seg;
    }

    /** @return the absolute offset of the header. */
    public long offset()
    {
        return off;
    }

    /** @return the version field. */
    public int version()
    {
        return Wire.u8(seg, off) >>> 4;
    }

    /** @return the header length in bytes (IHL × 4). */
    public int headerLength()
    {
        return (Wire.u8(seg, off) & 0x0f) << 2;
    }

    /**
     * Writes version 4 and the IHL.
     *
     * @param bytes header length in bytes, a multiple of 4.
     * @return this.
     */
    public Ip4Header versionAndHeaderLength(final int bytes)
    {
        Wire.u8(seg, off, 0x40 | (bytes >>> 2));
        return this;
    }

    /** @return the type-of-service byte. */
    public int tos()
    {
        return Wire.u8(seg, off + 1);
    }

    /**
     * @param v type-of-service byte.
     * @return this.
     */
    public Ip4Header tos(final int v)
    {
        Wire.u8(seg, off + 1, v);
        return this;
    }

    /** @return the total length. */
    public int totalLength()
    {
        return Wire.u16(seg, off + TOTAL_LENGTH_OFFSET);
    }

    /**
     * @param v total length.
     * @return this.
     */
    public Ip4Header totalLength(final int v)
    {
        Wire.u16(seg, off + TOTAL_LENGTH_OFFSET, v);
        return this;
    }

    /** @return the identification. */
    public int identification()
    {
        return Wire.u16(seg, off + 4);
    }

    /**
     * @param v identification.
     * @return this.
     */
    public Ip4Header identification(final int v)
    {
        Wire.u16(seg, off + 4, v);
        return this;
    }

    /** @return flags and fragment offset, as one 16-bit word. */
    public int flagsAndFragment()
    {
        return Wire.u16(seg, off + 6);
    }

    /**
     * @param v flags and fragment offset.
     * @return this.
     */
    public Ip4Header flagsAndFragment(final int v)
    {
        Wire.u16(seg, off + 6, v);
        return this;
    }

    /** @return whether DF is set. */
    public boolean dontFragment()
    {
        return (flagsAndFragment() & FLAG_DF) != 0;
    }

    /** @return the fragment offset in bytes (the 13-bit field times 8). */
    public int fragmentOffset()
    {
        return (flagsAndFragment() & 0x1fff) << 3;
    }

    /** @return whether this is a fragment other than the first (offset non-zero). */
    public boolean isLaterFragment()
    {
        return fragmentOffset() != 0;
    }

    /** @return whether this is any fragment (MF set or offset non-zero). */
    public boolean isFragment()
    {
        return (flagsAndFragment() & 0x3fff) != 0;
    }

    /** @return the TTL. */
    public int ttl()
    {
        return Wire.u8(seg, off + TTL_OFFSET);
    }

    /**
     * @param v TTL.
     * @return this.
     */
    public Ip4Header ttl(final int v)
    {
        Wire.u8(seg, off + TTL_OFFSET, v);
        return this;
    }

    /** @return the protocol. */
    public int protocol()
    {
        return Wire.u8(seg, off + 9);
    }

    /**
     * @param v protocol.
     * @return this.
     */
    public Ip4Header protocol(final int v)
    {
        Wire.u8(seg, off + 9, v);
        return this;
    }

    /** @return the header checksum field. */
    public int checksum()
    {
        return Wire.u16(seg, off + CHECKSUM_OFFSET);
    }

    /**
     * @param v header checksum field.
     * @return this.
     */
    public Ip4Header checksum(final int v)
    {
        Wire.u16(seg, off + CHECKSUM_OFFSET, v);
        return this;
    }

    /** @return the source address. */
    public int src()
    {
        return Wire.u32(seg, off + SRC_OFFSET);
    }

    /**
     * @param v source address (does not touch checksums).
     * @return this.
     */
    public Ip4Header src(final int v)
    {
        Wire.u32(seg, off + SRC_OFFSET, v);
        return this;
    }

    /** @return the destination address. */
    public int dst()
    {
        return Wire.u32(seg, off + DST_OFFSET);
    }

    /**
     * @param v destination address (does not touch checksums).
     * @return this.
     */
    public Ip4Header dst(final int v)
    {
        Wire.u32(seg, off + DST_OFFSET, v);
        return this;
    }

    /** @return whether the header checksum verifies (sum over the header folds to 0xffff). */
    public boolean checksumValid()
    {
        final int ihl = headerLength();
        // nearly every header has no options: five loads, no loop
        final long sum = ihl == MIN_LENGTH ? Checksum.sum20(seg, off) : Checksum.sum(seg, off, ihl);
        return Checksum.fold(sum) == 0xffff;
    }

    /**
     * Recomputes the header checksum from scratch.
     *
     * @return this.
     */
    public Ip4Header updateChecksum()
    {
        checksum(0);
        checksum(Checksum.compute(seg, off, headerLength()));
        return this;
    }

    /**
     * Decrements the TTL and patches the checksum incrementally (RFC 1624).
     *
     * @return this.
     */
    public Ip4Header decrementTtl()
    {
        final int oldWord = Wire.u16(seg, off + TTL_OFFSET);
        final int newWord = oldWord - 0x0100;
        Wire.u16(seg, off + TTL_OFFSET, newWord);
        checksum(Checksum.update16(checksum(), oldWord, newWord));
        return this;
    }

    /** @return the absolute offset of the payload (after options). */
    public long payloadOffset()
    {
        return off + headerLength();
    }

    /** @return the payload length according to the header. */
    public int payloadLength()
    {
        return totalLength() - headerLength();
    }
}
