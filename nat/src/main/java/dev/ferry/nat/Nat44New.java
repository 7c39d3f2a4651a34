package dev.ferry.nat;

import dev.ferry.core.DropReason;
import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;
import dev.ferry.core.Stage;
import dev.ferry.core.StageInfo;
import dev.ferry.core.header.IcmpHeader;
import dev.ferry.core.header.Ip4Header;
import dev.ferry.core.header.TcpHeader;
import dev.ferry.core.header.Wire;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.stage.IcmpError;
import dev.ferry.core.stage.Ip4Lookup;
import dev.ferry.core.tables.Fib;
import dev.ferry.core.tables.Snapshot;
import dev.ferry.core.tables.TablesRef;
import dev.ferry.core.workers.FlowOwner;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * nat44-new: the slow path for packets of no tracked flow. Service frontend lookup, endpoint choice,
 * DNAT, the masquerade decision (kube-proxy's KUBE-MARK-MASQ rules), SNAT with port allocation, and the
 * flow entry that later packets and replies use.
 *
 * <pre>
 *            ┌─ Service frontend, endpoint usable: DNAT (+ SNAT), insert flow ─────────► ip4-lookup
 *            ├─ Service frontend, no endpoint at all: REJECT (ICMP port unreachable) ──► icmp-error
 *            ├─ ClusterIP on a port it does not serve: REJECT (as nftables kube-proxy) ► icmp-error
 *  nat44-in ─┤─ pod → outside the cluster CIDR through the uplink: SNAT, insert flow ──► ip4-lookup
 *            └─ anything else: untracked ───────────────────────────────────────────► ip4-lookup
 * </pre>
 *
 * <p>Masquerade happens where kube-proxy marks KUBE-MARK-MASQ: every Service packet with
 * {@code masqueradeAll}; a ClusterIP packet whose source is outside the cluster CIDR; externally reachable
 * frontends (NodePort, externalIPs, LoadBalancer IPs) under {@code externalTrafficPolicy: Cluster}; under
 * policy Local, traffic from this node's own addresses (which also uses all cluster endpoints, as pods do);
 * and hairpin, where the chosen endpoint is the client itself. A LoadBalancer IP of a Service with
 * {@code loadBalancerSourceRanges} opens flows only for sources inside them (kube-proxy's firewall chain), and so
 * do its NodePorts (stricter than kube-proxy, see SECURITY.md); externalIPs and the ClusterIP are not filtered.
 * Drops: each with its own reason below.
 */
final class Nat44New implements Stage
{
    static final String NAME = "nat44-new";
    private static final List<Drop> DROPS = List.of(Drop.values());
    /** Name, edges and drop reasons, known without building the stage. */
    static final StageInfo INFO = new StageInfo(NAME, List.of(Ip4Lookup.NAME, IcmpError.NAME), DROPS);
    static final int NEXT_LOOKUP = 0;
    static final int NEXT_ICMP_ERROR = 1;

    /** Why nat44-new drops a packet. */
    enum Drop implements DropReason
    {
        /** externalTrafficPolicy Local and no endpoint on this node. */
        NO_LOCAL_ENDPOINT_EXTERNAL(102, "externalTrafficPolicy Local and no usable endpoint on this node"),
        /** internalTrafficPolicy Local and no endpoint on this node. */
        NO_LOCAL_ENDPOINT_INTERNAL(103, "internalTrafficPolicy Local and no usable endpoint on this node"),
        /** No free masquerade port toward the destination. */
        PORTS_EXHAUSTED(104, "masquerade source ports toward the destination exhausted"),
        /** The flow table refused the new entry. */
        TABLE_FULL(105, "connection tracking table full"),
        /** The flow table refused the first packet for its TCP state. */
        INVALID(106, "first packet invalid for a new TCP connection (conntrack INVALID)"),
        /** ICMP echo to a ClusterIP. */
        CLUSTER_IP_ECHO(107, "ICMP echo to a ClusterIP is not answered (as with kube-proxy iptables)"),
        /** Destination in a Service CIDR that no Service holds. */
        NO_SERVICE(108, "destination in a Service CIDR but no Service has that address"),
        /** A packet of a flow created earlier in the same vector, refused by its TCP state. */
        INVALID_TRACKED(109, "packet invalid for the tracked TCP connection state (conntrack INVALID)"),
        /** A later fragment of no flow whose datagram would need translation (to a Service address, or a pod's
         *  leaving the cluster): its first fragment did not create a flow, and untranslated it would leak. */
        FRAGMENT_NO_FLOW(128, "fragment of no tracked flow toward a Service or leaving the cluster (never sent"
            + " untranslated)"),
        /** A pod's TCP segment without SYN toward outside the cluster that matches no flow: it would leak the pod's
         *  address (Linux's conntrack marks it INVALID and never masquerades it). */
        UNTRACKED_EGRESS(112, "pod TCP without SYN leaving the cluster matches no flow (would leak the pod address)"),
        /** A new flow to a LoadBalancer IP from a source outside the Service's loadBalancerSourceRanges. */
        SOURCE_NOT_ALLOWED(113, "source outside the Service's loadBalancerSourceRanges (LoadBalancer IP or NodePort)");

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

    private static final int TRACE_UNTRACKED = 0;
    private static final int TRACE_SERVICE = 1;
    private static final int TRACE_MASQUERADE = 2;
    private static final int TRACE_REJECT = 3;
    private static final int TRACE_TRACKED = 4;

    private final PacketPool pool;
    private final NatState state;
    private final TablesRef<Snapshot> tables;
    private final int slot;
    private final Ip4Header ip = new Ip4Header();
    private long probes;

    Nat44New(final PacketPool pool, final NatState state, final TablesRef<Snapshot> tables, final int slot)
    {
        this.pool = pool;
        this.state = state;
        this.tables = tables;
        this.slot = slot;
    }

    @Override
    public String name()
    {
        return NAME;
    }

    @Override
    public List<String> nextNames()
    {
        return INFO.nextNames();
    }

    @Override
    public List<Drop> dropReasons()
    {
        return DROPS;
    }

    @Override
    public void process(final PacketVector in, final Next out)
    {
        final Snapshot snap = tables.lvCurrent();
        final ServiceTable st = snap.part(slot);
        final Fib fib = snap.fib();
        final long now = state.clock.nanos();
        final PacketPool pool = this.pool;
        final MemorySegment mem = pool.memory();
        final Ip4Header ip = this.ip;
        final int n = in.count();
        probes = 0;
        for (int i = 0; i < n; i++)
        {
            final int h = in.get(i);
            final long ipOff = pool.frameOffset(h) + pool.l3Offset(h);
            ip.wrap(mem, ipOff);
            final int proto = ip.protocol();
            if (ip.isLaterFragment())
            {
                laterFragment(h, st, fib, mem, ipOff, proto, out);
                continue;
            }
            final long l4 = ip.payloadOffset();
            final int sport;
            final int dport;
            int tcpFlags = 0;
            if (proto == Ip4Header.PROTO_TCP || proto == Ip4Header.PROTO_UDP)
            {
                sport = Wire.u16(mem, l4);
                dport = Wire.u16(mem, l4 + 2);
                if (proto == Ip4Header.PROTO_TCP)
                {
                    tcpFlags = Wire.u8(mem, l4 + 13);
                }
            }
            else if (proto == Ip4Header.PROTO_ICMP && (Wire.u8(mem, l4) == IcmpHeader.TYPE_ECHO_REQUEST
                || Wire.u8(mem, l4) == IcmpHeader.TYPE_ECHO_REPLY))
            {
                sport = Wire.u16(mem, l4 + 4);
                dport = sport;
            }
            else
            {
                out.traceDetail(h, TRACE_UNTRACKED, 0);
                out.next(h, NEXT_LOOKUP);
                continue;
            }
            final int src = ip.src();
            final int dst = ip.dst();
            // an earlier packet of this vector may have created the flow since nat44-in looked (VPP's
            // nat44-ed slow path looks again too): a SYN and its SYN-ACK in one vector, a burst of UDP
            final long r = state.inserts == state.insertMark ? FlowTable.MISS
                : state.flows.lookup(0, proto, src, dst, sport, dport);
            if (r != FlowTable.MISS)
            {
                if (Nat44In.applyTracked(state.flows, mem, ipOff, l4, ip.payloadLength(), proto, r, tcpFlags,
                    ip.totalLength(), pool.checksumPartial(h)))
                {
                    out.traceDetail(h, TRACE_TRACKED, r >>> 1);
                    out.next(h, NEXT_LOOKUP);
                }
                else
                {
                    out.drop(h, Drop.INVALID_TRACKED);
                }
                continue;
            }
            if (proto == Ip4Header.PROTO_ICMP && Wire.u8(mem, l4) == IcmpHeader.TYPE_ECHO_REPLY)
            {
                out.traceDetail(h, TRACE_UNTRACKED, 0);
                out.next(h, NEXT_LOOKUP);
                continue;
            }
            final int fe = proto == Ip4Header.PROTO_ICMP ? ServiceTable.NONE : frontend(st, proto, dst, dport);
            if (fe >= 0)
            {
                service(h, st, fe, mem, ipOff, l4, proto, src, dst, sport, dport, tcpFlags, now, out);
                continue;
            }
            if (frontend(st, 0, dst, 0) == ServiceTable.CLUSTER_IP_MARK)
            {
                if (proto == Ip4Header.PROTO_ICMP)
                {
                    out.drop(h, Drop.CLUSTER_IP_ECHO);
                }
                else
                {
                    reject(h, out);
                }
                continue;
            }
            if (st.inServiceCidr(dst))
            {
                out.drop(h, Drop.NO_SERVICE);
                continue;
            }
            // a TCP segment other than a connection-opening SYN with no flow belongs to a connection that this
            // node did not translate (the reply of a pod to a NodePort flow that another node SNATed to its own
            // address): it passes untracked, as the kernel's ESTABLISHED reply would, instead of opening a flow
            if (leavesCluster(st, fib, src, dst))
            {
                if (proto != Ip4Header.PROTO_TCP || (tcpFlags & (TcpHeader.SYN | TcpHeader.ACK)) == TcpHeader.SYN)
                {
                    translate(h, st, mem, ipOff, l4, proto, src, dst, sport, dport, dst, dport, true, tcpFlags, now,
                        out);
                    continue;
                }
                if (!fib.isNodeAddress(dst))
                {
                    // only another node may have translated the connection this segment belongs to
                    out.drop(h, Drop.UNTRACKED_EGRESS);
                    continue;
                }
            }
            out.traceDetail(h, TRACE_UNTRACKED, 0);
            out.next(h, NEXT_LOOKUP);
        }
        state.counters.add(state.frontendProbes, probes);
    }

    /**
     * A later fragment that nat44-in found no flow for (ports from nat44-frag in aux). The flow may have been created
     * by its first fragment in this vector: then it gets the binding. Otherwise it passes untracked, unless its
     * datagram would have needed translation: toward a Service address, or from a pod out of the cluster, where
     * an untranslated fragment would be routed away or leak the pod's address.
     */
    private void laterFragment(final int h, final ServiceTable st, final Fib fib, final MemorySegment mem,
        final long ipOff, final int proto, final Next out)
    {
        final int ports = pool.aux(h);
        pool.flags(h, pool.flags(h) & ~PacketPool.FLAG_FRAG_PORTS);
        final int src = ip.src();
        final int dst = ip.dst();
        final int dport = ports & 0xffff;
        final long r = state.inserts == state.insertMark ? FlowTable.MISS
            : state.flows.lookup(0, proto, src, dst, ports >>> 16, dport);
        if (r != FlowTable.MISS)
        {
            Nat44In.rewriteFragment(state.flows, mem, ipOff, r);
            out.traceDetail(h, TRACE_TRACKED, r >>> 1);
            out.next(h, NEXT_LOOKUP);
            return;
        }
        if (proto != Ip4Header.PROTO_ICMP && frontend(st, proto, dst, dport) >= 0
            || frontend(st, 0, dst, 0) == ServiceTable.CLUSTER_IP_MARK || st.inServiceCidr(dst)
            || leavesCluster(st, fib, src, dst) && !fib.isNodeAddress(dst))
        {
            out.drop(h, Drop.FRAGMENT_NO_FLOW);
            return;
        }
        out.traceDetail(h, TRACE_UNTRACKED, 0);
        out.next(h, NEXT_LOOKUP);
    }

    /**
     * Whether a packet goes from a pod out of the cluster through the uplink, where the pod's address is masqueraded
     * (one FIB lookup).
     */
    private static boolean leavesCluster(final ServiceTable st, final Fib fib, final int src, final int dst)
    {
        if (!st.inClusterCidr(src) || st.inClusterCidr(dst) || st.nonMasquerade(dst))
        {
            return false;
        }
        final int route = fib.lookup(dst);
        return route >= 0 && fib.kind(route) == Fib.UPLINK;
    }

    private int frontend(final ServiceTable st, final int proto, final int dst, final int dport)
    {
        final long r = st.lookup(proto, dst, dport);
        probes += r >>> 32;
        state.counters.increment(state.frontendLookups);
        return (int)r;
    }

    private void service(final int h, final ServiceTable st, final int fe, final MemorySegment mem, final long ipOff,
        final long l4, final int proto, final int src, final int dst, final int sport, final int dport,
        final int tcpFlags, final long now, final Next out)
    {
        final int sp = st.feServicePort[fe];
        final int kind = st.feKind[fe];
        if ((kind == ServiceTable.KIND_LOAD_BALANCER || kind == ServiceTable.KIND_NODE_PORT) && st.hasEndpoints[sp]
            && !st.sourceAllowed(sp, src))
        {
            // kube-proxy's KUBE-FW chain: a source outside the ranges is not DNATed, and KUBE-PROXY-FIREWALL drops
            // it (only with endpoints: without any, the LB IP REJECTs whatever the source). kube-proxy filters the
            // LB IPs only; ferry closes the Service's NodePorts too, as the cloud firewalls that implement the
            // ranges do for the nodes (and Cilium's bpf-lb-source-range-all-types): a cloud LB that keeps the
            // client's address forwards to the NodePort, which would otherwise bypass the ranges
            out.drop(h, Drop.SOURCE_NOT_ALLOWED);
            return;
        }
        final boolean clusterIp = st.feKind[fe] == ServiceTable.KIND_CLUSTER_IP;
        final ServiceTable.Selector sel;
        boolean masq = st.masqueradeAll;
        if (clusterIp)
        {
            sel = st.internal[sp];
            masq |= st.hasClusterCidr && !st.inClusterCidr(src);
        }
        else if (!st.externalLocal[sp])
        {
            sel = st.external[sp];
            masq = true;
        }
        else if (st.inClusterCidr(src))
        {
            // pod traffic to an external frontend is short-circuited to all cluster endpoints
            sel = st.cluster[sp];
        }
        else if (st.isNodeAddress(src))
        {
            sel = st.cluster[sp];
            masq = true;
        }
        else
        {
            sel = st.external[sp];
        }
        if (sel.isEmpty())
        {
            if (!st.hasEndpoints[sp])
            {
                reject(h, out);
            }
            else
            {
                out.drop(h, clusterIp ? Drop.NO_LOCAL_ENDPOINT_INTERNAL : Drop.NO_LOCAL_ENDPOINT_EXTERNAL);
            }
            return;
        }
        final int ep = choose(st, sp, sel, proto, src, dst, sport, dport, now);
        final int epIp = st.epIp[ep];
        masq |= epIp == src;
        translate(h, st, mem, ipOff, l4, proto, src, dst, sport, dport, epIp, st.epPort[ep], masq, tcpFlags, now,
            out);
    }

    private int choose(final ServiceTable st, final int sp, final ServiceTable.Selector sel, final int proto,
        final int src, final int dst, final int sport, final int dport, final long now)
    {
        if (!st.affinity[sp])
        {
            return pick(sel, proto, src, dst, sport, dport);
        }
        // the node's workers share the table: lookup, choice and record are one step for the others, so that two
        // workers opening one client's first connections at once send them to one endpoint
        final AffinityTable affinity = state.affinity;
        affinity.lock();
        try
        {
            final long remembered = affinity.lookup(st.affinityKey[sp], src, now, st.affinityNanos[sp]);
            if (remembered != AffinityTable.NONE)
            {
                final int[] eps = sel.endpoints;
                for (int i = 0; i < eps.length; i++)
                {
                    final int ep = eps[i];
                    if ((((st.epIp[ep] & 0xffffffffL) << 16) | st.epPort[ep]) == remembered)
                    {
                        affinity.record(st.affinityKey[sp], src, remembered, now);
                        state.counters.increment(state.affinityHits);
                        return ep;
                    }
                }
            }
            final int ep = pick(sel, proto, src, dst, sport, dport);
            affinity.record(st.affinityKey[sp], src, ((st.epIp[ep] & 0xffffffffL) << 16) | st.epPort[ep], now);
            return ep;
        }
        finally
        {
            affinity.unlock();
        }
    }

    /** A new connection's endpoint, without affinity: Maglev's by the flow's hash, or uniformly at random. */
    private int pick(final ServiceTable.Selector sel, final int proto, final int src, final int dst, final int sport,
        final int dport)
    {
        final int[] eps = sel.endpoints;
        if (sel.maglev != null)
        {
            final long k = ((src & 0xffffffffL) << 32 | (dst & 0xffffffffL)) ^ ((long)sport << 24 | (long)dport << 8
                | proto) * 0x9e3779b97f4a7c15L;
            return sel.maglev[(int)(Integer.toUnsignedLong(ServiceTable.mix(k)) % sel.maglev.length)];
        }
        return eps[eps.length == 1 ? 0 : state.random.nextInt(eps.length)];
    }

    private void translate(final int h, final ServiceTable st, final MemorySegment mem, final long ipOff,
        final long l4, final int proto, final int src, final int dst, final int sport, final int dport,
        final int newDst, final int newDport, final boolean masq, final int tcpFlags, final long now, final Next out)
    {
        final FlowTable flows = state.flows;
        int newSrc = src;
        int newSport = sport;
        if (masq)
        {
            newSrc = st.snatAddress(newDst);
        }
        if (masq || flows.tupleInUse(0, proto, newDst, newSrc, newDport, newSport))
        {
            // SNAT, or a DNAT whose reply tuple clashes with another flow: a fresh source port
            final int workers = state.workers;
            // with several workers, only this worker's block of the range, so that the reply comes back here
            final int w = state.worker;
            final int min = workers == 1 ? st.portMin : FlowOwner.portMin(st.portMin, st.portMax, workers, w);
            final int max = workers == 1 ? st.portMax : FlowOwner.portMax(st.portMin, st.portMax, workers, w);
            newSport = state.ports.allocate(proto, src, sport, newDst, newDport, newSrc, min, max, now,
                workers == 1 ? null : st);
            state.counters.add(state.portProbes, state.ports.lastProbes());
            if (newSport == PortAllocator.EXHAUSTED)
            {
                if (state.ports.lastHitLimit())
                {
                    state.counters.increment(state.portProbeLimit);
                }
                state.exhausted(proto, newDst, newDport, now);
                out.drop(h, Drop.PORTS_EXHAUSTED);
                return;
            }
        }
        final int replySport = proto == Ip4Header.PROTO_ICMP ? newSport : newDport;
        final int e = flows.insert(0, proto, src, dst, sport, dport, newDst, newSrc, replySport, newSport);
        state.inserts++;
        if (e < 0)
        {
            out.drop(h, Drop.TABLE_FULL);
            return;
        }
        if (!Nat44In.account(flows, mem, l4, ip.payloadLength(), proto, e, FlowTable.ORIGINAL, tcpFlags,
            ip.totalLength()))
        {
            flows.remove(e);
            out.drop(h, Drop.INVALID);
            return;
        }
        state.counters.increment(state.sessionsCreated);
        Rewrite.apply(mem, ipOff, l4, ip.payloadLength(), proto, newSrc, newDst, newSport, newDport,
            pool.checksumPartial(h));
        out.traceDetail(h, dst == newDst ? TRACE_MASQUERADE : TRACE_SERVICE,
            ((newDst & 0xffffffffL) << 32) | (newSrc & 0xffffffffL));
        out.next(h, NEXT_LOOKUP);
    }

    private void reject(final int h, final Next out)
    {
        state.counters.increment(state.rejects);
        IcmpError.request(pool, h, IcmpHeader.TYPE_DEST_UNREACHABLE, IcmpHeader.CODE_PORT_UNREACHABLE, 0);
        out.traceDetail(h, TRACE_REJECT, 0);
        out.next(h, NEXT_ICMP_ERROR);
    }

    @Override
    public String formatTrace(final long a, final long b)
    {
        return switch ((int)a)
        {
            case TRACE_SERVICE -> "new Service flow: DNAT to " + Ip4.format((int)(b >>> 32)) + ", source "
                + Ip4.format((int)b);
            case TRACE_MASQUERADE -> "new flow leaving the cluster: SNAT to " + Ip4.format((int)b);
            case TRACE_REJECT -> "no usable endpoint: REJECT (ICMP port unreachable)";
            case TRACE_TRACKED -> "flow " + b + " created earlier in this vector: binding applied";
            default -> "untracked";
        };
    }
}
