package dev.ferry.vxlan;

import dev.ferry.core.header.IcmpHeader;
import dev.ferry.core.header.Ip4Header;
import dev.ferry.core.packet.FrameBuilder;
import dev.ferry.core.route.Ip4;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;

import static dev.ferry.vxlan.Frames.ip;
import static dev.ferry.vxlan.Frames.mac;
import static dev.ferry.vxlan.Frames.u16;
import static dev.ferry.vxlan.Frames.u32;
import static dev.ferry.vxlan.Frames.u8;
import static dev.ferry.vxlan.VxlanNode.NODE1;
import static dev.ferry.vxlan.VxlanNode.NODE2;
import static org.assertj.core.api.Assertions.assertThat;

class VxlanGraphTest
{
    private VxlanNode n1;
    private VxlanNode n2;

    private void nodes(final VxlanSettings settings)
    {
        n1 = VxlanNode.node1(settings);
        n2 = VxlanNode.node2(settings);
    }

    @AfterEach
    void poolsAreFull()
    {
        for (final VxlanNode n : new VxlanNode[] {n1, n2})
        {
            if (n != null)
            {
                assertThat(n.pool.available()).as("no leaked buffer").isEqualTo(n.pool.capacity());
                n.close();
            }
        }
    }

    private byte[] encapOne(final byte[] podFrame)
    {
        n1.sent.clear();
        n1.receive(n1.podPort, podFrame);
        assertThat(n1.sent).as("one frame out of node 1").hasSize(1);
        return n1.sent.get(0).bytes();
    }

    @Test
    void shouldBuildFlannelCompatibleVxlanFrame()
    {
        nodes(VxlanSettings.defaults());
        final byte[] inner = Frames.podToPod(40000, 53, 100, false);
        final byte[] f = encapOne(inner);
        assertThat(n1.sent.get(0).port()).as("tx on uplink").isEqualTo(n1.uplink);
        assertThat(f.length).isEqualTo(inner.length + 50);
        // outer Ethernet
        assertThat(mac(f, 0)).as("outer dst = remote underlay MAC").isEqualTo(VxlanNode.UPLINK2);
        assertThat(mac(f, 6)).as("outer src = our uplink MAC").isEqualTo(VxlanNode.UPLINK1);
        assertThat(u16(f, 12)).isEqualTo(0x0800);
        // outer IPv4
        final Ip4Header ip = ip(f, 14);
        assertThat(ip.src()).isEqualTo(NODE1);
        assertThat(ip.dst()).isEqualTo(NODE2);
        assertThat(ip.ttl()).as("kernel TTL").isEqualTo(64);
        assertThat(ip.dontFragment()).as("kernel leaves DF clear").isFalse();
        assertThat(ip.protocol()).isEqualTo(17);
        assertThat(ip.totalLength()).isEqualTo(f.length - 14);
        assertThat(Frames.ipChecksumOk(f, 14)).as("outer IP checksum").isTrue();
        // outer UDP
        final int sport = u16(f, 34);
        assertThat(sport).as("kernel ephemeral range").isBetween(32768, 60999);
        assertThat(u16(f, 36)).as("flannel default port").isEqualTo(8472);
        assertThat(u16(f, 38)).isEqualTo(f.length - 34);
        assertThat(u16(f, 40)).as("UDP checksum computed").isNotZero();
        assertThat(Frames.udpChecksumOk(f, 14)).as("outer UDP checksum").isTrue();
        // VXLAN
        assertThat(u32(f, 42)).as("I flag").isEqualTo(0x08000000);
        assertThat(u32(f, 46)).as("VNI 1").isEqualTo(0x00000100);
        // inner: routed into flannel.1
        assertThat(mac(f, 50)).as("inner dst = remote VtepMAC").isEqualTo(VxlanNode.VTEP2);
        assertThat(mac(f, 56)).as("inner src = our VtepMAC").isEqualTo(VxlanNode.VTEP1);
        final Ip4Header innerIp = ip(f, 64);
        assertThat(innerIp.ttl()).as("inner TTL decremented once").isEqualTo(63);
        assertThat(innerIp.dontFragment()).isFalse();
        assertThat(Frames.ipChecksumOk(f, 64)).as("inner IP checksum").isTrue();
        assertThat(Frames.udpChecksumOk(f, 64)).as("inner UDP checksum untouched").isTrue();
        assertThat(Arrays.copyOfRange(f, 64 + 28, f.length)).isEqualTo(Arrays.copyOfRange(inner, 42, inner.length));
    }

