package dev.ferry.node;

import dev.ferry.core.Counters;
import dev.ferry.core.DropReason;
import dev.ferry.core.Graph;
import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;
import dev.ferry.core.Stage;
import dev.ferry.core.header.IcmpHeader;
import dev.ferry.core.header.Wire;
import dev.ferry.core.header.Ip4Header;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.tables.Snapshot;
import dev.ferry.core.tables.TablesRef;
import dev.ferry.core.workers.FlowOwner;
import dev.ferry.core.workers.Handoff;
import dev.ferry.core.workers.OwnerSort;
import dev.ferry.nat.Nat;

import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.function.IntConsumer;

/**
 * The ownership stage of a node with several workers ({@code worker-handoff}): after ip4-input and VXLAN's bypass
 * (so on the inner packet of a tunnelled frame, which vxlan-decap sends round through ip4-input again), before
 * the Services' nat44-in. It applies {@link FlowOwner}'s rule to the validated 5-tuple; a packet whose flow this
 * worker owns goes on to nat44-in, any other crosses the {@link Handoff} ring to its owner, which injects it at
 * nat44-in of its own graph. A node of one worker has no such stage.
 *
 * <pre>
 *   ip4-input ─► vxlan-bypass ─► worker-handoff ─┬─ owner = me ─► nat44-in ─► ...
 *                                                └─ owner = w ─► ring me→w (copy, free)   w: drain ─► nat44-in
 * </pre>
 *
 * <p>The rule is rebuilt when the worker's pinned snapshot changes (once per push, not per packet): the SNAT
 * addresses (the node's primary address and the pods' gateway), the masquerade range, and the Services' frontends
 * and backends as the NAT compiled them ({@link Nat#roles}). The flow's tuple:
 * <ul>
 *   <li>TCP, UDP: addresses and ports; ICMP echo: the identifier as both ports;</li>
 *   <li>ICMP errors: the quoted header, source and destination swapped (the error belongs to the flow it
 *       quotes); one too short to quote ports is owned by its addresses;</li>
 *   <li>other protocols: the addresses with ports 0;</li>
 *   <li>IPv4 fragments of TCP, UDP and ICMP: see below.</li>
 * </ul>
 *
 * <p>The fragment rule: <em>every fragment of a datagram reaches the worker that owns the datagram's flow, with its
 * ports known</em>, so that it is translated with the flow's conntrack entry and binding, as the flow's unfragmented
 * packets and its replies are. Later fragments carry no ports, so a fragment passes here twice (VPP's shallow
 * virtual reassembly before the NAT44-ED handoff):
 * <pre>
 *   fragment, ports unknown ─► owner of (proto, src, 0, dst, 0) ─► its nat44-in ─► nat44-frag: every fragment of the
 *        datagram meets there; the first gives the ports (held fragments wait for it, bounded, timed out there)
 *   ─► worker-handoff again, FLAG_FRAG_PORTS + aux ─► owner of (proto, src, sport, dst, dport) ─► its nat44-in,
 *        which translates the fragment with the ports from aux and does not reassemble again
 * </pre>
 * The ring carries the flag and {@code aux} with the frame. A pod cannot set the flag (the pool clears it on every
 * allocation; only nat44-frag sets it), so a crafted fragment can neither skip the reassembly nor be translated on
 * a worker without its flow's state; the reassembly's tables and held fragments are bounded per worker
 * ({@code fragments:} in node.yaml), the hold queue here per owner. Fragments the NAT does not translate (ICMP other
 * than echo) stay on the worker of their addresses. A node of one worker has no such stage: nat44-frag hands
 * straight back to nat44-in.
 *
 * <p>A ring that is full (its owner busy or descheduled) does not drop: the frame waits in this worker's hold
 * queue for that owner ({@link Handoff.Endpoint#sendOrHold}), and while frames are held the worker writes them on
 * first in each duty cycle and reads none of its ports ({@link #flushHeld}), so the kernel's queues (the AF_PACKET
 * ring, the TAP queues) buffer the burst instead of a 256 KiB ring. An owner that takes nothing for
 * {@link #HOLD_PORTS_NANOS} does not stall this worker's own flows longer: the ports are read again, and frames
 * for it beyond the hold queue are dropped, counted.
 *
 * <p>Drops are the handoff's own, counted by the {@link Handoff.Endpoint} in this worker's counters
 * ({@code worker/drop/handoff-full}, {@code -too-big}, {@code -no-buffer}, shown by {@code show stats}); the stage
 * itself drops nothing.
 */
