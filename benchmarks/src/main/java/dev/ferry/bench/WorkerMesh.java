package dev.ferry.bench;

import dev.ferry.core.Counters;
import dev.ferry.core.Graph;
import dev.ferry.core.PacketPool;
import dev.ferry.core.header.Ip4Header;
import dev.ferry.core.workers.FlowOwner;
import dev.ferry.core.workers.Handoff;
import dev.ferry.core.workers.OwnerSort;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BooleanSupplier;

/**
 * N workers of one node for the scaling benchmark: each worker is a whole {@link ClusterIpNode} (its own pool,
 * counters, graph and conntrack shard holding only the flows it owns), and the workers are joined by
 * {@link Handoff} rings. The flows are spread by the ownership rule ({@link FlowOwner}); each worker receives
 * the flows it owns and, for every other flow, flows that the next worker owns, so that half of what a worker
 * receives goes through a ring (with one worker, nothing does).
 *
 * <pre>
 *   lane w: load 256 frames of its RX flows ─► owner = rule(5-tuple) ─┬─ w: graph input (ethernet-input)
 *                                                                     └─ other: ring w→other (copy, free)
 *           drain its inbound rings (≤ 256) ─► graph input ─► graph run (DNAT, lookup, encap, transmit)
 * </pre>
 *
 * <p>The ownership decision runs before the graph on frames known to be good (a node puts it after ip4-input,
 * on validated headers) and, as the node's stage does, decides the whole vector first and sorts it by owner without
 * a branch, then feeds the graph and the rings each in a loop of its own; the handed-over frame enters the owner's
 * graph at ethernet-input. Each lane is used by
 * one thread; the set-up and the checks run while no lane runs.
 */
public final class WorkerMesh implements AutoCloseable
{
    /** Bytes of each handoff ring. */
    public static final int RING_BYTES = 1 << 20;
    private static final int VECTOR = 256;
    private static final ValueLayout.OfInt BE_INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfShort BE_SHORT =
        ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    private final int workers;
    private final FlowOwner rule;
    private final Handoff handoff;
    private final Lane[] lanes;

    /**
     * Builds and warms every worker; control side, it allocates.
     *
     * @param workers   worker count.
     * @param frameSize frame length of the measured packets.
     * @param flows     active flows, spread over the workers.
     */
    public WorkerMesh(final int workers, final int frameSize, final int flows)
    {
        this(workers, frameSize, flows, 50, RING_BYTES);
    }

    /**
     * Builds and warms every worker, with a chosen share of each worker's received flows owned by another worker
     * (0: every worker receives only its own flows and no packet crosses a ring, the baseline the handoff's cost
     * reads against; 50: the scaling benchmark's mix).
     *
     * @param workers            worker count.
     * @param frameSize          frame length of the measured packets.
     * @param flows              active flows, spread over the workers.
     * @param handedOverPercent  percentage (0 to 100) of the flows a worker receives that another worker owns.
     * @param ringBytes          bytes of each handoff ring, a power of two.
     */
    public WorkerMesh(final int workers, final int frameSize, final int flows, final int handedOverPercent,
        final int ringBytes)
    {
        if (handedOverPercent < 0 || handedOverPercent > 100)
        {
            throw new IllegalArgumentException("handedOverPercent must be 0 to 100: " + handedOverPercent);
        }
        this.workers = workers;
        this.rule = new FlowOwner(workers, new int[] {ClusterIpNode.NODE_IP, ClusterIpNode.GATEWAY_IP}, 1024,
            29999, new ServiceRoles(), 0x5eed_0e7eL);
        this.handoff = new Handoff(workers, ringBytes);
        this.lanes = new Lane[workers];
        final int[] ownerOfFlow = new int[flows];
        for (int f = 0; f < flows; f++)
        {
            ownerOfFlow[f] = rule.owner(Ip4Header.PROTO_TCP, ClusterIpNode.podIp(ClusterIpNode.pod(f)),
                ClusterIpNode.sourcePort(f), ClusterIpNode.clusterIp(ClusterIpNode.service(f)),
                ClusterIpNode.SERVICE_PORT);
        }
        for (int w = 0; w < workers; w++)
        {
            final int me = w;
            final ClusterIpNode node = new ClusterIpNode(frameSize, flows);
            node.warm(f -> ownerOfFlow[f] == me);
            lanes[w] = new Lane(w, node, receivedBy(node, ownerOfFlow, w, handedOverPercent));
        }
    }

