package dev.ferry.nat;

import dev.ferry.core.route.Ip4;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.List;

import static dev.ferry.nat.Harness.B1;
import static dev.ferry.nat.Harness.CLIENT;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * No allocation on the NAT's hot path: tracked TCP segments to a ClusterIP (nat44-in, the conntrack update with
 * sequence numbers) and fragmented UDP datagrams to a ClusterIP whose later fragments arrive before the first
 * (nat44-in, nat44-frag holding and releasing, later fragments rewritten), through the whole graph. After a warm-up
 * the thread's allocated bytes are measured across a million packets and must stay under one byte per packet.
 */
class NatAllocationTest
{
    private static final int VIP_TCP = Ip4.parse("10.96.0.10");
    private static final int VIP_UDP = Ip4.parse("10.96.0.53");
    private static final int DATAGRAMS = 8;
    private static final int SEGMENTS = 40;

    private Harness net;

    @AfterEach
    void close()
    {
        if (net != null)
        {
            net.close();
        }
    }

    @Test
    void shouldTranslateTrackedSegmentsAndHeldFragmentsWithoutAllocating()
    {
        final java.lang.management.ThreadMXBean generic = ManagementFactory.getThreadMXBean();
        assumeTrue(generic instanceof com.sun.management.ThreadMXBean, "this JVM cannot count allocated bytes");
        final com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean)generic;
        assumeTrue(threads.isThreadAllocatedMemorySupported(), "thread allocation accounting not supported");
        threads.setThreadAllocatedMemoryEnabled(true);

        net = new Harness();
        net.publish(Harness.clusterIp("web", VIP_TCP, 6, 80, Harness.ready(B1, 8080, true)),
            Harness.clusterIp("dns", VIP_UDP, 17, 53, Harness.ready(B1, 5353, true)));
        net.sendOne("pod-client", Harness.fromPod(CLIENT).ip4(CLIENT, VIP_TCP).tcp(41000, 80, 0x02, 1000, 0).build());
        net.sendOne("pod-b1", Harness.fromPod(B1).ip4(B1, CLIENT).tcp(8080, 41000, 0x12, 5000, 1001).build());
        final byte[] ack = Harness.fromPod(CLIENT).ip4(CLIENT, VIP_TCP).tcp(41000, 80, 0x10, 1001, 5001).build();
        // each datagram's fragments in reverse: the later ones are held until the first arrives in the same vector
        final List<byte[]> vector = new ArrayList<>();
        for (int d = 0; d < DATAGRAMS; d++)
        {
            final List<byte[]> f = FragmentNatTest.udpFragments(Harness.fromPod(CLIENT).ip4(CLIENT, VIP_UDP), 100 + d,
                40000 + d, 53, FragmentNatTest.payload(3000, d));
            assertThat(f).hasSize(3);
            vector.addAll(f.reversed());
        }
        for (int i = 0; i < SEGMENTS; i++)
        {
            vector.add(ack);
        }
        final byte[][] frames = vector.toArray(new byte[0][]);
        final int client = net.ports.idOf("pod-client");
        net.discard = true;

        final int warm = 1_000_000 / frames.length;
        for (int v = 0; v < warm; v++)
        {
            send(frames, client);
        }
        final int vectors = 1_000_000 / frames.length;
        final long packets = (long)vectors * frames.length;
        final long before = threads.getCurrentThreadAllocatedBytes();
        for (int v = 0; v < vectors; v++)
        {
            send(frames, client);
        }
        final long allocated = threads.getCurrentThreadAllocatedBytes() - before;
        System.out.printf("NAT graph, warm: %d bytes allocated over %d packets (%.4f B/packet)%n", allocated, packets,
            (double)allocated / packets);

        assertThat(net.drops()).as("nothing dropped").isEmpty();
        assertThat(net.discarded).as("every packet translated and sent")
            .isEqualTo((long)(warm + vectors) * frames.length);
        assertThat(net.counter(Nat.COUNTER_SESSIONS_CREATED)).as("one TCP flow, one UDP flow per datagram")
            .isEqualTo(1 + DATAGRAMS);
        assertThat(net.counter(Nat.COUNTER_FRAGMENT_CONTEXTS)).as("every datagram completed").isZero();
        assertThat((double)allocated / packets).as("bytes allocated per packet (%d bytes over %d packets)",
            allocated, packets).isLessThan(1.0);
        assertThat(net.poolFull()).as("every buffer back in the pool").isTrue();
    }

    private void send(final byte[][] frames, final int port)
    {
        for (final byte[] f : frames)
        {
            net.input(port, f);
        }
        net.graph.run();
    }
}
