package dev.ferry.vxlan;

import dev.ferry.core.header.Ip4Header;
import dev.ferry.core.header.Wire;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.stage.Ip4Lookup;
import dev.ferry.core.tables.NodeTables;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.EnumSet;
import java.util.Set;
import java.util.function.Consumer;

import static org.assertj.core.api.Assertions.assertThat;

class VxlanDropTest
{
    private final VxlanNode n1 = VxlanNode.node1(VxlanSettings.defaults());
    private final VxlanNode n2 = VxlanNode.node2(VxlanSettings.defaults());
    private final Set<VxlanDecap.Drop> seen = EnumSet.noneOf(VxlanDecap.Drop.class);

    @AfterEach
    void poolsAreFull()
    {
        assertThat(n1.pool.available()).isEqualTo(n1.pool.capacity());
        assertThat(n2.pool.available()).isEqualTo(n2.pool.capacity());
        n1.close();
        n2.close();
    }

    private byte[] vxlanFrame()
    {
        n1.sent.clear();
        n1.receive(n1.podPort, Frames.podToPod(40000, 53, 64, false));
        return n1.sent.get(0).bytes().clone();
    }

    private void expectViaUplink(final VxlanDecap.Drop reason, final Consumer<byte[]> edit)
    {
        final byte[] f = vxlanFrame();
        edit.accept(f);
        Frames.reseal(f);
        n2.sent.clear();
        n2.receive(n2.uplink, f);
        assertThat(n2.sent).as(reason.name()).isEmpty();
        assertThat(n2.counter("stage/vxlan-decap/drop/" + reason.counterName())).as(reason.name()).isEqualTo(1);
        seen.add(reason);
    }

    private void expectDirect(final VxlanDecap.Drop reason, final Consumer<byte[]> edit)
    {
        final byte[] f = vxlanFrame();
        edit.accept(f);
        n2.enterAt(VxlanDecap.NAME, f, 14, 0);
        assertThat(n2.counter("stage/vxlan-decap/drop/" + reason.counterName())).as(reason.name()).isEqualTo(1);
        seen.add(reason);
    }

    @Test
    void shouldCountEveryDecapDropUnderItsOwnReason()
    {
        expectDirect(VxlanDecap.Drop.TRUNCATED, f -> Wire.u16(Frames.seg(f), 16, 20));
        expectDirect(VxlanDecap.Drop.FRAGMENT, f -> Wire.u16(Frames.seg(f), 20, Ip4Header.FLAG_MF));
        expectDirect(VxlanDecap.Drop.NOT_OUR_ADDRESS, f -> Wire.u32(Frames.seg(f), 30, Ip4.parse("192.168.50.9")));
        expectDirect(VxlanDecap.Drop.WRONG_PORT, f -> Wire.u16(Frames.seg(f), 36, 4789));
        expectViaUplink(VxlanDecap.Drop.BAD_UDP_LENGTH, f -> Wire.u16(Frames.seg(f), 38, u16(f, 38) + 1));
        final byte[] corrupt = vxlanFrame();
        corrupt[corrupt.length - 1] ^= 0x55;
        n2.receive(n2.uplink, corrupt);
        assertThat(n2.counter("stage/vxlan-decap/drop/bad-udp-checksum")).isEqualTo(1);
        seen.add(VxlanDecap.Drop.BAD_UDP_CHECKSUM);
        expectViaUplink(VxlanDecap.Drop.NO_I_FLAG, f -> Wire.u32(Frames.seg(f), 42, 0));
        expectViaUplink(VxlanDecap.Drop.RESERVED_BITS, f -> Wire.u32(Frames.seg(f), 42, 0x0C000000));
        expectViaUplink(VxlanDecap.Drop.UNKNOWN_VNI, f -> Wire.u32(Frames.seg(f), 46, 2 << 8));
        expectViaUplink(VxlanDecap.Drop.UNKNOWN_VTEP, f -> Wire.u32(Frames.seg(f), 26, Ip4.parse("192.168.50.66")));
        expectViaUplink(VxlanDecap.Drop.INNER_TRUNCATED, f ->
        {
            // shrink the datagram to VXLAN + 20 bytes of inner frame
            Wire.u16(Frames.seg(f), 16, 20 + 8 + 8 + 20);
            Wire.u16(Frames.seg(f), 38, 8 + 8 + 20);
        });
        expectViaUplink(VxlanDecap.Drop.INNER_NOT_IP4, f -> Wire.u16(Frames.seg(f), 62, 0x0806));
        expectViaUplink(VxlanDecap.Drop.INNER_SOURCE_SPOOFED, f -> innerSource(f, Ip4.parse("203.0.113.9")));
        // a frame already decapsulated twice (the outer layer and the one nested level allowed)
        n2.enterAt(VxlanDecap.NAME, vxlanFrame(), 14, 0, n2.uplink,
            (VxlanDecap.MAX_NESTED + 1) << dev.ferry.core.PacketPool.FLAG_DECAP_DEPTH_SHIFT);
        assertThat(n2.counter("stage/vxlan-decap/drop/nested-too-deep")).isEqualTo(1);
        seen.add(VxlanDecap.Drop.NESTED_TOO_DEEP);
        // a good VXLAN frame, but received on a pod port
        n2.enterAt(VxlanDecap.NAME, vxlanFrame(), 14, 0, n2.podPort, 0);
        assertThat(n2.counter("stage/vxlan-decap/drop/not-from-underlay")).isEqualTo(1);
        seen.add(VxlanDecap.Drop.NOT_FROM_UNDERLAY);
        assertThat(n2.sent).isEmpty();
        assertThat(seen).as("every decap drop reason covered").containsExactlyInAnyOrder(VxlanDecap.Drop.values());
    }

