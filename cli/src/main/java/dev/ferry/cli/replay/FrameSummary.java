package dev.ferry.cli.replay;

import dev.ferry.core.header.ArpHeader;
import dev.ferry.core.header.EthernetHeader;
import dev.ferry.core.header.IcmpHeader;
import dev.ferry.core.header.Ip4Header;
import dev.ferry.core.header.TcpHeader;
import dev.ferry.core.header.UdpHeader;
import dev.ferry.core.route.Ip4;

import java.lang.foreign.MemorySegment;

/**
 * One-line descriptions of frames, in the spirit of tshark's summary column (control side only).
 */
public final class FrameSummary
{
    private FrameSummary()
    {
    }

    /**
     * @param frame an Ethernet frame.
     * @return e.g. "TCP 10.244.1.3:40000 > 10.96.0.10:80 [SYN]" or "ARP who-has 10.244.1.1 tell 10.244.1.3".
     */
    public static String describe(final byte[] frame)
    {
        if (frame.length < EthernetHeader.LENGTH)
        {
            return "runt frame (" + frame.length + " bytes)";
        }
        final MemorySegment seg = MemorySegment.ofArray(frame);
        final EthernetHeader eth = new EthernetHeader().wrap(seg, 0);
        final int type = eth.etherType();
        final int l3 = eth.headerLength();
        if (eth.tagged())
        {
            return "802.1Q vlan " + eth.vlanId() + " frame";
        }
        if (type == EthernetHeader.TYPE_ARP)
        {
            if (frame.length < l3 + ArpHeader.LENGTH)
            {
                return "ARP (truncated)";
            }
            final ArpHeader arp = new ArpHeader().wrap(seg, l3);
            return arp.operation() == ArpHeader.OP_REQUEST
                ? "ARP who-has " + Ip4.format(arp.targetIp()) + " tell " + Ip4.format(arp.senderIp())
                : "ARP " + Ip4.format(arp.senderIp()) + " is-at " + Ip4.formatMac(arp.senderMac());
        }
        if (type == EthernetHeader.TYPE_IP6)
        {
            return "IPv6";
        }
        if (type != EthernetHeader.TYPE_IP4)
        {
            return String.format("EtherType 0x%04x", type);
        }
        if (frame.length < l3 + Ip4Header.MIN_LENGTH)
        {
            return "IPv4 (truncated header)";
        }
        final Ip4Header ip = new Ip4Header().wrap(seg, l3);
        final String src = Ip4.format(ip.src());
        final String dst = Ip4.format(ip.dst());
        final long l4 = ip.payloadOffset();
        final int avail = frame.length - (int)l4;
        final String ttl = " ttl " + ip.ttl();
        switch (ip.protocol())
        {
            case Ip4Header.PROTO_TCP ->
            {
                if (avail < TcpHeader.MIN_LENGTH || ip.headerLength() < Ip4Header.MIN_LENGTH)
                {
                    return "TCP " + src + " > " + dst + " (truncated)";
                }
                final TcpHeader tcp = new TcpHeader().wrap(seg, l4);
                return "TCP " + src + ":" + tcp.srcPort() + " > " + dst + ":" + tcp.dstPort() + " ["
                    + tcpFlags(tcp.flags()) + "]" + ttl;
            }
            case Ip4Header.PROTO_UDP ->
            {
                if (avail < UdpHeader.LENGTH || ip.headerLength() < Ip4Header.MIN_LENGTH)
                {
                    return "UDP " + src + " > " + dst + " (truncated)";
                }
                final UdpHeader udp = new UdpHeader().wrap(seg, l4);
                return "UDP " + src + ":" + udp.srcPort() + " > " + dst + ":" + udp.dstPort() + " len "
                    + Math.max(0, udp.length() - UdpHeader.LENGTH) + ttl;
            }
            case Ip4Header.PROTO_ICMP ->
            {
                if (avail < IcmpHeader.LENGTH || ip.headerLength() < Ip4Header.MIN_LENGTH)
                {
                    return "ICMP " + src + " > " + dst + " (truncated)";
                }
                final IcmpHeader icmp = new IcmpHeader().wrap(seg, l4);
                return "ICMP " + src + " > " + dst + " " + icmpName(icmp.type(), icmp.code())
                    + (icmp.type() == 0 || icmp.type() == 8 ? " id " + icmp.identifier() + " seq " + icmp.sequence()
                    : "") + ttl;
            }
            default ->
            {
                return "IPv4 proto " + ip.protocol() + " " + src + " > " + dst + ttl;
            }
        }
    }

    private static String tcpFlags(final int f)
    {
        final StringBuilder sb = new StringBuilder();
        if ((f & TcpHeader.SYN) != 0)
        {
            sb.append("SYN,");
        }
        if ((f & TcpHeader.FIN) != 0)
        {
            sb.append("FIN,");
        }
        if ((f & TcpHeader.RST) != 0)
        {
            sb.append("RST,");
        }
        if ((f & TcpHeader.PSH) != 0)
        {
            sb.append("PSH,");
        }
        if ((f & TcpHeader.ACK) != 0)
        {
            sb.append("ACK,");
        }
        return sb.isEmpty() ? "none" : sb.substring(0, sb.length() - 1);
    }

    /**
     * @param type ICMP type.
     * @param code ICMP code.
     * @return a name such as "echo request" or "destination unreachable (port unreachable)".
     */
    public static String icmpName(final int type, final int code)
    {
        return switch (type)
        {
            case IcmpHeader.TYPE_ECHO_REPLY -> "echo reply";
            case IcmpHeader.TYPE_ECHO_REQUEST -> "echo request";
            case IcmpHeader.TYPE_TIME_EXCEEDED -> "time exceeded";
            case IcmpHeader.TYPE_DEST_UNREACHABLE -> "destination unreachable (" + switch (code)
            {
                case IcmpHeader.CODE_NET_UNREACHABLE -> "net unreachable";
                case IcmpHeader.CODE_HOST_UNREACHABLE -> "host unreachable";
                case IcmpHeader.CODE_PORT_UNREACHABLE -> "port unreachable";
                case IcmpHeader.CODE_FRAG_NEEDED -> "fragmentation needed";
                case IcmpHeader.CODE_ADMIN_PROHIBITED -> "administratively prohibited";
                default -> "code " + code;
            } + ")";
            default -> "type " + type + " code " + code;
        };
    }
}
