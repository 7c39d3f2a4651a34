package dev.ferry.node;

import dev.ferry.core.Counters;
import dev.ferry.core.Graph;
import dev.ferry.core.ManualClock;
import dev.ferry.core.PacketPool;
import dev.ferry.core.Ports;
import dev.ferry.core.TraceBuffer;
import dev.ferry.core.header.TcpHeader;
import dev.ferry.core.packet.FrameBuilder;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.tables.ServiceInfo;
import dev.ferry.core.tables.TablesPublisher;
import dev.ferry.core.workers.Handoff;
import dev.ferry.nat.AffinityTable;
import dev.ferry.nat.Nat;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicInteger;

import static dev.ferry.node.NodeFixture.GATEWAY_MAC;
import static dev.ferry.node.NodeFixture.NODE_B_IP;
import static dev.ferry.node.NodeFixture.NODE_IP;
import static dev.ferry.node.NodeFixture.POD_A;
import static dev.ferry.node.NodeFixture.POD_B;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Two workers of one node, each with its own pool, counters, graph, conntrack shard and NAT, joined by the
 * handoff rings, fed asymmetrically: each flow's first packet arrives on one worker and its reply on the other,
 * as the kernel's per-queue flow hash may do for the two directions (a pod TAP queue one way, the uplink's fanout
 * socket the other). Every reply must reach the flow's owner and be translated back.
 */
class WorkerHandoffTest
{
    private static final int VIP_LOCAL = Ip4.parse("10.96.0.10");
    private static final int VIP_REMOTE = Ip4.parse("10.96.0.20");
    private static final int REMOTE_POD = Ip4.parse("10.244.2.5");
    private static final long VTEP_MAC = Ip4.parseMac("aa:aa:aa:00:00:01");
    private static final long REMOTE_VTEP_MAC = Ip4.parseMac("aa:aa:aa:00:00:02");
    private static final int WORKERS = 2;
    private static final int FLOWS = 64;
    /** First packets sent at once to overflow the ring to worker 1 and its hold queue. */
    private static final int FLOOD = 4000;

    private final Ports ports = new Ports();
    private final TablesPublisher publisher = new TablesPublisher(ports, false);
    private final ManualClock clock = new ManualClock(1_000_000_000_000L);
    private final Handoff handoff = new Handoff(WORKERS, 1 << 16);
    /** The node's one ClientIP affinity table, as NodeDaemon makes it for its workers. */
    private final AffinityTable affinity = ServicesFeature.openSharedAffinity(null);
    private final List<Lane> lanes = new ArrayList<>();
    /** One trace id source for both workers, as a node has. */
    private final AtomicInteger traceIds = new AtomicInteger();
    private final int uplink;

    /** One worker: its own everything; transmitted frames are copied out. */
    private final class Lane
    {
        final PacketPool pool = new PacketPool(1024);
        final Counters counters = Counters.inMemory(4096);
        final List<byte[]> sent = new ArrayList<>();
        final List<String> sentOn = new ArrayList<>();
        final NodeGraph graph;

        Lane(final int w, final int host)
        {
            graph = NodeGraph.builder(NodeConfig.defaults("node-a", Path.of("x.sock"), "eth9").withSeed(7), pool,
                counters, clock, ports, publisher, publisher.ref()).sink(h ->
                {
                    sent.add(pool.toArray(h));
                    sentOn.add(ports.nameOf(pool.txPort(h)));
                    pool.free(h);
                }).hostPort(host).worker(w, handoff, 0x5eedL, affinity).conntrackHashSeed(1)
                .trace(new TraceBuffer(1 << 16, traceIds)).build();
        }

        void receive(final String port, final byte[] frame)
        {
            enqueue(port, frame);
            graph.graph().run();
        }

        /** Takes a frame into the graph's input vector without running it, so that several share one vector. */
        void enqueue(final String port, final byte[] frame)
        {
            final int h = pool.allocate();
            pool.write(h, frame, 0, frame.length);
            final int id = ports.idOf(port);
            pool.rxPort(h, id);
            pool.timestamp(h, clock.nanos());
            graph.graph().input(id == uplink ? graph.uplinkEntry() : graph.entry(), h);
        }
    }

