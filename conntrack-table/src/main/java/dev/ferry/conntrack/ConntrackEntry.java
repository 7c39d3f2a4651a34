package dev.ferry.conntrack;

/**
 * One flow as copied out of the table by {@link ConntrackTable#entries}: plain values, so that the thread that
 * owns the table copies (cheap, bounded) and another thread formats ({@link #format}).
 *
 * @param protocol      IP protocol.
 * @param secondsLeft   seconds until the entry expires, as of the copy.
 * @param tcpState      TCP state ({@link TcpState}), for TCP.
 * @param origSrc       original direction source address.
 * @param origDst       original direction destination address.
 * @param origSrcPort   original direction source port (ICMP: the echo id).
 * @param origDstPort   original direction destination port.
 * @param replySrc      reply direction source address.
 * @param replyDst      reply direction destination address.
 * @param replySrcPort  reply direction source port.
 * @param replyDstPort  reply direction destination port.
 * @param seenReply     whether a reply was seen.
 * @param assured       whether the entry is assured.
 * @param mark          the mark.
 * @param zone          the zone.
 * @param origPackets   packets in the original direction.
 * @param origBytes     bytes in the original direction.
 * @param replyPackets  packets in the reply direction.
 * @param replyBytes    bytes in the reply direction.
 */
public record ConntrackEntry(int protocol, long secondsLeft, int tcpState, int origSrc, int origDst, int origSrcPort,
    int origDstPort, int replySrc, int replyDst, int replySrcPort, int replyDstPort, boolean seenReply,
    boolean assured, int mark, int zone, long origPackets, long origBytes, long replyPackets, long replyBytes)
{
    /** @return the entry as one {@code conntrack -L} line, without the newline. */
    public String format()
    {
        final StringBuilder sb = new StringBuilder(256);
        ConntrackFormat.line(this, sb);
        return sb.toString();
    }

    /** @return the protocol as conntrack names it: tcp, udp, icmp or unknown. */
    public String protocolName()
    {
        return switch (protocol)
        {
            case ConntrackTable.TCP -> "tcp";
            case ConntrackTable.UDP -> "udp";
            case ConntrackTable.ICMP -> "icmp";
            default -> "unknown";
        };
    }
}
