package dev.ferry.core.header;

import java.lang.foreign.MemorySegment;

/**
 * Flyweight over an ARP packet for IPv4 over Ethernet (RFC 826).
 *
 * <pre>
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |     Hardware type (1)         |     Protocol type (0x0800)    |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  HLEN (6)     |  PLEN (4)     |          Operation            |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |              Sender hardware address (48)                     |
 * +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                               |  Sender protocol address (32) |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
 * |                               |                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
 * |              Target hardware address (48)                     |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |              Target protocol address (32)                     |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * </pre>
 */
public final class ArpHeader
{
    /** Length of an Ethernet/IPv4 ARP packet. */
    public static final int LENGTH = 28;
    /** Operation: request. */
    public static final int OP_REQUEST = 1;
    /** Operation: reply. */
    public static final int OP_REPLY = 2;

    private MemorySegment seg;
    private long off;

    /**
     * @param segment memory.
     * @param offset  absolute offset of the ARP header.
     * @return this.
     */
    public ArpHeader wrap(final MemorySegment segment, final long offset)
    {
        this.seg = segment;
        this.off = offset;
        return this;
    }

    /** @return whether this is Ethernet (1) / IPv4 (0x0800) with lengths 6 and 4. */
    public boolean isEthernetIp4()
    {
        return Wire.u16(seg, off) == 1 && Wire.u16(seg, off + 2) == 0x0800
            && Wire.u8(seg, off + 4) == 6 && Wire.u8(seg, off + 5) == 4;
    }

    /** @return the operation. */
    public int operation()
    {
        return Wire.u16(seg, off + 6);
    }

    /**
     * @param op the operation.
     * @return this.
     */
    public ArpHeader operation(final int op)
    {
        Wire.u16(seg, off + 6, op);
        return this;
    }

    /** @return sender MAC. */
    public long senderMac()
    {
        return Wire.u48(seg, off + 8);
    }

    /**
     * @param mac sender MAC.
     * @return this.
     */
    public ArpHeader senderMac(final long mac)
    {
        Wire.u48(seg, off + 8, mac);
        return this;
    }

    /** @return sender IPv4 address. */
    public int senderIp()
    {
        return Wire.u32(seg, off + 14);
    }

    /**
     * @param ip sender IPv4 address.
     * @return this.
     */
    public ArpHeader senderIp(final int ip)
    {
        Wire.u32(seg, off + 14, ip);
        return this;
    }

    /** @return target MAC. */
    public long targetMac()
    {
        return Wire.u48(seg, off + 18);
    }

    /**
     * @param mac target MAC.
     * @return this.
     */
    public ArpHeader targetMac(final long mac)
    {
        Wire.u48(seg, off + 18, mac);
        return this;
    }

    /** @return target IPv4 address. */
    public int targetIp()
    {
        return Wire.u32(seg, off + 24);
    }

    /**
     * @param ip target IPv4 address.
     * @return this.
     */
    public ArpHeader targetIp(final int ip)
    {
        Wire.u32(seg, off + 24, ip);
        return this;
    }

    /**
     * Writes the fixed Ethernet/IPv4 preamble (types and lengths).
     *
     * @return this.
     */
    public ArpHeader ethernetIp4()
    {
        Wire.u16(seg, off, 1);
        Wire.u16(seg, off + 2, 0x0800);
        Wire.u8(seg, off + 4, 6);
        Wire.u8(seg, off + 5, 4);
        return this;
    }
}
