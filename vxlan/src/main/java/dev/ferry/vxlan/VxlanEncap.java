package dev.ferry.vxlan;

import dev.ferry.core.DropReason;
import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;
import dev.ferry.core.Stage;
import dev.ferry.core.gso.TcpSegmenter;
import dev.ferry.core.header.Checksum;
import dev.ferry.core.header.EthernetHeader;
import dev.ferry.core.header.IcmpHeader;
import dev.ferry.core.header.Ip4Header;
import dev.ferry.core.header.UdpHeader;
import dev.ferry.core.header.Wire;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.stage.IcmpError;
import dev.ferry.core.stage.Ip4Forward;
import dev.ferry.core.stage.InterfaceOutput;
import dev.ferry.core.stage.Ip4Lookup;
import dev.ferry.core.tables.Fib;
import dev.ferry.core.tables.Snapshot;
import dev.ferry.core.tables.TablesRef;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * vxlan-encap: routes a packet into the tunnel ("into flannel.1") and encapsulates it in place.
 *
 * <pre>
 *  in:   [eth pod→gw][IPv4 ttl t ...]                          adjacency (REMOTE_POD) in pool.aux
 *  UPLINK mode out (tx = uplink):
 *        [eth us→remote underlay][IPv4 us→remote, ttl 64][UDP sport=hash dport=port][VXLAN I vni]
 *        [eth ourVtep→remoteVtep][IPv4 ttl t-1 ...]
 *  SOCKET mode out (tx = tunnel port, pool.aux = remote public IP):
 *        [VXLAN I vni][eth ourVtep→remoteVtep][IPv4 ttl t-1 ...]
 * </pre>
 *
 * <p>Steps per packet: inner TTL - 1 with an RFC 1624 checksum update (not for packets this node originated),
 * pod MTU check (DF set: ICMP fragmentation-needed carrying the pod MTU; DF clear: counted drop, see the
 * README), inner MAC rewrite from the adjacency, then 50 bytes prepended in the headroom from the VTEP's
 * prebuilt template. The outer UDP source port hashes the inner 5-tuple (an ICMP echo: its identifier as the
 * ports) into the kernel's ephemeral range, as
 * {@code udp_flow_src_port} does; the outer IPv4 id counts up when DF is clear and is 0 when DF is set (the
 * kernel's {@code ip_select_ident} rule); the outer ECN bits follow {@code INET_ECN_encapsulate}; the outer
 * UDP checksum covers the whole datagram unless {@code noudpcsum}, computed from the headers when the inner checksums
 * allow ({@link OuterChecksum}, Linux's local checksum offload).
 *
 * <p>A TCP superframe (a pod's TSO, {@link PacketPool#gsoSize}) is split by {@link TcpSegmenter} into segments
 * that fit the pod MTU, each with complete checksums, and each is encapsulated and transmitted on its own.
 *
 * <p>Input: from {@code ip4-lookup}. Next edges: {@code interface-output}, {@code icmp-error}. Drops: see
 * {@link Drop}.
 */
public final class VxlanEncap implements Stage
{
    /** Stage name (the edge name ip4-lookup uses). */
    public static final String NAME = Ip4Lookup.VXLAN_ENCAP;
    /** Next edge: transmit. */
    public static final int NEXT_OUTPUT = 0;
    /** Next edge: ICMP error back to the sender. */
    public static final int NEXT_ICMP_ERROR = 1;

    /** Why vxlan-encap drops a packet. */
    public enum Drop implements DropReason
    {
        /** The adjacency names no VTEP of the current table. */
        NO_VTEP(212, "no VTEP for the remote adjacency"),
        /** Uplink mode and the underlay next-hop MAC of the remote VTEP is unknown. */
        UNDERLAY_UNRESOLVED(213, "underlay next-hop MAC of the remote VTEP unknown"),
        /** Inner packet larger than the pod MTU with DF clear: the tunnel does not fragment. */
        TOO_BIG_NO_DF(214, "packet larger than the pod MTU (DF clear; the tunnel does not fragment)"),
        /** Fewer than 50 bytes of headroom in front of the frame. */
        NO_HEADROOM(215, "no headroom for the VXLAN header"),
        /** A TCP superframe (TSO from a pod) that software segmentation could not split: more than 256
         *  segments, or no packet buffers left for the segments. */
        SEGMENTATION_FAILED(230, "superframe could not be segmented for the tunnel");

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

    private final PacketPool pool;
    private final TablesRef<Snapshot> tables;
    private final int slot;
    private final boolean socketMode;
    private final boolean udpChecksum;
    private final boolean outerDf;
    private final int srcPortMin;
    private final int srcPortSpan;
    private final int tunnelPort;
    private final Ip4Header ip = new Ip4Header();
    private final EthernetHeader eth = new EthernetHeader();
    private final VxlanHeader vxlan = new VxlanHeader();
    private final TcpSegmenter segmenter;
    private int ipId;

    /**
     * @param pool       packet pool.
     * @param tables     the tables.
     * @param slot       the {@link VtepTable} slot from {@link VtepTable#register}.
     * @param settings   outer header settings and underlay mode.
     * @param tunnelPort the tunnel port id (socket mode transmits on it), or -1 in uplink mode.
     */
    public VxlanEncap(final PacketPool pool, final TablesRef<Snapshot> tables, final int slot,
        final VxlanSettings settings, final int tunnelPort)
    {
        if (pool.headroom() < VxlanHeader.ENCAP_OVERHEAD)
        {
            throw new IllegalArgumentException("pool headroom " + pool.headroom() + " < 50");
        }
        this.pool = pool;
        this.tables = tables;
        this.slot = slot;
        this.socketMode = settings.underlay() == VxlanSettings.Underlay.SOCKET;
        this.udpChecksum = settings.udpChecksum();
        this.outerDf = settings.outerDf();
        this.srcPortMin = settings.srcPortMin();
        this.srcPortSpan = settings.srcPortMax() - settings.srcPortMin() + 1;
        this.tunnelPort = tunnelPort;
        this.segmenter = new TcpSegmenter(pool);
        if (socketMode && tunnelPort < 0)
        {
            throw new IllegalArgumentException("socket mode needs a tunnel port");
        }
    }

    @Override
    public String name()
    {
        return NAME;
    }

    @Override
    public List<String> nextNames()
    {
        return List.of(InterfaceOutput.NAME, IcmpError.NAME);
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
        // one snapshot read per vector: FIB and VTEP table always match
        final Snapshot snap = tables.lvCurrent();
        final Fib fib = snap.fib();
        final VtepTable vteps = snap.part(slot);
        final Ip4Header ip = this.ip;
        final int n = in.count();
        for (int i = 0; i < n; i++)
        {
            final int h = in.get(i);
            final int adj = pool.aux(h);
            final int r = fib.remoteIndex(adj);
            if (r < 0 || r >= vteps.size())
            {
                out.drop(h, Drop.NO_VTEP);
                continue;
            }
            if (!socketMode && !vteps.resolved(r))
            {
                out.drop(h, Drop.UNDERLAY_UNRESOLVED);
                continue;
            }
            int l3 = pool.l3Offset(h);
            ip.wrap(mem, pool.frameOffset(h) + l3);
            final boolean local = (pool.flags(h) & PacketPool.FLAG_LOCAL_ORIGIN) != 0;
            final int total = ip.totalLength();
            final int verdict = Ip4Forward.check(pool, h, ip, local, fib.mtu(adj));
            if (verdict == Ip4Forward.ICMP_ERROR)
            {
                out.next(h, NEXT_ICMP_ERROR);
                continue;
            }
            if (verdict == Ip4Forward.TOO_BIG_NO_DF)
            {
                out.drop(h, Drop.TOO_BIG_NO_DF);
                continue;
            }
            if (l3 != EthernetHeader.LENGTH)
            {
                // the inner frame is exactly Ethernet + IPv4: drop any tag bytes in front of the IP header
                pool.advance(h, l3 - EthernetHeader.LENGTH);
                l3 = EthernetHeader.LENGTH;
                pool.l3Offset(h, l3);
            }
            if (pool.headroomOf(h) < VxlanHeader.ENCAP_OVERHEAD)
            {
                out.drop(h, Drop.NO_HEADROOM);
                continue;
            }
            if (!local)
            {
                ip.decrementTtl();
            }
            final int innerTos = ip.tos();
            final int srcPort = sourcePort(mem, ip);
            if (pool.gsoSize(h) != 0 || pool.checksumPartial(h))
            {
                // a TSO superframe from a pod: the tunnel carries MTU-sized segments with complete inner checksums
                // (issue 12 item 3 would hand the kernel a batch instead); each segment is encapsulated and sent
                // straight on, as a superframe's segments would overflow interface-output's vector
                final int count = segmenter.segment(h);
                if (count < 0)
                {
                    out.drop(h, Drop.SEGMENTATION_FAILED);
                    continue;
                }
                // the superframe is segment 0: a frame in, segments out, none freed unaccounted
                for (int k = 0; k < count; k++)
                {
                    final int seg = segmenter.get(k);
                    final int segTotal = Wire.u16(mem, pool.frameOffset(seg) + l3 + Ip4Header.TOTAL_LENGTH_OFFSET);
                    encapsulate(mem, seg, segTotal, fib, adj, vteps, r, innerTos, srcPort);
                    if (pool.traced(seg))
                    {
                        out.traceDetail(seg, vteps.remoteIp(r) & 0xffffffffL, srcPort);
                    }
                    out.transmit(seg);
                }
                continue;
            }
            encapsulate(mem, h, total, fib, adj, vteps, r, innerTos, srcPort);
            if (pool.traced(h))
            {
                out.traceDetail(h, vteps.remoteIp(r) & 0xffffffffL, srcPort);
            }
            out.next(h, NEXT_OUTPUT);
        }
    }

    private void encapsulate(final MemorySegment mem, final int h, final int total, final Fib fib, final int adj,
        final VtepTable vteps, final int r, final int innerTos, final int srcPort)
    {
        final long inner = pool.frameOffset(h);
        eth.wrap(mem, inner).dst(fib.dstMac(adj)).src(fib.srcMac(adj)).etherType(EthernetHeader.TYPE_IP4);
        final int innerLen = EthernetHeader.LENGTH + total;
        pool.length(h, innerLen);
        if (socketMode)
        {
            pool.prepend(h, VxlanHeader.LENGTH);
            vxlan.wrap(mem, pool.frameOffset(h)).vni(vteps.vni());
            pool.txPort(h, tunnelPort);
            pool.aux(h, vteps.remoteIp(r));
        }
        else
        {
            pool.prepend(h, VxlanHeader.ENCAP_OVERHEAD);
            writeOuter(mem, pool.frameOffset(h), vteps, r, innerLen, innerTos, srcPort,
                OuterChecksum.ethernetSum(fib.dstMac(adj), fib.srcMac(adj)));
            pool.txPort(h, fib.txPort(adj));
        }
    }

    private void writeOuter(final MemorySegment mem, final long f, final VtepTable vteps, final int r,
        final int innerLen, final int innerTos, final int srcPort, final long innerEthSum)
    {
        MemorySegment.copy(vteps.templates(), (long)r * VxlanHeader.ENCAP_OVERHEAD, mem, f,
            VxlanHeader.ENCAP_OVERHEAD);
        final int udpLen = UdpHeader.LENGTH + VxlanHeader.LENGTH + innerLen;
        final int ipLen = Ip4Header.MIN_LENGTH + udpLen;
        final int id = outerDf ? 0 : nextIpId();
        // ECN: copy the inner ECT bits, CE becomes ECT(0) (RFC 6040 normal mode, INET_ECN_encapsulate)
        final int ecn = innerTos & 3;
        final int tos = ecn == 3 ? 2 : ecn;
        final long ipOff = f + VtepTable.IP_OFF;
        Wire.u8(mem, ipOff + 1, tos);
        Wire.u16(mem, ipOff + Ip4Header.TOTAL_LENGTH_OFFSET, ipLen);
        Wire.u16(mem, ipOff + 4, id);
        Wire.u16(mem, ipOff + Ip4Header.CHECKSUM_OFFSET,
            Checksum.finish(vteps.ipSumBase(r) + ipLen + id + tos));
        final long udpOff = f + VtepTable.UDP_OFF;
        Wire.u16(mem, udpOff, srcPort);
        Wire.u16(mem, udpOff + 4, udpLen);
        if (udpChecksum)
        {
            // from the values just written when the inner checksums pin the payload's sum (byte-identical), else
            // in full
            if (!OuterChecksum.writeFromHeaders(mem, udpOff, vteps.udpSumBase(r), srcPort, udpLen, innerEthSum))
            {
                OuterChecksum.write(mem, udpOff, vteps.localIp(), vteps.remoteIp(r));
            }
        }
    }

    private int nextIpId()
    {
        final int id = ipId;
        ipId = (id + 1) & 0xffff;
        return id;
    }

    /**
     * The outer source port: a hash of the inner flow (addresses, protocol, TCP and UDP ports, an ICMP echo's
     * identifier) mapped into [min, max], like the kernel's {@code udp_flow_src_port} (which folds the hash with
     * {@code hash ^= hash << 16} before scaling).
     */
    private int sourcePort(final MemorySegment mem, final Ip4Header ip)
    {
        // the header's first 20 bytes in three loads rather than a load per field
        final long ipOff = ip.offset();
        final long w0 = mem.get(Wire.U64, ipOff);
        final long w1 = mem.get(Wire.U64, ipOff + 8);
        final int dst = Wire.u32(mem, ipOff + Ip4Header.DST_OFFSET);
        final int ihl = (int)(w0 >>> 54) & 0x3c;
        final int total = (int)(w0 >>> 32) & 0xffff;
        final boolean laterFragment = (w0 & 0x1fff) != 0;
        final int proto = (int)(w1 >>> 48) & 0xff;
        final int src = (int)w1;
        int ports = 0;
        if ((proto == Ip4Header.PROTO_TCP || proto == Ip4Header.PROTO_UDP) && !laterFragment && total - ihl >= 4)
        {
            ports = Wire.u32(mem, ipOff + ihl);
        }
        else if (proto == Ip4Header.PROTO_ICMP && !laterFragment && total - ihl >= 8)
        {
            // an echo's identifier tells its flows apart, as the ownership rule does: ping flows between two pods
            // get outer flows (and GRO superframes, receive queues) of their own
            final int type = Wire.u8(mem, ipOff + ihl);
            if (type == IcmpHeader.TYPE_ECHO_REQUEST || type == IcmpHeader.TYPE_ECHO_REPLY)
            {
                ports = Wire.u16(mem, ipOff + ihl + 4);
            }
        }
        long x = ((long)src << 32) ^ (dst & 0xffffffffL);
        x ^= ((long)ports * 0x9E3779B97F4A7C15L) ^ proto;
        // murmur3 fmix64: every input bit moves the output
        x ^= x >>> 33;
        x *= 0xff51afd7ed558ccdL;
        x ^= x >>> 33;
        x *= 0xc4ceb9fe1a85ec53L;
        x ^= x >>> 33;
        int hash = (int)x;
        hash ^= hash << 16;
        return srcPortMin + (int)(((hash & 0xffffffffL) * srcPortSpan) >>> 32);
    }

    @Override
    public String formatTrace(final long a, final long b)
    {
        return "to vtep " + Ip4.format((int)a) + " sport " + b;
    }
}