final class WorkerHandoff implements NodeFeature
{
    /** Stage name: the one nat44-frag hands fragments back to, their datagram's ports known. */
    static final String NAME = Nat.OWNERSHIP_STAGE;
    /** Inbound frames taken per duty cycle at most, shared round-robin between the rings. */
    static final int DRAIN_LIMIT = 256;
    /** How long held frames may keep this worker from reading its ports while their owner takes none. */
    static final long HOLD_PORTS_NANOS = 100_000_000L;

    private final int worker;
    private final Handoff handoff;
    private final long secret;
    private OwnershipStage stage;
    private Handoff.Endpoint endpoint;
    /** When the held frames last moved (or were first held), for {@link #HOLD_PORTS_NANOS}. */
    private long heldProgress;
    private boolean holdPorts;

    /**
     * @param worker  this graph's worker.
     * @param handoff the node's rings.
     * @param secret  the node's hash secret: pods cannot aim their flows at one worker.
     */
    WorkerHandoff(final int worker, final Handoff handoff, final long secret)
    {
        this.worker = worker;
        this.handoff = handoff;
        this.secret = secret;
    }

    @Override
    public String name()
    {
        return NAME;
    }

    @Override
    public int order()
    {
        // after VXLAN's bypass (10): outer tunnel packets are decapsulated first and owned by their inner flow;
        // before the Services (50), whose conntrack shard the owner holds
        return 30;
    }

    @Override
    public List<Stage> beforeLookup(final Context c, final String next)
    {
        stage = new OwnershipStage(c.pool(), c.tables(), next, worker, handoff.workers(), secret);
        return List.of(stage);
    }

    /**
     * Joins the built graph to the rings (control side, before the worker runs): frames handed to this worker
     * enter its graph at the stage after the ownership decision.
     *
     * @param graph    the worker's graph.
     * @param counters the worker's counters.
     * @param services the same graph's Services, whose NAT knows the frontends and backends.
     */
    void bind(final Graph graph, final Counters counters, final ServicesFeature services)
    {
        final int after = graph.indexOf(stage.next);
        if (after < 0)
        {
            throw new IllegalStateException("worker-handoff's next stage " + stage.next + " is not in the graph");
        }
        // a handed-over packet is not sampled again here; a traced one goes on under its id (its next part)
        endpoint = handoff.senderAwareEndpoint(worker, graph.pool(), counters,
            (h, from) -> graph.inputHandedOver(after, h, from));
        stage.endpoint = endpoint;
        stage.services = services;
    }

    /**
     * How this worker wakes another one blocked idle after handing it frames (control side, before the workers
     * run): called once per vector for each owner that received any, never per packet.
     *
     * @param wake takes the worker to wake.
     */
    void wakers(final IntConsumer wake)
    {
        stage.wake = wake;
    }

    /**
     * @return whether another worker handed this one frames it has not drained, or frames wait in this worker's
     *         hold queues (this worker's thread: it must not block then, the owner will not wake it).
     */
    boolean pending()
    {
        return endpoint.held() > 0 || endpoint.pending();
    }

    /**
     * Worker thread, first in each duty cycle: writes held frames into their rings as far as the owners have made
     * room, then decides {@link #holdPorts()}.
     *
     * @param now the cycle's clock.
     * @return frames written on (or dropped as too big).
     */
    int flushHeld(final long now)
    {
        final int n = endpoint.flushHeld();
        if (endpoint.held() == 0)
        {
            heldProgress = 0;
            holdPorts = false;
            return n;
        }
        if (n > 0 || heldProgress == 0)
        {
            heldProgress = now;
        }
        holdPorts = now - heldProgress < HOLD_PORTS_NANOS;
        return n;
    }

    /**
     * @return whether the worker should read none of its ports this cycle: frames are still held after
     *         {@link #flushHeld}, and their owner took some within {@link #HOLD_PORTS_NANOS}.
     */
    boolean holdPorts()
    {
        return holdPorts;
    }

    /** Worker thread, at stop: held frames will never be written; dropped, counted. */
    void discardHeld()
    {
        endpoint.discardHeld();
    }

    /**
     * Worker thread, once per duty cycle before the graph runs: injects what other workers handed over.
     *
     * @return frames taken.
     */
    int drain()
    {
        return endpoint.drain(DRAIN_LIMIT);
    }

    /** @return this graph's worker. */
    int worker()
    {
        return worker;
    }

