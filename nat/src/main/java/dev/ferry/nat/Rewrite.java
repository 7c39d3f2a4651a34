package dev.ferry.nat;

import dev.ferry.core.header.Checksum;
import dev.ferry.core.header.Ip4Header;
import dev.ferry.core.header.Wire;

import java.lang.foreign.MemorySegment;

/**
 * Rewrites the addresses and ports of an IPv4 packet in place and patches every checksum incrementally
 * (RFC 1624): the IP header checksum, the TCP or UDP checksum through its pseudo-header (a UDP checksum of
 * 0 stays 0), and the ICMP checksum when an echo identifier changes.
 *
 * <p>Works on packets quoted inside ICMP errors too: {@code l4Avail} says how many bytes of the L4 header
 * are present, and a checksum that was not quoted is left alone.
 */
final class Rewrite
{
    private Rewrite()
    {
    }

    /**
     * Rewrites the IPv4 addresses only, patching the header checksum: a fragment after the first, whose L4 header
     * (and checksum) travels in the first fragment.
     *
     * @param mem   packet memory.
     * @param ipOff absolute offset of the IPv4 header.
     * @param src   new source address.
     * @param dst   new destination address.
     */
    static void addresses(final MemorySegment mem, final long ipOff, final int src, final int dst)
    {
        addresses(mem, ipOff, Wire.u32(mem, ipOff + Ip4Header.SRC_OFFSET), Wire.u32(mem, ipOff + Ip4Header.DST_OFFSET),
            src, dst);
    }

    /**
     * {@link #addresses(MemorySegment, long, int, int)} with the old addresses already read: an address that does not
     * change leaves the header checksum alone.
     */
    private static void addresses(final MemorySegment mem, final long ipOff, final int oldSrc, final int oldDst,
        final int src, final int dst)
    {
        int ipSum = Wire.u16(mem, ipOff + Ip4Header.CHECKSUM_OFFSET);
        if (oldSrc != src)
        {
            ipSum = Checksum.update32(ipSum, oldSrc, src);
            Wire.u32(mem, ipOff + Ip4Header.SRC_OFFSET, src);
        }
        if (oldDst != dst)
        {
            ipSum = Checksum.update32(ipSum, oldDst, dst);
            Wire.u32(mem, ipOff + Ip4Header.DST_OFFSET, dst);
        }
        Wire.u16(mem, ipOff + Ip4Header.CHECKSUM_OFFSET, ipSum);
    }

    /**
     * @param mem     packet memory.
     * @param ipOff   absolute offset of the IPv4 header.
     * @param l4Off   absolute offset of the L4 header.
     * @param l4Avail bytes of L4 header and data present.
     * @param proto   IP protocol.
     * @param src     new source address.
     * @param dst     new destination address.
     * @param sport   new source port (ICMP echo: new identifier).
     * @param dport   new destination port (ignored for ICMP).
     */
    static void apply(final MemorySegment mem, final long ipOff, final long l4Off, final int l4Avail,
        final int proto, final int src, final int dst, final int sport, final int dport)
    {
        apply(mem, ipOff, l4Off, l4Avail, proto, src, dst, sport, dport, false);
    }

