package dev.ferry.vxlan;

import dev.ferry.core.Ports;
import dev.ferry.core.header.Checksum;
import dev.ferry.core.header.EthernetHeader;
import dev.ferry.core.header.Ip4Header;
import dev.ferry.core.header.UdpHeader;
import dev.ferry.core.header.Wire;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.route.Ip4Prefix;
import dev.ferry.core.route.NeighbourTable;
import dev.ferry.core.tables.Fib;
import dev.ferry.core.tables.InvalidTablesException;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.tables.TablesPublisher;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * The compiled VTEP table: this module's part of a {@code Snapshot}. One 50-byte header template per entry of
 * {@link NodeTables#remoteNodes()} (same index as the FIB's {@code remoteIndex}), the set of known VTEP
 * addresses that decap accepts as outer sources, and per VTEP the inner sources it may carry (its node's pod CIDR
 * and addresses, {@link #innerSourceAllowed}).
 *
 * <pre>
 *  template r (50 bytes, prebuilt; encap fills the starred fields per packet)
 *  | Ethernet: dst = remote underlay MAC, src = our uplink MAC, 0x0800                        | 14
 *  | IPv4: 45 00 *len *id DF?/0 ttl 17 *csum  src = our public IP  dst = remote public IP     | 20
 *  | UDP: *sport  dport = cluster VXLAN port  *len  *csum                                     |  8
 *  | VXLAN: I flag, VNI                                                                       |  8
 * </pre>
 *
 * <p>Immutable once compiled; workers read it from the snapshot once per vector.
 */
public final class VtepTable
{
    /** Offset of the outer IPv4 header in a template. */
    static final int IP_OFF = EthernetHeader.LENGTH;
    /** Offset of the outer UDP header in a template. */
    static final int UDP_OFF = IP_OFF + Ip4Header.MIN_LENGTH;
    /** Offset of the VXLAN header in a template. */
    static final int VXLAN_OFF = UDP_OFF + UdpHeader.LENGTH;

    private final int localIp;
    private final long vtepMac;
    private final int vni;
    private final int port;
    private final int count;
    private final MemorySegment templates;
    private final long[] ipSumBase;
    private final long[] udpSumBase;
    private final int[] remoteIp;
    private final boolean[] resolved;
    private final int[] knownSet;
    private final int[] knownRemote;
    private final int knownMask;
    private final int[] sameVtepNext;
    private final int[] podNet;
    private final int[] podMask;
    private final int[][] nodeAddrs;
    private final List<String> lines;

    private VtepTable(final NodeTables tables, final Fib fib, final Ports ports, final VxlanSettings settings)
    {
        final NodeTables.NodeInfo node = tables.node();
        final NodeTables.ClusterSettings cluster = tables.cluster();
        if (cluster.vni() < 0 || cluster.vni() > VxlanHeader.MAX_VNI)
        {
            throw new InvalidTablesException("VXLAN VNI out of range: " + cluster.vni());
        }
        if (cluster.vxlanPort() < 1 || cluster.vxlanPort() > 65535)
        {
            throw new InvalidTablesException("VXLAN port out of range: " + cluster.vxlanPort());
        }
        this.localIp = node.publicIp();
        this.vtepMac = node.vtepMac();
        this.vni = cluster.vni();
        this.port = cluster.vxlanPort();
        final List<NodeTables.RemoteNode> remotes = tables.remoteNodes();
        this.count = remotes.size();
        this.templates = Arena.ofAuto().allocate(Math.max(1, count) * (long)VxlanHeader.ENCAP_OVERHEAD, 8);
        this.ipSumBase = new long[count];
        this.udpSumBase = new long[count];
        this.remoteIp = new int[count];
        this.resolved = new boolean[count];
        int cap = 8;
        while (cap < count * 2)
        {
            cap <<= 1;
        }
        this.knownSet = new int[cap];
        this.knownRemote = new int[cap];
        this.knownMask = cap - 1;
        this.sameVtepNext = new int[count];
        this.podNet = new int[count];
        this.podMask = new int[count];
        this.nodeAddrs = new int[count][];
        final int uplink = ports.uplink();
        final long uplinkMac = uplink >= 0 ? ports.get(uplink).mac() : 0;
        final List<String> text = new ArrayList<>();
        for (int r = 0; r < count; r++)
        {
            final NodeTables.RemoteNode rn = remotes.get(r);
            if (rn.publicIp() == 0)
            {
                throw new InvalidTablesException("remote node " + rn.name() + " has no public IP (VTEP address)");
            }
            remoteIp[r] = rn.publicIp();
            addKnown(rn.publicIp(), r);
            // the inner sources this VTEP may carry: its pod CIDR (pods, gateway, flannel.1's network address)
            // and its own addresses (a masquerading node's source); an empty CIDR (mask 0, net 1) matches nothing
            podMask[r] = rn.podCidr() == null ? 0 : Ip4Prefix.mask(rn.podCidr().length());
            podNet[r] = rn.podCidr() == null ? 1 : rn.podCidr().address() & podMask[r];
            nodeAddrs[r] = java.util.stream.IntStream.concat(java.util.stream.IntStream.of(rn.publicIp()),
                rn.addresses().stream().mapToInt(Integer::intValue)).distinct().toArray();
            final long nextHopMac = underlayMac(rn, fib);
            resolved[r] = nextHopMac != NeighbourTable.UNKNOWN;
            final long t = (long)r * VxlanHeader.ENCAP_OVERHEAD;
            writeTemplate(t, nextHopMac, uplinkMac, rn.publicIp(), settings);
            ipSumBase[r] = Checksum.sum(templates, t + IP_OFF, Ip4Header.MIN_LENGTH);
            // the outer pseudo-header without its length, and the template's UDP (source port, length and
            // checksum zero) and VXLAN headers: the constant part of every outer UDP checksum toward this VTEP
            udpSumBase[r] = Checksum.pseudoHeader(localIp, rn.publicIp(), Ip4Header.PROTO_UDP, 0)
                + Checksum.sum(templates, t + UDP_OFF, UdpHeader.LENGTH + VxlanHeader.LENGTH);
            text.add(rn.podCidr() + " via vtep " + Ip4.format(rn.publicIp()) + " mac " + Ip4.formatMac(rn.vtepMac())
                + " node " + rn.name() + (resolved[r] ? " underlay " + Ip4.formatMac(nextHopMac)
                : " underlay unresolved"));
        }
        this.lines = List.copyOf(text);
    }

    /**
     * Compiles the VTEP table for a snapshot.
     *
     * @param tables   the node tables.
     * @param fib      the FIB compiled from them (to resolve underlay next hops).
     * @param ports    the node's ports (our uplink MAC).
     * @param settings outer header settings.
     * @return the table.
     * @throws InvalidTablesException when the VNI, the port or a remote VTEP address is invalid.
     */
    public static VtepTable compile(final NodeTables tables, final Fib fib, final Ports ports,
        final VxlanSettings settings)
    {
        return new VtepTable(tables, fib, ports, settings);
    }

    /**
     * Registers the VTEP compiler with a publisher.
     *
     * @param publisher the node's tables publisher.
     * @param settings  outer header settings.
     * @return the slot of the {@link VtepTable} in each snapshot.
     */
    public static int register(final TablesPublisher publisher, final VxlanSettings settings)
    {
        final Ports ports = publisher.ports();
        return publisher.register((tables, fib, previous) -> compile(tables, fib, ports, settings));
    }

    private static long underlayMac(final NodeTables.RemoteNode rn, final Fib fib)
    {
        if (rn.underlayMac() != 0 && rn.underlayMac() != Fib.RESOLVE_BY_DST)
        {
            return rn.underlayMac();
        }
        // no MAC given for the node itself: route its public IP on the underlay (gateway or neighbour)
        final int adj = fib.lookup(rn.publicIp());
        if (adj < 0 || fib.kind(adj) != Fib.UPLINK)
        {
            return NeighbourTable.UNKNOWN;
        }
        final long mac = fib.dstMac(adj);
        return mac == Fib.RESOLVE_BY_DST || mac == 0 ? fib.neighbour(rn.publicIp()) : mac;
    }

    private void writeTemplate(final long t, final long dstMac, final long srcMac, final int dstIp,
        final VxlanSettings s)
    {
        final MemorySegment m = templates;
        Wire.u48(m, t, dstMac == NeighbourTable.UNKNOWN ? 0 : dstMac);
        Wire.u48(m, t + 6, srcMac);
        Wire.u16(m, t + 12, EthernetHeader.TYPE_IP4);
        final long ip = t + IP_OFF;
        Wire.u8(m, ip, 0x45);
        Wire.u8(m, ip + 1, 0);
        Wire.u16(m, ip + 2, 0);
        Wire.u16(m, ip + 4, 0);
        Wire.u16(m, ip + 6, s.outerDf() ? Ip4Header.FLAG_DF : 0);
        Wire.u8(m, ip + 8, s.outerTtl());
        Wire.u8(m, ip + 9, Ip4Header.PROTO_UDP);
        Wire.u16(m, ip + 10, 0);
        Wire.u32(m, ip + 12, localIp);
        Wire.u32(m, ip + 16, dstIp);
        final long udp = t + UDP_OFF;
        Wire.u16(m, udp, 0);
        Wire.u16(m, udp + 2, port);
        Wire.u32(m, udp + 4, 0);
        new VxlanHeader().wrap(m, t + VXLAN_OFF).vni(vni);
    }

    private void addKnown(final int addr, final int r)
    {
        int i = mix(addr) & knownMask;
        while (knownSet[i] != 0 && knownSet[i] != addr)
        {
            i = (i + 1) & knownMask;
        }
        // two Nodes announcing one VTEP address: both are that VTEP's, chained behind the slot
        sameVtepNext[r] = knownSet[i] == addr ? knownRemote[i] : -1;
        knownSet[i] = addr;
        knownRemote[i] = r;
    }

    private static int mix(final int x)
    {
        final int h = x * 0x9E3779B9;
        return h ^ (h >>> 16);
    }

    /**
     * Anti-spoofing check: is this outer source address a VTEP of the cluster?
     *
     * @param addr outer IPv4 source.
     * @return whether a remote node has that public IP.
     */
    public boolean isKnownVtep(final int addr)
    {
        return remoteOf(addr) >= 0;
    }

    /**
     * Anti-spoofing check of a decapsulated frame (issue 13, class 2): may this VTEP send this inner source?
     * Yes when the source is in the pod CIDR of a Node that announces the VTEP address (its pods, its gateway,
     * a kernel node's flannel.1 address) or is one of that Node's own addresses (its VTEP address, its node
     * addresses: what its masquerade or its host stack uses). No for anything else, such as another node's pods
     * or an outside client: ferry never forwards outside sources through the tunnel (externalTrafficPolicy Local
     * keeps them on the node that received them), so such a frame is spoofed or routed through a node without
     * NAT, which ferry refuses (SECURITY.md).
     *
     * @param remote   the sending VTEP's {@link #remoteOf remote index} (-1: false).
     * @param innerSrc the inner IPv4 source.
     * @return whether the inner source belongs to that VTEP's node.
     */
    public boolean innerSourceAllowed(final int remote, final int innerSrc)
    {
        for (int r = remote; r >= 0; r = sameVtepNext[r])
        {
            if ((innerSrc & podMask[r]) == podNet[r])
            {
                return true;
            }
            final int[] own = nodeAddrs[r];
            for (int i = 0; i < own.length; i++)
            {
                if (own[i] == innerSrc)
                {
                    return true;
                }
            }
        }
        return false;
    }

    /**
     * Finds a VTEP address, so that decap probes once per packet for both anti-spoofing checks.
     *
     * @param addr outer IPv4 source.
     * @return the remote index of the last Node announcing that VTEP address, or -1 when none does.
     */
    public int remoteOf(final int addr)
    {
        if (addr == 0)
        {
            return -1;
        }
        int i = mix(addr) & knownMask;
        int v;
        while ((v = knownSet[i]) != 0)
        {
            if (v == addr)
            {
                return knownRemote[i];
            }
            i = (i + 1) & knownMask;
        }
        return -1;
    }

    /** @return our VTEP address (flannel public-ip): outer source on send, required outer destination on receive. */
    public int localIp()
    {
        return localIp;
    }

    /** @return our VTEP MAC. */
    public long vtepMac()
    {
        return vtepMac;
    }

    /** @return the VNI. */
    public int vni()
    {
        return vni;
    }

    /** @return the UDP destination port. */
    public int port()
    {
        return port;
    }

    /** @return number of remote VTEPs. */
    public int size()
    {
        return count;
    }

    /**
     * @param r remote index.
     * @return that VTEP's public IP.
     */
    public int remoteIp(final int r)
    {
        return remoteIp[r];
    }

    /**
     * @param r remote index.
     * @return whether the underlay next-hop MAC of that VTEP is known (uplink mode needs it).
     */
    public boolean resolved(final int r)
    {
        return resolved[r];
    }

    /** @return the templates, {@link VxlanHeader#ENCAP_OVERHEAD} bytes per remote index. */
    MemorySegment templates()
    {
        return templates;
    }

    /**
     * @param r remote index.
     * @return the one's-complement sum of the outer pseudo-header with length 0 and of the template's UDP header
     *         (source port, length and checksum zero) and VXLAN header.
     */
    long udpSumBase(final int r)
    {
        return udpSumBase[r];
    }

    /**
     * @param r remote index.
     * @return the one's-complement sum of that template's outer IPv4 header with length, id and checksum zero.
     */
    long ipSumBase(final int r)
    {
        return ipSumBase[r];
    }

    /**
     * @param r remote index.
     * @return a copy of the 50-byte template (tests, {@code show vxlan}).
     */
    public byte[] template(final int r)
    {
        return templates.asSlice((long)r * VxlanHeader.ENCAP_OVERHEAD, VxlanHeader.ENCAP_OVERHEAD)
            .toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
    }

    /** @return one line per VTEP, {@code bridge fdb} / {@code ip route} style. */
    public List<String> lines()
    {
        return lines;
    }
}