    /** Offset of the inner IPv4 header in a VXLAN frame from the uplink. */
    private static final int INNER_IP = 14 + 20 + 8 + 8 + 14;

    /** Rewrites the inner IPv4 source (inner header checksum kept valid, so only decap's check can stop it). */
    private static void innerSource(final byte[] f, final int src)
    {
        Frames.ip(f, INNER_IP).src(src).updateChecksum();
    }

    /**
     * Issue 13, class 2, receiving side: node 1 (a known VTEP) may carry only its own sources. Its pods, its
     * gateway, its pod CIDR's network address (a kernel node's flannel.1) and its node address reach pod B; another
     * node's pods, node 2's own pods, an outside client and a Service address are dropped and counted.
     */
    @Test
    void shouldDropInnerSourcesThatDoNotBelongToTheSendingVtep()
    {
        final int[] allowed = {VxlanNode.POD_A, Ip4.parse("10.244.1.1"), Ip4.parse("10.244.1.0"),
            Ip4.parse("10.244.1.255"), VxlanNode.NODE1};
        for (final int src : allowed)
        {
            final byte[] f = vxlanFrame();
            innerSource(f, src);
            Frames.reseal(f);
            n2.sent.clear();
            n2.receive(n2.uplink, f);
            assertThat(n2.sent).as("inner source %s from node 1", Ip4.format(src)).hasSize(1);
            assertThat(n2.sent.get(0).port()).isEqualTo(n2.podPort);
        }
        final int[] spoofed = {Ip4.parse("10.244.3.7"), VxlanNode.POD_B, Ip4.parse("10.244.2.1"),
            Ip4.parse("203.0.113.9"), Ip4.parse("10.96.0.10"), Ip4.parse("192.168.50.77"), 0};
        for (final int src : spoofed)
        {
            final byte[] f = vxlanFrame();
            innerSource(f, src);
            Frames.reseal(f);
            n2.sent.clear();
            n2.receive(n2.uplink, f);
            assertThat(n2.sent).as("inner source %s from node 1", Ip4.format(src)).isEmpty();
        }
        assertThat(n2.counter("stage/vxlan-decap/drop/inner-source-spoofed")).isEqualTo(spoofed.length);

        // the same rule for a datagram from the UDP underlay (socket mode: outer source in aux)
        final byte[] f = vxlanFrame();
        innerSource(f, Ip4.parse("203.0.113.9"));
        n2.enterAt(VxlanDecap.NAME, java.util.Arrays.copyOfRange(f, 14 + 20 + 8, f.length), VxlanDecap.SOCKET_DATAGRAM,
            VxlanNode.NODE1, n2.tunnel, 0);
        assertThat(n2.counter("stage/vxlan-decap/drop/inner-source-spoofed")).isEqualTo(spoofed.length + 1);
        final byte[] good = vxlanFrame();
        n2.sent.clear();
        n2.enterAt(VxlanDecap.NAME, java.util.Arrays.copyOfRange(good, 14 + 20 + 8, good.length),
            VxlanDecap.SOCKET_DATAGRAM, VxlanNode.NODE1, n2.tunnel, 0);
        assertThat(n2.sent).as("socket mode, node 1's pod").hasSize(1);
    }

