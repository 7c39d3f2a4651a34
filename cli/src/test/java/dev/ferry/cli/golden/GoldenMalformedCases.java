package dev.ferry.cli.golden;

import dev.ferry.core.header.IcmpHeader;
import dev.ferry.core.packet.FrameBuilder;
import dev.ferry.core.route.Ip4;

import java.util.Arrays;
import java.util.List;
import java.util.function.UnaryOperator;

import static dev.ferry.cli.golden.GoldenCase.onNodeA;
import static dev.ferry.cli.golden.GoldenFrames.CLIENT;
import static dev.ferry.cli.golden.GoldenFrames.ETH;
import static dev.ferry.cli.golden.GoldenFrames.EXTERNAL_MAC;
import static dev.ferry.cli.golden.GoldenFrames.GATEWAY;
import static dev.ferry.cli.golden.GoldenFrames.NODE_A_MAC;
import static dev.ferry.cli.golden.GoldenFrames.NODE_B;
import static dev.ferry.cli.golden.GoldenFrames.VNI;
import static dev.ferry.cli.golden.GoldenFrames.WEB1;

/**
 * Golden cases for malformed and untrusted input: each frame starts from a good one, is edited in one
 * place, and must end as a drop counted under its own reason (the counters file proves which).
 */
final class GoldenMalformedCases
{
    private GoldenMalformedCases()
    {
    }

