package dev.ferry.cli.golden;

import dev.ferry.cli.scenario.Scenario;
import dev.ferry.core.header.ArpHeader;
import dev.ferry.core.header.IcmpHeader;
import dev.ferry.core.header.TcpHeader;
import dev.ferry.core.packet.FrameBuilder;
import dev.ferry.core.route.Ip4;

import java.util.List;

import static dev.ferry.cli.golden.GoldenCase.onNodeA;
import static dev.ferry.cli.golden.GoldenFrames.CLIENT;
import static dev.ferry.cli.golden.GoldenFrames.DNS1;
import static dev.ferry.cli.golden.GoldenFrames.GATEWAY;
import static dev.ferry.cli.golden.GoldenFrames.NODE_A;
import static dev.ferry.cli.golden.GoldenFrames.NODE_B;
import static dev.ferry.cli.golden.GoldenFrames.SERVER;
import static dev.ferry.cli.golden.GoldenFrames.VNI;
import static dev.ferry.cli.golden.GoldenFrames.WEB1;
import static dev.ferry.cli.golden.GoldenFrames.WEB2;

/**
 * Golden cases for the packet paths of DESIGN.md: ARP, forwarding on the node and across it, Services in
 * every form, masquerade, REJECT and DROP, hairpin, ICMP errors, host delivery. Each is a few frames.
 */
final class GoldenPathCases
{
    private static final byte[] DNS_QUERY = {0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        3, 'w', 'e', 'b', 0, 0, 1, 0, 1};
    private static final byte[] DNS_ANSWER = {0x12, 0x34, (byte)0x81, (byte)0x80, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00,
        0x00, 0x00, 3, 'w', 'e', 'b', 0, 0, 1, 0, 1, (byte)0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 10, 96, 0, 10};

    private GoldenPathCases()
    {
    }