    /** A pod's UDP datagram to {@code dst}:{@code dport} carrying a VXLAN header and an inner frame from pod B. */
    private static byte[] podUdpTo(final int dst, final int dport)
    {
        final byte[] inner = new dev.ferry.core.packet.FrameBuilder().eth(Ip4.podMac(VxlanNode.POD_B), VxlanNode.VTEP2)
            .ip4(VxlanNode.POD_B, VxlanNode.POD_A).udp(53, 40000).payload(new byte[8]).build();
        final byte[] payload = new byte[8 + inner.length];
        payload[0] = 0x08;
        payload[6] = 1;
        System.arraycopy(inner, 0, payload, 8, inner.length);
        return new dev.ferry.core.packet.FrameBuilder().eth(Ip4.podMac(VxlanNode.POD_A),
            Ip4.podMac(Ip4.parse("10.244.1.1"))).ip4(VxlanNode.POD_A, dst).udp(47000, dport).payload(payload).build();
    }

    @Test
    void shouldNeverLetAPodSendVxlanToAnyVtep()
    {
        n1.receive(n1.podPort, podUdpTo(VxlanNode.NODE2, 8472));
        assertThat(n1.sent).as("to the other node's VTEP: not sent (it would arrive from a known VTEP)").isEmpty();
        n1.receive(n1.podPort, podUdpTo(VxlanNode.NODE1, 8472));
        assertThat(n1.counter("stage/vxlan-decap/calls")).as("to its own node: never decapsulated").isZero();
        assertThat(n1.counter("stage/vxlan-bypass/drop/pod-vxlan")).isEqualTo(2);

        n1.receive(n1.podPort, podUdpTo(VxlanNode.NODE2, 4789));
        assertThat(n1.sent).as("the same datagram to another port of that node still goes").hasSize(1);
    }

    @Test
    void shouldAcceptFrameAfterAllThatCorruption()
    {
        n2.receive(n2.uplink, vxlanFrame());
        assertThat(n2.sent).as("a clean frame still goes through").hasSize(1);
    }

    @Test
    void shouldCountEncapDrops()
    {
        // NO_VTEP: an adjacency that is not REMOTE_POD (the local pod's) reaches vxlan-encap
        final int localAdj = n1.publisher.current().fib().lookup(VxlanNode.POD_A);
        n1.enterAt(VxlanEncap.NAME, Frames.podToPod(1, 2, 10, false), 14, localAdj);
        assertThat(n1.counter("stage/vxlan-encap/drop/no-vtep")).isEqualTo(1);

        // NO_HEADROOM: a frame that sits only 28 bytes into its buffer
        final byte[] f = Frames.podToPod(1, 2, 10, false);
        final int h = n1.pool.allocate();
        n1.pool.write(h, f, 0, f.length);
        n1.pool.prepend(h, n1.pool.headroom() - 28);
        java.lang.foreign.MemorySegment.copy(f, 0, n1.pool.memory(), java.lang.foreign.ValueLayout.JAVA_BYTE,
            n1.pool.frameOffset(h), f.length);
        n1.pool.length(h, f.length);
        n1.pool.rxPort(h, n1.podPort);
        n1.graph.input(n1.graph.indexOf("ethernet-input"), h);
        n1.graph.run();
        assertThat(n1.counter("stage/vxlan-encap/drop/no-headroom")).isEqualTo(1);
        assertThat(n1.counter("stage/vxlan-encap/drop/too-big-no-df")).isZero();
    }

    @Test
    void shouldCountUnresolvedUnderlayNeighbour()
    {
        // remote node without an underlay MAC, and no neighbour entry for it
        final NodeTables t = VxlanNode.tables(1, 8472, 1500, 0);
        final NodeTables next = t.withGeneration(2);
        n1.publisher.publish(next);
        n1.receive(n1.podPort, Frames.podToPod(1, 2, 10, false));
        assertThat(n1.sent).isEmpty();
        assertThat(n1.counter("stage/vxlan-encap/drop/underlay-unresolved")).isEqualTo(1);
        assertThat(n1.publisher.current().<VtepTable>part(n1.slot).lines().get(0)).contains("unresolved");
    }

    @Test
    void shouldNotMistakeVxlanToAnotherPortForTunnelTraffic()
    {
        final byte[] f = vxlanFrame();
        Wire.u16(Frames.seg(f), 36, 4789);
        Frames.reseal(f);
        n2.receive(n2.uplink, f);
        assertThat(n2.counter("stage/vxlan-bypass/next/" + Ip4Lookup.NAME)).isEqualTo(1);
        assertThat(n2.counter("stage/vxlan-decap/packets")).isZero();
    }

    private static int u16(final byte[] f, final int off)
    {
        return Frames.u16(f, off);
    }
}
