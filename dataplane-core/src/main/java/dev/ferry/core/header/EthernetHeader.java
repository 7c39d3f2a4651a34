package dev.ferry.core.header;

import java.lang.foreign.MemorySegment;

/**
 * Flyweight over an Ethernet II header, with one optional 802.1Q tag.
 *
 * <pre>
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Destination MAC (48)                       |
 * +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                               |                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+        Source MAC (48)        +
 * |                                                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |   EtherType or TPID 0x8100    |  [PCP|DEI|VID] if tagged      |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |   [EtherType] if tagged       |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * </pre>
 */
public final class EthernetHeader
{
    /** Length of an untagged header. */
    public static final int LENGTH = 14;
    /** Length of a header with one 802.1Q tag. */
    public static final int LENGTH_TAGGED = 18;
    /** Offset of the destination MAC. */
    public static final int DST_OFFSET = 0;
    /** Offset of the source MAC. */
    public static final int SRC_OFFSET = 6;
    /** Offset of the EtherType (or TPID when tagged). */
    public static final int TYPE_OFFSET = 12;
    /** EtherType of IPv4. */
    public static final int TYPE_IP4 = 0x0800;
    /** EtherType of ARP. */
    public static final int TYPE_ARP = 0x0806;
    /** EtherType of IPv6. */
    public static final int TYPE_IP6 = 0x86dd;
    /** TPID of an 802.1Q tag. */
    public static final int TYPE_VLAN = 0x8100;
    /** The broadcast MAC. */
    public static final long BROADCAST = 0xffff_ffff_ffffL;

    private MemorySegment seg;
    private long off;

    /**
     * Points the flyweight at a header.
     *
     * @param segment memory.
     * @param offset  absolute offset of the header.
     * @return this.
     */
    public EthernetHeader wrap(final MemorySegment segment, final long offset)
    {
        this.seg = segment;
        this.off = offset;
        return this;
    }

    /** @return the destination MAC as 48 bits. */
    public long dst()
    {
        return Wire.u48(seg, off + DST_OFFSET);
    }

    /**
     * @param mac destination MAC as 48 bits.
     * @return this.
     */
    public EthernetHeader dst(final long mac)
    {
        Wire.u48(seg, off + DST_OFFSET, mac);
        return this;
    }

    /** @return the source MAC as 48 bits. */
    public long src()
    {
        return Wire.u48(seg, off + SRC_OFFSET);
    }

    /**
     * @param mac source MAC as 48 bits.
     * @return this.
     */
    public EthernetHeader src(final long mac)
    {
        Wire.u48(seg, off + SRC_OFFSET, mac);
        return this;
    }

    /** @return whether an 802.1Q tag follows the source MAC. */
    public boolean tagged()
    {
        return Wire.u16(seg, off + TYPE_OFFSET) == TYPE_VLAN;
    }

    /** @return the VLAN id, or -1 when untagged. */
    public int vlanId()
    {
        return tagged() ? Wire.u16(seg, off + 14) & 0x0fff : -1;
    }

    /** @return the EtherType of the payload (after the tag, if any). */
    public int etherType()
    {
        return tagged() ? Wire.u16(seg, off + 16) : Wire.u16(seg, off + TYPE_OFFSET);
    }

    /**
     * Writes an untagged EtherType.
     *
     * @param type the EtherType.
     * @return this.
     */
    public EthernetHeader etherType(final int type)
    {
        Wire.u16(seg, off + TYPE_OFFSET, type);
        return this;
    }

    /** @return header length: 14, or 18 when tagged. */
    public int headerLength()
    {
        return tagged() ? LENGTH_TAGGED : LENGTH;
    }

    /**
     * @param mac a MAC address.
     * @return whether it is a group (multicast or broadcast) address.
     */
    public static boolean isGroup(final long mac)
    {
        return (mac & 0x0100_0000_0000L) != 0;
    }
}