    @Test
    void shouldSegmentATsoSuperframeBeforeTheTunnelWithValidChecksums()
    {
        nodes(VxlanSettings.defaults());
        final int mss = 1410;
        final byte[] payload = new byte[60000];
        new java.util.Random(5).nextBytes(payload);
        final byte[] sf = new dev.ferry.core.packet.FrameBuilder()
            .eth(Ip4.podMac(VxlanNode.POD_A), Ip4.podMac(Ip4.parse("10.244.1.1")))
            .ip4(VxlanNode.POD_A, VxlanNode.POD_B).ttl(64).id(0x100).df(true).tcp(40000, 80, 0x18, 7000, 9)
            .payload(payload).build();
        // CHECKSUM_PARTIAL, as the pod's TSO hands it over: the field holds the pseudo-header sum only
        final java.lang.foreign.MemorySegment m = java.lang.foreign.MemorySegment.ofArray(sf);
        dev.ferry.core.header.Wire.u16(m, 50, Frames.fold(dev.ferry.core.header.Checksum.pseudoHeader(
            VxlanNode.POD_A, VxlanNode.POD_B, 6, 20 + payload.length)));
        n1.receiveSuperframe(n1.podPort, sf, mss);
        final int segments = (payload.length + mss - 1) / mss;
        assertThat(n1.sent).as("one VXLAN datagram per segment").hasSize(segments);
        final java.io.ByteArrayOutputStream joined = new java.io.ByteArrayOutputStream();
        for (int i = 0; i < segments; i++)
        {
            final byte[] f = n1.sent.get(i).bytes();
            final int len = Math.min(mss, payload.length - i * mss);
            assertThat(f.length).isEqualTo(50 + 14 + 20 + 20 + len);
            assertThat(ip(f, 14).totalLength()).as("outer length").isEqualTo(f.length - 14);
            assertThat(Frames.ipChecksumOk(f, 14) && Frames.udpChecksumOk(f, 14)).as("outer checksums").isTrue();
            final Ip4Header inner = ip(f, 64);
            assertThat(inner.totalLength()).as("fits the pod MTU").isEqualTo(40 + len).isLessThanOrEqualTo(1450);
            assertThat(inner.ttl()).isEqualTo(63);
            assertThat(Frames.ipChecksumOk(f, 64)).as("inner IPv4 checksum").isTrue();
            final java.lang.foreign.MemorySegment fm = java.lang.foreign.MemorySegment.ofArray(f);
            assertThat(Frames.fold(dev.ferry.core.header.Checksum.pseudoHeader(VxlanNode.POD_A, VxlanNode.POD_B, 6,
                20 + len) + dev.ferry.core.header.Checksum.sum(fm, 84, 20 + len))).as("inner TCP checksum")
                .isEqualTo(0xffff);
            assertThat(u32(f, 84 + 4)).as("sequence number").isEqualTo(7000 + i * mss);
            joined.write(f, 104, len);
        }
        assertThat(joined.toByteArray()).isEqualTo(payload);
        // and node 2 takes them to its pod like any segments
        for (int i = 0; i < segments; i++)
        {
            n2.receive(n2.uplink, n1.sent.get(i).bytes());
        }
        assertThat(n2.sent).hasSize(segments).allSatisfy(t -> assertThat(t.port()).isEqualTo(n2.podPort));
    }

