package dev.ferry.nat;

import dev.ferry.conntrack.TcpState;
import dev.ferry.core.DropReason;
import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;
import dev.ferry.core.Stage;
import dev.ferry.core.StageInfo;
import dev.ferry.core.header.Checksum;
import dev.ferry.core.header.IcmpHeader;
import dev.ferry.core.header.Ip4Header;
import dev.ferry.core.header.TcpHeader;
import dev.ferry.core.header.Wire;
import dev.ferry.core.stage.Ip4Lookup;
import dev.ferry.core.tables.Snapshot;
import dev.ferry.core.tables.TablesRef;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * nat44-in: the fast path. One flow-table lookup per packet; a tracked flow gets its binding applied from
 * the entry's two tuples (DNAT, SNAT, or their reverse on replies), never recomputed from the Service tables.
 *
 * <pre>
 *              ┌─ hit:  update TCP state, rewrite addresses/ports (RFC 1624) ──► ip4-lookup
 *              ├─ ICMP error quoting a tracked flow, not sent to its source ───► drop
 *  ip4-input ──┤─ ICMP error quoting a tracked flow: rewrite outer and inner ──► ip4-lookup
 *              ├─ miss, or an ICMP error about no tracked flow ───────────────► nat44-new
 *              └─ TCP, UDP or ICMP fragment without its datagram's ports ─────► nat44-frag (and back, ports known)
 *  (untracked protocols and their fragments, ICMP other than echo and errors ──► ip4-lookup)
 * </pre>
 *
 * <p>Each 64 packets go through three passes. {@code classify} parses each packet once: a plain TCP, UDP or ICMP echo
 * packet is a tracked-flow candidate, its tuple, offsets and keyed hash kept in per-batch arrays. Then every candidate
 * is looked up with its hash, and only then are packets translated, in order: candidates from their result, the rest
 * (fragments, ICMP errors, drops) one by one. Once the flow table outgrows the caches ({@link FlowTable#prefetchPays})
 * the passes overlap the table's cache misses: the slot lines of all the hashes are loaded together before the lookups
 * ({@link FlowTable#prefetch}), the entry lines of all the results before the translation
 * ({@link FlowTable#prefetchEntries}), so that a batch waits about two memory latencies rather than two per packet. A
 * result kept while earlier packets were accounted stays good unless one of them was a RST (which can end its flow's
 * life at once): after one, or after any packet of the one-by-one path (a first fragment can carry a RST), a result is
 * checked again ({@link FlowTable#liveNow}) and a dead one goes to nat44-new, as a lookup at that point would.
 *
 * <p>Before the vector it adopts the snapshot's Service table (flushing the UDP flows of (frontend, endpoint) pairs
 * that the table no longer has, see {@link NatState#adopt}) and gives the flow table a bounded expiry budget, and drops
 * the held fragments whose datagram timed out. Drops: truncated L4 headers, packets that are INVALID for the tracked
 * TCP state (kube-proxy drops {@code ctstate INVALID}), ICMP errors about a tracked flow that are not addressed to the
 * quoted packet's source (INVALID too), and TCP segments whose flag combination netfilter's {@code tcp_valid_flags}
 * refuses, tracked or not (kube-proxy's KUBE-FORWARD drops them as INVALID).
 */
final class Nat44In implements Stage
{
    static final String NAME = "nat44-in";
    private static final List<Drop> DROPS = List.of(Drop.values());
    /** Name, edges and drop reasons, known without building the stage. */
    static final StageInfo INFO = new StageInfo(NAME, List.of(Ip4Lookup.NAME, Nat44New.NAME, Nat44Frag.NAME), DROPS);
    static final int NEXT_LOOKUP = 0;
    static final int NEXT_NEW = 1;
    static final int NEXT_FRAG = 2;
    /** Fragment contexts timed out per vector at most. */
    static final int FRAGMENT_EXPIRE_BUDGET = 64;
    /**
     * Packets whose flow-table lines are pulled into the cache together before they are translated: enough misses to
     * overlap, few enough lines (two per packet) to stay in the L1 and L2 caches until their packet's turn.
     */
    static final int PREFETCH_BATCH = 64;

    /** Why nat44-in drops a packet. */
    enum Drop implements DropReason
    {
        /** TCP, UDP or ICMP header shorter than its minimum. */
        L4_TRUNCATED(100, "TCP/UDP/ICMP header truncated"),
        /** The tracked TCP state refuses the packet. */
        INVALID(101, "packet invalid for the tracked TCP connection state (conntrack INVALID)"),
        /** An ICMP error about a tracked flow, not addressed to the quoted packet's source. */
        ICMP_ERROR_MISDIRECTED(110, "ICMP error about a tracked flow not addressed to the quoted packet's source"
            + " (conntrack INVALID)"),
        /** A TCP flag combination that netfilter's tcp_valid_flags refuses (SYN|FIN, SYN|RST, NULL, ...). */
        TCP_FLAGS_INVALID(111, "invalid TCP flag combination (SYN|FIN, SYN|RST, FIN without ACK, no flags; conntrack"
            + " INVALID)"),
        /** A held fragment whose datagram's first fragment did not come within the reassembly timeout. */
        FRAGMENT_TIMEOUT(123, "fragment held for its datagram's first fragment, which did not arrive in time");

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

    private static final int ERROR_NO_FLOW = 0;
    private static final int ERROR_TRANSLATED = 1;
    private static final int ERROR_MISDIRECTED = 2;

    private final PacketPool pool;
    private final NatState state;
    private final TablesRef<Snapshot> tables;
    private final int slot;
    private final Ip4Header ip = new Ip4Header();
    // the batch being translated, filled by classify: per packet of the batch, its index j among the tracked-flow
    // candidates (or -1); per candidate j, what the lookup and the rewrite need, so that nothing is parsed twice
    private final int[] fast = new int[PREFETCH_BATCH];
    /** Candidate j's protocol (bits 0-7) and TCP flags (bits 8-15). */
    private final int[] meta = new int[PREFETCH_BATCH];
    private final int[] srcs = new int[PREFETCH_BATCH];
    private final int[] dsts = new int[PREFETCH_BATCH];
    /** Source port (high half) and destination port (low half; ICMP echo: the identifier in both). */
    private final int[] ports = new int[PREFETCH_BATCH];
    private final long[] ipOffs = new long[PREFETCH_BATCH];
    private final long[] l4Offs = new long[PREFETCH_BATCH];
    /** IP total length (high half) and L4 length (low half). */
    private final int[] lengths = new int[PREFETCH_BATCH];
    /** The keyed hash of candidate j's tuple, side by side for {@link FlowTable#prefetch}. */
    private final long[] hashes = new long[PREFETCH_BATCH];
    /** Candidate j's lookup result, side by side for {@link FlowTable#prefetchEntries}. */
    private final long[] results = new long[PREFETCH_BATCH];

    Nat44In(final PacketPool pool, final NatState state, final TablesRef<Snapshot> tables, final int slot)
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
        final NatState state = this.state;
        state.insertMark = state.inserts;
        final Snapshot snap = tables.lvCurrent();
        // before any lookup: flows bound to endpoints that left their Service must not be used under this table
        state.adopt(snap == null ? null : snap.part(slot));
        state.flows.expire(NatState.EXPIRE_BUDGET);
        expireFragments(out);
        final FlowTable flows = state.flows;
        final MemorySegment mem = pool.memory();
        final int n = in.count();
        // a table that fits in the caches has nothing to overlap: the same passes, without the two prefetches
        final boolean overlap = flows.prefetchPays();
        for (int start = 0; start < n; start += PREFETCH_BATCH)
        {
            final int end = Math.min(n, start + PREFETCH_BATCH);
            final int k = classify(in, start, end, flows, mem);
            if (overlap)
            {
                flows.prefetch(hashes, k);
            }
            final long[] results = this.results;
            for (int j = 0; j < k; j++)
            {
                final int p = ports[j];
                results[j] = flows.lookup(hashes[j], 0, meta[j] & 0xff, srcs[j], dsts[j], p >>> 16, p & 0xffff);
            }
            if (overlap)
            {
                flows.prefetchEntries(results, k);
            }
            translate(in, start, end, flows, mem, out);
        }
    }

    /**
     * Parses each packet of {@code [start, end)} once: a plain (unfragmented) TCP, UDP or ICMP echo packet whose L4
     * header is whole and, for TCP, whose flags netfilter accepts, is a tracked-flow candidate; its tuple, offsets
     * and hash go to the batch arrays at the next index {@code j} ({@code fast[i - start] = j}). Every other packet
     * ({@code fast = -1}: fragments, truncated or refused headers, ICMP errors and other types, other protocols) takes
     * {@link #translateOne} in its turn, which decides as before.
     *
     * @return how many candidates (the batch arrays' length in use).
     */
    private int classify(final PacketVector in, final int start, final int end, final FlowTable flows,
        final MemorySegment mem)
    {
        final PacketPool pool = this.pool;
        int k = 0;
        for (int i = start; i < end; i++)
        {
            final int h = in.get(i);
            final long ipOff = pool.frameOffset(h) + pool.l3Offset(h);
            // the header's first 20 bytes in three loads (ip4-input checked it), rather than a load per field
            final long w0 = mem.get(Wire.U64, ipOff);
            fast[i - start] = -1;
            if ((w0 & 0x3fffL) != 0)
            {
                // a fragment: MF set or a fragment offset
                continue;
            }
            final long w1 = mem.get(Wire.U64, ipOff + 8);
            final int ihl = (int)(w0 >>> 54) & 0x3c;
            final int totalLength = (int)(w0 >>> 32) & 0xffff;
            final int proto = (int)(w1 >>> 48) & 0xff;
            final long l4 = ipOff + ihl;
            final int l4Len = totalLength - ihl;
            final int ports;
            int tcpFlags = 0;
            if (proto == Ip4Header.PROTO_TCP)
            {
                if (l4Len < TcpHeader.MIN_LENGTH)
                {
                    continue;
                }
                tcpFlags = Wire.u8(mem, l4 + 13);
                if (!TcpState.validFlags(tcpFlags))
                {
                    continue;
                }
                ports = Wire.u32(mem, l4);
            }
            else if (proto == Ip4Header.PROTO_UDP)
            {
                if (l4Len < 8)
                {
                    continue;
                }
                ports = Wire.u32(mem, l4);
            }
            else if (proto == Ip4Header.PROTO_ICMP)
            {
                if (l4Len < IcmpHeader.LENGTH)
                {
                    continue;
                }
                final int type = Wire.u8(mem, l4);
                if (type != IcmpHeader.TYPE_ECHO_REQUEST && type != IcmpHeader.TYPE_ECHO_REPLY)
                {
                    continue;
                }
                final int id = Wire.u16(mem, l4 + 4);
                ports = id << 16 | id;
            }
            else
            {
                continue;
            }
            final int src = (int)w1;
            final int dst = Wire.u32(mem, ipOff + Ip4Header.DST_OFFSET);
            fast[i - start] = k;
            meta[k] = proto | tcpFlags << 8;
            srcs[k] = src;
            dsts[k] = dst;
            this.ports[k] = ports;
            ipOffs[k] = ipOff;
            l4Offs[k] = l4;
            lengths[k] = totalLength << 16 | l4Len;
            hashes[k] = flows.hash(0, proto, src, dst, ports >>> 16, ports & 0xffff);
            k++;
        }
        return k;
    }

    /**
     * Translates the packets of {@code [start, end)} in order: a candidate from its batch lookup, the others one by
     * one as drawn above.
     */
    private void translate(final PacketVector in, final int start, final int end, final FlowTable flows,
        final MemorySegment mem, final Next out)
    {
        // copied to locals: the loop reads them per packet
        final PacketPool pool = this.pool;
        final long[] results = this.results;
        // a RST can kill its entry (expired now), and a later packet of the batch found it before: look again then
        boolean mayHaveKilled = false;
        for (int i = start; i < end; i++)
        {
            final int h = in.get(i);
            final int j = fast[i - start];
            if (j < 0)
            {
                translateOne(h, flows, mem, out);
                mayHaveKilled = true;
                continue;
            }
            final long r = results[j];
            if (r == FlowTable.MISS || mayHaveKilled && !flows.liveNow((int)(r >>> 1)))
            {
                out.next(h, NEXT_NEW);
                continue;
            }
            final int m = meta[j];
            final int proto = m & 0xff;
            final int tcpFlags = m >>> 8;
            if (newConnectionOnOldEntry(flows, r, proto, tcpFlags))
            {
                mayHaveKilled = true;
                out.next(h, NEXT_NEW);
                continue;
            }
            final int len = lengths[j];
            final long l4 = l4Offs[j];
            final boolean applied = proto == Ip4Header.PROTO_ICMP
                ? applyTracked(flows, mem, ipOffs[j], l4, len & 0xffff, proto, r, tcpFlags, len >>> 16,
                    pool.checksumPartial(h))
                : applyParsed(flows, mem, ipOffs[j], l4, len & 0xffff, proto, r, tcpFlags, len >>> 16,
                    srcs[j], dsts[j], ports[j], pool.checksumPartial(h));
            if (!applied)
            {
                out.drop(h, Drop.INVALID);
                continue;
            }
            mayHaveKilled |= (tcpFlags & TcpHeader.RST) != 0;
            // the graph's traceDetail is a call the JIT does not inline here: only made for a traced packet
            if (pool.traced(h))
            {
                out.traceDetail(h, r >>> 1, r & 1);
            }
            out.next(h, NEXT_LOOKUP);
        }
    }

    /** One packet that is not a plain tracked-flow candidate: the fragment, error and drop cases. */
    private void translateOne(final int h, final FlowTable flows, final MemorySegment mem, final Next out)
    {
        final Ip4Header ip = this.ip;
        final long ipOff = pool.frameOffset(h) + pool.l3Offset(h);
        ip.wrap(mem, ipOff);
        final int proto = ip.protocol();
        if (ip.isFragment())
        {
            if (proto != Ip4Header.PROTO_TCP && proto != Ip4Header.PROTO_UDP && proto != Ip4Header.PROTO_ICMP)
            {
                out.next(h, NEXT_LOOKUP);
                return;
            }
            final int flags = pool.flags(h);
            if ((flags & PacketPool.FLAG_FRAG_PORTS) == 0)
            {
                // its datagram's ports are in the first fragment only: the virtual reassembly gives them
                out.next(h, NEXT_FRAG);
                return;
            }
            if (ip.isLaterFragment())
            {
                laterFragment(h, flows, mem, ipOff, proto, out);
                return;
            }
            // the first fragment carries the L4 header: translated as any packet below
            pool.flags(h, flags & ~PacketPool.FLAG_FRAG_PORTS);
        }
        final long l4 = ip.payloadOffset();
        final int l4Len = ip.payloadLength();
        final int sport;
        final int dport;
        int tcpFlags = 0;
        if (proto == Ip4Header.PROTO_TCP || proto == Ip4Header.PROTO_UDP)
        {
            if (l4Len < (proto == Ip4Header.PROTO_TCP ? TcpHeader.MIN_LENGTH : 8))
            {
                out.drop(h, Drop.L4_TRUNCATED);
                return;
            }
            sport = Wire.u16(mem, l4);
            dport = Wire.u16(mem, l4 + 2);
            if (proto == Ip4Header.PROTO_TCP)
            {
                tcpFlags = Wire.u8(mem, l4 + 13);
                if (!TcpState.validFlags(tcpFlags))
                {
                    out.drop(h, Drop.TCP_FLAGS_INVALID);
                    return;
                }
            }
        }
        else if (proto == Ip4Header.PROTO_ICMP)
        {
            if (l4Len < IcmpHeader.LENGTH)
            {
                out.drop(h, Drop.L4_TRUNCATED);
                return;
            }
            final int type = Wire.u8(mem, l4);
            if (type != IcmpHeader.TYPE_ECHO_REQUEST && type != IcmpHeader.TYPE_ECHO_REPLY)
            {
                if (isError(type) && !ip.isFragment())
                {
                    final int r = translateError(h, mem, ipOff, l4, l4Len, out);
                    if (r == ERROR_MISDIRECTED)
                    {
                        out.drop(h, Drop.ICMP_ERROR_MISDIRECTED);
                    }
                    else
                    {
                        out.next(h, r == ERROR_TRANSLATED ? NEXT_LOOKUP : NEXT_NEW);
                    }
                }
                else
                {
                    out.next(h, NEXT_LOOKUP);
                }
                return;
            }
            sport = Wire.u16(mem, l4 + 4);
            dport = sport;
        }
        else
        {
            out.next(h, NEXT_LOOKUP);
            return;
        }
        final long r = flows.lookup(0, proto, ip.src(), ip.dst(), sport, dport);
        if (r == FlowTable.MISS)
        {
            out.next(h, NEXT_NEW);
            return;
        }
        if (newConnectionOnOldEntry(flows, r, proto, tcpFlags))
        {
            out.next(h, NEXT_NEW);
            return;
        }
        if (!applyTracked(flows, mem, ipOff, l4, l4Len, proto, r, tcpFlags, ip.totalLength(),
            pool.checksumPartial(h)))
        {
            out.drop(h, Drop.INVALID);
            return;
        }
        out.traceDetail(h, r >>> 1, r & 1);
        out.next(h, NEXT_LOOKUP);
    }

    /**
     * A fragment after the first: the ports that nat44-frag found in its datagram's first fragment pick the flow,
     * and only the IP header is rewritten (the L4 header and its checksum are in the first fragment). No flow: on to
     * nat44-new, which looks again (the first fragment may have created it in this vector) or decides.
     */
    private void laterFragment(final int h, final FlowTable flows, final MemorySegment mem, final long ipOff,
        final int proto, final Next out)
    {
        final int ports = pool.aux(h);
        // the marker is ICMP's only: a TCP or UDP datagram from port 1 to port 0 has the same aux and is translated
        if (proto == Ip4Header.PROTO_ICMP && ports == FragmentTable.UNTRACKED_PORTS)
        {
            pool.flags(h, pool.flags(h) & ~PacketPool.FLAG_FRAG_PORTS);
            out.next(h, NEXT_LOOKUP);
            return;
        }
        final long r = flows.lookup(0, proto, ip.src(), ip.dst(), ports >>> 16, ports & 0xffff);
        if (r == FlowTable.MISS)
        {
            out.next(h, NEXT_NEW);
            return;
        }
        pool.flags(h, pool.flags(h) & ~PacketPool.FLAG_FRAG_PORTS);
        rewriteFragment(flows, mem, ipOff, r);
        out.traceDetail(h, r >>> 1, r & 1);
        out.next(h, NEXT_LOOKUP);
    }

    /**
     * Gives a later fragment its flow's addresses: the IP header only (incremental header checksum).
     *
     * @param flows the flow table.
     * @param mem   packet memory.
     * @param ipOff absolute offset of the IPv4 header.
     * @param r     the lookup result.
     */
    static void rewriteFragment(final FlowTable flows, final MemorySegment mem, final long ipOff, final long r)
    {
        final int e = (int)(r >>> 1);
        final boolean original = (r & 1) == FlowTable.ORIGINAL;
        Rewrite.addresses(mem, ipOff, original ? flows.replyDst(e) : flows.origDst(e),
            original ? flows.replySrc(e) : flows.origSrc(e));
    }

    /** Drops the fragments held for datagrams whose time is up, and frees those contexts (bounded per vector). */
    private void expireFragments(final Next out)
    {
        final FragmentTable frags = state.frags;
        if (frags.inUse() == 0)
        {
            return;
        }
        final long now = state.clock.nanos();
        for (int k = 0; k < FRAGMENT_EXPIRE_BUDGET; k++)
        {
            final int c = frags.expired(now);
            if (c == FragmentTable.NONE)
            {
                break;
            }
            for (int x = frags.firstHeld(c); x != FragmentTable.NONE; )
            {
                final int next = frags.nextHeld(x);
                out.drop(x, Drop.FRAGMENT_TIMEOUT);
                x = next;
            }
            if (frags.expire(c))
            {
                state.counters.increment(state.fragTimeouts);
            }
        }
        state.fragmentGauges();
    }

    /**
     * Accounts a packet to its flow entry; a TCP segment with its sequence numbers, which the conntrack table's RST
     * rule checks. Shared by nat44-in (tracked flows) and nat44-new (the first packet of a new flow).
     *
     * @return false when the entry's TCP state refuses the packet.
     */
    static boolean account(final FlowTable flows, final MemorySegment mem, final long l4, final int l4Len,
        final int proto, final int e, final int dir, final int tcpFlags, final int totalLength)
    {
        if (proto != Ip4Header.PROTO_TCP)
        {
            return flows.update(e, dir, tcpFlags, totalLength);
        }
        // bytes 4-15 in two loads: sequence and acknowledgement numbers, then data offset, flags and window
        final long seqAck = mem.get(Wire.U64, l4 + 4);
        final int offWin = Wire.u32(mem, l4 + 12);
        return flows.updateTcp(e, dir, tcpFlags, (int)(seqAck >>> 32), (int)seqAck, offWin & 0xffff,
            l4Len - ((offWin >>> 28) << 2), totalLength);
    }

    /**
     * Applies a tracked flow's binding to a packet: accounts it to the entry (TCP state), then rewrites it to
     * the other direction's tuple. Shared with nat44-new, which looks again for packets whose flow an earlier
     * packet of the same vector created.
     *
     * @return false when the entry's TCP state refuses the packet (nothing was rewritten).
     */
    static boolean applyTracked(final FlowTable flows, final MemorySegment mem, final long ipOff, final long l4,
        final int l4Len, final int proto, final long r, final int tcpFlags, final int totalLength,
        final boolean partial)
    {
        final int e = (int)(r >>> 1);
        final int dir = (int)(r & 1);
        if (!account(flows, mem, l4, l4Len, proto, e, dir, tcpFlags, totalLength))
        {
            return false;
        }
        if (dir == FlowTable.ORIGINAL)
        {
            Rewrite.apply(mem, ipOff, l4, l4Len, proto, flows.replyDst(e), flows.replySrc(e),
                flows.replyDstPort(e), flows.replySrcPort(e), partial);
        }
        else
        {
            Rewrite.apply(mem, ipOff, l4, l4Len, proto, flows.origDst(e), flows.origSrc(e),
                flows.origDstPort(e), flows.origSrcPort(e), partial);
        }
        return true;
    }

    /**
     * {@link #applyTracked} for a TCP or UDP candidate of the batch, whose addresses and ports {@link #classify}
     * read: the rewrite takes them from there instead of reading the headers again ({@link Rewrite#parsed}).
     *
     * @return false when the entry's TCP state refuses the packet (nothing was rewritten).
     */
    private static boolean applyParsed(final FlowTable flows, final MemorySegment mem, final long ipOff, final long l4,
        final int l4Len, final int proto, final long r, final int tcpFlags, final int totalLength, final int src,
        final int dst, final int ports, final boolean partial)
    {
        final int e = (int)(r >>> 1);
        final int dir = (int)(r & 1);
        if (!account(flows, mem, l4, l4Len, proto, e, dir, tcpFlags, totalLength))
        {
            return false;
        }
        final boolean isTcp = proto == Ip4Header.PROTO_TCP;
        if (dir == FlowTable.ORIGINAL)
        {
            Rewrite.parsed(mem, ipOff, l4, isTcp, src, dst, ports, flows.replyDst(e), flows.replySrc(e),
                flows.replyDstPort(e), flows.replySrcPort(e), partial);
        }
        else
        {
            Rewrite.parsed(mem, ipOff, l4, isTcp, src, dst, ports, flows.origDst(e), flows.origSrc(e),
                flows.origDstPort(e), flows.origSrcPort(e), partial);
        }
        return true;
    }

    /**
     * A SYN from a client that reuses the tuple of a flow in TIME_WAIT (or one it aborted) starts a new connection.
     * netfilter kills such an entry and sends the SYN through NAT again, so the new connection is balanced over the
     * Service's endpoints as they are now: reopened in place, it kept the old binding, and a client that reused a
     * port reached an endpoint removed since (a lab test saw a removed backend answer). Removes the entry (its
     * removal listener frees what it held) when the SYN would reopen it.
     *
     * @param r        the lookup result (entry and direction).
     * @param proto    the packet's protocol.
     * @param tcpFlags its TCP flags (TCP only).
     * @return whether the entry was removed and the SYN goes to nat44-new.
     */
    static boolean newConnectionOnOldEntry(final FlowTable flows, final long r, final int proto, final int tcpFlags)
    {
        // only a SYN without ACK can reopen: every other packet pays two compares
        if ((tcpFlags & (TcpHeader.SYN | TcpHeader.ACK)) != TcpHeader.SYN || proto != Ip4Header.PROTO_TCP
            || (r & 1) != FlowTable.ORIGINAL)
        {
            return false;
        }
        final int e = (int)(r >>> 1);
        if (!flows.reopens(e, FlowTable.ORIGINAL, TcpHeader.SYN))
        {
            return false;
        }
        flows.remove(e);
        return true;
    }

    static boolean isError(final int type)
    {
        return type == IcmpHeader.TYPE_DEST_UNREACHABLE || type == IcmpHeader.TYPE_TIME_EXCEEDED
            || type == 4 || type == 5 || type == 12;
    }

    /**
     * Translates an ICMP error whose quoted packet belongs to a tracked flow (netfilter's
     * {@code nf_nat_icmp_reply_translation}): the quoted packet travelled in one direction, already
     * translated, so it is restored to that direction's tuple; the error itself travels in the other
     * direction and is translated like any packet of it. The ICMP checksum is recomputed over the message.
     *
     * <p>An error is only related to the flow when it is addressed to the quoted packet's source: netfilter's
     * {@code nf_conntrack_inet_error} compares the outer destination with the destination of the tuple in the
     * error's direction (the quoted source) and finds the error INVALID otherwise ("outer daddr != inner"),
     * which kube-proxy drops. Without it, any pod could forge an error quoting another pod's Service flow, sent
     * to an address of its choice, and learn from the translated quote which flows exist.
     *
     * @return {@link #ERROR_TRANSLATED}, {@link #ERROR_NO_FLOW} (no tracked flow quoted), or
     *         {@link #ERROR_MISDIRECTED} (a tracked flow quoted, but the error is not addressed to its source).
     */
    private int translateError(final int h, final MemorySegment mem, final long ipOff, final long l4,
        final int l4Len, final Next out)
    {
        final long inner = l4 + IcmpHeader.LENGTH;
        final int innerLen = l4Len - IcmpHeader.LENGTH;
        if (innerLen < Ip4Header.MIN_LENGTH)
        {
            return ERROR_NO_FLOW;
        }
        final int ihl = (Wire.u8(mem, inner) & 0x0f) << 2;
        if (ihl < Ip4Header.MIN_LENGTH || innerLen < ihl + 8)
        {
            return ERROR_NO_FLOW;
        }
        final int iproto = Wire.u8(mem, inner + 9);
        final long il4 = inner + ihl;
        final int isrc = Wire.u32(mem, inner + Ip4Header.SRC_OFFSET);
        final int idst = Wire.u32(mem, inner + Ip4Header.DST_OFFSET);
        final int isport;
        final int idport;
        if (iproto == Ip4Header.PROTO_TCP || iproto == Ip4Header.PROTO_UDP)
        {
            isport = Wire.u16(mem, il4);
            idport = Wire.u16(mem, il4 + 2);
        }
        else if (iproto == Ip4Header.PROTO_ICMP)
        {
            final int t = Wire.u8(mem, il4);
            if (t != IcmpHeader.TYPE_ECHO_REQUEST && t != IcmpHeader.TYPE_ECHO_REPLY)
            {
                return ERROR_NO_FLOW;
            }
            isport = Wire.u16(mem, il4 + 4);
            idport = isport;
        }
        else
        {
            return ERROR_NO_FLOW;
        }
        final FlowTable flows = state.flows;
        final long r = flows.lookup(0, iproto, idst, isrc, idport, isport);
        if (r == FlowTable.MISS)
        {
            return ERROR_NO_FLOW;
        }
        final int e = (int)(r >>> 1);
        final int dir = (int)(r & 1);
        final int innerAvail = innerLen - ihl;
        final int outerSrc = Wire.u32(mem, ipOff + Ip4Header.SRC_OFFSET);
        final int outerDst = Wire.u32(mem, ipOff + Ip4Header.DST_OFFSET);
        if (outerDst != isrc)
        {
            return ERROR_MISDIRECTED;
        }
        final boolean dnat = flows.replySrc(e) != flows.origDst(e);
        final boolean snat = flows.replyDst(e) != flows.origSrc(e);
        if (dir == FlowTable.REPLY)
        {
            // the quoted packet went out in the original direction: restore it; the error travels as a reply
            // does, and only the translations the flow has are undone on the outer header (a router's source
            // address stays when the flow was only masqueraded)
            Rewrite.apply(mem, inner, il4, innerAvail, iproto, flows.origSrc(e), flows.origDst(e),
                flows.origSrcPort(e), flows.origDstPort(e));
            Rewrite.apply(mem, ipOff, l4, 0, Ip4Header.PROTO_ICMP, dnat ? flows.origDst(e) : outerSrc,
                snat ? flows.origSrc(e) : outerDst, 0, 0);
        }
        else
        {
            Rewrite.apply(mem, inner, il4, innerAvail, iproto, flows.replySrc(e), flows.replyDst(e),
                flows.replySrcPort(e), flows.replyDstPort(e));
            Rewrite.apply(mem, ipOff, l4, 0, Ip4Header.PROTO_ICMP, snat ? flows.replyDst(e) : outerSrc,
                dnat ? flows.replySrc(e) : outerDst, 0, 0);
        }
        Wire.u16(mem, l4 + 2, 0);
        Wire.u16(mem, l4 + 2, Checksum.compute(mem, l4, l4Len));
        out.traceDetail(h, e, dir | 2);
        return ERROR_TRANSLATED;
    }

    @Override
    public String formatTrace(final long a, final long b)
    {
        return ((b & 2) != 0 ? "ICMP error of flow " : "flow ") + a + ((b & 1) == 0 ? " original" : " reply");
    }
}