    /** The stage: one owner decision per packet, no allocation. */
    static final class OwnershipStage implements Stage
    {
        private final PacketPool pool;
        private final TablesRef<Snapshot> tables;
        private final String next;
        private final int worker;
        private final int workers;
        private final long secret;
        private final Ip4Header ip = new Ip4Header();
        private final Ip4Header quoted = new Ip4Header();
        private final IcmpHeader icmp = new IcmpHeader();
        /** Trace detail of a packet the handoff dropped: its ring and the hold queue full. */
        private static final long TRACE_FULL = -1;
        /** Trace detail of a packet the handoff dropped: larger than a ring record. */
        private static final long TRACE_TOO_BIG = -2;
        /** The vector sorted by owner: this worker's packets, then the others'. */
        private final OwnerSort sorted;
        private Handoff.Endpoint endpoint;
        private ServicesFeature services;
        private IntConsumer wake = w -> { };
        private Snapshot ruleOf;
        private FlowOwner rule;
        private long local;
        private long handed;

        OwnershipStage(final PacketPool pool, final TablesRef<Snapshot> tables, final String next, final int worker,
            final int workers, final long secret)
        {
            this.pool = pool;
            this.tables = tables;
            this.next = next;
            this.worker = worker;
            this.workers = workers;
            this.secret = secret;
            this.sorted = new OwnerSort(worker);
        }

        @Override
        public String name()
        {
            return NAME;
        }

        @Override
        public List<String> nextNames()
        {
            return List.of(next);
        }

        @Override
        public List<? extends DropReason> dropReasons()
        {
            return List.of();
        }

        @Override
        public void process(final PacketVector in, final Next out)
        {
            final FlowOwner r = rule(tables.lvCurrent());
            final MemorySegment mem = pool.memory();
            final int n = in.count();
            final OwnerSort sorted = this.sorted;
            // every packet's owner first, then this worker's packets to the graph and the others' to the rings, each
            // in a loop of its own (OwnerSort says why)
            sorted.clear();
            for (int i = 0; i < n; i++)
            {
                final int h = in.get(i);
                sorted.add(h, r == null ? FlowOwner.PINNED : owner(r, mem, h));
            }
            final int own = sorted.own();
            final int away = sorted.away();
            local += own;
            handed += away;
            for (int i = 0; i < own; i++)
            {
                out.next(sorted.ownHandle(i), 0);
            }
            // workers are at most 64 (WorkerCount.MAX): one bit each
            long handedTo = 0;
            for (int i = 0; i < away; i++)
            {
                final int h = sorted.awayHandle(i);
                final int owner = sorted.awayOwner(i);
                out.traceDetail(h, owner, pool.flags(h) & PacketPool.FLAG_FRAG_PORTS);
                // the ring copies the frame and frees the buffer; a full ring keeps it in the hold queue; a full
                // hold queue counts the drop and frees it
                out.hold(h);
                if (endpoint.sendOrHold(owner, h))
                {
                    handedTo |= 1L << owner;
                }
                else
                {
                    // dropped (counted) and freed: a freed buffer keeps its metadata until it is handed out again,
                    // which nothing does on this thread before these lines, so a traced packet's trace ends here
                    // with the drop and its reason instead of "(handed over)" and nothing after it
                    out.traceDetail(h, owner, pool.length(h) > endpoint.maxFrame() ? TRACE_TOO_BIG : TRACE_FULL);
                }
            }
            // the vector's frames become visible to their owners together, then the owners are woken
            endpoint.publish();
            while (handedTo != 0)
            {
                final int w = Long.numberOfTrailingZeros(handedTo);
                handedTo &= handedTo - 1;
                wake.accept(w);
            }
        }

        private int owner(final FlowOwner r, final MemorySegment mem, final int h)
        {
            final long l3 = pool.frameOffset(h) + pool.l3Offset(h);
            final Ip4Header ip = this.ip.wrap(mem, l3);
            final int proto = ip.protocol();
            final int src = ip.src();
            final int dst = ip.dst();
            if (ip.isFragment())
            {
                return fragmentOwner(r, h, proto, src, dst);
            }
            final long l4 = l3 + ip.headerLength();
            final long end = l3 + Math.min(ip.totalLength(), pool.length(h) - pool.l3Offset(h));
            if ((proto == Ip4Header.PROTO_TCP || proto == Ip4Header.PROTO_UDP) && l4 + 4 <= end)
            {
                return r.owner(proto, src, Wire.u16(mem, l4), dst, Wire.u16(mem, l4 + 2));
            }
            if (proto == Ip4Header.PROTO_ICMP && l4 + 8 <= end)
            {
                final IcmpHeader icmp = this.icmp.wrap(mem, l4);
                if (!icmp.isError())
                {
                    final int id = icmp.identifier();
                    return r.owner(proto, src, id, dst, id);
                }
                return quotedOwner(r, mem, l4 + 8, end);
            }
            return r.owner(proto, src, 0, dst, 0);
        }