    private int[] receivedBy(final ClusterIpNode node, final int[] ownerOfFlow, final int w,
        final int handedOverPercent)
    {
        final List<Integer> rx = new ArrayList<>();
        for (int i = 0; i < node.flows(); i++)
        {
            final int f = node.flowAt(i);
            final int owner = ownerOfFlow[f];
            // spread evenly: flow f is handed over when the running share (f + 1) * pct / 100 steps past f * pct / 100
            // (50: every odd flow, as before this parameter existed)
            final boolean other = (long)(f + 1) * handedOverPercent / 100 != (long)f * handedOverPercent / 100;
            final int receiver = other ? (owner + 1) % workers : owner;
            if (receiver == w)
            {
                rx.add(i);
            }
        }
        if (rx.isEmpty())
        {
            throw new IllegalStateException("worker " + w + " receives no flow; use more flows");
        }
        // the worker reads its own flows' headers one after the other, as one worker reads all of them
        return node.packFront(rx.stream().mapToInt(Integer::intValue).toArray());
    }

    /**
     * @param w a worker.
     * @return its lane, for the one thread that runs it.
     */
    public Lane lane(final int w)
    {
        return lanes[w];
    }

    /** @return the worker count. */
    public int workers()
    {
        return workers;
    }

    /**
     * After every lane has stopped: takes what is still in the rings (a lane that stopped first leaves frames
     * for the others) through the owners' graphs.
     */
    public void drainAll()
    {
        boolean more = true;
        while (more)
        {
            more = false;
            for (final Lane l : lanes)
            {
                if (l.endpoint.drain(VECTOR) > 0)
                {
                    more = true;
                }
                l.graph.run();
            }
        }
    }

    /**
     * Summed over the workers, after {@link #drainAll()}.
     *
     * @param name a counter name.
     * @return its total.
     */
    public long sum(final String name)
    {
        final List<Counters> all = new ArrayList<>();
        for (final Lane l : lanes)
        {
            all.add(l.node.counters());
        }
        return Handoff.sum(all, name);
    }

    /**
     * Checks each worker as {@link ClusterIpNode#verify()} does (every packet that entered a graph left on the
     * uplink, no flow was created after the warm-up, so every handed-over packet found its flow in the owner's
     * shard, no buffer leaked), and that every frame written into a ring was read out or counted as dropped.
     *
     * @return one line with the handoff totals.
     * @throws IllegalStateException on a loss.
     */
    public String verify()
    {
        for (final Lane l : lanes)
        {
            l.node.verify();
        }
        final long sent = sum(Handoff.COUNTER_SENT);
        final long received = sum(Handoff.COUNTER_RECEIVED);
        final long full = sum(Handoff.DROP_PREFIX + Handoff.Drop.HANDOFF_FULL.counterName());
        final long noBuffer = sum(Handoff.DROP_PREFIX + Handoff.Drop.HANDOFF_NO_BUFFER.counterName());
        if (sent != received + noBuffer)
        {
            throw new IllegalStateException("handoff: sent " + sent + " != received " + received + " + no-buffer "
                + noBuffer);
        }
        long forwarded = 0;
        for (final Lane l : lanes)
        {
            forwarded += l.node.sink().transmitted();
        }
        return "workers " + workers + ": forwarded " + forwarded + ", handed over " + sent + ", handoff-full "
            + full + ", handoff-no-buffer " + noBuffer;
    }

