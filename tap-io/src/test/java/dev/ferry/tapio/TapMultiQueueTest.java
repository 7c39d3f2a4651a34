package dev.ferry.tapio;

import dev.ferry.core.Counters;
import dev.ferry.core.ManualClock;
import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;
import dev.ferry.core.header.Wire;
import dev.ferry.core.packet.FrameBuilder;
import dev.ferry.core.route.Ip4;

import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * One TAP device with two queues ({@code IFF_MULTI_QUEUE}), as two workers would open it: the pod's flows are
 * spread over both queues, each flow on one; either queue writes to the pod; closing one queue leaves the other
 * (and the device) working.
 */
@Tag("netns")
class TapMultiQueueTest
{
    static final String NS = "ferry-tio-mq";
    static final String TAP = "ferry-tmq0";
    static final long POD_MAC = Ip4.parseMac("02:fe:00:00:00:01");
    static final long OUR_MAC = Ip4.parseMac("02:fe:00:00:00:02");
    static final int POD_IP = Ip4.parse("10.199.8.1");
    static final int OUR_IP = Ip4.parse("10.199.8.2");
    static final int FLOWS = 32;
    static final int PER_FLOW = 5;
    static final int DPORT = 9999;

    private final PacketPool pool = new PacketPool(1024, PacketPool.DEFAULT_BUFFER_SIZE, PacketPool.DEFAULT_HEADROOM,
        64);
    private final Counters counters = Counters.inMemory(128);
    private final ManualClock clock = new ManualClock(1_000L);
    private final PacketVector v = new PacketVector();

    @BeforeEach
    void root()
    {
        Netns.assumeRoot();
    }

    @AfterEach
    void poolIsFullAgain()
    {
        assertThat(pool.available()).as("buffers leaked").isEqualTo(pool.capacity());
        pool.close();
        counters.close();
    }

    private TapPort.Options queue(final String portName)
    {
        return new TapPort.Options().multiQueue(true).mac(POD_MAC).vnetHeader(TapPort.VNET_HDR).offloads(true)
            .portName(portName);
    }

    @Test
    void shouldSpreadFlowsOverQueuesKeepEachFlowOnOneAndSurviveClosingAQueue() throws Exception
    {
        Netns.create(NS);
        TapPort q0 = null;
        try (TapPort q1 = TapPort.open(TAP, 1, pool, counters, clock, queue("q1")))
        {
            q0 = TapPort.open(TAP, 0, pool, counters, clock, queue("q0"));
            assertThat(q0.device()).isEqualTo(TAP);
            assertThat(q0.acceptsOffload()).as("TSO on queue 0: 0x" + Integer.toHexString(q0.offloads())).isTrue();
            assertThat(q1.acceptsOffload()).as("TSO on queue 1: 0x" + Integer.toHexString(q1.offloads())).isTrue();
            TapPortTest.plumb(NS, TAP, "10.199.8.1/24", "10.199.8.2");

            // the pod sends FLOWS flows (one source port each) of PER_FLOW datagrams
            sendFlows();
            final Map<Integer, Set<Integer>> queuesOf = new HashMap<>();
            final int[] perQueue = new int[2];
            receiveFlows(new TapPort[] {q0, q1}, queuesOf, perQueue);
            assertThat(perQueue[0] + perQueue[1]).as("every datagram arrived once").isEqualTo(FLOWS * PER_FLOW);
            assertThat(queuesOf).hasSize(FLOWS);
            assertThat(queuesOf.values()).as("each flow on one queue").allSatisfy(s -> assertThat(s).hasSize(1));
            assertThat(perQueue[0]).as("queue 0 got flows").isPositive();
            assertThat(perQueue[1]).as("queue 1 got flows").isPositive();
            assertThat(counters.get("port/q0/rx-packets") + counters.get("port/q1/rx-packets"))
                .isEqualTo(FLOWS * PER_FLOW);

            // a frame written on either queue reaches the pod's kernel, which answers it. tun's automatic steering
            // learns the flow's queue from each write (an ICMP flow hashes by addresses), after the kernel has
            // handled the written frame: the answer to the next frame comes back on the queue that wrote
            final TapPort[] both = {q0, q1};
            final int[] written = {0, 1, 1, 0, 0};
            for (int i = 0; i < written.length; i++)
            {
                send(both[written[i]], 0x1234_0010 + i);
                final Map<Integer, Integer> reply = awaitEchoReplies(both, 1);
                assertThat(reply).as("answer to frame %d", i).containsOnlyKeys(0x1234_0010 + i);
                if (i > 0 && written[i] == written[i - 1])
                {
                    assertThat(reply.get(0x1234_0010 + i)).as("steered to the writing queue").isEqualTo(written[i]);
                }
            }
            assertThat(counters.get("port/q0/tx-packets")).isEqualTo(3);
            assertThat(counters.get("port/q1/tx-packets")).isEqualTo(2);

            // one queue closes (its worker stops): the device stays, every flow now reaches the other queue
            q0.close();
            q0 = null;
            assertThat(Netns.run("ip", "-n", NS, "link", "show", TAP).code()).as("device still there").isZero();
            sendFlows();
            final Map<Integer, Set<Integer>> after = new HashMap<>();
            final int[] afterPerQueue = new int[2];
            receiveFlows(new TapPort[] {null, q1}, after, afterPerQueue);
            assertThat(afterPerQueue[1]).as("all flows on the queue left").isEqualTo(FLOWS * PER_FLOW);
            send(q1, 0x1234_0003);
            assertThat(awaitEchoReplies(new TapPort[] {q1}, 1)).containsOnlyKeys(0x1234_0003);
        }
        finally
        {
            if (q0 != null)
            {
                q0.close();
            }
            Netns.delete(NS);
            Netns.deleteLink(TAP);
        }
    }