    WorkerHandoffTest()
    {
        ports.add(tap(POD_A), Ports.Kind.POD, GATEWAY_MAC);
        ports.add(tap(POD_B), Ports.Kind.POD, GATEWAY_MAC);
        uplink = NodeGraph.registerUplink(ports, "eth9", MemoryPortFactory.UPLINK_MAC);
        final int host = NodeGraph.registerHost(ports, "ferry0", MemoryPortFactory.HOST_MAC,
            MemoryPortFactory.HOST_PEER_MAC);
        for (int w = 0; w < WORKERS; w++)
        {
            lanes.add(new Lane(w, host));
        }
        final NodeTables base = NodeFixture.tables(1, List.of(POD_A, POD_B), List.of("10.244.2.0/24"));
        final NodeTables tables = new NodeTables(1, base.node(), base.cluster(), base.pods(), base.remoteNodes(),
            List.of(service("local", VIP_LOCAL, POD_B, true), service("remote", VIP_REMOTE, REMOTE_POD, false)),
            Map.of(NODE_B_IP, Ip4.podMac(NODE_B_IP)));
        for (final Lane l : lanes)
        {
            l.graph.beforePublish(tables);
        }
        publisher.publish(tables);
    }

    @AfterEach
    void close()
    {
        for (final Lane l : lanes)
        {
            l.graph.close();
            assertThat(l.pool.inUse()).as("no buffer leaked").isZero();
            l.pool.close();
        }
        handoff.close();
    }

    static String tap(final int ip)
    {
        return "tap" + String.format("%08x", ip);
    }

    static ServiceInfo service(final String name, final int vip, final int backend, final boolean local)
    {
        return new ServiceInfo("default", name, "ClusterIP", null, List.of(vip), List.of(), List.of(), false,
            ServiceInfo.DEFAULT_AFFINITY_TIMEOUT, false, false, List.of(new ServiceInfo.ServicePort("", 6, 80, 0,
            List.of(new ServiceInfo.Endpoint(backend, 8080, true, true, false, local ? "node-a" : "node-b", "",
            local)))));
    }

    /** Both workers drain their inbound rings and run, until nothing moves. */
    private void settle()
    {
        boolean moved = true;
        while (moved)
        {
            moved = false;
            for (final Lane l : lanes)
            {
                if (l.graph.handoff().flushHeld(clock.nanos()) > 0)
                {
                    moved = true;
                }
                if (l.graph.handoff().drain() > 0)
                {
                    moved = true;
                }
                l.graph.graph().run();
            }
        }
    }

    private List<byte[]> sentOn(final String port)
    {
        final List<byte[]> out = new ArrayList<>();
        for (final Lane l : lanes)
        {
            for (int i = 0; i < l.sent.size(); i++)
            {
                if (l.sentOn.get(i).equals(port))
                {
                    out.add(l.sent.get(i));
                }
            }
            l.sent.clear();
            l.sentOn.clear();
        }
        return out;
    }

    static byte[] tcp(final long srcMac, final long dstMac, final int src, final int dst, final int sport,
        final int dport, final int flags)
    {
        return new FrameBuilder().eth(srcMac, dstMac).ip4(src, dst).tcp(sport, dport, flags, 1, 1).build();
    }

    static int u16(final byte[] f, final int at)
    {
        return (f[at] & 0xff) << 8 | f[at + 1] & 0xff;
    }

    static int u32(final byte[] f, final int at)
    {
        return ByteBuffer.wrap(f, at, 4).getInt();
    }

    private long sum(final String counter)
    {
        return Handoff.sum(lanes.stream().map(l -> l.counters).toList(), counter);
    }

