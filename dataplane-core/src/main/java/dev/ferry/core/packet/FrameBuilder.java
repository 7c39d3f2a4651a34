package dev.ferry.core.packet;

import dev.ferry.core.header.ArpHeader;
import dev.ferry.core.header.EthernetHeader;
import dev.ferry.core.header.IcmpHeader;
import dev.ferry.core.header.Ip4Header;
import dev.ferry.core.header.TcpHeader;
import dev.ferry.core.header.UdpHeader;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Builds well-formed frames as byte arrays, with every checksum right: the scenario generator, tests and
 * benchmarks use it (Cilium's {@code pktgen}). Not for the hot path; it allocates.
 *
 * <pre>
 *   byte[] f = new FrameBuilder().eth(src, dst).ip4(a, b).ttl(64).udp(5353, 53).payload(q).build();
 * </pre>
 */
public final class FrameBuilder
{
    private static final int L4_NONE = 0;
    private static final int L4_UDP = 1;
    private static final int L4_TCP = 2;
    private static final int L4_ICMP = 3;
    private static final int L4_ARP = 4;

    private long srcMac;
    private long dstMac;
    private int vlan = -1;
    private int srcIp;
    private int dstIp;
    private int ttl = 64;
    private int tos;
    private int ipId;
    private boolean df;
    private int l4 = L4_NONE;
    private int protocol;
    private int srcPort;
    private int dstPort;
    private int tcpFlags;
    private int seq;
    private int ack;
    private int window = 65535;
    private int icmpType;
    private int icmpCode;
    private int icmpRest;
    private int arpOp;
    private long arpSenderMac;
    private int arpSenderIp;
    private long arpTargetMac;
    private int arpTargetIp;
    private byte[] payload = new byte[0];
    private int padTo;

    /**
     * @param src source MAC.
     * @param dst destination MAC.
     * @return this.
     */
    public FrameBuilder eth(final long src, final long dst)
    {
        this.srcMac = src;
        this.dstMac = dst;
        return this;
    }

    /**
     * Adds an 802.1Q tag.
     *
     * @param vid VLAN id.
     * @return this.
     */
    public FrameBuilder vlan(final int vid)
    {
        this.vlan = vid;
        return this;
    }

    /**
     * @param src source address.
     * @param dst destination address.
     * @return this.
     */
    public FrameBuilder ip4(final int src, final int dst)
    {
        this.srcIp = src;
        this.dstIp = dst;
        return this;
    }

    /**
     * @param value TTL.
     * @return this.
     */
    public FrameBuilder ttl(final int value)
    {
        this.ttl = value;
        return this;
    }

    /**
     * @param value TOS byte.
     * @return this.
     */
    public FrameBuilder tos(final int value)
    {
        this.tos = value;
        return this;
    }

    /**
     * @param value IP identification.
     * @return this.
     */
    public FrameBuilder id(final int value)
    {
        this.ipId = value;
        return this;
    }

    /**
     * @param value whether DF is set.
     * @return this.
     */
    public FrameBuilder df(final boolean value)
    {
        this.df = value;
        return this;
    }

    /**
     * @param sport source port.
     * @param dport destination port.
     * @return this.
     */
    public FrameBuilder udp(final int sport, final int dport)
    {
        this.l4 = L4_UDP;
        this.protocol = Ip4Header.PROTO_UDP;
        this.srcPort = sport;
        this.dstPort = dport;
        return this;
    }

    /**
     * @param sport  source port.
     * @param dport  destination port.
     * @param flags  TCP flags.
     * @param seqNo  sequence number.
     * @param ackNo  acknowledgment number.
     * @return this.
     */
    public FrameBuilder tcp(final int sport, final int dport, final int flags, final int seqNo, final int ackNo)
    {
        this.l4 = L4_TCP;
        this.protocol = Ip4Header.PROTO_TCP;
        this.srcPort = sport;
        this.dstPort = dport;
        this.tcpFlags = flags;
        this.seq = seqNo;
        this.ack = ackNo;
        return this;
    }

    /**
     * @param type ICMP type.
     * @param code ICMP code.
     * @param rest the 32-bit rest-of-header (echo: identifier &lt;&lt; 16 | sequence).
     * @return this.
     */
    public FrameBuilder icmp(final int type, final int code, final int rest)
    {
        this.l4 = L4_ICMP;
        this.protocol = Ip4Header.PROTO_ICMP;
        this.icmpType = type;
        this.icmpCode = code;
        this.icmpRest = rest;
        return this;
    }

    /**
     * An ARP packet instead of IPv4.
     *
     * @param op        operation (1 request, 2 reply).
     * @param senderMac sender MAC.
     * @param senderIp  sender address.
     * @param targetMac target MAC (zero in requests).
     * @param targetIp  target address.
     * @return this.
     */
    public FrameBuilder arp(final int op, final long senderMac, final int senderIp, final long targetMac,
        final int targetIp)
    {
        this.l4 = L4_ARP;
        this.arpOp = op;
        this.arpSenderMac = senderMac;
        this.arpSenderIp = senderIp;
        this.arpTargetMac = targetMac;
        this.arpTargetIp = targetIp;
        return this;
    }

    /**
     * Sets a raw IP protocol number with the payload as the whole IP payload.
     *
     * @param proto protocol number.
     * @return this.
     */
    public FrameBuilder rawProtocol(final int proto)
    {
        this.l4 = L4_NONE;
        this.protocol = proto;
        return this;
    }

    /**
     * @param bytes L4 payload.
     * @return this.
     */
    public FrameBuilder payload(final byte[] bytes)
    {
        this.payload = bytes.clone();
        return this;
    }

    /**
     * Pads the frame with zeros to at least this length (Ethernet minimum is 60 without FCS).
     *
     * @param length minimum frame length.
     * @return this.
     */
    public FrameBuilder padTo(final int length)
    {
        this.padTo = length;
        return this;
    }

    /** @return the frame. */
    public byte[] build()
    {
        final int l2 = vlan >= 0 ? EthernetHeader.LENGTH_TAGGED : EthernetHeader.LENGTH;
        final int l4Header = switch (l4)
        {
            case L4_UDP -> UdpHeader.LENGTH;
            case L4_TCP -> TcpHeader.MIN_LENGTH;
            case L4_ICMP -> IcmpHeader.LENGTH;
            default -> 0;
        };
        final int l3Len = l4 == L4_ARP ? ArpHeader.LENGTH : Ip4Header.MIN_LENGTH + l4Header + payload.length;
        final int len = Math.max(padTo, l2 + l3Len);
        final byte[] out = new byte[len];
        final MemorySegment seg = MemorySegment.ofArray(out);
        final EthernetHeader eth = new EthernetHeader().wrap(seg, 0).dst(dstMac).src(srcMac);
        final int type = l4 == L4_ARP ? EthernetHeader.TYPE_ARP : EthernetHeader.TYPE_IP4;
        if (vlan >= 0)
        {
            eth.etherType(EthernetHeader.TYPE_VLAN);
            seg.set(ValueLayout.JAVA_BYTE, 14, (byte)(vlan >>> 8 & 0x0f));
            seg.set(ValueLayout.JAVA_BYTE, 15, (byte)vlan);
            seg.set(ValueLayout.JAVA_BYTE, 16, (byte)(type >>> 8));
            seg.set(ValueLayout.JAVA_BYTE, 17, (byte)type);
        }
        else
        {
            eth.etherType(type);
        }
        if (l4 == L4_ARP)
        {
            new ArpHeader().wrap(seg, l2).ethernetIp4().operation(arpOp).senderMac(arpSenderMac)
                .senderIp(arpSenderIp).targetMac(arpTargetMac).targetIp(arpTargetIp);
            return out;
        }
        final Ip4Header ip = new Ip4Header().wrap(seg, l2).versionAndHeaderLength(Ip4Header.MIN_LENGTH).tos(tos)
            .totalLength(l3Len).identification(ipId).flagsAndFragment(df ? Ip4Header.FLAG_DF : 0).ttl(ttl)
            .protocol(protocol).src(srcIp).dst(dstIp);
        ip.updateChecksum();
        final int l4Off = l2 + Ip4Header.MIN_LENGTH;
        MemorySegment.copy(payload, 0, seg, ValueLayout.JAVA_BYTE, l4Off + l4Header, payload.length);
        switch (l4)
        {
            case L4_UDP -> new UdpHeader().wrap(seg, l4Off).srcPort(srcPort).dstPort(dstPort)
                .length(UdpHeader.LENGTH + payload.length).updateChecksum(srcIp, dstIp);
            case L4_TCP -> new TcpHeader().wrap(seg, l4Off).srcPort(srcPort).dstPort(dstPort).seq(seq).ack(ack)
                .headerLength(TcpHeader.MIN_LENGTH).flags(tcpFlags).window(window)
                .updateChecksum(srcIp, dstIp, TcpHeader.MIN_LENGTH + payload.length);
            case L4_ICMP -> new IcmpHeader().wrap(seg, l4Off).type(icmpType).code(icmpCode).restOfHeader(icmpRest)
                .updateChecksum(IcmpHeader.LENGTH + payload.length);
            default ->
            {
            }
        }
        return out;
    }

    /**
     * Splits an untagged Ethernet IPv4 frame into fragments as a sender would (RFC 791): each carries the same IP
     * header (identification, protocol, addresses) with its own total length, offset and MF flag, and at most
     * {@code chunk} payload bytes; the first one carries the L4 header, whose checksum covers the whole datagram.
     *
     * @param frame an unfragmented IPv4 frame without options (a {@link #build()} result).
     * @param chunk payload bytes per fragment, a multiple of 8.
     * @return the fragments in offset order (one frame when the payload fits).
     */
    public static java.util.List<byte[]> fragments(final byte[] frame, final int chunk)
    {
        if (chunk <= 0 || chunk % 8 != 0)
        {
            throw new IllegalArgumentException("fragment payload must be a positive multiple of 8: " + chunk);
        }
        final int l3 = EthernetHeader.LENGTH;
        final Ip4Header ip = new Ip4Header().wrap(MemorySegment.ofArray(frame), l3);
        final int ihl = ip.headerLength();
        final int payload = ip.totalLength() - ihl;
        final java.util.List<byte[]> out = new java.util.ArrayList<>();
        for (int off = 0; off < payload || off == 0; off += chunk)
        {
            final int len = Math.min(chunk, payload - off);
            final byte[] f = new byte[l3 + ihl + len];
            System.arraycopy(frame, 0, f, 0, l3 + ihl);
            System.arraycopy(frame, l3 + ihl + off, f, l3 + ihl, len);
            final boolean more = off + len < payload;
            new Ip4Header().wrap(MemorySegment.ofArray(f), l3).totalLength(ihl + len)
                .flagsAndFragment((more ? Ip4Header.FLAG_MF : 0) | off >> 3).updateChecksum();
            out.add(f);
            if (!more)
            {
                break;
            }
        }
        return out;
    }
}
