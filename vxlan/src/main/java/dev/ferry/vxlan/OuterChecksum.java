package dev.ferry.vxlan;

import dev.ferry.core.header.Checksum;
import dev.ferry.core.header.EthernetHeader;
import dev.ferry.core.header.Ip4Header;
import dev.ferry.core.header.UdpHeader;
import dev.ferry.core.header.Wire;

import java.lang.foreign.MemorySegment;

/**
 * The outer UDP checksum of a VXLAN datagram from its headers alone, as Linux's local checksum offload
 * ({@code lco_csum}, Documentation/networking/checksum-offloads.rst) does, with the full sum as the fallback.
 *
 * <p>The outer datagram is [UDP 8][VXLAN 8][inner Ethernet 14][inner IPv4 header][inner L4]. Its checksum is the
 * complement of (outer pseudo-header + the ones'-complement sum of those bytes). Two of those pieces are known
 * without reading them:
 * <ul>
 * <li>the inner IPv4 header, checksum field included, sums to 0 (mod 0xffff) when its checksum verifies. ip4-input
 *     verified it, and every stage since changed it with RFC 1624 updates (TTL, NAT); packets ferry originates are
 *     built with a computed checksum;</li>
 * <li>the inner TCP segment or UDP datagram, checksum field included, sums to minus its pseudo-header when its
 *     checksum verifies (ICMP: to 0, it has no pseudo-header).</li>
 * </ul>
 * So the datagram's sum is congruent to: the 30 bytes of outer UDP, VXLAN and inner Ethernet headers (in the cache:
 * just written) plus the complement of the inner pseudo-header. Both that and the full sum are positive (the
 * outer UDP port is not 0), so they fold to the same 16-bit value: the checksum is byte-identical to the full
 * computation whenever the inner checksums verify. The inner L4 segment starts at an even offset of the outer
 * datagram (30 + a multiple of 4) and ends where it does, so an odd last byte pads the same way in both sums.
 *
 * <p>Not used (the full sum instead) when the inner sum is not pinned by a checksum: fragments (the L4 checksum
 * covers the whole datagram, not this piece), a UDP datagram without checksum (0) or whose UDP length is not the
 * IP payload length (bytes after it are in the outer datagram but not in the inner checksum), a TCP payload
 * shorter than a TCP header, and protocols other than TCP, UDP and ICMP.
 *
 * <p>A pod that sends a segment with a wrong inner checksum: the outer checksum then is wrong too, by the same
 * amount (the outer sum differs from the true one exactly by the inner error), so the peer's kernel drops the
 * datagram at the UDP layer ({@code UDP_MIB_CSUMERRORS}) instead of at the inner TCP layer with the full sum. Either
 * way the corrupted data is not delivered: an outer checksum computed here verifies exactly when the inner
 * checksums do, so ferry never vouches for bytes that the inner checksum does not cover (Linux's LCO transmits
 * the same way). The only visible difference is which counter the peer increments for a pod's bad segments.
 */
final class OuterChecksum
{
    /** Outer UDP + VXLAN + inner Ethernet: the bytes before the inner IPv4 header. */
    static final int HEADERS = UdpHeader.LENGTH + VxlanHeader.LENGTH + EthernetHeader.LENGTH;

    private OuterChecksum()
    {
    }

    /**
     * Writes the outer UDP checksum of an encapsulated datagram whose length field is set.
     *
     * @param mem      packet memory.
     * @param udpOff   absolute offset of the outer UDP header.
     * @param localIp  outer source address.
     * @param remoteIp outer destination address.
     */
    static void write(final MemorySegment mem, final long udpOff, final int localIp, final int remoteIp)
    {
        Wire.u16(mem, udpOff + 6, 0);
        final int len = Wire.u16(mem, udpOff + 4);
        final long pseudo = Checksum.pseudoHeader(localIp, remoteIp, Ip4Header.PROTO_UDP, len);
        final long innerIp = udpOff + HEADERS;
        final long inner = innerSum(mem, innerIp, len - HEADERS);
        final long sum = inner >= 0
            ? pseudo + Checksum.sum(mem, udpOff, HEADERS) + inner
            : pseudo + Checksum.sum(mem, udpOff, len);
        final int c = Checksum.finish(sum);
        Wire.u16(mem, udpOff + 6, c == 0 ? 0xffff : c);
    }

