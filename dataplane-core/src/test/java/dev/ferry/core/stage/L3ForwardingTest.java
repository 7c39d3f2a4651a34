package dev.ferry.core.stage;

import dev.ferry.core.header.ArpHeader;
import dev.ferry.core.header.EthernetHeader;
import dev.ferry.core.header.IcmpHeader;
import dev.ferry.core.header.Ip4Header;
import dev.ferry.core.header.UdpHeader;
import dev.ferry.core.packet.FrameBuilder;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.testing.TestNode;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

import static dev.ferry.core.testing.TestNode.GATEWAY;
import static dev.ferry.core.testing.TestNode.GATEWAY_MAC;
import static dev.ferry.core.testing.TestNode.POD_A;
import static dev.ferry.core.testing.TestNode.POD_B;
import static org.assertj.core.api.Assertions.assertThat;

class L3ForwardingTest
{
    private final TestNode node = new TestNode();
    private final byte[] payload = "hello from pod a".getBytes(StandardCharsets.US_ASCII);

    @AfterEach
    void poolIsFullAgain()
    {
        node.close();
    }

    private byte[] podAToB(final int ttl)
    {
        return new FrameBuilder().eth(Ip4.podMac(POD_A), GATEWAY_MAC).ip4(POD_A, POD_B).ttl(ttl).id(7)
            .udp(40000, 8080).payload(payload).build();
    }

    @Test
    void shouldForwardPodToPodRewritingMacsAndTtl()
    {
        node.receive(node.podA, podAToB(64));

        assertThat(node.sent).as("one frame out").hasSize(1);
        assertThat(node.sent.get(0).port()).isEqualTo("tap0af40103");
        final MemorySegment out = MemorySegment.ofArray(node.sent.get(0).frame());
        final EthernetHeader eth = new EthernetHeader().wrap(out, 0);
        assertThat(eth.dst()).as("dst MAC is pod B").isEqualTo(Ip4.podMac(POD_B));
        assertThat(eth.src()).as("src MAC is the gateway").isEqualTo(GATEWAY_MAC);
        final Ip4Header ip = new Ip4Header().wrap(out, 14);
        assertThat(ip.ttl()).isEqualTo(63);
        assertThat(ip.checksumValid()).as("IP checksum after TTL decrement").isTrue();
        assertThat(new UdpHeader().wrap(out, 34).checksumValid(POD_A, POD_B)).isTrue();
        assertThat(Arrays.copyOfRange(node.sent.get(0).frame(), 42, 42 + payload.length)).isEqualTo(payload);
        assertThat(node.counter("stage/ip4-rewrite/next/interface-output")).isEqualTo(1);
    }

    @Test
    void shouldAnswerArpForTheGateway()
    {
        final byte[] req = new FrameBuilder().eth(Ip4.podMac(POD_A), EthernetHeader.BROADCAST)
            .arp(ArpHeader.OP_REQUEST, Ip4.podMac(POD_A), POD_A, 0, GATEWAY).padTo(60).build();
        node.receive(node.podA, req);

        assertThat(node.sent).hasSize(1);
        assertThat(node.sent.get(0).port()).isEqualTo("tap0af40102");
        final MemorySegment out = MemorySegment.ofArray(node.sent.get(0).frame());
        assertThat(new EthernetHeader().wrap(out, 0).dst()).isEqualTo(Ip4.podMac(POD_A));
        final ArpHeader arp = new ArpHeader().wrap(out, 14);
        assertThat(arp.operation()).isEqualTo(ArpHeader.OP_REPLY);
        assertThat(arp.senderIp()).isEqualTo(GATEWAY);
        assertThat(arp.senderMac()).isEqualTo(GATEWAY_MAC);
        assertThat(arp.targetIp()).isEqualTo(POD_A);
        assertThat(arp.targetMac()).isEqualTo(Ip4.podMac(POD_A));
    }

    @Test
    void shouldProxyArpForOtherPodsOfThisNode()
    {
        // the pod's /24 is on-link for it (as on flannel's bridge): ferry answers for its neighbours' addresses
        final byte[] req = new FrameBuilder().eth(Ip4.podMac(POD_A), EthernetHeader.BROADCAST)
            .arp(ArpHeader.OP_REQUEST, Ip4.podMac(POD_A), POD_A, 0, POD_B).build();
        node.receive(node.podA, req);
        assertThat(node.sent).hasSize(1);
        final ArpHeader arp = new ArpHeader().wrap(MemorySegment.ofArray(node.sent.getFirst().frame()), 14);
        assertThat(arp.operation()).isEqualTo(ArpHeader.OP_REPLY);
        assertThat(arp.senderIp()).isEqualTo(POD_B);
        assertThat(arp.senderMac()).as("ferry's MAC on the pod port").isEqualTo(GATEWAY_MAC);
    }

    @Test
    void shouldNotAnswerArpOutsideThisNodesPodCidr()
    {
        final byte[] req = new FrameBuilder().eth(Ip4.podMac(POD_A), EthernetHeader.BROADCAST)
            .arp(ArpHeader.OP_REQUEST, Ip4.podMac(POD_A), POD_A, 0, Ip4.parse("10.244.2.7")).build();
        node.receive(node.podA, req);
        assertThat(node.sent).isEmpty();
        assertThat(node.counter("stage/arp/drop/not-our-address")).isEqualTo(1);
    }

