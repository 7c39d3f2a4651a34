package dev.ferry.cli.scenario;

import dev.ferry.core.header.Ip4Header;
import dev.ferry.core.route.Ip4;

import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;

/**
 * The captures bundled under {@code examples/two-node/}: traffic as node-a of the example cluster sees it
 * (pods web-1 10.244.1.2, client-1 10.244.1.3, dns-1 10.244.1.4; web-2 10.244.2.2 on node-b; Service web
 * 10.96.0.10:80 with NodePort 30080; Service dns 10.96.0.53:53/UDP).
 */
public final class ExampleScenarios
{
    /** 2026-01-01T00:00:00Z: a fixed start so the files never change. */
    public static final long START = 1_767_225_600_000_000_000L;

    private ExampleScenarios()
    {
    }

    /** @return every frame of the node-a example, in capture order. */
    public static List<TimedFrame> nodeA()
    {
        final Scenario s = new Scenario(START);
        final Scenario.Host client = s.pod("10.244.1.3", "10.244.1.1");
        final Scenario.Host web1 = s.pod("10.244.1.2", "10.244.1.1");
        final Scenario.Host dns1 = s.pod("10.244.1.4", "10.244.1.1");
        final long uplinkMac = Ip4.podMac(Ip4.parse("192.168.50.11"));
        final Scenario.Host external = s.host("203.0.113.7", Ip4.parseMac("02:00:cb:00:71:07"), uplinkMac);
        final int gateway = Ip4.parse("10.244.1.1");

        // 1-2: a pod resolves its gateway and pings it
        s.arpRequest(client, gateway);
        s.ping(client, gateway, 0x4242, 1);
        // 3-9: pod to pod on this node, a whole TCP conversation
        final int web1Ip = Ip4.parse("10.244.1.2");
        s.tcp(client, 40001, web1Ip, 8080).syn().synAckFrom(web1, client.ip(), 40001).ack()
            .send("GET / HTTP/1.1\r\nHost: web\r\n\r\n").replyFrom(web1, client.ip(), 40001, "HTTP/1.1 200 OK\r\n\r\n")
            .fin().finFrom(web1, client.ip(), 40001);
        // 10-11: a DNS-like question to the dns Service, and the answer from its pod
        s.udp(client, 53001, Ip4.parse("10.96.0.53"), 53, dnsQuery());
        s.udp(dns1, 53, client.ip(), 53001, dnsAnswer(Ip4.parse("10.96.0.10")));
        // 12: a connection to the web Service's ClusterIP
        s.tcp(client, 40002, Ip4.parse("10.96.0.10"), 80).syn();
        // 13: to a pod on node-b
        s.tcp(client, 40003, Ip4.parse("10.244.2.2"), 8080).syn();
        // 14: to the outside world
        s.tcp(client, 40004, Ip4.parse("203.0.113.10"), 443).syn();
        // 15: an external client to the NodePort
        s.tcp(external, 50000, Ip4.parse("192.168.50.11"), 30080).syn();
        // 16: TTL 1: time exceeded comes back
        s.frame(client, b -> b.ip4(client.ip(), web1Ip).ttl(1).udp(40005, 8080).payload(new byte[8]));
        // 17: no such pod in this node's pod CIDR
        s.udp(client, 40006, Ip4.parse("10.244.1.99"), 9, new byte[4]);
        // 18-21: malformed frames, each dropped under its own reason
        final byte[] good = new dev.ferry.core.packet.FrameBuilder().eth(client.mac(), client.nextHop())
            .ip4(client.ip(), web1Ip).udp(40007, 8080).payload(new byte[16]).build();
        final byte[] badChecksum = good.clone();
        badChecksum[24] ^= 0x5a;
        s.raw(badChecksum);
        s.raw(Arrays.copyOf(good, 14 + 12));
        final byte[] tooLong = good.clone();
        new Ip4Header().wrap(MemorySegment.ofArray(tooLong), 14).totalLength(1200).updateChecksum();
        s.raw(tooLong);
        final byte[] ipv6 = good.clone();
        ipv6[12] = (byte)0x86;
        ipv6[13] = (byte)0xdd;
        s.raw(ipv6);
        return s.frames();
    }

    private static final String QNAME = "web.default.svc.cluster.local";

    /** A DNS query for the A record of web.default.svc.cluster.local (RFC 1035 wire format). */
    static byte[] dnsQuery()
    {
        final java.io.ByteArrayOutputStream b = new java.io.ByteArrayOutputStream();
        b.writeBytes(new byte[] {0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00});
        question(b);
        return b.toByteArray();
    }

    /** The answer: one A record. */
    static byte[] dnsAnswer(final int address)
    {
        final java.io.ByteArrayOutputStream b = new java.io.ByteArrayOutputStream();
        b.writeBytes(new byte[] {0x12, 0x34, (byte)0x81, (byte)0x80, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00});
        question(b);
        // name pointer to offset 12, type A, class IN, TTL 30, 4 bytes of address
        b.writeBytes(new byte[] {(byte)0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x1e, 0x00, 0x04});
        b.writeBytes(new byte[] {(byte)(address >>> 24), (byte)(address >>> 16), (byte)(address >>> 8),
            (byte)address});
        return b.toByteArray();
    }

    private static void question(final java.io.ByteArrayOutputStream b)
    {
        for (final String label : QNAME.split("\\."))
        {
            b.write(label.length());
            b.writeBytes(label.getBytes(StandardCharsets.US_ASCII));
        }
        b.writeBytes(new byte[] {0x00, 0x00, 0x01, 0x00, 0x01});
    }
}
