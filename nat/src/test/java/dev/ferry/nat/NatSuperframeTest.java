package dev.ferry.nat;

import dev.ferry.core.header.Checksum;
import dev.ferry.core.header.Wire;
import dev.ferry.core.route.Ip4;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static dev.ferry.nat.Harness.B1;
import static dev.ferry.nat.Harness.CLIENT;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * TSO superframes through a ClusterIP to a pod on the same node, with the real conntrack table: the reverse NAT
 * rewrites a 60 KB superframe once, leaves it whole with its segment size, and its partial TCP checksum, completed
 * as the receiving kernel would, verifies; conntrack counts it as one packet whose segment is the whole payload
 * (packets, bytes, and the tracked sequence end that an exact RST must hit).
 */
class NatSuperframeTest
{
    private static final int VIP = Ip4.parse("10.96.0.10");
    private static final int SYN = 0x02;
    private static final int ACK = 0x10;
    private static final int PSH = 0x08;
    private static final int MSS = 1410;
    private static final int PAYLOAD = 60_000;

    private Harness net;

    @AfterEach
    void close()
    {
        assertThat(net.pool.available()).as("no leaked buffer").isEqualTo(net.pool.capacity());
    }

    private static byte[] tcp(final int src, final int dst, final int sport, final int dport, final int flags,
        final int seq, final int ack, final byte[] data)
    {
        return Harness.fromPod(src).ip4(src, dst).df(true).tcp(sport, dport, flags, seq, ack).payload(data).build();
    }

    /** As the pod's TSO hands it over: the checksum field holds the pseudo-header sum only. */
    private static byte[] superframe(final int seq, final byte[] data)
    {
        final byte[] f = tcp(B1, CLIENT, 8080, 40000, PSH | ACK, seq, 1001, data);
        Wire.u16(MemorySegment.ofArray(f), 50, Checksum.fold(Checksum.pseudoHeader(B1, CLIENT, 6, 20 + data.length)));
        return f;
    }

    @Test
    void shouldReverseTranslateSuperframesOnceAndTrackThemAsOneSegmentEach()
    {
        net = new Harness();
        net.publish(Harness.clusterIp("web", VIP, 6, 80, Harness.ready(B1, 8080, true)));
        net.sendOne("pod-client", tcp(CLIENT, VIP, 40000, 80, SYN, 1000, 0, new byte[0]));
        net.sendOne("pod-b1", tcp(B1, CLIENT, 8080, 40000, SYN | ACK, 5000, 1001, new byte[0]));
        net.sendOne("pod-client", tcp(CLIENT, VIP, 40000, 80, ACK, 1001, 5001, new byte[0]));

        final byte[] data = new byte[PAYLOAD];
        new Random(8).nextBytes(data);
        for (int k = 0; k < 2; k++)
        {
            final List<Harness.Out> out = net.sendSuperframe("pod-b1", superframe(5001 + k * PAYLOAD, data), MSS);
            assertThat(out).as("superframe %d: one frame out; drops %s", k, net.drops()).hasSize(1);
            assertThat(out.get(0).port()).isEqualTo("pod-client");
            assertThat(net.sentGsoSize.get(0)).as("still a superframe").isEqualTo(MSS);
            final byte[] f = out.get(0).bytes();
            final Harness.Pkt p = out.get(0).pkt();
            assertThat(p.src()).as("the client sees the ClusterIP").isEqualTo(VIP);
            assertThat(p.sport()).isEqualTo(80);
            final MemorySegment m = MemorySegment.ofArray(f);
            assertThat(Wire.u16(m, 50)).as("still partial: the pseudo-header sum of the new addresses")
                .isEqualTo(Checksum.fold(Checksum.pseudoHeader(VIP, CLIENT, 6, 20 + PAYLOAD)));
            // what the receiving kernel (or a segmenter) does: sum from the TCP header on, store the complement
            Wire.u16(m, 50, Checksum.compute(m, 34, 20 + PAYLOAD));
            assertThat(p.checksumsValid()).as("completed, every checksum verifies").isTrue();
            assertThat(Arrays.copyOfRange(f, 54, f.length)).isEqualTo(data);
        }
        assertThat(net.drops()).as("nothing dropped as invalid").isEmpty();
        final java.util.List<dev.ferry.conntrack.ConntrackEntry> entries = new java.util.ArrayList<>();
        net.ct.entries(0, 10, entries);
        assertThat(entries).hasSize(1);
        final dev.ferry.conntrack.ConntrackEntry e = entries.get(0);
        assertThat(e.replyPackets()).as("SYN-ACK and one packet per superframe").isEqualTo(3);
        assertThat(e.replyBytes()).as("the superframes' IPv4 lengths").isEqualTo(40 + 2L * (40 + PAYLOAD));
        // netfilter's RST rule: a RST exactly at the end of what the server sent closes the entry, one elsewhere in
        // the window only keeps it. The end is 5001 + 2 x 60,000 only if each superframe counted as one
        // 60,000-byte segment (the client has not acknowledged any of it yet).
        assertThat(net.send("pod-b1", tcp(B1, CLIENT, 8080, 40000, 0x04, 5001 + 2 * PAYLOAD, 0, new byte[0])))
            .as("RST passed on; drops %s", net.drops()).hasSize(1);
        entries.clear();
        net.ct.entries(0, 10, entries);
        assertThat(entries.get(0).tcpState()).as("closed by a RST at the tracked end")
            .isEqualTo(dev.ferry.conntrack.TcpState.CLOSE);
    }
}