    static List<GoldenCase> all()
    {
        return List.of(
            onNodeA("arp-gateway", "a pod asks for its gateway; ARP answers with the gateway MAC",
                s -> s.arpRequest(GoldenFrames.client(s), GATEWAY)),
            onNodeA("arp-proxy-pod-cidr", "a pod asks for another address of node-a's pod CIDR; proxy ARP answers",
                s -> s.arpRequest(GoldenFrames.client(s), Ip4.parse("10.244.1.77"))),
            onNodeA("arp-not-ours", "a pod asks for a pod of node-b, outside the pod CIDR it sees on-link; dropped",
                s -> s.arpRequest(GoldenFrames.client(s), WEB2)),
            onNodeA("arp-reply-dropped", "an unsolicited ARP reply from a pod is not learned; dropped",
                s -> s.raw(new FrameBuilder().eth(Ip4.podMac(CLIENT), Ip4.podMac(GATEWAY))
                    .arp(ArpHeader.OP_REPLY, Ip4.podMac(CLIENT), CLIENT, Ip4.podMac(GATEWAY), GATEWAY).padTo(60)
                    .build())),
            onNodeA("ping-gateway", "a pod pings its gateway; ip4-local answers with an echo reply",
                s -> s.ping(GoldenFrames.client(s), GATEWAY, 0x4242, 1)),
            onNodeA("host-ping-node-ip", "a pod pings the node's own address; the node answers",
                s -> s.ping(GoldenFrames.client(s), NODE_A, 0x4243, 1)),
            onNodeA("host-tcp-node-ip", "TCP to the node's own address is host delivery (no host stack in replay)",
                s -> s.tcp(GoldenFrames.client(s), 40020, NODE_A, 22).syn()),
            onNodeA("pod-to-pod-same-node", "a TCP handshake between two pods of node-a, rewritten per pod port",
                s ->
                {
                    final Scenario.Host client = GoldenFrames.client(s);
                    s.tcp(client, 40001, WEB1, 8080).syn().synAckFrom(GoldenFrames.web1(s), CLIENT, 40001).ack();
                }),
            onNodeA("pod-to-pod-cross-node", "a pod's SYN to a pod of node-b leaves VXLAN-encapsulated to node-b",
                s -> s.tcp(GoldenFrames.client(s), 40003, WEB2, 8080).syn()),
            onNodeA("vxlan-decap-remote-vtep", "VXLAN from node-b's VTEP is decapsulated and reaches the pod",
                s -> s.raw(GoldenFrames.vxlan(NODE_B, 0x08, VNI, GoldenFrames.innerFromWeb2()))),
            onNodeA("svc-clusterip-tcp", "a SYN to a ClusterIP is DNATed to a backend (web: web-1 or web-2)",
                s -> s.tcp(GoldenFrames.client(s), 40002, Ip4.parse("10.96.0.10"), 80).syn()),
            onNodeA("svc-clusterip-udp-dns", "a DNS query to the dns ClusterIP is DNATed, its answer un-DNATed",
                s ->
                {
                    s.udp(GoldenFrames.client(s), 53001, Ip4.parse("10.96.0.53"), 53, DNS_QUERY);
                    s.udp(GoldenFrames.dns1(s), 53, CLIENT, 53001, DNS_ANSWER);
                }),
            onNodeA("svc-clusterip-udp-fragments", "a 4000-byte datagram to the dns ClusterIP in three fragments: "
                + "every fragment DNATed to dns-1; its 3000-byte answer, last fragment first: held until the first "
                + "comes, then every fragment un-DNATed", GoldenPathCases::fragmentedDns),
            onNodeA("svc-reply-undnat", "web-local's only backend answers the SYN; the reply's source is the ClusterIP",
                s -> s.tcp(GoldenFrames.client(s), 40030, Ip4.parse("10.96.0.20"), 80).backendPort(8080).syn()
                    .synAckFrom(GoldenFrames.web1(s), CLIENT, 40030)),
            onNodeA("svc-nodeport-external", "an outside client's SYN to a NodePort: DNAT to web-1 and masquerade",
                s -> s.tcp(GoldenFrames.external(s), 50000, NODE_A, 30090).syn()),
            onNodeA("svc-nodeport-remote-endpoint", "a NodePort whose backend is on node-b: DNAT, SNAT, then VXLAN",
                s -> s.tcp(GoldenFrames.external(s), 50001, NODE_A, 30094).syn()),
            onNodeA("svc-nodeport-local-policy", "externalTrafficPolicy Local with a local endpoint keeps the client IP",
                s -> s.tcp(GoldenFrames.external(s), 50002, NODE_A, 30091).syn()),
            onNodeA("svc-nodeport-local-no-endpoint", "externalTrafficPolicy Local, no endpoint on node-a: DROP",
                s -> s.tcp(GoldenFrames.external(s), 50003, NODE_A, 30092).syn()),
            onNodeA("svc-external-ip", "an outside client's SYN to an externalIP is DNATed to web-1",
                s -> s.tcp(GoldenFrames.external(s), 50004, Ip4.parse("198.51.100.40"), 80).syn()),
            onNodeA("svc-loadbalancer-ip", "an outside client's SYN to a LoadBalancer ingress IP is DNATed to web-1",
                s -> s.tcp(GoldenFrames.external(s), 50005, Ip4.parse("198.51.100.41"), 80).syn()),
            onNodeA("svc-lb-source-range-allowed", "a SYN from 203.0.113.7, inside lb-ranges' "
                + "loadBalancerSourceRanges, to its LoadBalancer IP is DNATed to web-1",
                s -> s.tcp(GoldenFrames.external(s), 50006, Ip4.parse("198.51.100.42"), 80).syn()),
            onNodeA("svc-lb-source-range-denied", "a SYN from 192.0.2.50, outside lb-ranges' "
                + "loadBalancerSourceRanges, to its LoadBalancer IP is dropped (source-not-allowed); the same "
                + "client's SYN to its NodePort is DNATed, as kube-proxy filters only the LoadBalancer IPs",
                s ->
                {
                    final Scenario.Host outsider = s.host("192.0.2.50", Ip4.parseMac("02:00:c0:00:02:32"),
                        GoldenFrames.NODE_A_MAC);
                    s.tcp(outsider, 50007, Ip4.parse("198.51.100.42"), 80).syn();
                    s.tcp(outsider, 50008, NODE_A, 30095).syn();
                }),
            onNodeA("svc-reject-no-endpoints", "TCP and UDP to a Service without endpoints: ICMP port unreachable",
                s ->
                {
                    s.tcp(GoldenFrames.client(s), 40040, Ip4.parse("10.96.0.30"), 80).syn();
                    s.udp(GoldenFrames.client(s), 40041, Ip4.parse("10.96.0.30"), 80, new byte[8]);
                }),
            onNodeA("svc-hairpin", "web-1 reaches itself through web-local: DNAT to itself and masquerade",
                s -> s.tcp(GoldenFrames.web1(s), 40050, Ip4.parse("10.96.0.20"), 80).syn()),
            onNodeA("svc-no-such-service", "an address in the Service CIDR that no Service holds: dropped",
                s -> s.tcp(GoldenFrames.client(s), 40060, Ip4.parse("10.96.0.99"), 80).syn()),
            onNodeA("svc-clusterip-echo", "ping to a ClusterIP is not answered, as with kube-proxy iptables",
                s -> s.ping(GoldenFrames.client(s), Ip4.parse("10.96.0.10"), 0x4244, 1)),
            onNodeA("svc-tcp-invalid-first-packet", "a bare RST to a ClusterIP cannot open a flow (conntrack "
                + "INVALID): dropped", s -> s.frame(GoldenFrames.client(s), b -> b.ip4(CLIENT, Ip4.parse("10.96.0.10"))
                    .df(true).tcp(40070, 80, TcpHeader.RST, 7000, 0))),
            onNodeA("svc-tcp-midstream-pickup", "a bare ACK to a ClusterIP is picked up mid-stream (as Linux's "
                + "nf_conntrack_tcp_loose) and DNATed", s -> s.frame(GoldenFrames.client(s),
                    b -> b.ip4(CLIENT, Ip4.parse("10.96.0.10")).df(true).tcp(40071, 80, TcpHeader.ACK, 7000, 9000))),
            onNodeA("masquerade-external", "a pod's SYN to the Internet leaves on the uplink, SNATed to node-a",
                s -> s.tcp(GoldenFrames.client(s), 40004, SERVER, 443).syn()),
            onNodeA("icmp-error-translation", "dns-1 answers a DNATed query with port unreachable; the error "
                + "is un-DNATed: outer source and quoted destination become the ClusterIP 10.96.0.53",
                GoldenPathCases::icmpErrorTranslation),
            onNodeA("ttl-expiry", "a datagram with TTL 1 between pods: time exceeded comes back to the sender",
                s -> s.frame(GoldenFrames.client(s), b -> b.ip4(CLIENT, WEB1).ttl(1).udp(40005, 8080)
                    .payload(new byte[8]))),
            onNodeA("frag-needed-tunnel-mtu", "a DF datagram of 1500 bytes to node-b does not fit the tunnel: "
                + "fragmentation needed with the tunnel MTU", s -> s.frame(GoldenFrames.client(s),
                    b -> b.ip4(CLIENT, WEB2).df(true).udp(40008, 8080).payload(new byte[1500 - 28]))),
            onNodeA("unknown-pod-host-unreachable", "no pod has this address in node-a's CIDR: host unreachable",
                s -> s.udp(GoldenFrames.client(s), 40006, Ip4.parse("10.244.1.99"), 9, new byte[4])),
            onNodeA("unassigned-cluster-space", "an address in the cluster CIDR that no node owns: blackholed",
                s -> s.udp(GoldenFrames.client(s), 40009, Ip4.parse("10.244.77.7"), 9, new byte[4])),
            onNodeA("icmp-echo-to-pod", "an echo request from a pod to a pod on node-b crosses the tunnel",
                s -> s.ping(GoldenFrames.client(s), WEB2, 0x4245, 1))
        );
    }

