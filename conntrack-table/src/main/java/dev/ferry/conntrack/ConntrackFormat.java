package dev.ferry.conntrack;

import dev.ferry.core.route.Ip4;

/**
 * Formats entries as {@code conntrack -L} prints them (conntrack-tools with accounting on): protocol name
 * padded to 8 columns, protocol number, seconds left, TCP state, the original tuple with its counters,
 * {@code [UNREPLIED]} when no reply was seen, the reply tuple with its counters, {@code [ASSURED]}, mark, zone,
 * use. Control side only.
 */
final class ConntrackFormat
{
    private static final long NANOS = 1_000_000_000L;

    private ConntrackFormat()
    {
    }

    static void line(final ConntrackTable t, final int e, final long now, final StringBuilder sb)
    {
        final int proto = t.protocol(e);
        final String name = switch (proto)
        {
            case ConntrackTable.TCP -> "tcp";
            case ConntrackTable.UDP -> "udp";
            case ConntrackTable.ICMP -> "icmp";
            default -> "unknown";
        };
        sb.append(name);
        for (int i = name.length(); i < 8; i++)
        {
            sb.append(' ');
        }
        sb.append(' ').append(proto).append(' ').append(Math.max(0, t.expiresAt(e) - now) / NANOS).append(' ');
        if (proto == ConntrackTable.TCP)
        {
            sb.append(TcpState.name(t.tcpState(e))).append(' ');
        }
        tuple(sb, proto, t.origSrc(e), t.origDst(e), t.origSrcPort(e), t.origDstPort(e), 8);
        counters(sb, t, e, ConntrackTable.ORIGINAL);
        if (!t.seenReply(e))
        {
            sb.append("[UNREPLIED] ");
        }
        tuple(sb, proto, t.replySrc(e), t.replyDst(e), t.replySrcPort(e), t.replyDstPort(e), 0);
        counters(sb, t, e, ConntrackTable.REPLY);
        if (t.assured(e))
        {
            sb.append("[ASSURED] ");
        }
        sb.append("mark=").append(Integer.toUnsignedString(t.mark(e)))
            .append(" zone=").append(t.zone(e))
            .append(" use=1");
    }

    private static void tuple(final StringBuilder sb, final int proto, final int src, final int dst,
        final int srcPort, final int dstPort, final int icmpType)
    {
        sb.append("src=").append(Ip4.format(src)).append(" dst=").append(Ip4.format(dst)).append(' ');
        if (proto == ConntrackTable.TCP || proto == ConntrackTable.UDP)
        {
            sb.append("sport=").append(srcPort).append(" dport=").append(dstPort).append(' ');
        }
        else if (proto == ConntrackTable.ICMP)
        {
            sb.append("type=").append(icmpType).append(" code=0 id=").append(srcPort).append(' ');
        }
    }

    private static void counters(final StringBuilder sb, final ConntrackTable t, final int e, final int dir)
    {
        sb.append("packets=").append(t.packets(e, dir)).append(" bytes=").append(t.bytes(e, dir)).append(' ');
    }
}