    @Test
    void shouldSendTimeExceededForTtlOne()
    {
        final byte[] in = podAToB(1);
        node.receive(node.podA, in);

        assertThat(node.sent).hasSize(1);
        assertThat(node.sent.get(0).port()).as("error goes back to the sender").isEqualTo("tap0af40102");
        final MemorySegment out = MemorySegment.ofArray(node.sent.get(0).frame());
        final Ip4Header ip = new Ip4Header().wrap(out, 14);
        assertThat(ip.src()).isEqualTo(GATEWAY);
        assertThat(ip.dst()).isEqualTo(POD_A);
        assertThat(ip.protocol()).isEqualTo(Ip4Header.PROTO_ICMP);
        assertThat(ip.checksumValid()).isTrue();
        final IcmpHeader icmp = new IcmpHeader().wrap(out, 34);
        assertThat(icmp.type()).isEqualTo(IcmpHeader.TYPE_TIME_EXCEEDED);
        assertThat(icmp.checksumValid(ip.payloadLength())).isTrue();
        // the quoted datagram is the original IP header and data, unchanged
        final byte[] quoted = Arrays.copyOfRange(node.sent.get(0).frame(), 42, 42 + in.length - 14);
        assertThat(quoted).isEqualTo(Arrays.copyOfRange(in, 14, in.length));
    }

    @Test
    void shouldDropEachMalformationUnderItsOwnReason()
    {
        final byte[] badChecksum = podAToB(64);
        badChecksum[24] ^= 0x55;
        node.receive(node.podA, badChecksum);
        node.receive(node.podA, Arrays.copyOf(podAToB(64), 14 + 12));
        final byte[] tooLong = podAToB(64);
        new Ip4Header().wrap(MemorySegment.ofArray(tooLong), 14).totalLength(1400).updateChecksum();
        node.receive(node.podA, tooLong);
        final byte[] v6 = podAToB(64);
        v6[12] = (byte)0x86;
        v6[13] = (byte)0xdd;
        node.receive(node.podA, v6);

        assertThat(node.sent).isEmpty();
        assertThat(node.counter("stage/ip4-input/drop/bad-checksum")).isEqualTo(1);
        assertThat(node.counter("stage/ip4-input/drop/truncated")).isEqualTo(1);
        assertThat(node.counter("stage/ip4-input/drop/length-exceeds-frame")).isEqualTo(1);
        assertThat(node.counter("stage/ethernet-input/drop/ip6-not-supported")).isEqualTo(1);
    }

    @Test
    void shouldAnswerPingToGateway()
    {
        final byte[] ping = new FrameBuilder().eth(Ip4.podMac(POD_A), GATEWAY_MAC).ip4(POD_A, GATEWAY)
            .icmp(IcmpHeader.TYPE_ECHO_REQUEST, 0, (0x1234 << 16) | 1).payload(payload).build();
        node.receive(node.podA, ping);
        assertThat(node.sent).hasSize(1);
        final MemorySegment out = MemorySegment.ofArray(node.sent.get(0).frame());
        final Ip4Header ip = new Ip4Header().wrap(out, 14);
        assertThat(ip.src()).isEqualTo(GATEWAY);
        assertThat(ip.dst()).isEqualTo(POD_A);
        final IcmpHeader icmp = new IcmpHeader().wrap(out, 34);
        assertThat(icmp.type()).isEqualTo(IcmpHeader.TYPE_ECHO_REPLY);
        assertThat(icmp.identifier()).isEqualTo(0x1234);
        assertThat(icmp.checksumValid(ip.payloadLength())).isTrue();
    }

    @Test
    void shouldDropFramesForOtherMacsAndUnknownPods()
    {
        node.receive(node.podA, new FrameBuilder().eth(Ip4.podMac(POD_A), 0x020000000001L).ip4(POD_A, POD_B)
            .udp(1, 2).build());
        node.receive(node.podA, new FrameBuilder().eth(Ip4.podMac(POD_A), GATEWAY_MAC)
            .ip4(POD_A, Ip4.parse("10.244.1.99")).udp(1, 2).build());
        assertThat(node.counter("stage/ethernet-input/drop/not-for-us")).isEqualTo(1);
        assertThat(node.sent).as("host unreachable back to pod A").hasSize(1);
        final IcmpHeader icmp = new IcmpHeader().wrap(MemorySegment.ofArray(node.sent.get(0).frame()), 34);
        assertThat(icmp.type()).isEqualTo(IcmpHeader.TYPE_DEST_UNREACHABLE);
        assertThat(icmp.code()).isEqualTo(IcmpHeader.CODE_HOST_UNREACHABLE);
    }

    @Test
    void shouldRecordTraceOfSampledPacket()
    {
        node.graph.trace().sample(1);
        node.receive(node.podA, podAToB(64));
        final String trace = String.join("\n", node.graph.formatTrace());
        assertThat(trace).contains("Packet 1:", "ethernet-input -> ip4-input", "ip4-lookup -> ip4-rewrite",
            "pod default/b on tap0af40103", "TRANSMIT on tap0af40103");
    }

    @Test
    void shouldTraceDropWithIdCounterNameAndSentence()
    {
        node.graph.trace().sample(1);
        node.receive(node.podA, new FrameBuilder().eth(Ip4.podMac(POD_A), 0x020000000001L).ip4(POD_A, POD_B)
            .udp(1, 2).build());
        assertThat(node.graph.formatTrace()).as("the trace names the drop as the catalogue does")
            .contains("  ethernet-input DROP 4 not-for-us: \"destination MAC is not this port's\"");
    }
}