    /** The query goes to the dns ClusterIP; dns-1 then reports port unreachable for the DNATed datagram. */
    private static void fragmentedDns(final Scenario s)
    {
        final byte[] query = new byte[4000];
        final byte[] answer = new byte[3000];
        for (int i = 0; i < query.length; i++)
        {
            query[i] = (byte)i;
        }
        for (int i = 0; i < answer.length; i++)
        {
            answer[i] = (byte)(i * 7);
        }
        final byte[] q = new FrameBuilder().eth(Ip4.podMac(CLIENT), Ip4.podMac(GATEWAY))
            .ip4(CLIENT, Ip4.parse("10.96.0.53")).id(0x5151).udp(53003, 53).payload(query).build();
        FrameBuilder.fragments(q, 1400).forEach(s::raw);
        final byte[] a = new FrameBuilder().eth(Ip4.podMac(DNS1), Ip4.podMac(GATEWAY)).ip4(DNS1, CLIENT).id(0x6161)
            .udp(53, 53003).payload(answer).build();
        final List<byte[]> reply = new java.util.ArrayList<>(FrameBuilder.fragments(a, 1400));
        java.util.Collections.reverse(reply);
        reply.forEach(s::raw);
    }

    private static void icmpErrorTranslation(final Scenario s)
    {
        s.udp(GoldenFrames.client(s), 53002, Ip4.parse("10.96.0.53"), 53, DNS_QUERY);
        final byte[] asDns1SawIt = new FrameBuilder().eth(Ip4.podMac(GATEWAY), Ip4.podMac(DNS1)).ip4(CLIENT, DNS1)
            .ttl(63).id(1).udp(53002, 53).payload(DNS_QUERY).build();
        s.raw(GoldenFrames.icmpError(Ip4.podMac(DNS1), Ip4.podMac(GATEWAY), DNS1, IcmpHeader.TYPE_DEST_UNREACHABLE,
            IcmpHeader.CODE_PORT_UNREACHABLE, asDns1SawIt));
    }
}
