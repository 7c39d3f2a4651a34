package dev.ferry.vxlan;

import dev.ferry.core.header.Wire;

import java.lang.foreign.MemorySegment;

/**
 * Flyweight over the 8-byte VXLAN header (RFC 7348 section 5).
 *
 * <pre>
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |R|R|R|R|I|R|R|R|            Reserved                           |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                VXLAN Network Identifier (VNI) |   Reserved    |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * </pre>
 *
 * <p>The I flag says the VNI is valid. RFC 7348 asks receivers to ignore the reserved bits; Linux drops a
 * frame with any of them set ({@code vxlan_rcv}: "treat this as a malformed packet"), and so does ferry, so
 * both ends of a mixed cluster agree. Wire order is big-endian.
 */
public final class VxlanHeader
{
    /** Header length in bytes. */
    public static final int LENGTH = 8;
    /** The I flag in the first 32-bit word. */
    public static final int FLAG_I_WORD = 0x0800_0000;
    /** Bytes that encapsulation adds in front of the inner frame: Ethernet 14, IPv4 20, UDP 8, VXLAN 8. */
    public static final int ENCAP_OVERHEAD = 50;
    /** Largest VNI (24 bits). */
    public static final int MAX_VNI = 0xff_ffff;

    private MemorySegment seg;
    private long off;

    /**
     * Points the flyweight at a header.
     *
     * @param segment memory holding the header.
     * @param offset  absolute offset of the first byte.
     * @return this.
     */
    public VxlanHeader wrap(final MemorySegment segment, final long offset)
    {
        this.seg = segment;
        this.off = offset;
        return this;
    }

    /** @return the first 32-bit word: flags and the first reserved field. */
    public int flagsWord()
    {
        return Wire.u32(seg, off);
    }

    /** @return the second 32-bit word: VNI and the last reserved byte. */
    public int vniWord()
    {
        return Wire.u32(seg, off + 4);
    }

    /** @return whether the I (valid VNI) flag is set. */
    public boolean validVni()
    {
        return (flagsWord() & FLAG_I_WORD) != 0;
    }

    /** @return whether any reserved bit (flags other than I, or a reserved field) is set. */
    public boolean reservedBitsSet()
    {
        return (flagsWord() & ~FLAG_I_WORD) != 0 || (vniWord() & 0xff) != 0;
    }

    /** @return the 24-bit VNI. */
    public int vni()
    {
        return vniWord() >>> 8;
    }

    /**
     * Writes a complete header: I flag set, reserved fields zero.
     *
     * @param vni the 24-bit VNI.
     * @return this.
     */
    public VxlanHeader vni(final int vni)
    {
        Wire.u32(seg, off, FLAG_I_WORD);
        Wire.u32(seg, off + 4, (vni & MAX_VNI) << 8);
        return this;
    }
}