    static List<GoldenCase> all()
    {
        return List.of(
            bad("bad-eth-runt", "a 10-byte frame is shorter than an Ethernet header",
                f -> Arrays.copyOf(f, 10)),
            bad("bad-eth-not-for-us", "a pod's frame to a MAC that is not its gateway's",
                f -> mac(f, Ip4.parseMac("02:00:00:00:00:99"))),
            bad("bad-eth-multicast", "a pod's frame to a multicast MAC",
                f -> mac(f, Ip4.parseMac("01:00:5e:00:00:fb"))),
            bad("bad-eth-vlan-tagged", "an 802.1Q-tagged frame on a pod port", f -> new FrameBuilder()
                .eth(Ip4.podMac(CLIENT), Ip4.podMac(GATEWAY)).vlan(100).ip4(CLIENT, WEB1).udp(40007, 8080)
                .payload(new byte[16]).build()),
            bad("bad-eth-unknown-ethertype", "EtherType 0x88b5 (local experimental)", f ->
            {
                f[12] = (byte)0x88;
                f[13] = (byte)0xb5;
                return f;
            }),
            onNodeA("bad-ipv6-dropped", "IPv6 from a pod and from outside: not forwarded, counted",
                s ->
                {
                    s.raw(GoldenFrames.ipv6(Ip4.podMac(CLIENT), Ip4.podMac(GATEWAY)));
                    s.raw(GoldenFrames.ipv6(EXTERNAL_MAC, NODE_A_MAC));
                }),
            bad("bad-ip-truncated", "an IPv4 frame cut after 12 bytes of header", f -> Arrays.copyOf(f, ETH + 12)),
            bad("bad-ip-checksum", "one byte of the IPv4 header flipped; the checksum no longer verifies", f ->
            {
                f[ETH + 10] ^= 0x5a;
                return f;
            }),
            bad("bad-ip-version", "version 5 in an IPv4 EtherType frame", f ->
            {
                f[ETH] = 0x55;
                GoldenFrames.ip(f).updateChecksum();
                return f;
            }),
            bad("bad-ip-ihl", "IHL 4 (16 bytes), below the minimum of 5", f ->
            {
                f[ETH] = 0x44;
                return f;
            }),
            bad("bad-ip-total-length-short", "total length 16, smaller than the header", f ->
            {
                GoldenFrames.ip(f).totalLength(16).updateChecksum();
                return f;
            }),
            bad("bad-ip-total-length-long", "total length 1200 in a 62-byte frame", f ->
            {
                GoldenFrames.ip(f).totalLength(1200).updateChecksum();
                return f;
            }),
            bad("bad-ip-ttl-zero", "a pod sends TTL 0", f ->
            {
                GoldenFrames.ip(f).ttl(0).updateChecksum();
                return f;
            }),
            onNodeA("bad-ip-martian-source", "a frame from outside with source 127.0.0.1: martian, dropped",
                s -> s.raw(new FrameBuilder().eth(EXTERNAL_MAC, NODE_A_MAC).ip4(Ip4.parse("127.0.0.1"), CLIENT)
                    .udp(9, 9).payload(new byte[4]).build())),
            onNodeA("bad-icmp-checksum", "an echo request to the gateway whose ICMP checksum is wrong",
                s -> s.raw(flip(new FrameBuilder().eth(Ip4.podMac(CLIENT), Ip4.podMac(GATEWAY)).ip4(CLIENT, GATEWAY)
                    .icmp(IcmpHeader.TYPE_ECHO_REQUEST, 0, 0x00010001).payload(new byte[8]).build(), ETH + 20 + 8))),
            vxlan("bad-vxlan-unknown-vtep", "VXLAN from 192.168.50.99, which no Node announces",
                GoldenFrames.vxlan(Ip4.parse("192.168.50.99"), 0x08, VNI, GoldenFrames.innerFromWeb2())),
            onNodeA("bad-vxlan-inner-source", "VXLAN from node-b's VTEP whose inner sources are not node-b's "
                + "(an outside address, then a pod of node-a): dropped (inner-source-spoofed)", s ->
                {
                    s.raw(GoldenFrames.vxlan(NODE_B, 0x08, VNI, innerFrom(Ip4.parse("203.0.113.9"))));
                    s.raw(GoldenFrames.vxlan(NODE_B, 0x08, VNI, innerFrom(WEB1)));
                }),
            vxlan("bad-vxlan-vni", "VXLAN from node-b with VNI 7 (the cluster uses 1)",
                GoldenFrames.vxlan(NODE_B, 0x08, 7, GoldenFrames.innerFromWeb2())),
            vxlan("bad-vxlan-no-i-flag", "VXLAN from node-b without the I flag",
                GoldenFrames.vxlan(NODE_B, 0x00, VNI, GoldenFrames.innerFromWeb2())),
            vxlan("bad-vxlan-reserved-bits", "VXLAN from node-b with a reserved flag bit set",
                GoldenFrames.vxlan(NODE_B, 0x0c, VNI, GoldenFrames.innerFromWeb2())),
            vxlan("bad-vxlan-udp-checksum", "VXLAN from node-b whose outer UDP checksum is wrong",
                flipLast(GoldenFrames.vxlan(NODE_B, 0x08, VNI, GoldenFrames.innerFromWeb2()))),
            vxlan("bad-vxlan-inner-truncated", "VXLAN from node-b carrying only 20 bytes of inner frame",
                GoldenFrames.vxlan(NODE_B, 0x08, VNI, Arrays.copyOf(GoldenFrames.innerFromWeb2(), 20)))
        );
    }

    /** A case whose one frame is a good pod-to-pod datagram from client-1, edited. */
    private static GoldenCase bad(final String name, final String description, final UnaryOperator<byte[]> edit)
    {
        return onNodeA(name, description + ": dropped", s -> s.raw(edit.apply(GoldenFrames.podUdp(CLIENT, WEB1))));
    }

    private static GoldenCase vxlan(final String name, final String description, final byte[] frame)
    {
        return onNodeA(name, description + ": dropped", s -> s.raw(frame));
    }

    /** node-b's inner frame to client-1 with another source (inner header checksum valid). */
    private static byte[] innerFrom(final int src)
    {
        final byte[] f = GoldenFrames.innerFromWeb2();
        GoldenFrames.ip(f).src(src).updateChecksum();
        return f;
    }

    private static byte[] mac(final byte[] f, final long dst)
    {
        for (int i = 0; i < 6; i++)
        {
            f[i] = (byte)(dst >>> (40 - 8 * i));
        }
        return f;
    }

    private static byte[] flipLast(final byte[] f)
    {
        return flip(f, f.length - 1);
    }

    private static byte[] flip(final byte[] f, final int offset)
    {
        f[offset] ^= 0x01;
        return f;
    }
}