    /**
     * What the uplink's receive GRO makes of a peer's run of VXLAN datagrams (tap-io's VxlanGro): the first
     * datagram's outer, VXLAN and inner headers with the lengths of the whole, outer UDP checksum 0, inner TCP PSH of
     * the last and checksum field = pseudo-header sum, then every segment's payload.
     */
    private static byte[] merged(final java.util.List<VxlanNode.Tx> run, final int tcpAt)
    {
        final java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        out.write(run.get(0).bytes(), 0, tcpAt + 20);
        for (final VxlanNode.Tx t : run)
        {
            out.write(t.bytes(), tcpAt + 20, t.bytes().length - tcpAt - 20);
        }
        final byte[] f = out.toByteArray();
        final java.lang.foreign.MemorySegment m = java.lang.foreign.MemorySegment.ofArray(f);
        final int innerIp = tcpAt - 20;
        dev.ferry.core.header.Wire.u16(m, 16, f.length - 14);
        dev.ferry.core.header.Wire.u16(m, 24, 0);
        dev.ferry.core.header.Wire.u16(m, 24, dev.ferry.core.header.Checksum.compute(m, 14, 20));
        dev.ferry.core.header.Wire.u16(m, 38, f.length - 34);
        dev.ferry.core.header.Wire.u16(m, 40, 0);
        dev.ferry.core.header.Wire.u16(m, innerIp + 2, f.length - innerIp);
        dev.ferry.core.header.Wire.u16(m, innerIp + 10, 0);
        dev.ferry.core.header.Wire.u16(m, innerIp + 10, dev.ferry.core.header.Checksum.compute(m, innerIp, 20));
        f[tcpAt + 13] |= (byte)(run.get(run.size() - 1).bytes()[tcpAt + 13] & 0x08);
        dev.ferry.core.header.Wire.u16(m, tcpAt + 16, Frames.fold(dev.ferry.core.header.Checksum.pseudoHeader(
            VxlanNode.POD_A, VxlanNode.POD_B, 6, f.length - tcpAt)));
        return f;
    }

    @Test
    void shouldCarryAMergedVxlanSuperframeWholeToThePodWithItsChecksumRangeMoved()
    {
        nodes(VxlanSettings.defaults());
        final int mss = 1410;
        final byte[] payload = new byte[30000];
        new java.util.Random(6).nextBytes(payload);
        final byte[] sf = new dev.ferry.core.packet.FrameBuilder()
            .eth(Ip4.podMac(VxlanNode.POD_A), Ip4.podMac(Ip4.parse("10.244.1.1")))
            .ip4(VxlanNode.POD_A, VxlanNode.POD_B).ttl(64).id(0x100).df(true).tcp(40000, 80, 0x18, 7000, 9)
            .payload(payload).build();
        n1.receiveSuperframe(n1.podPort, sf, mss);
        final byte[] f = merged(n1.sent, 84);
        n2.receiveSuperframe(n2.uplink, f, mss, 84);
        assertThat(n2.sent).as("one superframe, not segments").hasSize(1);
        assertThat(n2.sent.get(0).port()).isEqualTo(n2.podPort);
        final byte[] d = n2.sent.get(0).bytes();
        assertThat(n2.sentOffload.get(0)).as("segment size kept, checksum range at the inner TCP header")
            .containsExactly(mss, 34);
        assertThat(d.length).isEqualTo(14 + 40 + payload.length);
        assertThat(ip(d, 14).totalLength()).isEqualTo(40 + payload.length);
        assertThat(ip(d, 14).ttl()).as("two routed hops, as with flannel").isEqualTo(62);
        assertThat(Frames.ipChecksumOk(d, 14)).isTrue();
        assertThat(u8(d, 47)).as("PSH of the last segment").isEqualTo(0x18);
        assertThat(u16(d, 50)).as("pseudo-header sum for the pod's kernel to complete").isEqualTo(Frames.fold(
            dev.ferry.core.header.Checksum.pseudoHeader(VxlanNode.POD_A, VxlanNode.POD_B, 6, 20 + payload.length)));
        assertThat(Arrays.copyOfRange(d, 54, d.length)).isEqualTo(payload);
        assertThat(n2.counter("stage/vxlan-decap/next/ethernet-input")).as("one packet through the graph")
            .isEqualTo(1);
    }

    @Test
    void shouldDeliverNode1OutputToThePodOnNode2()
    {
        nodes(VxlanSettings.defaults());
        final byte[] inner = Frames.podToPod(40000, 53, 200, true);
        final byte[] f = encapOne(inner);
        n2.receive(n2.uplink, f);
        assertThat(n2.sent).hasSize(1);
        final byte[] d = n2.sent.get(0).bytes();
        assertThat(n2.sent.get(0).port()).as("pod-b port").isEqualTo(n2.podPort);
        assertThat(mac(d, 0)).as("dst = pod MAC").isEqualTo(Ip4.podMac(VxlanNode.POD_B));
        assertThat(mac(d, 6)).as("src = gateway (cni0) MAC").isEqualTo(Ip4.podMac(Ip4.parse("10.244.2.1")));
        assertThat(ip(d, 14).ttl()).as("two routed hops, as with flannel").isEqualTo(62);
        assertThat(ip(d, 14).dontFragment()).as("inner DF as the pod set it").isTrue();
        assertThat(Frames.ipChecksumOk(d, 14)).isTrue();
        assertThat(Frames.udpChecksumOk(d, 14)).isTrue();
        assertThat(Arrays.copyOfRange(d, 42, d.length)).isEqualTo(Arrays.copyOfRange(inner, 42, inner.length));
        assertThat(n2.counter("stage/vxlan-decap/next/ethernet-input")).isEqualTo(1);
    }