    /**
     * Writes the outer UDP checksum without reading the 30 header bytes back: their sum and the pseudo-header's
     * come from values the caller holds (the VTEP's constant part, the source port, the length, the inner MACs).
     * The same 16-bit result as {@link #write}: both sums are positive and congruent modulo 0xffff.
     *
     * @param mem     packet memory.
     * @param udpOff  absolute offset of the outer UDP header.
     * @param base    the VTEP's {@link VtepTable#udpSumBase}: pseudo-header without length, UDP and VXLAN
     *                headers with source port, length and checksum zero.
     * @param srcPort the outer source port written.
     * @param udpLen  the outer UDP length written.
     * @param ethSum  the sum of the inner Ethernet header ({@link #ethernetSum}).
     * @return false, writing nothing, when the inner checksums do not pin the inner sum: then call {@link #write}.
     */
    static boolean writeFromHeaders(final MemorySegment mem, final long udpOff, final long base, final int srcPort,
        final int udpLen, final long ethSum)
    {
        final long inner = innerSum(mem, udpOff + HEADERS, udpLen - HEADERS);
        if (inner < 0)
        {
            return false;
        }
        // the length counts twice: in the pseudo-header and in the UDP header
        final int c = Checksum.finish(base + 2L * udpLen + srcPort + ethSum + inner);
        Wire.u16(mem, udpOff + 6, c == 0 ? 0xffff : c);
        return true;
    }

    /**
     * @param dstMac inner destination MAC.
     * @param srcMac inner source MAC.
     * @return the ones'-complement sum (unfolded) of an inner Ethernet header carrying IPv4 with those MACs.
     */
    static long ethernetSum(final long dstMac, final long srcMac)
    {
        return (dstMac >>> 32 & 0xffff) + (dstMac >>> 16 & 0xffff) + (dstMac & 0xffff)
            + (srcMac >>> 32 & 0xffff) + (srcMac >>> 16 & 0xffff) + (srcMac & 0xffff) + EthernetHeader.TYPE_IP4;
    }

    /**
     * The sum of the inner IPv4 packet (header and payload) as its checksums pin it, or -1 when they do not.
     *
     * @param mem    packet memory.
     * @param ipOff  absolute offset of the inner IPv4 header.
     * @param ipLen  bytes of the inner packet in the datagram (its total length).
     * @return a non-negative partial sum congruent to the sum of the packet's bytes, or -1.
     */
    static long innerSum(final MemorySegment mem, final long ipOff, final int ipLen)
    {
        final int ihl = (Wire.u8(mem, ipOff) & 0x0f) << 2;
        final int total = Wire.u16(mem, ipOff + Ip4Header.TOTAL_LENGTH_OFFSET);
        // MF or a fragment offset: this piece's L4 bytes are not what its checksum covers
        if (total != ipLen || ihl < Ip4Header.MIN_LENGTH || (Wire.u16(mem, ipOff + 6) & 0x3fff) != 0)
        {
            return -1;
        }
        final int proto = Wire.u8(mem, ipOff + 9);
        final int l4Len = total - ihl;
        final long l4 = ipOff + ihl;
        if (proto == Ip4Header.PROTO_TCP)
        {
            if (l4Len < 20)
            {
                return -1;
            }
        }
        else if (proto == Ip4Header.PROTO_UDP)
        {
            if (l4Len < UdpHeader.LENGTH || Wire.u16(mem, l4 + 4) != l4Len || Wire.u16(mem, l4 + 6) == 0)
            {
                return -1;
            }
        }
        else if (proto == Ip4Header.PROTO_ICMP)
        {
            // no pseudo-header: a verifying ICMP message sums to 0
            return l4Len < 4 ? -1 : 0;
        }
        else
        {
            return -1;
        }
        final long pseudo = Checksum.pseudoHeader(Wire.u32(mem, ipOff + 12), Wire.u32(mem, ipOff + 16), proto, l4Len);
        // the segment sums to minus its pseudo-header: 0xffff - x is -x modulo 0xffff
        return 0xffff - Checksum.fold(pseudo);
    }

    /**
     * The full computation over every byte, for tests and comparison.
     *
     * @param mem      packet memory.
     * @param udpOff   absolute offset of the outer UDP header.
     * @param localIp  outer source address.
     * @param remoteIp outer destination address.
     */
    static void writeFull(final MemorySegment mem, final long udpOff, final int localIp, final int remoteIp)
    {
        new UdpHeader().wrap(mem, udpOff).updateChecksum(localIp, remoteIp);
    }
}