    @Test
    void shouldBringEveryReplyToItsFlowsOwnerWhicheverWorkerReceivesIt()
    {
        for (int f = 0; f < FLOWS; f++)
        {
            final int sport = 20000 + f;
            // the SYN on one worker's queue of pod A's TAP, the SYN-ACK on the other's queue of pod B's
            lanes.get(f % WORKERS).receive(tap(POD_A), tcp(Ip4.podMac(POD_A), GATEWAY_MAC, POD_A, VIP_LOCAL, sport,
                80, TcpHeader.SYN));
            settle();
            final List<byte[]> dnat = sentOn(tap(POD_B));
            assertThat(dnat).as("flow %d DNATed to the backend", f).hasSize(1);
            assertThat(u32(dnat.get(0), 30)).isEqualTo(POD_B);
            assertThat(u16(dnat.get(0), 36)).isEqualTo(8080);
            final int natSport = u16(dnat.get(0), 34);
            lanes.get((f + 1) % WORKERS).receive(tap(POD_B), tcp(Ip4.podMac(POD_B), GATEWAY_MAC, POD_B, POD_A, 8080,
                natSport, TcpHeader.SYN | TcpHeader.ACK));
            settle();
            final List<byte[]> reply = sentOn(tap(POD_A));
            assertThat(reply).as("flow %d's reply reached the owner and was translated back", f).hasSize(1);
            assertThat(u32(reply.get(0), 26)).as("source is the ClusterIP again").isEqualTo(VIP_LOCAL);
            assertThat(u16(reply.get(0), 34)).isEqualTo(80);
            assertThat(u16(reply.get(0), 36)).isEqualTo(sport);
        }
        long entries = 0;
        for (final Lane l : lanes)
        {
            final long shard = l.graph.feature(ServicesFeature.class).conntrack().size();
            assertThat(shard).as("each worker owns some flows").isPositive();
            entries += shard;
        }
        assertThat(entries).as("one entry per flow, in its owner's shard only").isEqualTo(FLOWS);
        assertThat(sum(Handoff.COUNTER_SENT)).as("half the packets or so crossed a ring").isPositive()
            .isEqualTo(sum(Handoff.COUNTER_RECEIVED));
        assertThat(sum(Handoff.DROP_PREFIX + Handoff.Drop.HANDOFF_FULL.counterName())).isZero();
    }

    @Test
    void shouldSendAllOfAClientsConnectionsToOneEndpointWhicheverWorkerOwnsThem()
    {
        // sessionAffinity: ClientIP on four Service ports, each with eight endpoints (pod B's ports): the ownership
        // rule spreads one client's connections over both workers by their source ports, and a table per worker
        // would send a port's connections to one endpoint per worker (the same one by chance, 1 in 8 per port)
        final int vip = Ip4.parse("10.96.0.30");
        final List<ServiceInfo.ServicePort> servicePorts = new ArrayList<>();
        for (int sp = 0; sp < 4; sp++)
        {
            final List<ServiceInfo.Endpoint> eps = new ArrayList<>();
            for (int e = 0; e < 8; e++)
            {
                eps.add(new ServiceInfo.Endpoint(POD_B, 9000 + 10 * sp + e, true, true, false, "node-a", "", true));
            }
            servicePorts.add(new ServiceInfo.ServicePort("p" + sp, 6, 80 + sp, 0, eps));
        }
        final ServiceInfo sticky = new ServiceInfo("default", "sticky", "ClusterIP", null, List.of(vip), List.of(),
            List.of(), true, ServiceInfo.DEFAULT_AFFINITY_TIMEOUT, false, false, servicePorts);
        final NodeTables base = NodeFixture.tables(1, List.of(POD_A, POD_B), List.of("10.244.2.0/24"));
        final NodeTables tables = new NodeTables(2, base.node(), base.cluster(), base.pods(), base.remoteNodes(),
            List.of(sticky), Map.of(NODE_B_IP, Ip4.podMac(NODE_B_IP)));
        for (final Lane l : lanes)
        {
            l.graph.beforePublish(tables);
        }
        publisher.publish(tables);

        for (int sp = 0; sp < 4; sp++)
        {
            final Map<Integer, Integer> endpoints = new TreeMap<>();
            for (int c = 0; c < FLOWS; c++)
            {
                // each connection's SYN on either worker's queue; its owner decides, by the rule
                lanes.get(c % WORKERS).receive(tap(POD_A), tcp(Ip4.podMac(POD_A), GATEWAY_MAC, POD_A, vip,
                    40000 + 100 * sp + c, 80 + sp, TcpHeader.SYN));
                settle();
                final List<byte[]> dnat = sentOn(tap(POD_B));
                assertThat(dnat).as("port %d, connection %d DNATed", 80 + sp, c).hasSize(1);
                endpoints.merge(u16(dnat.get(0), 36), 1, Integer::sum);
            }
            assertThat(endpoints).as("Service port %d: every connection of the client to one endpoint", 80 + sp)
                .hasSize(1);
        }
        for (final Lane l : lanes)
        {
            assertThat(l.graph.feature(ServicesFeature.class).conntrack().size())
                .as("both workers own some of the client's connections").isPositive();
        }
        assertThat(sum(Nat.COUNTER_AFFINITY_HITS)).as("all but each port's first connection, on both workers")
            .isEqualTo(4L * (FLOWS - 1));
    }

