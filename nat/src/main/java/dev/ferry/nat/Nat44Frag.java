package dev.ferry.nat;

import dev.ferry.core.DropReason;
import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;
import dev.ferry.core.Stage;
import dev.ferry.core.StageInfo;
import dev.ferry.core.header.IcmpHeader;
import dev.ferry.core.header.Ip4Header;
import dev.ferry.core.header.Wire;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * nat44-frag: shallow virtual reassembly of the TCP, UDP and ICMP fragments that nat44-in hands it
 * ({@link FragmentTable}). Each fragment goes back to nat44-in with its datagram's L4 ports in the packet's
 * {@code aux} ({@link PacketPool#FLAG_FRAG_PORTS}), so that nat44-in applies one binding to every fragment: the
 * first fragment is translated as any packet (ports and the L4 checksum, which covers the whole datagram, updated
 * incrementally), later fragments get their IP header rewritten.
 *
 * <pre>
 *             ┌─ first fragment: learn the ports ─► nat44-in, then the fragments held for it ─► nat44-in
 *  nat44-in ──┼─ later fragment, ports known ─────────────────────────────────────────────────► nat44-in
 *             ├─ later fragment before its first: held (bounded) until the first comes or it times out
 *             └─ tiny, overlapping, too many, inconsistent, table or hold full: dropped (see Drop)
 * </pre>
 *
 * <p>With several workers ({@link Nat.Options#workers()} above 1) the fragments go on to the node's ownership stage
 * ({@link Nat#OWNERSHIP_STAGE}) instead of nat44-in: the fragments of a datagram meet here, on the worker that owns
 * their addresses, but its flow belongs to the worker that owns its 5-tuple, which the ports just learnt name. That
 * stage hands each fragment, {@link PacketPool#FLAG_FRAG_PORTS} and {@code aux} with it, to nat44-in of the flow's
 * owner, which translates it without reassembling again (VPP: {@code ip4-sv-reass} before the NAT44-ED handoff).
 *
 * <p>RFC 1858: a first fragment too short for its L4 header (TCP 20 bytes, UDP and ICMP 8), and a TCP fragment at
 * offset 8 or 16 (it would overwrite the TCP header's ports or flags on reassembly) are dropped. Timeouts are run
 * by nat44-in, which sees every vector.
 */
final class Nat44Frag implements Stage
{
    static final String NAME = "nat44-frag";
    private static final List<Drop> DROPS = List.of(Drop.values());
    /** Edge 0: nat44-in (one worker), or the ownership stage (several), with the datagram's ports. */
    static final int NEXT_IN = 0;

    /** Why nat44-frag drops a fragment. */
    enum Drop implements DropReason
    {
        /** RFC 1858: a first fragment without the whole L4 header, or a TCP fragment at offset 8 or 16. */
        TINY(120, "IPv4 fragment too small: a first fragment without its L4 header, or TCP at offset 8 or 16"
            + " (RFC 1858)"),
        /** Overlaps another fragment of its datagram: the datagram is dropped. */
        OVERLAP(121, "IPv4 fragment overlaps another fragment of its datagram (the datagram is dropped)"),
        /** More fragments than the per-datagram limit. */
        TOO_MANY(122, "too many fragments in one IPv4 datagram (the datagram is dropped)"),
        /** Inconsistent lengths. */
        BAD_LENGTH(124, "IPv4 fragment lengths inconsistent: a second end, data beyond the end, or a non-last"
            + " fragment not a multiple of 8 bytes (the datagram is dropped)"),
        /** Its datagram was dropped before. */
        DATAGRAM_DROPPED(125, "fragment of an IPv4 datagram already dropped"),
        /** No free reassembly context. */
        TABLE_FULL(126, "fragment reassembly table full"),
        /** No room to hold a fragment that came before its first. */
        HOLD_FULL(127, "no room to hold a fragment that arrived before its first fragment (the datagram is"
            + " dropped)"),
        /** An exact duplicate. */
        DUPLICATE(129, "duplicate IPv4 fragment");

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

    private static final int TRACE_PASS = 0;
    private static final int TRACE_HOLD = 1;
    private static final int TRACE_RELEASE = 2;

    private final PacketPool pool;
    private final NatState state;
    private final StageInfo info;
    private final Ip4Header ip = new Ip4Header();

    Nat44Frag(final PacketPool pool, final NatState state)
    {
        this.pool = pool;
        this.state = state;
        this.info = info(state.workers);
    }

    /**
     * Name, edges and drop reasons, known without building the stage.
     *
     * @param workers the node's workers.
     * @return name, edges and drop reasons: with one worker the fragments go back to nat44-in, with several to the
     *         ownership stage, which takes them to their flow's owner.
     */
    static StageInfo info(final int workers)
    {
        return new StageInfo(NAME, List.of(workers > 1 ? Nat.OWNERSHIP_STAGE : Nat44In.NAME), DROPS);
    }

    @Override
    public String name()
    {
        return NAME;
    }

    @Override
    public List<String> nextNames()
    {
        return info.nextNames();
    }

    @Override
    public List<Drop> dropReasons()
    {
        return DROPS;
    }

    @Override
    public void process(final PacketVector in, final Next out)
    {
        final FragmentTable frags = state.frags;
        final PacketPool pool = this.pool;
        final MemorySegment mem = pool.memory();
        final Ip4Header ip = this.ip;
        final long now = state.clock.nanos();
        final int n = in.count();
        for (int i = 0; i < n; i++)
        {
            final int h = in.get(i);
            final long ipOff = pool.frameOffset(h) + pool.l3Offset(h);
            ip.wrap(mem, ipOff);
            final int proto = ip.protocol();
            final int offset = ip.fragmentOffset();
            final int length = ip.payloadLength();
            final long l4 = ip.payloadOffset();
            int ports = FragmentTable.UNTRACKED_PORTS;
            if (offset == 0)
            {
                if (length < (proto == Ip4Header.PROTO_TCP ? 20 : 8))
                {
                    out.drop(h, Drop.TINY);
                    continue;
                }
                if (proto != Ip4Header.PROTO_ICMP)
                {
                    ports = Wire.u32(mem, l4);
                }
                else
                {
                    final int type = Wire.u8(mem, l4);
                    // an echo's identifier is its port; other ICMP is not translated
                    if (type == IcmpHeader.TYPE_ECHO_REQUEST || type == IcmpHeader.TYPE_ECHO_REPLY)
                    {
                        final int idf = Wire.u16(mem, l4 + 4);
                        ports = idf << 16 | idf;
                    }
                }
            }
            else if (proto == Ip4Header.PROTO_TCP && offset < 20)
            {
                out.drop(h, Drop.TINY);
                continue;
            }
            final int r = frags.add(ip.src(), ip.dst(), proto, ip.identification(), offset, length,
                (ip.flagsAndFragment() & Ip4Header.FLAG_MF) != 0, ports, h, now);
            final int c = frags.context();
            switch (r)
            {
                case FragmentTable.PASS ->
                {
                    pass(h, frags.ports(c), TRACE_PASS, out);
                    for (int x = frags.firstHeld(c); x != FragmentTable.NONE; x = frags.nextHeld(x))
                    {
                        pass(x, frags.ports(c), TRACE_RELEASE, out);
                    }
                    frags.settle(c);
                }
                case FragmentTable.HOLD ->
                {
                    out.traceDetail(h, TRACE_HOLD, 0);
                    out.hold(h);
                }
                case FragmentTable.DUPLICATE -> out.drop(h, Drop.DUPLICATE);
                case FragmentTable.DEAD -> out.drop(h, Drop.DATAGRAM_DROPPED);
                case FragmentTable.TABLE_FULL -> out.drop(h, Drop.TABLE_FULL);
                default ->
                {
                    final Drop why = r == FragmentTable.OVERLAP ? Drop.OVERLAP : r == FragmentTable.TOO_MANY
                        ? Drop.TOO_MANY : r == FragmentTable.BAD_LENGTH ? Drop.BAD_LENGTH : Drop.HOLD_FULL;
                    out.drop(h, why);
                    for (int x = frags.firstHeld(c); x != FragmentTable.NONE; )
                    {
                        // read the link before the buffer goes back to the pool
                        final int next = frags.nextHeld(x);
                        out.drop(x, Drop.DATAGRAM_DROPPED);
                        x = next;
                    }
                    frags.settle(c);
                }
            }
        }
        state.fragmentGauges();
    }

    private void pass(final int h, final int ports, final int trace, final Next out)
    {
        pool.aux(h, ports);
        pool.flags(h, pool.flags(h) | PacketPool.FLAG_FRAG_PORTS);
        out.traceDetail(h, trace, ports);
        out.next(h, NEXT_IN);
    }

    @Override
    public String formatTrace(final long a, final long b)
    {
        return switch ((int)a)
        {
            case TRACE_HOLD -> "fragment held until its datagram's first fragment arrives";
            case TRACE_RELEASE -> "held fragment released: ports " + (b >>> 16 & 0xffff) + " -> " + (b & 0xffff);
            default -> "fragment: datagram ports " + (b >>> 16 & 0xffff) + " -> " + (b & 0xffff);
        };
    }
}