        /**
         * A fragment comes here twice. From ip4-input, ports unknown (later fragments carry none): the owner of its
         * addresses, where every fragment of its datagram meets nat44-frag. From that nat44-frag, its datagram's ports
         * in {@code aux}: the owner of its flow, the same tuple as an unfragmented packet of it (an ICMP echo's
         * identifier as both ports), whose nat44-in translates it. Fragments the NAT does not translate (ICMP other
         * than echo: {@link Nat#FRAGMENT_PORTS_UNTRACKED}) stay on this worker.
         */
        private int fragmentOwner(final FlowOwner r, final int h, final int proto, final int src, final int dst)
        {
            if ((pool.flags(h) & PacketPool.FLAG_FRAG_PORTS) == 0)
            {
                return r.owner(proto, src, 0, dst, 0);
            }
            final int ports = pool.aux(h);
            final int sport = ports >>> 16;
            final int dport = ports & 0xffff;
            if (proto == Ip4Header.PROTO_ICMP && ports == Nat.FRAGMENT_PORTS_UNTRACKED)
            {
                return worker;
            }
            return r.owner(proto, src, sport, dst, dport);
        }

        /** An ICMP error belongs to the flow it quotes: the quoted packet's reply direction, i.e. swapped. */
        private int quotedOwner(final FlowOwner r, final MemorySegment mem, final long q, final long end)
        {
            if (q + Ip4Header.MIN_LENGTH > end)
            {
                return FlowOwner.PINNED;
            }
            final Ip4Header inner = quoted.wrap(mem, q);
            final int proto = inner.protocol();
            final long l4 = q + inner.headerLength();
            int sport = 0;
            int dport = 0;
            if ((proto == Ip4Header.PROTO_TCP || proto == Ip4Header.PROTO_UDP) && l4 + 4 <= end
                && !inner.isLaterFragment())
            {
                sport = Wire.u16(mem, l4);
                dport = Wire.u16(mem, l4 + 2);
            }
            else if (proto == Ip4Header.PROTO_ICMP && l4 + 8 <= end)
            {
                sport = icmp.wrap(mem, l4).identifier();
                dport = sport;
            }
            return r.owner(proto, inner.dst(), dport, inner.src(), sport);
        }

        /** The rule for the pinned snapshot: rebuilt when it changes (a push), never per packet. */
        private FlowOwner rule(final Snapshot s)
        {
            if (s == ruleOf)
            {
                return rule;
            }
            ruleOf = s;
            rule = s == null ? null : build(s);
            return rule;
        }

        private FlowOwner build(final Snapshot s)
        {
            final NodeTables t = s.tables();
            final NodeTables.ClusterSettings c = t.cluster();
            final int min = Nat.masqueradePortMin(c);
            final int max = Nat.masqueradePortMax(c);
            final Nat nat = services == null ? null : services.nat();
            final FlowOwner.Roles roles = nat == null ? FlowOwner.NO_SERVICES : nat.roles(s);
            final int[] snat = t.node().gatewayIp() == 0 ? new int[] {t.node().primaryAddress()}
                : new int[] {t.node().primaryAddress(), t.node().gatewayIp()};
            try
            {
                return new FlowOwner(workers, snat, min, max, roles, secret);
            }
            catch (final IllegalArgumentException e)
            {
                // a masquerade range smaller than the worker count: every flow on worker 0, correct if unbalanced
                return null;
            }
        }

        @Override
        public String formatTrace(final long a, final long b)
        {
            if (b == TRACE_FULL)
            {
                return "owner worker " + a + ": dropped, its ring and this worker's hold queue are full ("
                    + Handoff.DROP_PREFIX + Handoff.Drop.HANDOFF_FULL.counterName() + ")";
            }
            if (b == TRACE_TOO_BIG)
            {
                return "owner worker " + a + ": dropped, larger than a ring record ("
                    + Handoff.DROP_PREFIX + Handoff.Drop.HANDOFF_TOO_BIG.counterName() + ")";
            }
            return b == 0 ? "owner worker " + a + " (handed over)"
                : "owner worker " + a + " by its datagram's ports (handed over)";
        }

        /** @return packets this stage kept and handed over, for tests. */
        long[] decisions()
        {
            return new long[] {local, handed};
        }
    }

    /** @return the stage, for tests. */
    OwnershipStage stage()
    {
        return stage;
    }
}