    @Test
    void shouldExplainAQueueModeThatDoesNotMatchAPersistentDevice() throws Exception
    {
        final String single = "ferry-tmq1";
        final String multi = "ferry-tmq2";
        final String other = "ferry-tmq3";
        try
        {
            try (TapPort p = TapPort.open(single, 0, pool, counters, clock, new TapPort.Options().persistent(true)))
            {
                assertThat(p.device()).isEqualTo(single);
            }
            assertThatThrownBy(() -> TapPort.open(single, 0, pool, counters, clock, queue("x")))
                .isInstanceOfSatisfying(TapQueueModeException.class, e -> assertThat(e.deviceMultiQueue()).isFalse())
                .hasMessageStartingWith("ioctl(TUNSETIFF, ferry-tmq1): Invalid argument (errno 22); ferry-tmq1 "
                    + "exists as a single-queue TAP")
                .hasMessageContaining("ip link delete ferry-tmq1");
            assertThat(Interfaces.index(single)).as("the probe left the device as it was").isPositive();
            // while a single-queue descriptor holds it, the same explanation (the probe finds it busy)
            try (TapPort p = TapPort.open(single, 0, pool, counters, clock, new TapPort.Options()))
            {
                assertThatThrownBy(() -> TapPort.open(single, 0, pool, counters, clock, queue("x")))
                    .hasMessageContaining("exists as a single-queue TAP");
                p.persistent(false);
            }
            assertThat(Interfaces.index(single)).as("gone with its last descriptor").isZero();

            try (TapPort p = TapPort.open(multi, 0, pool, counters, clock,
                new TapPort.Options().multiQueue(true).persistent(true)))
            {
                assertThatThrownBy(() -> TapPort.open(multi, 0, pool, counters, clock, new TapPort.Options()))
                    .isInstanceOfSatisfying(TapQueueModeException.class, e -> assertThat(e.deviceMultiQueue()).isTrue())
                    .hasMessageContaining("ferry-tmq2 exists as a multi-queue TAP: open it with");
                p.persistent(false);
            }
            assertThat(Interfaces.index(multi)).isZero();
            // idle (a restarted node): the same, and a node of one worker opens one queue of it instead
            try (TapPort p = TapPort.open(multi, 0, pool, counters, clock,
                new TapPort.Options().multiQueue(true).persistent(true)))
            {
                assertThat(p.multiQueue()).isTrue();
            }
            assertThatThrownBy(() -> TapPort.open(multi, 0, pool, counters, clock, new TapPort.Options()))
                .isInstanceOfSatisfying(TapQueueModeException.class, e -> assertThat(e.deviceMultiQueue()).isTrue());
            try (TapPort p = TapPort.open(multi, 0, pool, counters, clock, new TapPort.Options().multiQueue(true)))
            {
                p.persistent(false);
            }
            assertThat(Interfaces.index(multi)).isZero();
            // a name that is no TAP at all is not taken for one in the other mode
            Netns.must("ip", "link", "add", other, "type", "veth", "peer", "name", other + "p");
            assertThatThrownBy(() -> TapPort.open(other, 0, pool, counters, clock, new TapPort.Options()))
                .isNotInstanceOf(TapQueueModeException.class).isInstanceOf(NativeException.class);
        }
        finally
        {
            Netns.deleteLink(single);
            Netns.deleteLink(multi);
            Netns.deleteLink(other);
        }
    }

