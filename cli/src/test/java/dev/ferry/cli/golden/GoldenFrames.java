package dev.ferry.cli.golden;

import dev.ferry.cli.scenario.Scenario;
import dev.ferry.core.header.Ip4Header;
import dev.ferry.core.packet.FrameBuilder;
import dev.ferry.core.route.Ip4;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * The addresses of the golden cluster ({@code clusters/two-node}) and the frames that FrameBuilder does not
 * make by itself: VXLAN from a peer node, IPv6, ICMP errors quoting a packet, and edited (malformed) frames.
 */
final class GoldenFrames
{
    static final int GATEWAY = Ip4.parse("10.244.1.1");
    static final int WEB1 = Ip4.parse("10.244.1.2");
    static final int CLIENT = Ip4.parse("10.244.1.3");
    static final int DNS1 = Ip4.parse("10.244.1.4");
    static final int WEB2 = Ip4.parse("10.244.2.2");
    static final int NODE_A = Ip4.parse("192.168.50.11");
    static final int NODE_B = Ip4.parse("192.168.50.12");
    static final int EXTERNAL = Ip4.parse("203.0.113.7");
    static final int SERVER = Ip4.parse("203.0.113.10");
    static final long EXTERNAL_MAC = Ip4.parseMac("02:00:cb:00:71:07");
    /** Node uplink MACs follow the 0a:58:&lt;address&gt; convention when no annotation names them. */
    static final long NODE_A_MAC = Ip4.podMac(NODE_A);
    static final long NODE_B_MAC = Ip4.podMac(NODE_B);
    /** flannel VTEP MACs, from the Nodes' backend-data annotations. */
    static final long VTEP_A_MAC = Ip4.parseMac("8a:5e:11:0c:2d:0a");
    static final long VTEP_B_MAC = Ip4.parseMac("8a:5e:11:0c:2d:0b");
    static final int VXLAN_PORT = 8472;
    static final int VNI = 1;
    static final int ETH = 14;

    private GoldenFrames()
    {
    }

    static Scenario.Host client(final Scenario s)
    {
        return s.pod("10.244.1.3", "10.244.1.1");
    }

    static Scenario.Host web1(final Scenario s)
    {
        return s.pod("10.244.1.2", "10.244.1.1");
    }

    static Scenario.Host dns1(final Scenario s)
    {
        return s.pod("10.244.1.4", "10.244.1.1");
    }

    /** A host outside the cluster whose frames reach node-a's uplink. */
    static Scenario.Host external(final Scenario s)
    {
        return s.host("203.0.113.7", EXTERNAL_MAC, NODE_A_MAC);
    }

    /** A UDP datagram from a pod to a pod, for malformation cases to edit. */
    static byte[] podUdp(final int src, final int dst)
    {
        return new FrameBuilder().eth(Ip4.podMac(src), Ip4.podMac(GATEWAY)).ip4(src, dst).id(0x0101)
            .udp(40007, 8080).payload(new byte[16]).build();
    }

    /** The inner frame node-b's VTEP sends to node-a's: web-2 answering client-1 (TTL already decremented). */
    static byte[] innerFromWeb2()
    {
        return new FrameBuilder().eth(VTEP_B_MAC, VTEP_A_MAC).ip4(WEB2, CLIENT).ttl(63).id(0x0202).df(true)
            .udp(8080, 40010).payload("pong".getBytes(java.nio.charset.StandardCharsets.US_ASCII)).build();
    }

    /**
     * A VXLAN frame on node-a's uplink (RFC 7348: flags, 24 reserved bits, VNI, 8 reserved bits).
     *
     * @param outerSrc the sending VTEP's address.
     * @param flags    first byte of the VXLAN header (0x08: I flag).
     * @param vni      the VNI.
     * @param inner    the inner Ethernet frame.
     */
    static byte[] vxlan(final int outerSrc, final int flags, final int vni, final byte[] inner)
    {
        final byte[] payload = new byte[8 + inner.length];
        payload[0] = (byte)flags;
        payload[4] = (byte)(vni >>> 16);
        payload[5] = (byte)(vni >>> 8);
        payload[6] = (byte)vni;
        System.arraycopy(inner, 0, payload, 8, inner.length);
        return new FrameBuilder().eth(Ip4.podMac(outerSrc), NODE_A_MAC).ip4(outerSrc, NODE_A).id(0x0303)
            .udp(47000, VXLAN_PORT).payload(payload).build();
    }

    /**
     * An ICMP error as a host sends it, quoting the IP header and first 8 payload bytes of a frame it got.
     *
     * @param from   sender MAC.
     * @param to     next-hop MAC.
     * @param src    the error's source address.
     * @param type   ICMP type.
     * @param code   ICMP code.
     * @param quoted the offending frame (Ethernet included).
     */
    static byte[] icmpError(final long from, final long to, final int src, final int type, final int code,
        final byte[] quoted)
    {
        final Ip4Header q = ip(quoted);
        final byte[] quote = Arrays.copyOfRange(quoted, ETH, ETH + q.headerLength() + 8);
        return new FrameBuilder().eth(from, to).ip4(src, q.src()).id(0x0404).icmp(type, code, 0).payload(quote)
            .build();
    }

    /** A minimal IPv6 UDP packet (fd00::1 to fd00::2); the dataplane does not forward IPv6. */
    static byte[] ipv6(final long from, final long to)
    {
        final byte[] f = new byte[ETH + 40 + 8];
        final byte[] head = new FrameBuilder().eth(from, to).build();
        System.arraycopy(head, 0, f, 0, 12);
        f[12] = (byte)0x86;
        f[13] = (byte)0xdd;
        f[ETH] = 0x60;
        f[ETH + 5] = 8;      // payload length
        f[ETH + 6] = 17;     // next header: UDP
        f[ETH + 7] = 64;     // hop limit
        f[ETH + 8] = (byte)0xfd;
        f[ETH + 23] = 1;
        f[ETH + 24] = (byte)0xfd;
        f[ETH + 39] = 2;
        f[ETH + 41] = 7;     // UDP ports 7 > 7, length 8, no checksum (invalid in IPv6, and never read)
        f[ETH + 43] = 7;
        f[ETH + 45] = 8;
        return f;
    }

    /** The IPv4 header view of a frame's first IPv4 header. */
    static Ip4Header ip(final byte[] frame)
    {
        return new Ip4Header().wrap(MemorySegment.ofArray(frame), ETH);
    }
}
