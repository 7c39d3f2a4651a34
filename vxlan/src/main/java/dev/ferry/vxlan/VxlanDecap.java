package dev.ferry.vxlan;

import dev.ferry.core.DropReason;
import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;
import dev.ferry.core.Stage;
import dev.ferry.core.header.EthernetHeader;
import dev.ferry.core.header.Ip4Header;
import dev.ferry.core.header.UdpHeader;
import dev.ferry.core.header.Wire;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.stage.EthernetInput;
import dev.ferry.core.tables.Fib;
import dev.ferry.core.tables.Snapshot;
import dev.ferry.core.tables.TablesRef;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * vxlan-decap: validates a VXLAN packet addressed to this node and hands the inner frame back to
 * {@code ethernet-input}, received on the tunnel port ({@code flannel.1}, whose MAC is our VTEP MAC).
 *
 * <pre>
 *  from vxlan-bypass (l3 offset &gt;= 14):
 *    [eth][IPv4 → us][UDP → port][VXLAN I vni][inner eth][inner IPv4 ...]   outer already checked by ip4-input
 *  from the UDP socket (l3 offset = {@link #SOCKET_DATAGRAM}, pool.aux = outer source IPv4):
 *    [VXLAN I vni][inner eth][inner IPv4 ...]                              outer address/port checked by bind
 *  out (rx port = tunnel port):
 *    [inner eth][inner IPv4 ...]   ──► ethernet-input
 * </pre>
 *
 * <p>Checks, in order, each with its own drop: outer fragment; outer destination is our VTEP address; UDP
 * destination port is the cluster's; UDP length; a non-zero UDP checksum verifies (zero is accepted, as
 * RFC 7348 and Linux allow); the I flag; no reserved bit (Linux's rule); the VNI is ours; the outer source is
 * a known VTEP (anti-spoofing); the inner frame holds an Ethernet and an IPv4 header (flannel's VXLAN is
 * L3: neighbours are static, so only IPv4 crosses the tunnel); the inner IPv4 source belongs to the sending
 * VTEP's node ({@link VtepTable#innerSourceAllowed}). A decapsulated frame that is VXLAN to us again
 * may be decapsulated once more ({@link #MAX_NESTED}); a frame nested deeper is dropped before any other check.
 */
public final class VxlanDecap implements Stage
{
    /** Stage name. */
    public static final String NAME = "vxlan-decap";
    /** Next edge: the inner frame re-enters the graph. */
    public static final int NEXT_ETHERNET = 0;
    /**
     * Value of {@link PacketPool#l3Offset(int)} that marks a datagram from the UDP underlay: the buffer starts
     * at the VXLAN header and {@link PacketPool#aux(int)} holds the outer source address.
     */
    public static final int SOCKET_DATAGRAM = -1;
    /**
     * How many times a decapsulated frame that is VXLAN to us again may be decapsulated once more: one level of
     * nesting is allowed, deeper ones are dropped ({@link Drop#NESTED_TOO_DEEP}).
     */
    public static final int MAX_NESTED = 1;

    /** Why vxlan-decap drops a packet. */
    public enum Drop implements DropReason
    {
        /** Shorter than the outer headers plus an inner Ethernet header. */
        TRUNCATED(200, "VXLAN packet truncated"),
        /** Outer packet is a fragment (ferry does not reassemble). */
        FRAGMENT(201, "fragmented VXLAN packet (no reassembly)"),
        /** Outer destination is not our VTEP address. */
        NOT_OUR_ADDRESS(202, "outer destination is not this node's VTEP address"),
        /** Not UDP to the configured VXLAN port. */
        WRONG_PORT(203, "not UDP to the VXLAN port"),
        /** UDP length field inconsistent with the IP payload. */
        BAD_UDP_LENGTH(204, "bad outer UDP length"),
        /** Non-zero outer UDP checksum does not verify. */
        BAD_UDP_CHECKSUM(205, "bad outer UDP checksum"),
        /** The I flag is clear. */
        NO_I_FLAG(206, "VXLAN I flag not set"),
        /** A reserved bit is set (Linux drops these too). */
        RESERVED_BITS(207, "VXLAN reserved bits set"),
        /** The VNI is not ours. */
        UNKNOWN_VNI(208, "unknown VNI"),
        /** The outer source is not a known VTEP. */
        UNKNOWN_VTEP(209, "outer source is not a known VTEP (spoofed?)"),
        /** Inner frame shorter than Ethernet + IPv4 headers. */
        INNER_TRUNCATED(210, "inner frame truncated"),
        /** Inner frame is not IPv4. */
        INNER_NOT_IP4(211, "inner frame is not IPv4"),
        /** The frame was already decapsulated more than {@link #MAX_NESTED} times below the outer one. */
        NESTED_TOO_DEEP(216, "VXLAN nested deeper than one level"),
        /** Received on a pod or host port: VXLAN is decapsulated only from the uplink or the tunnel port. */
        NOT_FROM_UNDERLAY(217, "VXLAN not received from the underlay (uplink or tunnel port)"),
        /** The inner IPv4 source is neither in the sending node's pod CIDR nor one of its addresses. */
        INNER_SOURCE_SPOOFED(219, "inner IPv4 source is not the sending node's (its pod CIDR or addresses)");

        private final int id;
        private final String sentence;

        Drop(final int id, final String sentence)
        {
            this.id = id;
            this.sentence = sentence;
        }

        @Override
        public int id()
        {
            return id;
        }

        @Override
        public String sentence()
        {
            return sentence;
        }
    }

    private static final int MIN_INNER = EthernetHeader.LENGTH + Ip4Header.MIN_LENGTH;

    private final PacketPool pool;
    private final TablesRef<Snapshot> tables;
    private final int slot;
    private final int tunnelPort;
    private final Ip4Header ip = new Ip4Header();
    private final UdpHeader udp = new UdpHeader();
    private final VxlanHeader vxlan = new VxlanHeader();

    /**
     * @param pool       packet pool.
     * @param tables     the tables.
     * @param slot       the {@link VtepTable} slot.
     * @param tunnelPort the port inner frames are received on ({@code flannel.1}, kind TUNNEL, MAC = VTEP MAC).
     */
    public VxlanDecap(final PacketPool pool, final TablesRef<Snapshot> tables, final int slot, final int tunnelPort)
    {
        this.pool = pool;
        this.tables = tables;
        this.slot = slot;
        this.tunnelPort = tunnelPort;
    }

    @Override
    public String name()
    {
        return NAME;
    }

    @Override
    public List<String> nextNames()
    {
        return List.of(EthernetInput.NAME);
    }

    @Override
    public List<Drop> dropReasons()
    {
        return List.of(Drop.values());
    }

    @Override
    public void process(final PacketVector in, final Next out)
    {
        final PacketPool pool = this.pool;
        final MemorySegment mem = pool.memory();
        final Snapshot snapshot = tables.lvCurrent();
        final VtepTable vteps = snapshot.part(slot);
        final Fib fib = snapshot.fib();
        final int n = in.count();
        for (int i = 0; i < n; i++)
        {
            final int h = in.get(i);
            final int flags = pool.flags(h);
            final int depth = (flags & PacketPool.FLAG_DECAP_DEPTH_MASK) >>> PacketPool.FLAG_DECAP_DEPTH_SHIFT;
            if (depth > MAX_NESTED)
            {
                out.drop(h, Drop.NESTED_TOO_DEEP);
                continue;
            }
            if (!fib.underlayPort(pool.rxPort(h)))
            {
                out.drop(h, Drop.NOT_FROM_UNDERLAY);
                continue;
            }
            final int l3 = pool.l3Offset(h);
            final long frame = pool.frameOffset(h);
            final int vxOff;
            final int innerLen;
            final int outerSrc;
            if (l3 == SOCKET_DATAGRAM)
            {
                vxOff = 0;
                innerLen = pool.length(h) - VxlanHeader.LENGTH;
                outerSrc = pool.aux(h);
                if (innerLen < EthernetHeader.LENGTH)
                {
                    out.drop(h, Drop.TRUNCATED);
                    continue;
                }
            }
            else
            {
                final DropReason bad = checkOuter(mem, h, frame, l3, vteps);
                if (bad != null)
                {
                    out.drop(h, bad);
                    continue;
                }
                vxOff = l3 + ip.headerLength() + UdpHeader.LENGTH;
                innerLen = udp.length() - UdpHeader.LENGTH - VxlanHeader.LENGTH;
                outerSrc = ip.src();
            }
            final VxlanHeader vx = vxlan.wrap(mem, frame + vxOff);
            final DropReason badVx = checkVxlan(vx, vteps);
            if (badVx != null)
            {
                out.drop(h, badVx);
                continue;
            }
            // one probe of the VTEP set serves both anti-spoofing checks (outer source, then inner source)
            final int remote = vteps.remoteOf(outerSrc);
            if (remote < 0)
            {
                out.drop(h, Drop.UNKNOWN_VTEP);
                continue;
            }
            if (innerLen < MIN_INNER)
            {
                out.drop(h, Drop.INNER_TRUNCATED);
                continue;
            }
            if (Wire.u16(mem, frame + vxOff + VxlanHeader.LENGTH + EthernetHeader.TYPE_OFFSET)
                != EthernetHeader.TYPE_IP4)
            {
                out.drop(h, Drop.INNER_NOT_IP4);
                continue;
            }
            if (!vteps.innerSourceAllowed(remote, Wire.u32(mem, frame + vxOff + VxlanHeader.LENGTH
                + EthernetHeader.LENGTH + Ip4Header.SRC_OFFSET)))
            {
                out.drop(h, Drop.INNER_SOURCE_SPOOFED);
                continue;
            }
            out.traceDetail(h, outerSrc & 0xffffffffL, vteps.vni());
            pool.advance(h, vxOff + VxlanHeader.LENGTH);
            pool.length(h, innerLen);
            pool.l3Offset(h, 0);
            pool.aux(h, 0);
            pool.rxPort(h, tunnelPort);
            pool.flags(h, flags & ~PacketPool.FLAG_DECAP_DEPTH_MASK
                | (depth + 1) << PacketPool.FLAG_DECAP_DEPTH_SHIFT);
            out.next(h, NEXT_ETHERNET);
        }
    }

    /** Checks outer IPv4 and UDP; leaves {@link #ip} and {@link #udp} wrapped on them. */
    private DropReason checkOuter(final MemorySegment mem, final int h, final long frame, final int l3,
        final VtepTable vteps)
    {
        final int l3Len = pool.length(h) - l3;
        if (l3 < 0 || l3Len < Ip4Header.MIN_LENGTH)
        {
            return Drop.TRUNCATED;
        }
        final Ip4Header ip = this.ip.wrap(mem, frame + l3);
        final int ihl = ip.headerLength();
        final int total = ip.totalLength();
        if (ihl < Ip4Header.MIN_LENGTH || total > l3Len || total < ihl + UdpHeader.LENGTH)
        {
            return Drop.TRUNCATED;
        }
        if (ip.isFragment())
        {
            return Drop.FRAGMENT;
        }
        if (ip.dst() != vteps.localIp())
        {
            return Drop.NOT_OUR_ADDRESS;
        }
        final UdpHeader udp = this.udp.wrap(mem, frame + l3 + ihl);
        if (ip.protocol() != Ip4Header.PROTO_UDP || udp.dstPort() != vteps.port())
        {
            return Drop.WRONG_PORT;
        }
        final int udpLen = udp.length();
        if (udpLen < UdpHeader.LENGTH || udpLen > total - ihl)
        {
            return Drop.BAD_UDP_LENGTH;
        }
        if (udpLen < UdpHeader.LENGTH + VxlanHeader.LENGTH + EthernetHeader.LENGTH)
        {
            return Drop.TRUNCATED;
        }
        if (!udp.checksumValid(ip.src(), ip.dst()))
        {
            return Drop.BAD_UDP_CHECKSUM;
        }
        return null;
    }

    private static DropReason checkVxlan(final VxlanHeader vx, final VtepTable vteps)
    {
        if (!vx.validVni())
        {
            return Drop.NO_I_FLAG;
        }
        if (vx.reservedBitsSet())
        {
            return Drop.RESERVED_BITS;
        }
        if (vx.vni() != vteps.vni())
        {
            return Drop.UNKNOWN_VNI;
        }
        return null;
    }

    @Override
    public String formatTrace(final long a, final long b)
    {
        return "from vtep " + Ip4.format((int)a) + " vni " + b;
    }
}