    @Test
    void shouldKeepOneSourcePortPerFlowAndSpreadFlows()
    {
        nodes(VxlanSettings.defaults());
        final int a = u16(encapOne(Frames.podToPod(40000, 53, 10, false)), 34);
        final int b = u16(encapOne(Frames.podToPod(40000, 53, 30, false)), 34);
        assertThat(a).as("same flow, same source port").isEqualTo(b);
        final Set<Integer> ports = new HashSet<>();
        for (int p = 0; p < 64; p++)
        {
            ports.add(u16(encapOne(Frames.podToPod(30000 + p, 53, 10, false)), 34));
        }
        assertThat(ports).as("64 flows spread").hasSizeGreaterThan(50)
            .allSatisfy(p -> assertThat(p).isBetween(32768, 60999));
    }

    /**
     * Ping flows between the same two pods (one identifier each) get outer source ports of their own, so that the
     * peer's kernel does not merge them into one GRO superframe or one receive queue; the sequence number does not
     * move a flow, and an ICMP error keeps the addresses-only port.
     */
    @Test
    void shouldTellEchoFlowsApartByTheirIdentifier()
    {
        nodes(VxlanSettings.defaults());
        final Set<Integer> ports = new HashSet<>();
        for (int id = 0; id < 64; id++)
        {
            final int request = u16(encapOne(echo(IcmpHeader.TYPE_ECHO_REQUEST, 1000 + id, 1)), 34);
            assertThat(u16(encapOne(echo(IcmpHeader.TYPE_ECHO_REQUEST, 1000 + id, 2)), 34))
                .as("same identifier, next sequence number: same flow").isEqualTo(request);
            ports.add(request);
        }
        assertThat(ports).as("64 ping flows spread").hasSizeGreaterThan(50)
            .allSatisfy(p -> assertThat(p).isBetween(32768, 60999));
        assertThat(u16(encapOne(echo(IcmpHeader.TYPE_DEST_UNREACHABLE, 1000, 1)), 34))
            .as("not an echo: no identifier").isEqualTo(u16(encapOne(echo(IcmpHeader.TYPE_DEST_UNREACHABLE, 2000, 7)),
                34));
    }

    private static byte[] echo(final int type, final int id, final int seq)
    {
        return new FrameBuilder().eth(Ip4.podMac(VxlanNode.POD_A), Ip4.podMac(Ip4.parse("10.244.1.1")))
            .ip4(VxlanNode.POD_A, VxlanNode.POD_B).ttl(64).id(0x1234).icmp(type, 0, id << 16 | seq)
            .payload(new byte[28]).build();
    }

    @Test
    void shouldSendZeroChecksumWithNoUdpCsumAndAcceptIt()
    {
        nodes(VxlanSettings.defaults().withUdpChecksum(false));
        final byte[] f = encapOne(Frames.podToPod(1, 2, 20, false));
        assertThat(u16(f, 40)).as("noudpcsum").isZero();
        n2.receive(n2.uplink, f);
        assertThat(n2.sent).hasSize(1);
    }

    @Test
    void shouldHonourConfiguredOuterTtlAndDf()
    {
        nodes(VxlanSettings.defaults().withOuter(17, true));
        final byte[] f = encapOne(Frames.podToPod(1, 2, 20, false));
        assertThat(ip(f, 14).ttl()).isEqualTo(17);
        assertThat(ip(f, 14).dontFragment()).isTrue();
        assertThat(ip(f, 14).identification()).as("DF set: id 0 like the kernel").isZero();
        assertThat(Frames.ipChecksumOk(f, 14)).isTrue();
    }