    @Test
    void shouldKeepEachFlowsOrderWhenOneVectorMixesOwnedAndHandedOverFlows()
    {
        // one vector mixes flows this worker owns with flows it hands over: every flow must leave in the order its
        // packets came, whichever side it is on (four SYNs per flow, told apart by their sequence numbers:
        // retransmissions, valid while the flow waits)
        final int rounds = 4;
        final Lane lane = lanes.get(0);
        final int buffers = lane.pool.capacity();
        assertThat(FLOWS * rounds).as("one vector, within the pool").isLessThanOrEqualTo(Math.min(256, buffers));
        for (int k = 0; k < rounds; k++)
        {
            for (int f = 0; f < FLOWS; f++)
            {
                lane.enqueue(tap(POD_A), new FrameBuilder().eth(Ip4.podMac(POD_A), GATEWAY_MAC).ip4(POD_A, VIP_LOCAL)
                    .tcp(30000 + f, 80, TcpHeader.SYN, 1000 + k, 0).build());
            }
        }
        lane.graph.graph().run();
        settle();
        final List<byte[]> out = sentOn(tap(POD_B));
        assertThat(out).as("every packet DNATed to the backend").hasSize(FLOWS * rounds);
        final Map<Integer, List<Integer>> seqByFlow = new TreeMap<>();
        for (final byte[] f : out)
        {
            seqByFlow.computeIfAbsent(u16(f, 34), p -> new ArrayList<>()).add(u32(f, 38) - 1000);
        }
        assertThat(seqByFlow).hasSize(FLOWS);
        seqByFlow.forEach((sport, seqs) -> assertThat(seqs).as("flow from port %d in order", sport)
            .containsExactly(0, 1, 2, 3));
        assertThat(sum(Handoff.COUNTER_SENT)).as("some flows owned by worker 1 crossed the ring")
            .isPositive().isLessThan(FLOWS * rounds).isEqualTo(sum(Handoff.COUNTER_RECEIVED));
        assertThat(lanes.get(1).graph.feature(ServicesFeature.class).conntrack().size()).isPositive();
        assertThat(lane.graph.feature(ServicesFeature.class).conntrack().size()).isPositive();
    }

    @Test
    void shouldOwnATunnelledReplyByItsInnerFlow()
    {
        for (int f = 0; f < FLOWS; f++)
        {
            final int sport = 30000 + f;
            lanes.get(f % WORKERS).receive(tap(POD_A), tcp(Ip4.podMac(POD_A), GATEWAY_MAC, POD_A, VIP_REMOTE, sport,
                80, TcpHeader.SYN));
            settle();
            final List<byte[]> out = sentOn("eth9");
            assertThat(out).as("flow %d encapsulated toward node-b", f).hasSize(1);
            // outer eth 14 + IPv4 20 + UDP 8 + VXLAN 8 + inner eth 14: the inner IPv4 header at 64
            final byte[] inner = out.get(0);
            assertThat(u32(inner, 64 + 16)).isEqualTo(REMOTE_POD);
            final int natSport = u16(inner, 64 + 20);
            final byte[] synAck = tcp(REMOTE_VTEP_MAC, VTEP_MAC, REMOTE_POD, POD_A, 8080, natSport,
                TcpHeader.SYN | TcpHeader.ACK);
            lanes.get((f + 1) % WORKERS).receive("eth9", vxlan(synAck, 49152 + f));
            settle();
            final List<byte[]> reply = sentOn(tap(POD_A));
            assertThat(reply).as("flow %d's tunnelled reply reached the owner", f).hasSize(1);
            assertThat(u32(reply.get(0), 26)).isEqualTo(VIP_REMOTE);
            assertThat(u16(reply.get(0), 36)).isEqualTo(sport);
        }
        assertThat(sum(Handoff.COUNTER_SENT)).isPositive();
    }