    /**
     * Per worker: packets it transmitted, the CPU its thread ended each measurement iteration on (on a VM whose
     * vCPUs run at different speeds, the group's figure depends on it), how long it waited for room in a full ring
     * (the owner was behind, so the pair ran at the slower one's pace), and its graph's per-stage figures since
     * {@link Lane#markRuntime()} ({@code show runtime}: compare them with one worker's). Allocates.
     *
     * @return one line per worker.
     */
    public String lanesReport()
    {
        final StringBuilder b = new StringBuilder();
        for (final Lane l : lanes)
        {
            b.append("worker ").append(l.worker).append(": forwarded ").append(l.node.sink().transmitted())
                .append(", CPU at the end of each measurement iteration: ").append(l.cpus.report())
                .append(System.lineSeparator()).append("  waited for room in a full ring: ").append(l.stalls)
                .append(" times, ").append(l.stalledNanos / 1_000_000).append(" ms of ")
                .append(Math.max(0, l.measuredUntil - l.markedAt) / 1_000_000).append(" ms measured")
                .append(System.lineSeparator())
                .append(l.node.runtimeReport());
        }
        return b.toString();
    }

    @Override
    public void close()
    {
        for (final Lane l : lanes)
        {
            if (l != null)
            {
                l.node.close();
            }
        }
        handoff.close();
    }

    /** One worker: its node, its RX flows and its handoff endpoint. Used by one thread. */
    public final class Lane
    {
        private final int worker;
        private final ClusterIpNode node;
        private final PacketPool pool;
        private final Graph graph;
        private final int entry;
        private final int[] rx;
        private final Handoff.Endpoint endpoint;
        private final ThreadCpu cpus = new ThreadCpu(64);
        private int cursor;
        /** A vector sorted by owner: this worker's frames, then the others'. */
        private final OwnerSort part;
        /** Times this lane found a ring full and waited, and its time spent waiting less the draining it did. */
        private long stalls;
        private long stalledNanos;
        /** The measured time: from the first measurement iteration's start to the last one's end so far. */
        private long markedAt;
        private long measuredUntil;

        Lane(final int worker, final ClusterIpNode node, final int[] rx)
        {
            this.worker = worker;
            this.node = node;
            this.pool = node.pool();
            this.graph = node.graph();
            this.entry = node.entry();
            this.rx = rx;
            this.part = new OwnerSort(worker);
            final Graph g = graph;
            final int e = entry;
            // as a node's graph takes a handed-over packet: not sampled for tracing again (its sender did)
            this.endpoint = handoff.senderAwareEndpoint(worker, pool, node.counters(),
                (h, from) -> g.inputHandedOver(e, h, from));
        }

        /**
         * Marks the per-stage figures of this worker's graph and starts its wait count now (its own thread, before
         * it forwards).
         */
        public void markRuntime()
        {
            node.markRuntime();
            stalls = 0;
            stalledNanos = 0;
            markedAt = System.nanoTime();
            measuredUntil = markedAt;
        }

        /**
         * Records the CPU the lane's thread is on as this measurement iteration's, and when the iteration ended (the
         * wait report's measured time); allocates nothing.
         */
        public void recordCpu()
        {
            cpus.record();
            measuredUntil = System.nanoTime();
        }

