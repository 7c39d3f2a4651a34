package dev.ferry.conntrack;

import dev.ferry.core.route.Ip4;

/**
 * Formats entries as {@code conntrack -L} prints them (conntrack-tools with accounting on): protocol name
 * padded to 8 columns, protocol number, seconds left, TCP state, the original tuple with its counters,
 * {@code [UNREPLIED]} when no reply was seen, the reply tuple with its counters, {@code [ASSURED]}, mark, zone,
 * use. The table's owner copies entries ({@link #copy}); any thread formats the copies.
 */
final class ConntrackFormat
{
    private static final long NANOS = 1_000_000_000L;

    private ConntrackFormat()
    {
    }

    static void line(final ConntrackEntry c, final StringBuilder sb)
    {
        final int proto = c.protocol();
        final String name = c.protocolName();
        sb.append(name);
        for (int i = name.length(); i < 8; i++)
        {
            sb.append(' ');
        }
        sb.append(' ').append(proto).append(' ').append(c.secondsLeft()).append(' ');
        if (proto == ConntrackTable.TCP)
        {
            sb.append(TcpState.name(c.tcpState())).append(' ');
        }
        tuple(sb, proto, c.origSrc(), c.origDst(), c.origSrcPort(), c.origDstPort(), 8);
        counters(sb, c.origPackets(), c.origBytes());
        if (!c.seenReply())
        {
            sb.append("[UNREPLIED] ");
        }
        tuple(sb, proto, c.replySrc(), c.replyDst(), c.replySrcPort(), c.replyDstPort(), 0);
        counters(sb, c.replyPackets(), c.replyBytes());
        if (c.assured())
        {
            sb.append("[ASSURED] ");
        }
        sb.append("mark=").append(Integer.toUnsignedString(c.mark()))
            .append(" zone=").append(c.zone())
            .append(" use=1");
    }

    /**
     * Copies one live entry's values (the table's owner thread).
     *
     * @param t   the table.
     * @param e   a live entry.
     * @param now the clock.
     * @return the copy.
     */
    static ConntrackEntry copy(final ConntrackTable t, final int e, final long now)
    {
        final int proto = t.protocol(e);
        return new ConntrackEntry(proto, Math.max(0, t.expiresAt(e) - now) / NANOS,
            proto == ConntrackTable.TCP ? t.tcpState(e) : 0, t.origSrc(e), t.origDst(e), t.origSrcPort(e),
            t.origDstPort(e), t.replySrc(e), t.replyDst(e), t.replySrcPort(e), t.replyDstPort(e), t.seenReply(e),
            t.assured(e), t.mark(e), t.zone(e), t.packets(e, ConntrackTable.ORIGINAL),
            t.bytes(e, ConntrackTable.ORIGINAL), t.packets(e, ConntrackTable.REPLY), t.bytes(e, ConntrackTable.REPLY));
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

    private static void counters(final StringBuilder sb, final long packets, final long bytes)
    {
        sb.append("packets=").append(packets).append(" bytes=").append(bytes).append(' ');
    }
}