    static byte[] vxlan(final byte[] inner, final int sport)
    {
        final NodeTables.ClusterSettings c = NodeTables.ClusterSettings.defaults();
        final byte[] payload = new byte[8 + inner.length];
        payload[0] = 0x08;
        payload[4] = (byte)(c.vni() >>> 16);
        payload[5] = (byte)(c.vni() >>> 8);
        payload[6] = (byte)c.vni();
        System.arraycopy(inner, 0, payload, 8, inner.length);
        return new FrameBuilder().eth(Ip4.podMac(NODE_B_IP), MemoryPortFactory.UPLINK_MAC).ip4(NODE_B_IP, NODE_IP)
            .udp(sport, c.vxlanPort()).payload(payload).build();
    }

    /** An echo ({@code type} 8 or 0) of {@code size} bytes of payload, cut into 1,400-byte fragments. */
    private static List<byte[]> echoFragments(final long srcMac, final long dstMac, final int src, final int dst,
        final int type, final int id, final int size, final boolean reversed)
    {
        final byte[] payload = new byte[size];
        for (int i = 0; i < size; i++)
        {
            payload[i] = (byte)(i * (id + 1));
        }
        final List<byte[]> f = new ArrayList<>(FrameBuilder.fragments(new FrameBuilder().eth(srcMac, dstMac)
            .ip4(src, dst).id(5000 + id).df(false).icmp(type, 0, id << 16 | 1).payload(payload).build(), 1400));
        if (reversed)
        {
            java.util.Collections.reverse(f);
        }
        return f;
    }

    private static List<byte[]> echoFragments(final int id, final int size, final boolean reversed)
    {
        return echoFragments(Ip4.podMac(POD_A), GATEWAY_MAC, POD_A, NODE_B_IP, 8, id, size, reversed);
    }

    /** The echo identifier of the fragment at offset 0 (the others carry no ICMP header). */
    private static int firstFragmentsId(final List<byte[]> fragments)
    {
        final byte[] first = fragments.stream().filter(f -> (u16(f, 20) & 0x1fff) == 0).findFirst().orElseThrow();
        return u16(first, 14 + 20 + 4);
    }

    /**
     * The fragment rule with an ICMP echo, whose identifier is its flow's port: a pod pings the next node's address
     * (masqueraded), first a small echo, then one in fragments (the last first for some), on the other worker's
     * queue; the answer comes back in fragments on the uplink. Every fragment must be translated by the ping's
     * owner with the ping's one binding (its identifier and source both ways), so each ping has one conntrack entry.
     */
    @Test
    void shouldOwnAFragmentedEchoByItsIdentifierAsItsWholePackets()
    {
        for (int id = 1; id <= FLOWS; id++)
        {
            lanes.get(id % WORKERS).receive(tap(POD_A), new FrameBuilder().eth(Ip4.podMac(POD_A), GATEWAY_MAC)
                .ip4(POD_A, NODE_B_IP).icmp(8, 0, id << 16).payload(new byte[8]).build());
            settle();
            final List<byte[]> whole = sentOn("eth9");
            assertThat(whole).as("ping %d out on the uplink", id).hasSize(1);
            final int natSrc = u32(whole.get(0), 26);
            final int natId = u16(whole.get(0), 14 + 20 + 4);
            for (final byte[] f : echoFragments(id, 3000, id % 3 == 0))
            {
                lanes.get((id + 1) % WORKERS).receive(tap(POD_A), f);
            }
            settle();
            final List<byte[]> out = sentOn("eth9");
            assertThat(out).as("ping %d: its three fragments", id).hasSize(3)
                .allSatisfy(f -> assertThat(u32(f, 26)).as("the ping's source").isEqualTo(natSrc));
            assertThat(firstFragmentsId(out)).as("ping %d: the ping's identifier", id).isEqualTo(natId);
            final long nodeBMac = Ip4.podMac(NODE_B_IP);
            for (final byte[] f : echoFragments(nodeBMac, MemoryPortFactory.UPLINK_MAC, NODE_B_IP, natSrc, 0, natId,
                3000, id % 2 == 0))
            {
                lanes.get(id % WORKERS).receive("eth9", f);
            }
            settle();
            final List<byte[]> back = sentOn(tap(POD_A));
            assertThat(back).as("ping %d: the answer's three fragments at the pod", id).hasSize(3)
                .allSatisfy(f -> assertThat(u32(f, 30)).isEqualTo(POD_A));
            assertThat(firstFragmentsId(back)).as("ping %d: the pod's identifier again", id).isEqualTo(id);
        }
        long entries = 0;
        for (final Lane l : lanes)
        {
            final long shard = l.graph.feature(ServicesFeature.class).conntrack().size();
            assertThat(shard).as("each worker owns some pings").isPositive();
            entries += shard;
        }
        assertThat(entries).as("one entry per ping: its fragments found it on its owner").isEqualTo(FLOWS);
        assertThat(sum(Nat.COUNTER_FRAGMENT_CONTEXTS)).as("every datagram complete, its context freed").isZero();
        assertThat(sum(Nat.COUNTER_FRAGMENTS_HELD)).isZero();
    }

