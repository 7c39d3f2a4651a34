package dev.ferry.core.gso;

import dev.ferry.core.header.Checksum;
import dev.ferry.core.header.Wire;
import dev.ferry.core.packet.FrameBuilder;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.testing.TestNode;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A TSO superframe through the L3 graph on one node: ip4-input takes the superframe's IPv4 total length, ip4-rewrite
 * decrements the TTL once and finds it not too big when its segments fit the MTU, and it leaves whole with its
 * offload metadata and partial TCP checksum untouched. The same bytes without the metadata are a 60 KB datagram,
 * too big: fragmentation-needed goes back to the pod.
 */
class SuperframeForwardingTest
{
    private final TestNode node = new TestNode();

    @AfterEach
    void close()
    {
        node.close();
    }

    private static byte[] superframe()
    {
        final byte[] payload = new byte[60000];
        new java.util.Random(3).nextBytes(payload);
        final byte[] f = new FrameBuilder().eth(Ip4.podMac(TestNode.POD_A), TestNode.GATEWAY_MAC)
            .ip4(TestNode.POD_A, TestNode.POD_B).ttl(64).df(true).tcp(40000, 8080, 0x18, 1, 1).payload(payload)
            .build();
        Wire.u16(MemorySegment.ofArray(f), 50, Checksum.fold(Checksum.pseudoHeader(TestNode.POD_A, TestNode.POD_B,
            6, 20 + payload.length)));
        return f;
    }

    @Test
    void shouldForwardASuperframeWholeToALocalPod()
    {
        final byte[] in = superframe();
        node.receiveSuperframe(node.podA, in, 1400);
        assertThat(node.sent).hasSize(1);
        final byte[] out = node.sent.get(0).frame();
        assertThat(node.sent.get(0).port()).isEqualTo("tap0af40103");
        assertThat(node.sentGsoSize.get(0)).as("offload metadata kept").isEqualTo(1400);
        assertThat(out.length).isEqualTo(in.length);
        final MemorySegment m = MemorySegment.ofArray(out);
        assertThat(Wire.u8(m, 22)).as("TTL once").isEqualTo(63);
        assertThat(Checksum.compute(m, 14, 20)).as("IPv4 header checksum").isZero();
        assertThat(Arrays.copyOfRange(out, 34, out.length)).as("TCP header (partial checksum) and payload as sent")
            .isEqualTo(Arrays.copyOfRange(in, 34, in.length));
    }

    @Test
    void shouldAnswerASuperframeWhoseTtlRunsOutWithAPlainIcmpError()
    {
        final byte[] in = superframe();
        in[22] = 1;
        Wire.u16(MemorySegment.ofArray(in), 24, 0);
        Wire.u16(MemorySegment.ofArray(in), 24, Checksum.compute(MemorySegment.ofArray(in), 14, 20));
        node.receiveSuperframe(node.podA, in, 1400);
        assertThat(node.sent).hasSize(1);
        assertThat(node.sent.get(0).frame()[34]).as("time exceeded").isEqualTo((byte)11);
        assertThat(node.sentGsoSize.get(0)).as("the error carries no segment size").isZero();
    }

    @Test
    void shouldAnswerFragmentationNeededForTheSameBytesWithoutOffloadMetadata()
    {
        final byte[] in = superframe();
        final int h = node.pool.allocateLarge();
        node.pool.write(h, in, 0, in.length);
        node.pool.rxPort(h, node.podA);
        node.graph.input(node.graph.indexOf("ethernet-input"), h);
        node.graph.run();
        assertThat(node.sent).hasSize(1);
        final byte[] icmp = node.sent.get(0).frame();
        assertThat(node.sent.get(0).port()).isEqualTo("tap0af40102");
        assertThat(icmp[34]).as("ICMP destination unreachable").isEqualTo((byte)3);
        assertThat(icmp[35]).as("fragmentation needed").isEqualTo((byte)4);
    }
}