    @Test
    void shouldAnswerFragmentationNeededWithPodMtuWhenDfSet()
    {
        nodes(VxlanSettings.defaults());
        // IP total 1451 > pod MTU 1450
        final byte[] big = Frames.podToPod(1, 2, 1451 - 28, true);
        n1.receive(n1.podPort, big);
        assertThat(n1.sent).hasSize(1);
        final byte[] e = n1.sent.get(0).bytes();
        assertThat(n1.sent.get(0).port()).as("back to the pod").isEqualTo(n1.podPort);
        final Ip4Header ip = ip(e, 14);
        assertThat(ip.protocol()).isEqualTo(Ip4Header.PROTO_ICMP);
        assertThat(ip.dst()).isEqualTo(VxlanNode.POD_A);
        assertThat(u8(e, 34)).isEqualTo(IcmpHeader.TYPE_DEST_UNREACHABLE);
        assertThat(u8(e, 35)).isEqualTo(IcmpHeader.CODE_FRAG_NEEDED);
        assertThat(u16(e, 40)).as("next-hop MTU = underlay 1500 - 50").isEqualTo(1450);
        assertThat(n1.counter("stage/vxlan-encap/next/icmp-error")).isEqualTo(1);
        // exactly the pod MTU fits
        n1.sent.clear();
        n1.receive(n1.podPort, Frames.podToPod(1, 2, 1450 - 28, true));
        assertThat(n1.sent).hasSize(1);
        assertThat(n1.sent.get(0).bytes().length).as("1450 + 14 + 50 = underlay MTU + outer Ethernet")
            .isEqualTo(1514);
    }

    @Test
    void shouldDropTooBigWithoutDfAndCountIt()
    {
        nodes(VxlanSettings.defaults());
        n1.receive(n1.podPort, Frames.podToPod(1, 2, 1451 - 28, false));
        assertThat(n1.sent).isEmpty();
        assertThat(n1.counter("stage/vxlan-encap/drop/too-big-no-df")).isEqualTo(1);
    }

    @Test
    void shouldSendTimeExceededWhenInnerTtlExpires()
    {
        nodes(VxlanSettings.defaults());
        final byte[] f = Frames.podToPod(1, 2, 20, false);
        ip(f, 14).ttl(1).updateChecksum();
        n1.receive(n1.podPort, f);
        assertThat(n1.sent).hasSize(1);
        assertThat(u8(n1.sent.get(0).bytes(), 34)).isEqualTo(IcmpHeader.TYPE_TIME_EXCEEDED);
    }

    @Test
    void shouldWriteOnlyVxlanAndInnerFrameInSocketMode()
    {
        nodes(VxlanSettings.defaults().withUnderlay(VxlanSettings.Underlay.SOCKET));
        final byte[] inner = Frames.podToPod(40000, 53, 100, false);
        n1.receive(n1.podPort, inner);
        assertThat(n1.sent).hasSize(1);
        final byte[] f = n1.sent.get(0).bytes();
        assertThat(n1.sent.get(0).port()).as("tunnel port").isEqualTo(n1.tunnel);
        assertThat(f.length).isEqualTo(inner.length + 8);
        assertThat(u32(f, 0)).isEqualTo(0x08000000);
        assertThat(u32(f, 4)).isEqualTo(0x100);
        assertThat(mac(f, 8)).isEqualTo(VxlanNode.VTEP2);
        // the datagram enters node 2 at vxlan-decap with the outer source in aux
        final int h = n2.pool.allocate();
        n2.pool.write(h, f, 0, f.length);
        n2.pool.rxPort(h, n2.tunnel);
        n2.pool.l3Offset(h, VxlanDecap.SOCKET_DATAGRAM);
        n2.pool.aux(h, NODE1);
        n2.graph.input(n2.graph.indexOf(VxlanDecap.NAME), h);
        n2.graph.run();
        assertThat(n2.sent).hasSize(1);
        assertThat(n2.sent.get(0).port()).isEqualTo(n2.podPort);
        assertThat(ip(n2.sent.get(0).bytes(), 14).ttl()).isEqualTo(62);
    }

    @Test
    void shouldPassOtherTrafficThroughTheBypass()
    {
        nodes(VxlanSettings.defaults());
        // UDP to our node address on another port: not VXLAN, goes on to ip4-lookup (local, no host stack)
        final byte[] f = new dev.ferry.core.packet.FrameBuilder().eth(VxlanNode.UPLINK2, VxlanNode.UPLINK1)
            .ip4(NODE2, NODE1).udp(1000, 4789).payload(new byte[40]).build();
        n1.receive(n1.uplink, f);
        assertThat(n1.counter("stage/vxlan-bypass/next/ip4-lookup")).isEqualTo(1);
        assertThat(n1.counter("stage/vxlan-bypass/next/vxlan-decap")).isZero();
    }
}