    /**
     * Later fragments whose first never comes wait on the worker of their addresses, bounded in time: when it is
     * up they are dropped there, each counted once, and their buffers go back to the pool (checked after each test).
     */
    @Test
    void shouldDropHeldFragmentsOnceWhenTheirFirstNeverComes()
    {
        final int datagrams = 10;
        for (int d = 0; d < datagrams; d++)
        {
            final List<byte[]> f = echoFragments(d, 3000, false);
            lanes.get(d % WORKERS).receive(tap(POD_A), f.get(1));
            lanes.get(d % WORKERS).receive(tap(POD_A), f.get(2));
        }
        settle();
        assertThat(sentOn(tap(POD_B))).as("nothing goes on without the first fragment").isEmpty();
        assertThat(sum(Nat.COUNTER_FRAGMENTS_HELD)).as("held on the worker of their addresses")
            .isEqualTo(2 * datagrams);
        clock.advance(Nat.FragmentLimits.DEFAULTS.timeoutMillis() * 1_000_000L + 1);
        // expiry runs in nat44-in's vectors: any traffic through both workers
        for (int f = 0; f < 16; f++)
        {
            lanes.get(f % WORKERS).receive(tap(POD_A), tcp(Ip4.podMac(POD_A), GATEWAY_MAC, POD_A, POD_B, 41000 + f,
                8080, TcpHeader.SYN));
            settle();
        }
        assertThat(sentOn(tap(POD_B))).hasSize(16);
        assertThat(sum("stage/nat44-in/drop/fragment-timeout")).as("each held fragment dropped once")
            .isEqualTo(2 * datagrams);
        assertThat(sum(Nat.COUNTER_FRAGMENT_TIMEOUTS)).as("each datagram timed out once").isEqualTo(datagrams);
        assertThat(sum(Nat.COUNTER_FRAGMENTS_HELD)).isZero();
        assertThat(sum(Nat.COUNTER_FRAGMENT_CONTEXTS)).isZero();
        assertThat(sum(Handoff.DROP_PREFIX + Handoff.Drop.HANDOFF_FULL.counterName())).isZero();
    }

    @Test
    void shouldWakeTheOwnerOncePerVectorAndShowItPending()
    {
        final List<Integer> woken = new ArrayList<>();
        lanes.get(0).graph.handoff().wakers(woken::add);
        for (int f = 0; f < 16; f++)
        {
            lanes.get(0).graph.graph().input(lanes.get(0).graph.entry(), handle(lanes.get(0), tcp(Ip4.podMac(POD_A),
                GATEWAY_MAC, POD_A, VIP_LOCAL, 40000 + f, 80, TcpHeader.SYN)));
        }
        lanes.get(0).graph.graph().run();
        assertThat(lanes.get(0).counters.get(Handoff.COUNTER_SENT)).as("some of 16 flows are worker 1's")
            .isPositive();
        assertThat(woken).as("one wake-up for the vector, for worker 1 only").containsExactly(1);
        assertThat(lanes.get(1).graph.handoff().pending()).isTrue();
        assertThat(lanes.get(0).graph.handoff().pending()).isFalse();
        settle();
        assertThat(lanes.get(1).graph.handoff().pending()).isFalse();
        assertThat(sentOn(tap(POD_B))).hasSize(16);
    }

