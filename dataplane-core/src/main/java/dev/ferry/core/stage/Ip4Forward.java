package dev.ferry.core.stage;

import dev.ferry.core.PacketPool;
import dev.ferry.core.header.IcmpHeader;
import dev.ferry.core.header.Ip4Header;
import dev.ferry.core.header.Wire;

/**
 * The checks every forwarding stage makes before it sends a packet on (ip4-rewrite to a link, vxlan-encap into
 * the tunnel): TTL (RFC 1812 5.3.1) and the link MTU with DF (RFC 1191). One place, so both answer the same.
 */
public final class Ip4Forward
{
    /** The packet may be forwarded. */
    public static final int FORWARD = 0;
    /** An ICMP error was requested ({@link IcmpError#request}): send the packet to {@code icmp-error}. */
    public static final int ICMP_ERROR = 1;
    /** Larger than the MTU with DF clear: ferry does not fragment, the caller drops and counts it. */
    public static final int TOO_BIG_NO_DF = 2;

    private Ip4Forward()
    {
    }

    /**
     * Checks a packet about to be forwarded; requests time-exceeded or fragmentation-needed where due.
     *
     * @param pool  the pool (the ICMP request is stored in the packet's metadata).
     * @param h     packet handle.
     * @param ip    the packet's IPv4 header, wrapped.
     * @param local whether this node originated the packet (no TTL check).
     * @param mtu   the MTU of the link behind the adjacency, 0 when unchecked.
     * @return {@link #FORWARD}, {@link #ICMP_ERROR} or {@link #TOO_BIG_NO_DF}.
     */
    public static int check(final PacketPool pool, final int h, final Ip4Header ip, final boolean local,
        final int mtu)
    {
        if (!local && ip.ttl() <= 1)
        {
            IcmpError.request(pool, h, IcmpHeader.TYPE_TIME_EXCEEDED, IcmpHeader.CODE_TTL_EXCEEDED, 0);
            return ICMP_ERROR;
        }
        if (mtu > 0 && ip.totalLength() > mtu && segmentLength(pool, h, ip) > mtu)
        {
            if (ip.dontFragment())
            {
                IcmpError.request(pool, h, IcmpHeader.TYPE_DEST_UNREACHABLE, IcmpHeader.CODE_FRAG_NEEDED, mtu);
                return ICMP_ERROR;
            }
            return TOO_BIG_NO_DF;
        }
        return FORWARD;
    }

    /**
     * The length that has to fit the MTU: the packet's, or for a TCP superframe its largest segment's (IPv4 and TCP
     * headers plus the segment size), as the kernel's {@code skb_gso_validate_network_len}. A superframe whose
     * segments fit is not too big: it is delivered whole to a pod, or segmented before a link that needs it.
     */
    static int segmentLength(final PacketPool pool, final int h, final Ip4Header ip)
    {
        final int gsoSize = pool.gsoSize(h);
        final int total = ip.totalLength();
        if (gsoSize == 0 || ip.protocol() != Ip4Header.PROTO_TCP || ip.payloadLength() < 20)
        {
            return total;
        }
        final int doff = (Wire.u8(ip.segment(), ip.payloadOffset() + 12) >>> 4) * 4;
        return Math.min(total, ip.headerLength() + doff + gsoSize);
    }
}