        /**
         * One duty cycle: receives 256 frames, keeps those it owns and hands the rest over, takes up to 256
         * frames from its inbound rings, and runs the graph. No allocation. With one worker the frames go straight
         * to the graph, without the ownership rule: a node of one worker has no ownership stage.
         *
         * <p>A full ring makes the lane wait, draining its own inbound rings meanwhile (the other worker may be
         * waiting on it), instead of dropping as a node does: the benchmark measures what the workers forward,
         * and a dropped packet would count as work done. Once {@code stop} is true (JMH ends the iteration, and
         * the other thread may have stopped draining) a full ring drops, counted as handoff-full.
         *
         * @param stop whether the measurement has ended.
         * @return packets this worker transmitted so far.
         */
        public long forward(final BooleanSupplier stop)
        {
            final ClusterIpNode node = this.node;
            final PacketPool pool = this.pool;
            final MemorySegment mem = pool.memory();
            final Graph graph = this.graph;
            final int[] rx = this.rx;
            int c = cursor;
            if (workers == 1)
            {
                // a node of one worker has no ownership stage: every frame goes straight to its graph
                for (int i = 0; i < VECTOR; i++)
                {
                    graph.input(entry, node.load(rx[c]));
                    c = c + 1 == rx.length ? 0 : c + 1;
                }
            }
            else
            {
                // as the node's ownership stage: every frame's owner first, then this worker's to the graph and the
                // others' to the rings, each in a loop of its own (OwnerSort)
                final OwnerSort part = this.part;
                part.clear();
                for (int i = 0; i < VECTOR; i++)
                {
                    final int h = node.load(rx[c]);
                    c = c + 1 == rx.length ? 0 : c + 1;
                    final long l3 = pool.frameOffset(h) + pool.l3Offset(h);
                    final long l4 = l3 + ((mem.get(ValueLayout.JAVA_BYTE, l3) & 0x0f) << 2);
                    part.add(h, rule.owner(mem.get(ValueLayout.JAVA_BYTE, l3 + 9) & 0xff,
                        mem.get(BE_INT, l3 + 12), mem.get(BE_SHORT, l4) & 0xffff, mem.get(BE_INT, l3 + 16),
                        mem.get(BE_SHORT, l4 + 2) & 0xffff));
                }
                final int own = part.own();
                for (int i = 0; i < own; i++)
                {
                    graph.input(entry, part.ownHandle(i));
                }
                final int away = part.away();
                for (int i = 0; i < away; i++)
                {
                    final int owner = part.awayOwner(i);
                    final int h = part.awayHandle(i);
                    if (!endpoint.offer(owner, h))
                    {
                        handOverWaiting(owner, h, stop);
                    }
                }
            }
            cursor = c;
            endpoint.publish();
            endpoint.drain(VECTOR);
            graph.run();
            return node.sink().transmitted();
        }

        private void handOverWaiting(final int owner, final int h, final BooleanSupplier stop)
        {
            // a stall path (the owner is behind): the clock reads here cost nothing on the common path
            final long start = System.nanoTime();
            long working = 0;
            int idle = 0;
            while (!endpoint.offer(owner, h))
            {
                if (stop.getAsBoolean())
                {
                    endpoint.send(owner, h);
                    endpoint.publish();
                    break;
                }
                final long work = System.nanoTime();
                endpoint.drain(VECTOR);
                graph.run();
                working += System.nanoTime() - work;
                // spin, then yield: with more workers than cores the owner needs this core to drain its ring
                idle = RingHopBenchmark.idle(idle);
            }
            stalls++;
            stalledNanos += System.nanoTime() - start - working;
        }
    }

    /**
     * The Services of {@link ClusterIpNode} as the rule sees them: each ClusterIP on port 80 is a frontend, each
     * endpoint on port 8080 a backend. A range check stands in for the Service table's hash look-up; the rule's
     * cost per packet is the hash and the branches, not this.
     */
    private static final class ServiceRoles implements FlowOwner.Roles
    {
        private static final int FIRST_VIP = ClusterIpNode.clusterIp(0);

        @Override
        public boolean frontend(final int proto, final int ip, final int port)
        {
            return proto == Ip4Header.PROTO_TCP && port == ClusterIpNode.SERVICE_PORT && ip - FIRST_VIP >= 0
                && ip - FIRST_VIP < ClusterIpNode.SERVICES;
        }

        @Override
        public boolean backend(final int proto, final int ip, final int port)
        {
            // endpoints live in the remote pod CIDRs 10.244.2.0/24 .. 10.244.5.0/24
            return proto == Ip4Header.PROTO_TCP && port == ClusterIpNode.TARGET_PORT
                && (ip >>> 16) == 0x0af4 && ((ip >>> 8) & 0xff) >= 2 && ((ip >>> 8) & 0xff) < 2 + ClusterIpNode.REMOTES;
        }
    }
}