    @Test
    void shouldLetOtherWorkersWriteToASingleQueueTapThatWorkerZeroReads() throws Exception
    {
        // a pod TAP made single-queue by a node of one worker, attached again by a node of two: worker 0 reads and
        // writes it, worker 1 writes to it through a second descriptor and never reads
        Netns.create(NS);
        final Counters counters1 = Counters.inMemory(128);
        TapPort writer = null;
        try (TapPort reader = TapPort.open(TAP, 0, pool, counters, clock, new TapPort.Options().mac(POD_MAC)
            .vnetHeader(TapPort.VNET_HDR).offloads(true).portName("pod")))
        {
            writer = TapPort.transmitOnly(reader, 0, pool, counters1, clock);
            assertThat(reader.multiQueue()).isFalse();
            assertThat(writer.isTransmitOnly()).isTrue();
            assertThat(writer.fd()).as("not in the worker's epoll set").isEqualTo(-1);
            assertThat(writer.receiveIsSyscall()).isFalse();
            assertThat(writer.acceptsOffload()).as("the reader's offloads").isEqualTo(reader.acceptsOffload());
            TapPortTest.plumb(NS, TAP, "10.199.8.1/24", "10.199.8.2");

            // frames written by either reach the pod's kernel; every answer comes back to the reader
            final TapPort[] both = {reader, writer};
            final int[] written = {1, 0, 1, 1};
            for (int i = 0; i < written.length; i++)
            {
                send(both[written[i]], 0x1234_0020 + i);
                assertThat(awaitEchoReplies(new TapPort[] {reader}, 1)).as("answer to frame %d", i)
                    .containsOnlyKeys(0x1234_0020 + i);
            }
            assertThat(writer.receive(v)).as("the writer reads nothing").isZero();
            assertThat(counters1.get("port/pod/tx-packets")).isEqualTo(3);
            assertThat(counters.get("port/pod/tx-packets")).isEqualTo(1);

            // the writer's worker stops: the reader keeps the device
            writer.close();
            writer = null;
            send(reader, 0x1234_0030);
            assertThat(awaitEchoReplies(new TapPort[] {reader}, 1)).containsOnlyKeys(0x1234_0030);
        }
        finally
        {
            if (writer != null)
            {
                writer.close();
            }
            counters1.close();
            Netns.delete(NS);
            Netns.deleteLink(TAP);
        }
    }

    private static void sendFlows()
    {
        Netns.inNs(NS, "python3", "-c", "import socket\n"
            + "for i in range(" + FLOWS + "):\n"
            + "    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            + "    s.bind(('10.199.8.1', 20000 + i))\n"
            + "    for k in range(" + PER_FLOW + "):\n"
            + "        s.sendto(b'flow', ('10.199.8.2', " + DPORT + "))\n"
            + "    s.close()\n");
    }

    /** Reads both queues until every datagram of the flows arrived or 10 s passed; notes each flow's queues. */
    private void receiveFlows(final TapPort[] queues, final Map<Integer, Set<Integer>> queuesOf, final int[] perQueue)
    {
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        int total = 0;
        while (total < FLOWS * PER_FLOW && System.nanoTime() < deadline)
        {
            for (int q = 0; q < queues.length; q++)
            {
                if (queues[q] == null)
                {
                    continue;
                }
                queues[q].awaitReadable(10);
                queues[q].receive(v);
                for (int i = 0; i < v.count(); i++)
                {
                    final int h = v.get(i);
                    final byte[] f = pool.toArray(h);
                    pool.free(h);
                    if (TapPortTest.matches(f, 17, DPORT))
                    {
                        final int sport = Wire.u16(MemorySegment.ofArray(f), 34);
                        queuesOf.computeIfAbsent(sport, k -> new HashSet<>()).add(q);
                        perQueue[q]++;
                        total++;
                    }
                }
                v.clear();
            }
        }
    }

    private void send(final TapPort q, final int idSeq)
    {
        final byte[] frame = new FrameBuilder().eth(OUR_MAC, POD_MAC).ip4(OUR_IP, POD_IP).icmp(8, 0, idSeq)
            .payload(new byte[] {1, 2, 3, 4}).build();
        final int h = pool.allocate();
        pool.write(h, frame, 0, frame.length);
        pool.txPort(h, q.id());
        q.transmit(h);
        q.flush();
    }

    /** The id/sequence words of the echo replies read from the queues (5 s at most), with the queue of each. */
    private Map<Integer, Integer> awaitEchoReplies(final TapPort[] queues, final int expected)
    {
        final Map<Integer, Integer> seen = new HashMap<>();
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (seen.size() < expected && System.nanoTime() < deadline)
        {
            for (int k = 0; k < queues.length; k++)
            {
                final TapPort q = queues[k];
                q.awaitReadable(10);
                q.receive(v);
                for (int i = 0; i < v.count(); i++)
                {
                    final int h = v.get(i);
                    final byte[] f = pool.toArray(h);
                    pool.free(h);
                    if (TapPortTest.matches(f, 1, -1) && f[34] == 0)
                    {
                        seen.put(Wire.u32(MemorySegment.ofArray(f), 38), k);
                    }
                }
                v.clear();
            }
        }
        return seen;
    }
}