    /**
     * As {@link #apply(MemorySegment, long, long, int, int, int, int, int, int)}, for a packet whose TCP/UDP
     * checksum may be partial (checksum offload, a TSO superframe from a pod's TAP): the field then holds the
     * pseudo-header sum itself, not complemented, and whoever completes it sums the header and payload as they
     * are on the wire. So only the addresses (in the pseudo-header) are patched in, added rather than
     * complemented; the ports are not, since the final sum reads them from the header.
     *
     * @param partial whether the checksum field holds the partial (pseudo-header) sum.
     */
    static void apply(final MemorySegment mem, final long ipOff, final long l4Off, final int l4Avail,
        final int proto, final int src, final int dst, final int sport, final int dport, final boolean partial)
    {
        final int oldSrc = Wire.u32(mem, ipOff + Ip4Header.SRC_OFFSET);
        final int oldDst = Wire.u32(mem, ipOff + Ip4Header.DST_OFFSET);
        addresses(mem, ipOff, src, dst);
        if (proto == Ip4Header.PROTO_TCP || proto == Ip4Header.PROTO_UDP)
        {
            if (l4Avail < 4)
            {
                return;
            }
            final int oldSport = Wire.u16(mem, l4Off);
            final int oldDport = Wire.u16(mem, l4Off + 2);
            Wire.u16(mem, l4Off, sport);
            Wire.u16(mem, l4Off + 2, dport);
            final boolean tcp = proto == Ip4Header.PROTO_TCP;
            final long sumOff = l4Off + (tcp ? 16 : 6);
            if (l4Avail < (tcp ? 18 : 8))
            {
                return;
            }
            int c = Wire.u16(mem, sumOff);
            if (partial)
            {
                // RFC 1624 on the complement: ~partial is what a complete checksum of the pseudo-header would be
                c = partialAddresses(c, oldSrc, src, oldDst, dst);
            }
            else if (tcp)
            {
                c = fourWords(c, oldSrc, src, oldDst, dst, oldSport, sport, oldDport, dport);
            }
            else if (c != 0)
            {
                // UDP: 0 means no checksum and stays 0; a computed 0 is sent as all ones (RFC 768)
                c = fourWords(c, oldSrc, src, oldDst, dst, oldSport, sport, oldDport, dport);
                c = c == 0 ? 0xffff : c;
            }
            Wire.u16(mem, sumOff, c);
        }
        else if (proto == Ip4Header.PROTO_ICMP && l4Avail >= 6)
        {
            final int oldId = Wire.u16(mem, l4Off + 4);
            if (oldId != sport)
            {
                Wire.u16(mem, l4Off + 4, sport);
                Wire.u16(mem, l4Off + 2, Checksum.update16(Wire.u16(mem, l4Off + 2), oldId, sport));
            }
        }
    }

    /**
     * {@link #apply} for a whole TCP or UDP header (at least 18 or 8 bytes present) whose addresses and ports the
     * caller has already read (nat44-in's batch parses each packet once): only the two checksum fields are read
     * again. The same bytes as {@link #apply}; small enough for the JIT to inline into the per-packet loop, which
     * {@link #apply} is not.
     *
     * @param tcp      TCP (else UDP).
     * @param oldSrc   the packet's source address.
     * @param oldDst   the packet's destination address.
     * @param oldPorts the packet's source port (high half) and destination port (low half).
     * @param partial  whether the checksum field holds the partial (pseudo-header) sum.
     */
    static void parsed(final MemorySegment mem, final long ipOff, final long l4Off, final boolean tcp,
        final int oldSrc, final int oldDst, final int oldPorts, final int src, final int dst, final int sport,
        final int dport, final boolean partial)
    {
        addresses(mem, ipOff, oldSrc, oldDst, src, dst);
        Wire.u32(mem, l4Off, sport << 16 | dport & 0xffff);
        final long sumOff = l4Off + (tcp ? 16 : 6);
        int c = Wire.u16(mem, sumOff);
        if (partial)
        {
            c = partialAddresses(c, oldSrc, src, oldDst, dst);
        }
        else if (tcp || c != 0)
        {
            c = fourWords(c, oldSrc, src, oldDst, dst, oldPorts >>> 16, sport, oldPorts & 0xffff, dport);
            // UDP: 0 means no checksum and stays 0; a computed 0 is sent as all ones (RFC 768)
            c = c == 0 && !tcp ? 0xffff : c;
        }
        Wire.u16(mem, sumOff, c);
    }

    /** A partial (pseudo-header) checksum field with new addresses: see {@link #apply}. */
    private static int partialAddresses(final int field, final int oldSrc, final int src, final int oldDst,
        final int dst)
    {
        int c = ~Checksum.update32(~field & 0xffff, oldSrc, src) & 0xffff;
        c = ~Checksum.update32(~c & 0xffff, oldDst, dst) & 0xffff;
        return c;
    }

    /**
     * RFC 1624 update of an L4 checksum for new addresses and ports, with one fold: the same result as four
     * {@link Checksum#update32}/{@link Checksum#update16} steps in a row (each step's folded sum is congruent to its
     * unfolded one and is 0 only when that is 0, so folding once at the end gives the same 16 bits).
     *
     * @return the new checksum field.
     */
    static int fourWords(final int checksum, final int oldSrc, final int src, final int oldDst, final int dst,
        final int oldSport, final int sport, final int oldDport, final int dport)
    {
        final long s = (~checksum & 0xffff)
            + (~oldSrc >>> 16 & 0xffff) + (~oldSrc & 0xffff) + (src >>> 16) + (src & 0xffff)
            + (~oldDst >>> 16 & 0xffff) + (~oldDst & 0xffff) + (dst >>> 16) + (dst & 0xffff)
            + (~oldSport & 0xffff) + sport + (~oldDport & 0xffff) + dport;
        return ~Checksum.fold(s) & 0xffff;
    }
}