    private int handle(final Lane l, final byte[] frame)
    {
        final int h = l.pool.allocate();
        l.pool.write(h, frame, 0, frame.length);
        l.pool.rxPort(h, ports.idOf(tap(POD_A)));
        l.pool.timestamp(h, clock.nanos());
        return h;
    }

    @Test
    void shouldCountAFullRingAsADropAndLeakNothing()
    {
        // one worker receives far more flows' first packets than the ring to the other holds, with no drain between
        // (about half are worker 1's; its 64 KiB ring takes about 680 SYN records of 96 bytes, the hold queue 256)
        final Lane first = lanes.get(0);
        // every packet traced: a dropped one's trace must end with the drop, not "(handed over)"
        first.graph.graph().trace().sample(FLOOD);
        for (int f = 0; f < FLOOD; f++)
        {
            first.receive(tap(POD_A), tcp(Ip4.podMac(POD_A), GATEWAY_MAC, POD_A, VIP_LOCAL, 10000 + f, 80,
                TcpHeader.SYN));
        }
        final long full = sum(Handoff.DROP_PREFIX + Handoff.Drop.HANDOFF_FULL.counterName());
        final Graph g0 = first.graph.graph();
        final List<Graph.TracedPacket> traced = g0.trace(g0.trace().entries(), 0);
        assertThat(g0.trace().lost()).as("the trace buffer held every record").isZero();
        final List<Graph.TracedPacket> dropped = traced.stream().filter(p -> p.steps().stream()
            .anyMatch(st -> st.text() != null && st.text().endsWith(": dropped, its ring and this worker's hold queue"
                + " are full (worker/drop/handoff-full)"))).toList();
        assertThat(dropped).as("one trace per counted drop").hasSize((int)full);
        assertThat(dropped).as("the drop is each one's last step").allSatisfy(p ->
            assertThat(p.steps().getLast().text()).contains("dropped"));
        assertThat(sum(Handoff.COUNTER_HELD)).as("a full ring's frames wait in the sender's hold queue").isPositive();
        assertThat(lanes.get(0).graph.handoff().pending()).as("the sender must not block with frames held").isTrue();
        // the hold queue takes a quarter of the sender's pool (256 of 1,024 buffers here): beyond it, dropped
        assertThat(full).as("a full hold queue drops, counted, never blocks").isPositive();
        settle();
        final long delivered = sentOn(tap(POD_B)).size();
        assertThat(delivered + full).as("every SYN forwarded or counted").isEqualTo(FLOOD);
    }

    @Test
    void shouldHoldThePortsWhileFramesWaitButNotForAnOwnerThatTakesNothing()
    {
        final Lane first = lanes.get(0);
        final WorkerHandoff h0 = first.graph.handoff();
        for (int f = 0; f < FLOOD; f++)
        {
            first.receive(tap(POD_A), tcp(Ip4.podMac(POD_A), GATEWAY_MAC, POD_A, VIP_LOCAL, 10000 + f, 80,
                TcpHeader.SYN));
        }
        assertThat(h0.flushHeld(clock.nanos())).as("the owner has not drained: nothing moves").isZero();
        assertThat(h0.holdPorts()).as("frames held: the sender reads no port").isTrue();
        clock.advance(WorkerHandoff.HOLD_PORTS_NANOS / 2);
        h0.flushHeld(clock.nanos());
        assertThat(h0.holdPorts()).isTrue();
        // it takes nothing for longer than the bound: the sender's own flows are not held back any more
        clock.advance(WorkerHandoff.HOLD_PORTS_NANOS / 2 + 1);
        h0.flushHeld(clock.nanos());
        assertThat(h0.holdPorts()).as("an owner that takes nothing does not stall the sender for ever").isFalse();
        assertThat(h0.pending()).as("but the sender still does not block with frames held").isTrue();
        settle();
        assertThat(h0.holdPorts()).isFalse();
        final long full = sum(Handoff.DROP_PREFIX + Handoff.Drop.HANDOFF_FULL.counterName());
        assertThat(sentOn(tap(POD_B)).size() + full).as("every SYN forwarded or counted").isEqualTo(FLOOD);
    }
}
