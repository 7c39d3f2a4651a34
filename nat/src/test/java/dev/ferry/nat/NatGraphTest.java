package dev.ferry.nat;

import dev.ferry.core.header.IcmpHeader;
import dev.ferry.core.header.Ip4Header;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.route.Ip4Prefix;
import dev.ferry.core.tables.ServiceInfo;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static dev.ferry.nat.Harness.B1;
import static dev.ferry.nat.Harness.B2;
import static dev.ferry.nat.Harness.CLIENT;
import static dev.ferry.nat.Harness.EXTERNAL;
import static dev.ferry.nat.Harness.GATEWAY;
import static dev.ferry.nat.Harness.NODE_IP;
import static dev.ferry.nat.Harness.REMOTE_POD;
import static org.assertj.core.api.Assertions.assertThat;

class NatGraphTest
{
    static final int VIP = Ip4.parse("10.96.0.10");
    static final int SYN = 0x02;
    static final int ACK = 0x10;
    static final int FIN = 0x01;
    static final int PSH = 0x08;
    static final int RST = 0x04;

    private Harness net;

    @AfterEach
    void poolIsFullAgain()
    {
        if (net != null)
        {
            assertThat(net.poolFull()).as("every buffer returned to the pool").isTrue();
            net.close();
        }
    }

    private byte[] tcp(final int src, final int dst, final int sport, final int dport, final int flags,
        final String data)
    {
        return Harness.fromPod(src).ip4(src, dst).tcp(sport, dport, flags, 1000, 2000).payload(data.getBytes())
            .build();
    }

    @Test
    void shouldCarryTcpHandshakeDataAndFinThroughClusterIpOnSameNode()
    {
        net = new Harness();
        net.publish(Harness.clusterIp("web", VIP, 6, 80, Harness.ready(B1, 8080, true)));
        final int[][] exchange = {{SYN}, {SYN | ACK}, {ACK}, {PSH | ACK}, {PSH | ACK}, {FIN | ACK}, {FIN | ACK},
            {ACK}};
        for (int i = 0; i < exchange.length; i++)
        {
            final int flags = exchange[i][0];
            final boolean fromClient = i % 2 == 0;
            if (fromClient)
            {
                final Harness.Out out = net.sendOne("pod-client", tcp(CLIENT, VIP, 40000, 80, flags, "GET /"));
                final Harness.Pkt p = out.pkt();
                assertThat(out.port()).isEqualTo("pod-b1");
                assertThat(p.src()).as("no masquerade for a pod client").isEqualTo(CLIENT);
                assertThat(p.sport()).isEqualTo(40000);
                assertThat(p.dst()).isEqualTo(B1);
                assertThat(p.dport()).isEqualTo(8080);
                assertThat(p.tcpFlags()).isEqualTo(flags);
                assertThat(p.checksumsValid()).as("checksums after DNAT").isTrue();
            }
            else
            {
                final Harness.Out out = net.sendOne("pod-b1", tcp(B1, CLIENT, 8080, 40000, flags, "200 OK"));
                final Harness.Pkt p = out.pkt();
                assertThat(out.port()).isEqualTo("pod-client");
                assertThat(p.src()).as("the client only ever sees the ClusterIP").isEqualTo(VIP);
                assertThat(p.sport()).isEqualTo(80);
                assertThat(p.dst()).isEqualTo(CLIENT);
                assertThat(p.dport()).isEqualTo(40000);
                assertThat(p.checksumsValid()).as("checksums after un-DNAT").isTrue();
            }
        }
        assertThat(net.counter(Nat.COUNTER_SESSIONS_CREATED)).isEqualTo(1);
        assertThat(net.lookups()).as("one conntrack lookup per packet; the slow path looks again only when a "
            + "flow was created earlier in the same vector").isEqualTo(exchange.length);
    }

    /**
     * A client that reuses its port while the old connection's entry is in TIME_WAIT starts a new connection: as
     * netfilter kills and recreates such an entry, the SYN is balanced over the Service's endpoints as they are now,
     * not sent to the endpoint the old connection had (removed since, here). A CI run of the lab's
     * AgentUnderTrafficTest saw a removed backend answer a new request this way.
     */
    @Test
    void shouldBalanceASynThatReusesATimeWaitTupleOverTheEndpointsOfNow()
    {
        net = new Harness();
        net.publish(Harness.clusterIp("web", VIP, 6, 80, Harness.ready(B1, 8080, true)));
        final int[][] exchange = {{SYN}, {SYN | ACK}, {ACK}, {FIN | ACK}, {FIN | ACK}, {ACK}};
        for (int i = 0; i < exchange.length; i++)
        {
            final String from = i % 2 == 0 ? "pod-client" : "pod-b1";
            final byte[] frame = i % 2 == 0 ? tcp(CLIENT, VIP, 40000, 80, exchange[i][0], "")
                : tcp(B1, CLIENT, 8080, 40000, exchange[i][0], "");
            assertThat(net.sendOne(from, frame).port()).isEqualTo(i % 2 == 0 ? "pod-b1" : "pod-client");
        }
        // B1 leaves web, B2 joins; the client opens a new connection from the same port
        net.publish(Harness.clusterIp("web", VIP, 6, 80, Harness.ready(B2, 8080, true)));
        final Harness.Out out = net.sendOne("pod-client", tcp(CLIENT, VIP, 40000, 80, SYN, ""));
        assertThat(out.port()).as("the new connection goes to an endpoint of now").isEqualTo("pod-b2");
        assertThat(out.pkt().dst()).isEqualTo(B2);
        assertThat(net.counter(Nat.COUNTER_SESSIONS_CREATED)).as("a new session, as netfilter's").isEqualTo(2);
        final Harness.Out reply = net.sendOne("pod-b2", tcp(B2, CLIENT, 8080, 40000, SYN | ACK, ""));
        assertThat(reply.port()).isEqualTo("pod-client");
        assertThat(reply.pkt().src()).as("the reply un-DNATed").isEqualTo(VIP);
    }

    @Test
    void shouldTranslateAWholeConversationThatArrivesInOneVector()
    {
        net = new Harness();
        net.publish(Harness.clusterIp("web", VIP, 6, 80, Harness.ready(B1, 8080, true)));
        final List<Harness.Out> out = net.sendVector(
            "pod-client", tcp(CLIENT, VIP, 40000, 80, SYN, ""),
            "pod-b1", tcp(B1, CLIENT, 8080, 40000, SYN | ACK, ""),
            "pod-client", tcp(CLIENT, VIP, 40000, 80, ACK, ""),
            "pod-client", tcp(CLIENT, VIP, 40000, 80, PSH | ACK, "GET /"),
            "pod-b1", tcp(B1, CLIENT, 8080, 40000, PSH | ACK, "200 OK"));
        assertThat(out).hasSize(5);
        for (final Harness.Out o : out)
        {
            final Harness.Pkt p = o.pkt();
            assertThat(p.checksumsValid()).isTrue();
            if (o.port().equals("pod-client"))
            {
                assertThat(p.src()).as("replies un-DNATed although their flow is younger than the vector")
                    .isEqualTo(VIP);
            }
            else
            {
                assertThat(p.dst()).isEqualTo(B1);
            }
        }
        assertThat(net.counter(Nat.COUNTER_SESSIONS_CREATED)).isEqualTo(1);
    }

    @Test
    void shouldHashEachTupleOnceWhenLookupsAreBatched()
    {
        // regression: the batch hashed every tuple, then each lookup hashed its tuple again
        net = new Harness(Nat.Options.defaults(42), 100_000, false);
        net.map.batching = true;
        net.publish(Harness.clusterIp("dns", VIP, 17, 53, Harness.ready(B2, 5353, true)));
        net.sendOne("pod-client", Harness.fromPod(CLIENT).ip4(CLIENT, VIP).udp(33333, 53).build());
        net.sendOne("pod-client", Harness.fromPod(CLIENT).ip4(CLIENT, VIP).udp(33334, 53).build());
        final int hashes = net.map.hashes;
        final int hashed = net.map.hashedLookups;
        final List<Harness.Out> out = net.sendVector(
            "pod-client", Harness.fromPod(CLIENT).ip4(CLIENT, VIP).udp(33333, 53).build(),
            "pod-b2", Harness.fromPod(B2).ip4(B2, CLIENT).udp(5353, 33333).build(),
            "pod-client", Harness.fromPod(CLIENT).ip4(CLIENT, VIP).udp(33334, 53).build(),
            "pod-b2", Harness.fromPod(B2).ip4(B2, CLIENT).udp(5353, 33334).build());
        assertThat(out).extracting(Harness.Out::port).containsExactly("pod-b2", "pod-client", "pod-b2", "pod-client");
        assertThat(out.get(1).pkt().src()).as("the reply un-DNATed").isEqualTo(VIP);
        assertThat(net.map.hashes - hashes).as("one hash per packet").isEqualTo(4);
        assertThat(net.map.hashedLookups - hashed).as("every lookup reuses its packet's hash").isEqualTo(4);
    }

    /**
     * nat44-in looks up a whole batch before it translates: a RST that ends its flow at once (no reply seen yet, so
     * the entry expires now) must not leave a later packet of the same vector holding the dead entry. The SYN behind
     * it opens a new flow through nat44-new exactly as it does when it comes in the next vector.
     */
    @Test
    void shouldOpenANewFlowForASynBehindARstThatKilledItsFlowInTheSameVector()
    {
        final long[][] inserted = new long[2][];
        for (int run = 0; run < 2; run++)
        {
            net = new Harness(Nat.Options.defaults(42), 64, true);
            net.publish(Harness.clusterIp("web", VIP, 6, 80, Harness.ready(B1, 8080, true)));
            assertThat(net.sendOne("pod-client", tcp(CLIENT, VIP, 40000, 80, SYN, "")).port()).isEqualTo("pod-b1");
            final byte[] rst = tcp(CLIENT, VIP, 40000, 80, RST | ACK, "");
            final byte[] syn = tcp(CLIENT, VIP, 40000, 80, SYN, "");
            final List<Harness.Out> out = run == 0 ? net.sendVector("pod-client", rst, "pod-client", syn)
                : List.of(net.sendOne("pod-client", rst), net.sendOne("pod-client", syn));
            assertThat(out).extracting(Harness.Out::port).containsExactly("pod-b1", "pod-b1");
            assertThat(out.get(1).pkt().dst()).isEqualTo(B1);
            inserted[run] = new long[] {net.ct.stats().inserted(), net.counter(Nat.COUNTER_SESSIONS_CREATED)};
            if (run == 0)
            {
                assertThat(net.poolFull()).isTrue();
                net.close();
            }
        }
        assertThat(inserted[0]).as("one vector: a second flow, as with two vectors").containsExactly(2, 2)
            .containsExactly(inserted[1]);
    }

    @Test
    void shouldCarryUdpRequestAndResponseThroughClusterIp()
    {
        net = new Harness();
        net.publish(Harness.clusterIp("dns", VIP, 17, 53, Harness.ready(B2, 5353, true)));
        final Harness.Out q = net.sendOne("pod-client", Harness.fromPod(CLIENT).ip4(CLIENT, VIP).udp(33333, 53)
            .payload(new byte[] {1, 2, 3, 4, 5}).build());
        assertThat(q.port()).isEqualTo("pod-b2");
        assertThat(q.pkt().dst()).isEqualTo(B2);
        assertThat(q.pkt().dport()).isEqualTo(5353);
        assertThat(q.pkt().checksumsValid()).isTrue();
        final Harness.Out a = net.sendOne("pod-b2", Harness.fromPod(B2).ip4(B2, CLIENT).udp(5353, 33333)
            .payload(new byte[] {9, 9, 9}).build());
        assertThat(a.port()).isEqualTo("pod-client");
        assertThat(a.pkt().src()).isEqualTo(VIP);
        assertThat(a.pkt().sport()).isEqualTo(53);
        assertThat(a.pkt().checksumsValid()).isTrue();
    }

    @Test
    void shouldLeaveAZeroUdpChecksumZero()
    {
        net = new Harness();
        net.publish(Harness.clusterIp("dns", VIP, 17, 53, Harness.ready(B2, 5353, true)));
        final byte[] f = Harness.fromPod(CLIENT).ip4(CLIENT, VIP).udp(33333, 53).payload(new byte[] {1, 2}).build();
        f[14 + 20 + 6] = 0;
        f[14 + 20 + 7] = 0;
        final Harness.Out q = net.sendOne("pod-client", f);
        assertThat(q.bytes()[14 + 20 + 6] | q.bytes()[14 + 20 + 7]).isZero();
        assertThat(q.pkt().checksumsValid()).isTrue();
    }

    @Test
    void shouldSnatNodePortFromExternalClientAndRestoreTheReply()
    {
        net = new Harness();
        net.publish(Harness.nodePort("np", VIP, 80, 30080, false, Harness.ready(B1, 8080, true)));
        final Harness.Out in = net.sendOne("uplink", Harness.fromUplink().ip4(EXTERNAL, NODE_IP)
            .tcp(5555, 30080, SYN, 1, 0).build());
        final Harness.Pkt p = in.pkt();
        assertThat(in.port()).isEqualTo("pod-b1");
        assertThat(p.dst()).isEqualTo(B1);
        assertThat(p.dport()).isEqualTo(8080);
        assertThat(p.src()).as("policy Cluster masquerades, to the pods' gateway for a local pod")
            .isEqualTo(GATEWAY);
        assertThat(p.checksumsValid()).isTrue();
        final Harness.Out back = net.sendOne("pod-b1", Harness.fromPod(B1).ip4(B1, GATEWAY)
            .tcp(8080, p.sport(), SYN | ACK, 7, 2).build());
        assertThat(back.port()).isEqualTo("uplink");
        assertThat(back.pkt().src()).isEqualTo(NODE_IP);
        assertThat(back.pkt().sport()).isEqualTo(30080);
        assertThat(back.pkt().dst()).isEqualTo(EXTERNAL);
        assertThat(back.pkt().dport()).isEqualTo(5555);
        assertThat(back.pkt().checksumsValid()).isTrue();
    }

    @Test
    void shouldKeepClientIpUnderExternalPolicyLocal()
    {
        net = new Harness();
        net.publish(Harness.nodePort("np", VIP, 80, 30080, true, Harness.ready(B1, 8080, true),
            Harness.ready(REMOTE_POD, 8080, false)));
        for (int i = 0; i < 20; i++)
        {
            final Harness.Out in = net.sendOne("uplink", Harness.fromUplink().ip4(EXTERNAL, NODE_IP)
                .tcp(6000 + i, 30080, SYN, 1, 0).build());
            assertThat(in.port()).as("only the node-local endpoint").isEqualTo("pod-b1");
            assertThat(in.pkt().src()).as("client source IP kept").isEqualTo(EXTERNAL);
            assertThat(in.pkt().sport()).isEqualTo(6000 + i);
        }
    }

    @Test
    void shouldDropUnderExternalPolicyLocalWithoutLocalEndpoint()
    {
        net = new Harness();
        net.publish(Harness.nodePort("np", VIP, 80, 30080, true, Harness.ready(REMOTE_POD, 8080, false)));
        final List<Harness.Out> out = net.send("uplink", Harness.fromUplink().ip4(EXTERNAL, NODE_IP)
            .tcp(5555, 30080, SYN, 1, 0).build());
        assertThat(out).as("DROP, not REJECT").isEmpty();
        assertThat(net.drops()).containsEntry("stage/nat44-new/drop/no-local-endpoint-external", 1L);
        assertThat(net.counter(Nat.COUNTER_REJECTS)).isZero();
    }

    @Test
    void shouldRejectWhenNoEndpointsQuotingTheOriginalHeader()
    {
        net = new Harness();
        net.publish(Harness.clusterIp("empty", VIP, 6, 80));
        final Harness.Out out = net.sendOne("pod-client", tcp(CLIENT, VIP, 40000, 80, SYN, ""));
        final Harness.Pkt p = out.pkt();
        assertThat(out.port()).isEqualTo("pod-client");
        assertThat(p.proto()).isEqualTo(Ip4Header.PROTO_ICMP);
        assertThat(p.icmpType()).isEqualTo(IcmpHeader.TYPE_DEST_UNREACHABLE);
        assertThat(p.icmpCode()).isEqualTo(IcmpHeader.CODE_PORT_UNREACHABLE);
        assertThat(p.src()).as("REJECT comes from the pods' gateway").isEqualTo(GATEWAY);
        assertThat(p.dst()).isEqualTo(CLIENT);
        assertThat(p.checksumsValid()).isTrue();
        final Harness.Pkt quoted = p.inner();
        assertThat(quoted.src()).isEqualTo(CLIENT);
        assertThat(quoted.dst()).as("the quote shows the ClusterIP the client used").isEqualTo(VIP);
        assertThat(quoted.sport()).isEqualTo(40000);
        assertThat(quoted.dport()).isEqualTo(80);
        assertThat(net.counter(Nat.COUNTER_REJECTS)).isEqualTo(1);
    }

    @Test
    void shouldRejectAClusterIpPortThatNoServiceServes()
    {
        net = new Harness();
        net.publish(Harness.clusterIp("web", VIP, 6, 80, Harness.ready(B1, 8080, true)));
        final Harness.Out out = net.sendOne("pod-client", tcp(CLIENT, VIP, 40000, 81, SYN, ""));
        assertThat(out.pkt().icmpType()).isEqualTo(IcmpHeader.TYPE_DEST_UNREACHABLE);
        assertThat(out.pkt().icmpCode()).isEqualTo(IcmpHeader.CODE_PORT_UNREACHABLE);
    }

    @Test
    void shouldDropPingToClusterIpAsIptablesLeavesItUnanswered()
    {
        net = new Harness();
        net.publish(Harness.clusterIp("web", VIP, 6, 80, Harness.ready(B1, 8080, true)));
        final List<Harness.Out> out = net.send("pod-client", Harness.fromPod(CLIENT).ip4(CLIENT, VIP)
            .icmp(IcmpHeader.TYPE_ECHO_REQUEST, 0, 0x12340001).build());
        assertThat(out).isEmpty();
        assertThat(net.drops()).containsEntry("stage/nat44-new/drop/cluster-ip-echo", 1L);
    }

    @Test
    void shouldMasqueradeHairpin()
    {
        net = new Harness();
        net.publish(Harness.clusterIp("self", VIP, 6, 80, Harness.ready(B1, 8080, true)));
        final Harness.Out out = net.sendOne("pod-b1", tcp(B1, VIP, 41000, 80, SYN, ""));
        final Harness.Pkt p = out.pkt();
        assertThat(out.port()).isEqualTo("pod-b1");
        assertThat(p.dst()).isEqualTo(B1);
        assertThat(p.dport()).isEqualTo(8080);
        assertThat(p.src()).as("hairpin is masqueraded to the pods' gateway").isEqualTo(GATEWAY);
        assertThat(p.checksumsValid()).isTrue();
        final Harness.Out back = net.sendOne("pod-b1", tcp(B1, GATEWAY, 8080, p.sport(), SYN | ACK, ""));
        assertThat(back.port()).isEqualTo("pod-b1");
        assertThat(back.pkt().src()).isEqualTo(VIP);
        assertThat(back.pkt().sport()).isEqualTo(80);
        assertThat(back.pkt().dst()).isEqualTo(B1);
        assertThat(back.pkt().dport()).isEqualTo(41000);
        assertThat(back.pkt().checksumsValid()).isTrue();
    }

    @Test
    void shouldGiveDistinctPortsToTwoPodsWithTheSameSourcePortToOneExternalAddress()
    {
        net = new Harness();
        net.publish();
        final int dns = Ip4.parse("8.8.8.8");
        final Harness.Out a = net.sendOne("pod-client", Harness.fromPod(CLIENT).ip4(CLIENT, dns).udp(5000, 53)
            .build());
        final Harness.Out b = net.sendOne("pod-b1", Harness.fromPod(B1).ip4(B1, dns).udp(5000, 53).build());
        assertThat(a.port()).isEqualTo("uplink");
        assertThat(a.pkt().src()).isEqualTo(NODE_IP);
        assertThat(b.pkt().src()).isEqualTo(NODE_IP);
        assertThat(a.pkt().sport()).isNotEqualTo(b.pkt().sport());
        assertThat(a.pkt().sport()).isBetween(1024, 65535);
        assertThat(a.pkt().checksumsValid()).isTrue();
        final Harness.Out ra = net.sendOne("uplink", Harness.fromUplink().ip4(dns, NODE_IP).udp(53, a.pkt().sport())
            .build());
        final Harness.Out rb = net.sendOne("uplink", Harness.fromUplink().ip4(dns, NODE_IP).udp(53, b.pkt().sport())
            .build());
        assertThat(ra.port()).isEqualTo("pod-client");
        assertThat(ra.pkt().dst()).isEqualTo(CLIENT);
        assertThat(ra.pkt().dport()).isEqualTo(5000);
        assertThat(rb.port()).isEqualTo("pod-b1");
        assertThat(rb.pkt().dst()).isEqualTo(B1);
        assertThat(rb.pkt().checksumsValid()).isTrue();
    }

    @Test
    void shouldPassPodReplyOfAFlowThisNodeDidNotTranslateUntracked()
    {
        // another node SNATed a NodePort client to its own address (outside the cluster CIDR) and sent the SYN here
        // through VXLAN; the pod's SYN-ACK must leave unchanged, not open a masquerade flow (which would be INVALID)
        net = new Harness();
        net.publish();
        final int otherNode = Ip4.parse("192.168.0.11");
        final Harness.Out out = net.sendOne("pod-client", tcp(CLIENT, otherNode, 8080, 41000, SYN | ACK, ""));
        assertThat(out.port()).isEqualTo("uplink");
        assertThat(out.pkt().src()).as("not masqueraded").isEqualTo(CLIENT);
        assertThat(out.pkt().sport()).isEqualTo(8080);
        assertThat(net.counter("stage/nat44-new/drop/invalid")).isZero();
        final Harness.Out syn = net.sendOne("pod-client", tcp(CLIENT, EXTERNAL, 42000, 80, SYN, ""));
        assertThat(syn.pkt().src()).as("a SYN still opens a masqueraded flow").isEqualTo(NODE_IP);
    }

    @Test
    void shouldNeverLeakAPodsTcpWithoutSynThatMatchesNoFlowOutOfTheCluster()
    {
        // issue 13, class 8: only another node can have translated the connection of an untracked segment; toward
        // any other address it would leave with the pod's IP (Linux marks it INVALID and does not masquerade it)
        net = new Harness();
        net.publish();
        for (final int flags : new int[] {ACK, ACK | PSH, FIN | ACK, SYN | ACK, RST | ACK})
        {
            assertThat(net.send("pod-client", tcp(CLIENT, EXTERNAL, 41000, 443, flags, ""))).as("flags %x", flags)
                .isEmpty();
        }
        assertThat(net.counter("stage/nat44-new/drop/untracked-egress")).isEqualTo(5);
    }

    @Test
    void shouldPassPingThroughMasqueradeByIdentifier()
    {
        net = new Harness();
        net.publish();
        final int far = Ip4.parse("1.1.1.1");
        final Harness.Out out = net.sendOne("pod-client", Harness.fromPod(CLIENT).ip4(CLIENT, far)
            .icmp(IcmpHeader.TYPE_ECHO_REQUEST, 0, 0x07770001).payload("ping".getBytes()).build());
        assertThat(out.port()).isEqualTo("uplink");
        assertThat(out.pkt().src()).isEqualTo(NODE_IP);
        assertThat(out.pkt().checksumsValid()).isTrue();
        final int id = out.pkt().icmpId();
        final Harness.Out back = net.sendOne("uplink", Harness.fromUplink().ip4(far, NODE_IP)
            .icmp(IcmpHeader.TYPE_ECHO_REPLY, 0, id << 16 | 1).payload("ping".getBytes()).build());
        assertThat(back.port()).isEqualTo("pod-client");
        assertThat(back.pkt().dst()).isEqualTo(CLIENT);
        assertThat(back.pkt().icmpId()).isEqualTo(0x0777);
        assertThat(back.pkt().checksumsValid()).isTrue();
    }

    @Test
    void shouldTranslateFragmentationNeededFromBackendBackToClient()
    {
        net = new Harness();
        net.publish(Harness.clusterIp("web", VIP, 6, 80, Harness.ready(B1, 8080, true)));
        final Harness.Out syn = net.sendOne("pod-client", tcp(CLIENT, VIP, 40000, 80, SYN, "x".repeat(100)));
        // the backend quotes the packet as it received it: IP header + 28 bytes of TCP
        final byte[] quote = Arrays.copyOfRange(syn.bytes(), 14, 14 + 20 + 28);
        final Harness.Out err = net.sendOne("pod-b1", Harness.fromPod(B1).ip4(B1, CLIENT)
            .icmp(IcmpHeader.TYPE_DEST_UNREACHABLE, IcmpHeader.CODE_FRAG_NEEDED, 1400).payload(quote).build());
        final Harness.Pkt p = err.pkt();
        assertThat(err.port()).isEqualTo("pod-client");
        assertThat(p.src()).as("outer source is the ClusterIP").isEqualTo(VIP);
        assertThat(p.dst()).isEqualTo(CLIENT);
        assertThat(p.icmpCode()).isEqualTo(IcmpHeader.CODE_FRAG_NEEDED);
        assertThat(p.checksumsValid()).as("outer IP and ICMP checksums").isTrue();
        final Harness.Pkt inner = p.inner();
        assertThat(inner.src()).isEqualTo(CLIENT);
        assertThat(inner.sport()).isEqualTo(40000);
        assertThat(inner.dst()).as("the quote is restored to what the client sent").isEqualTo(VIP);
        assertThat(inner.dport()).isEqualTo(80);
        assertThat(inner.ip.checksumValid()).as("inner IP header checksum").isTrue();
    }

    @Test
    void shouldTranslateALocallyGeneratedFragmentationNeededBackToTheClusterIp()
    {
        net = new Harness();
        net.publish(Harness.clusterIp("web", VIP, 6, 80, Harness.ready(B1, 8080, true)));
        // 1500 bytes with DF toward a pod link of MTU 1450: ip4-rewrite asks icmp-error for "fragmentation
        // needed", about the packet as translated (to B1:8080); the client must get it about VIP:80
        final byte[] big = Harness.fromPod(CLIENT).ip4(CLIENT, VIP).df(true).tcp(40000, 80, ACK | PSH, 5, 6)
            .payload(new byte[1460]).build();
        final Harness.Out err = net.sendOne("pod-client", big);
        final Harness.Pkt p = err.pkt();
        assertThat(err.port()).isEqualTo("pod-client");
        assertThat(p.icmpType()).isEqualTo(IcmpHeader.TYPE_DEST_UNREACHABLE);
        assertThat(p.icmpCode()).isEqualTo(IcmpHeader.CODE_FRAG_NEEDED);
        assertThat(p.icmpId() << 16 | (err.bytes()[14 + 20 + 6] & 0xff) << 8 | (err.bytes()[14 + 20 + 7] & 0xff))
            .as("next-hop MTU").isEqualTo(1450);
        assertThat(p.src()).isEqualTo(VIP);
        assertThat(p.dst()).isEqualTo(CLIENT);
        assertThat(p.checksumsValid()).isTrue();
        final Harness.Pkt inner = p.inner();
        assertThat(inner.dst()).isEqualTo(VIP);
        assertThat(inner.dport()).isEqualTo(80);
        assertThat(inner.src()).isEqualTo(CLIENT);
        assertThat(inner.ip.checksumValid()).isTrue();
    }

    @Test
    void shouldTranslateFragmentationNeededBackToAnExternalNodePortClient()
    {
        net = new Harness();
        net.publish(Harness.nodePort("np", VIP, 80, 30080, false, Harness.ready(B1, 8080, true)));
        final Harness.Pkt syn = net.sendOne("uplink", Harness.fromUplink().ip4(EXTERNAL, NODE_IP)
            .tcp(5555, 30080, SYN, 1, 0).build()).pkt();
        net.sendOne("pod-b1", tcp(B1, GATEWAY, 8080, syn.sport(), SYN | ACK, ""));
        final byte[] big = Harness.fromUplink().ip4(EXTERNAL, NODE_IP).df(true).tcp(5555, 30080, ACK, 2, 1)
            .payload(new byte[1460]).build();
        final Harness.Out err = net.sendOne("uplink", big);
        final Harness.Pkt p = err.pkt();
        assertThat(err.port()).as("back to the external client, not to the SNAT address").isEqualTo("uplink");
        assertThat(p.icmpCode()).isEqualTo(IcmpHeader.CODE_FRAG_NEEDED);
        assertThat(p.src()).isEqualTo(NODE_IP);
        assertThat(p.dst()).isEqualTo(EXTERNAL);
        assertThat(p.checksumsValid()).isTrue();
        final Harness.Pkt inner = p.inner();
        assertThat(inner.src()).isEqualTo(EXTERNAL);
        assertThat(inner.sport()).isEqualTo(5555);
        assertThat(inner.dst()).isEqualTo(NODE_IP);
        assertThat(inner.dport()).isEqualTo(30080);
    }

    @Test
    void shouldTranslateARoutersTimeExceededForAMasqueradedFlowKeepingTheRouterAddress()
    {
        net = new Harness();
        net.publish();
        final int dns = Ip4.parse("8.8.8.8");
        final Harness.Out out = net.sendOne("pod-client", Harness.fromPod(CLIENT).ip4(CLIENT, dns).ttl(2)
            .udp(5000, 53).payload(new byte[] {7}).build());
        final byte[] quote = Arrays.copyOfRange(out.bytes(), 14, 14 + 20 + 8);
        final Harness.Out err = net.sendOne("uplink", Harness.fromUplink().ip4(Harness.ROUTER, NODE_IP)
            .icmp(IcmpHeader.TYPE_TIME_EXCEEDED, 0, 0).payload(quote).build());
        final Harness.Pkt p = err.pkt();
        assertThat(err.port()).isEqualTo("pod-client");
        assertThat(p.src()).as("no DNAT in this flow: the router stays the source").isEqualTo(Harness.ROUTER);
        assertThat(p.dst()).isEqualTo(CLIENT);
        assertThat(p.checksumsValid()).isTrue();
        final Harness.Pkt inner = p.inner();
        assertThat(inner.src()).isEqualTo(CLIENT);
        assertThat(inner.sport()).isEqualTo(5000);
        assertThat(inner.dst()).isEqualTo(dns);
        assertThat(inner.ip.checksumValid()).isTrue();
    }

    @Test
    void shouldTranslateAClientsPortUnreachableAboutAReplyToTheBackend()
    {
        net = new Harness();
        net.publish(Harness.clusterIp("dns", VIP, 17, 53, Harness.ready(B1, 5353, true)));
        net.sendOne("pod-client", Harness.fromPod(CLIENT).ip4(CLIENT, VIP).udp(33333, 53).build());
        final Harness.Out reply = net.sendOne("pod-b1", Harness.fromPod(B1).ip4(B1, CLIENT).udp(5353, 33333)
            .payload(new byte[] {1}).build());
        final byte[] quote = Arrays.copyOfRange(reply.bytes(), 14, 14 + 20 + 9);
        final Harness.Out err = net.sendOne("pod-client", Harness.fromPod(CLIENT).ip4(CLIENT, VIP)
            .icmp(IcmpHeader.TYPE_DEST_UNREACHABLE, IcmpHeader.CODE_PORT_UNREACHABLE, 0).payload(quote).build());
        final Harness.Pkt p = err.pkt();
        assertThat(err.port()).isEqualTo("pod-b1");
        assertThat(p.src()).isEqualTo(CLIENT);
        assertThat(p.dst()).isEqualTo(B1);
        assertThat(p.checksumsValid()).isTrue();
        final Harness.Pkt inner = p.inner();
        assertThat(inner.src()).isEqualTo(B1);
        assertThat(inner.sport()).isEqualTo(5353);
        assertThat(inner.dst()).isEqualTo(CLIENT);
        assertThat(inner.dport()).isEqualTo(33333);
        assertThat(inner.checksumsValid()).as("inner IP and full inner UDP checksum").isTrue();
    }

    @Test
    void shouldStickOneClientAndSpreadManyUnderClientIpAffinity()
    {
        net = new Harness();
        final ServiceInfo svc = new ServiceInfo("default", "sticky", "ClusterIP", null, List.of(VIP), List.of(),
            List.of(), true, 10800, false, false, List.of(new ServiceInfo.ServicePort("", 6, 80, 0,
            List.of(Harness.ready(B1, 8080, true), Harness.ready(B2, 8080, true)))));
        net.publish(svc);
        final Set<String> seen = new HashSet<>();
        for (int i = 0; i < 30; i++)
        {
            seen.add(net.sendOne("pod-client", tcp(CLIENT, VIP, 30000 + i, 80, SYN, "")).port());
        }
        assertThat(seen).as("one client sticks to one endpoint").hasSize(1);
        assertThat(net.counter(Nat.COUNTER_AFFINITY_HITS)).isEqualTo(29);
        final Map<String, Integer> spread = new HashMap<>();
        for (int c = 0; c < 400; c++)
        {
            final int client = Ip4.parse("203.0.113.0") + 1 + c;
            final Harness.Out o = net.sendOne("uplink", Harness.fromUplink().ip4(client, VIP)
                .tcp(1234, 80, SYN, 1, 0).build());
            spread.merge(o.port(), 1, Integer::sum);
        }
        // binomial(400, 1/2): the mean is 200 and the standard deviation 10; 150..250 is five sigma
        assertThat(spread.get("pod-b1")).isBetween(150, 250);
        assertThat(spread.get("pod-b2")).isBetween(150, 250);
    }

    @Test
    void shouldForgetAffinityAfterTheTimeout()
    {
        net = new Harness();
        final ServiceInfo svc = new ServiceInfo("default", "sticky", "ClusterIP", null, List.of(VIP), List.of(),
            List.of(), true, 60, false, false, List.of(new ServiceInfo.ServicePort("", 6, 80, 0,
            List.of(Harness.ready(B1, 8080, true), Harness.ready(B2, 8080, true)))));
        net.publish(svc);
        net.sendOne("pod-client", tcp(CLIENT, VIP, 30000, 80, SYN, ""));
        net.clock.advance(30_000_000_000L);
        net.sendOne("pod-client", tcp(CLIENT, VIP, 30001, 80, SYN, ""));
        assertThat(net.counter(Nat.COUNTER_AFFINITY_HITS)).isEqualTo(1);
        net.clock.advance(61_000_000_000L);
        net.sendOne("pod-client", tcp(CLIENT, VIP, 30002, 80, SYN, ""));
        assertThat(net.counter(Nat.COUNTER_AFFINITY_HITS)).as("expired after timeoutSeconds").isEqualTo(1);
    }

    @Test
    void shouldSpreadUniformlyAtRandom()
    {
        net = new Harness();
        net.publish(Harness.clusterIp("web", VIP, 17, 80, Harness.ready(B1, 8080, true),
            Harness.ready(B2, 8080, true)));
        final Map<String, Integer> spread = new HashMap<>();
        for (int i = 0; i < 1000; i++)
        {
            spread.merge(net.sendOne("pod-client", Harness.fromPod(CLIENT).ip4(CLIENT, VIP).udp(10000 + i, 80)
                .build()).port(), 1, Integer::sum);
        }
        // binomial(1000, 1/2): sigma is about 16; 420..580 is five sigma
        assertThat(spread.get("pod-b1")).isBetween(420, 580);
    }

    @Test
    void shouldDropNewFlowsWhenTheTableIsFull()
    {
        net = new Harness(Nat.Options.defaults(1), 2);
        net.publish(Harness.clusterIp("web", VIP, 6, 80, Harness.ready(B1, 8080, true)));
        for (int port = 1; port <= 2; port++)
        {
            handshake(port);
        }
        assertThat(net.send("pod-client", tcp(CLIENT, VIP, 3, 80, SYN, ""))).isEmpty();
        assertThat(net.drops()).containsEntry("stage/nat44-new/drop/table-full", 1L);
        assertThat(net.sendOne("pod-client", tcp(CLIENT, VIP, 1, 80, PSH | ACK, "more")).port())
            .as("established flows still pass").isEqualTo("pod-b1");
    }

    /** SYN, SYN-ACK, ACK from CLIENT:port through VIP:80 to B1:8080. */
    private void handshake(final int port)
    {
        net.sendOne("pod-client", tcp(CLIENT, VIP, port, 80, SYN, ""));
        net.sendOne("pod-b1", tcp(B1, CLIENT, 8080, port, SYN | ACK, ""));
        net.sendOne("pod-client", tcp(CLIENT, VIP, port, 80, ACK, ""));
    }

    @Test
    void shouldExpireFlowsAsTheClockAdvances()
    {
        net = new Harness();
        net.publish(Harness.clusterIp("dns", VIP, 17, 53, Harness.ready(B1, 53, true)));
        final byte[] q = Harness.fromPod(CLIENT).ip4(CLIENT, VIP).udp(4444, 53).build();
        net.sendOne("pod-client", q);
        net.clock.advance(10_000_000_000L);
        net.sendOne("pod-client", q);
        assertThat(net.flowCount()).isEqualTo(1);
        net.clock.advance(31_000_000_000L);
        net.sendOne("pod-client", q);
        assertThat(net.counter(Nat.COUNTER_SESSIONS_CREATED)).as("timed out, then created again").isEqualTo(2);
    }

    @Test
    void shouldFlushUdpFlowsOfARemovedEndpoint()
    {
        net = new Harness();
        net.publish(Harness.clusterIp("dns", VIP, 17, 53, Harness.ready(B1, 53, true)));
        final byte[] q = Harness.fromPod(CLIENT).ip4(CLIENT, VIP).udp(4444, 53).build();
        assertThat(net.sendOne("pod-client", q).port()).isEqualTo("pod-b1");
        net.publish(Harness.clusterIp("dns", VIP, 17, 53, Harness.ready(B2, 53, true)));
        assertThat(net.sendOne("pod-client", q).port()).as("the stale UDP flow is gone").isEqualTo("pod-b2");
        assertThat(net.counter(Nat.COUNTER_UDP_FLUSHED)).isEqualTo(1);
    }

    @Test
    void shouldFlushTheUdpFlowsOfAnEndpointThatLeavesOneServiceAlthoughAnotherServiceKeepsIt()
    {
        // regression: the flush was keyed by endpoint alone, and skipped while any UDP Service still had it
        net = new Harness();
        final int vipB = Ip4.parse("10.96.0.11");
        net.publish(Harness.clusterIp("dns-a", VIP, 17, 53, Harness.ready(B1, 53, true)),
            Harness.clusterIp("dns-b", vipB, 17, 53, Harness.ready(B1, 53, true)));
        final byte[] toA = Harness.fromPod(CLIENT).ip4(CLIENT, VIP).udp(4444, 53).build();
        final byte[] toB = Harness.fromPod(CLIENT).ip4(CLIENT, vipB).udp(5555, 53).build();
        assertThat(net.sendOne("pod-client", toA).port()).isEqualTo("pod-b1");
        assertThat(net.sendOne("pod-client", toB).port()).isEqualTo("pod-b1");
        net.publish(Harness.clusterIp("dns-a", VIP, 17, 53, Harness.ready(B2, 53, true)),
            Harness.clusterIp("dns-b", vipB, 17, 53, Harness.ready(B1, 53, true)));
        assertThat(net.sendOne("pod-client", toA).port()).as("dns-a's flow left B1 with the endpoint")
            .isEqualTo("pod-b2");
        assertThat(net.sendOne("pod-client", toB).port()).as("dns-b still has B1: its flow stays")
            .isEqualTo("pod-b1");
        assertThat(net.counter(Nat.COUNTER_UDP_FLUSHED)).isEqualTo(1);
    }

    @Test
    void shouldKeepTheUdpFlowsOfAnEndpointThatTerminatesButStillServes()
    {
        // kube-proxy's CleanStaleEntries keeps the flows of serving endpoints, terminating or not
        net = new Harness();
        net.publish(Harness.clusterIp("dns", VIP, 17, 53, Harness.ready(B1, 53, true)));
        final byte[] q = Harness.fromPod(CLIENT).ip4(CLIENT, VIP).udp(4444, 53).build();
        assertThat(net.sendOne("pod-client", q).port()).isEqualTo("pod-b1");
        net.publish(Harness.clusterIp("dns", VIP, 17, 53,
            new ServiceInfo.Endpoint(B1, 53, false, true, true, "n1", "", true), Harness.ready(B2, 53, true)));
        assertThat(net.sendOne("pod-client", q).port()).as("the flow stays on its terminating endpoint")
            .isEqualTo("pod-b1");
        assertThat(net.sendOne("pod-client", Harness.fromPod(CLIENT).ip4(CLIENT, VIP).udp(4445, 53).build()).port())
            .as("a new flow goes to the ready endpoint").isEqualTo("pod-b2");
        assertThat(net.counter(Nat.COUNTER_UDP_FLUSHED)).isZero();
    }

    @Test
    void shouldFlushEveryUdpFlowOfADeletedServiceBeforeTheFirstPacketUnderTheNewTables()
    {
        // regression: flushes went through a command queue drained 64 per vector, so a Service with more
        // endpoints than that kept sending some flows to removed endpoints for a few more vectors
        net = new Harness();
        final ServiceInfo.Endpoint[] eps = new ServiceInfo.Endpoint[200];
        for (int i = 0; i < eps.length; i++)
        {
            eps[i] = Harness.ready(B1, 1000 + i, true);
        }
        net.publish(Harness.clusterIp("dns", VIP, 17, 53, eps));
        final Object[] vector = new Object[2 * 200];
        final Set<Integer> used = new HashSet<>();
        for (int i = 0; i < 200; i++)
        {
            vector[2 * i] = "pod-client";
            vector[2 * i + 1] = Harness.fromPod(CLIENT).ip4(CLIENT, VIP).udp(10000 + i, 53).build();
            used.add(net.sendOne("pod-client", (byte[])vector[2 * i + 1]).pkt().dport());
        }
        assertThat(used.size()).as("flows spread over many more endpoints than 64").isGreaterThan(100);
        net.publish();
        assertThat(net.sendVector(vector)).as("no request reaches a removed endpoint").isEmpty();
        assertThat(net.drops()).containsExactly(Map.entry("stage/nat44-new/drop/no-service", 200L));
        assertThat(net.counter(Nat.COUNTER_UDP_FLUSHED)).isEqualTo(200);
    }

    @Test
    void shouldNotKeepAUdpFlowCreatedUnderTheOldTablesAfterTheWorkerAdoptsTheNewOnes()
    {
        // regression: with a worker that pins one snapshot per run, a flush queued at publish time could run
        // while the old snapshot was still pinned, and a flow created after it to the removed endpoint stayed
        net = new Harness(Nat.Options.defaults(42), 100_000, true, true);
        net.publish(Harness.clusterIp("dns", VIP, 17, 53, Harness.ready(B1, 53, true)));
        net.pin();
        final byte[] q = Harness.fromPod(CLIENT).ip4(CLIENT, VIP).udp(4444, 53).build();
        net.publish(Harness.clusterIp("dns", VIP, 17, 53, Harness.ready(B2, 53, true)));
        assertThat(net.sendOne("pod-client", q).port()).as("the run still under the old snapshot uses it")
            .isEqualTo("pod-b1");
        net.pin();
        assertThat(net.sendOne("pod-client", q).port()).as("the first run under the new snapshot").isEqualTo(
            "pod-b2");
        assertThat(net.counter(Nat.COUNTER_UDP_FLUSHED)).isEqualTo(1);
    }

    @Test
    void shouldKeepTcpFlowsOfARemovedEndpoint()
    {
        net = new Harness();
        net.publish(Harness.clusterIp("web", VIP, 6, 80, Harness.ready(B1, 8080, true)));
        net.sendOne("pod-client", tcp(CLIENT, VIP, 40000, 80, SYN, ""));
        net.sendOne("pod-b1", tcp(B1, CLIENT, 8080, 40000, SYN | ACK, ""));
        net.publish(Harness.clusterIp("web", VIP, 6, 80, Harness.ready(B2, 8080, true)));
        assertThat(net.sendOne("pod-client", tcp(CLIENT, VIP, 40000, 80, ACK, "")).port())
            .as("TCP is left to fail or time out, as with kube-proxy").isEqualTo("pod-b1");
    }

    @Test
    void shouldFailTcpToARemovedLocalEndpointAtOnceWithATranslatedHostUnreachable()
    {
        net = new Harness();
        net.publish(Harness.clusterIp("web", VIP, 6, 80, Harness.ready(B1, 8080, true)));
        handshake(40000);
        net.publishWithoutPod(B1, Harness.clusterIp("web", VIP, 6, 80, Harness.ready(B2, 8080, true)));
        final Harness.Out err = net.sendOne("pod-client", tcp(CLIENT, VIP, 40000, 80, PSH | ACK, "more"));
        final Harness.Pkt p = err.pkt();
        assertThat(err.port()).isEqualTo("pod-client");
        assertThat(p.icmpType()).isEqualTo(IcmpHeader.TYPE_DEST_UNREACHABLE);
        assertThat(p.icmpCode()).isEqualTo(IcmpHeader.CODE_HOST_UNREACHABLE);
        assertThat(p.src()).isEqualTo(VIP);
        assertThat(p.checksumsValid()).isTrue();
        assertThat(p.inner().dst()).as("the quote names the ClusterIP the client uses").isEqualTo(VIP);
        assertThat(p.inner().dport()).isEqualTo(80);
    }

    @Test
    void shouldNotReuseAClosedTcpPortTowardTheSameDestinationWithin120Seconds()
    {
        net = new Harness();
        net.settings = new dev.ferry.core.tables.NodeTables.ClusterSettings(
            dev.ferry.core.route.Ip4Prefix.parse("10.244.0.0/16"),
            List.of(dev.ferry.core.route.Ip4Prefix.parse("10.96.0.0/12")), 1, 8472, 30000, 32767, List.of(), false,
            List.of(), 20000, 20007, Map.of());
        net.publish();
        final int server = Ip4.parse("198.51.100.1");
        final Set<Integer> used = new HashSet<>();
        // eight short connections, each reset and expired (CLOSE lasts 10 s in the table): every one must get
        // a port never used before, although the table no longer holds the old ones
        for (int i = 0; i < 8; i++)
        {
            final int sport = 50000 + i;
            final Harness.Out syn = net.sendOne("pod-client", Harness.fromPod(CLIENT).ip4(CLIENT, server)
                .tcp(sport, 443, SYN, 1, 0).build());
            final int port = syn.pkt().sport();
            assertThat(used.add(port)).as("port %d reused within 120 s", port).isTrue();
            net.sendOne("uplink", Harness.fromUplink().ip4(server, NODE_IP).tcp(443, port, SYN | ACK, 9, 2).build());
            net.sendOne("pod-client", Harness.fromPod(CLIENT).ip4(CLIENT, server).tcp(sport, 443, ACK, 2, 10)
                .build());
            net.sendOne("pod-client", Harness.fromPod(CLIENT).ip4(CLIENT, server).tcp(sport, 443, RST, 2, 0)
                .build());
            net.clock.advance(11_000_000_000L);
            net.send("pod-client", Harness.fromPod(CLIENT).ip4(CLIENT, GATEWAY).udp(1, 1).build());
        }
        assertThat(net.flowCount()).as("all closed flows expired").isZero();
        // the range is in quarantine: the ninth connection finds no port
        assertThat(net.send("pod-client", Harness.fromPod(CLIENT).ip4(CLIENT, server).tcp(50100, 443, SYN, 1, 0)
            .build())).isEmpty();
        assertThat(net.counter(Nat.COUNTER_PORTS_EXHAUSTED)).isEqualTo(1);
        assertThat(net.nat.drainLog()).singleElement().asString().contains("TCP 198.51.100.1:443");
        // after 2 x MSL the ports come back
        net.clock.advance(120_000_000_000L);
        final Harness.Out again = net.sendOne("pod-client", Harness.fromPod(CLIENT).ip4(CLIENT, server)
            .tcp(50101, 443, SYN, 1, 0).build());
        assertThat(again.pkt().sport()).isBetween(20000, 20007);
    }

    private static ServiceInfo service(final int vip, final List<Integer> externalIps, final List<Integer> lbIps,
        final boolean etpLocal, final boolean itpLocal, final ServiceInfo.Endpoint... eps)
    {
        return new ServiceInfo("default", "svc", "LoadBalancer", null, List.of(vip), externalIps, lbIps, false,
            10800, etpLocal, itpLocal, List.of(new ServiceInfo.ServicePort("http", 6, 80, 0, List.of(eps))));
    }

    @Test
    void shouldServeExternalIpsAndLoadBalancerIpsWithMasqueradeUnderPolicyCluster()
    {
        net = new Harness();
        final int extIp = Ip4.parse("198.51.100.50");
        final int lbIp = Ip4.parse("198.51.100.60");
        net.publish(service(VIP, List.of(extIp), List.of(lbIp), false, false, Harness.ready(B1, 8080, true)));
        for (final int frontend : new int[] {extIp, lbIp})
        {
            final Harness.Out o = net.sendOne("uplink", Harness.fromUplink().ip4(EXTERNAL, frontend)
                .tcp(7000, 80, SYN, 1, 0).build());
            assertThat(o.port()).isEqualTo("pod-b1");
            assertThat(o.pkt().dst()).isEqualTo(B1);
            assertThat(o.pkt().src()).isEqualTo(GATEWAY);
        }
    }

    /**
     * Issue 13, class 12: loadBalancerSourceRanges, as kube-proxy's firewall chain applies them. A LoadBalancer IP
     * opens flows only for sources inside the ranges (pods included), the Service's NodePort and externalIP and
     * its ClusterIP stay open, a flow opened before stays, and with no endpoint at all the LB IP still REJECTs.
     */
    @Test
    void shouldOpenLoadBalancerIpFlowsOnlyFromLoadBalancerSourceRanges()
    {
        net = new Harness();
        final int extIp = Ip4.parse("198.51.100.50");
        final int lbIp = Ip4.parse("198.51.100.60");
        final int allowed = Ip4.parse("203.0.113.7");
        final int denied = Ip4.parse("192.0.2.9");
        final List<Ip4Prefix> ranges = List.of(Ip4Prefix.parse("203.0.113.0/24"), Ip4Prefix.parse("172.16.0.0/12"));
        final ServiceInfo.ServicePort port = new ServiceInfo.ServicePort("http", 6, 80, 30080,
            List.of(Harness.ready(B1, 8080, true)));
        net.publish(new ServiceInfo("default", "lb", "LoadBalancer", null, List.of(VIP), List.of(extIp),
            List.of(lbIp), false, 10800, false, false, List.of(port), 0, ranges));
        assertThat(net.nat.showServices()).as("show services").contains(
            "LoadBalancer IPs and NodePorts only from 203.0.113.0/24 172.16.0.0/12");

        final Harness.Pkt first = net.sendOne("uplink", Harness.fromUplink().ip4(allowed, lbIp)
            .tcp(7000, 80, SYN, 1, 0).build()).pkt();
        assertThat(first.dst()).as("a source inside a range").isEqualTo(B1);
        assertThat(net.sendOne("pod-b1", Harness.fromPod(B1).ip4(B1, first.src())
            .tcp(8080, first.sport(), SYN | ACK, 5000, 2).build()).pkt().src()).as("its SYN-ACK").isEqualTo(lbIp);
        assertThat(net.send("uplink", Harness.fromUplink().ip4(denied, lbIp).tcp(7001, 80, SYN, 1, 0).build()))
            .as("a source outside every range").isEmpty();
        assertThat(net.send("pod-client", tcp(Harness.CLIENT, lbIp, 7002, 80, SYN, "")))
            .as("a pod outside the ranges (kube-proxy checks pods too)").isEmpty();
        assertThat(net.counter("stage/nat44-new/drop/source-not-allowed")).isEqualTo(2);

        // its NodePort is closed to the same sources (stricter than kube-proxy: a cloud LB keeping the client's
        // address forwards to it), open to the allowed ones
        assertThat(net.send("uplink", Harness.fromUplink().ip4(denied, NODE_IP).tcp(7003, 30080, SYN, 1, 0)
            .build())).as("NodePort from outside the ranges").isEmpty();
        assertThat(net.counter("stage/nat44-new/drop/source-not-allowed")).isEqualTo(3);
        assertThat(net.sendOne("uplink", Harness.fromUplink().ip4(allowed, NODE_IP).tcp(7006, 30080, SYN, 1, 0)
            .build()).pkt().dst()).as("NodePort from inside a range").isEqualTo(B1);

        // externalIPs and the ClusterIP are not filtered, as with kube-proxy
        assertThat(net.sendOne("uplink", Harness.fromUplink().ip4(denied, extIp).tcp(7004, 80, SYN, 1, 0).build())
            .pkt().dst()).as("externalIP").isEqualTo(B1);
        assertThat(net.sendOne("pod-client", tcp(Harness.CLIENT, VIP, 7005, 80, SYN, "")).pkt().dst())
            .as("ClusterIP").isEqualTo(B1);

        // a flow opened while the ranges allowed it keeps going after they change (only new flows are checked)
        net.publish(new ServiceInfo("default", "lb", "LoadBalancer", null, List.of(VIP), List.of(extIp),
            List.of(lbIp), false, 10800, false, false, List.of(port), 0,
            List.of(Ip4Prefix.parse("198.18.0.0/15"))));
        assertThat(net.sendOne("uplink", Harness.fromUplink().ip4(allowed, lbIp).tcp(7000, 80, ACK, 2, 5001).build())
            .pkt().dst()).as("established flow").isEqualTo(B1);
        assertThat(net.send("uplink", Harness.fromUplink().ip4(allowed, lbIp).tcp(7010, 80, SYN, 1, 0).build()))
            .as("a new flow from the same source").isEmpty();
        assertThat(net.counter("stage/nat44-new/drop/source-not-allowed")).isEqualTo(4);

        // a range holding the node's address also lets the LB IP itself in (kube-proxy's allowFromNode)
        net.publish(new ServiceInfo("default", "lb", "LoadBalancer", null, List.of(VIP), List.of(extIp),
            List.of(lbIp), false, 10800, false, false, List.of(port), 0,
            List.of(Ip4Prefix.parse("192.168.0.0/24"))));
        assertThat(net.sendOne("uplink", Harness.fromUplink().ip4(lbIp, lbIp).tcp(7011, 80, SYN, 1, 0).build())
            .pkt().dst()).as("source = the LB IP").isEqualTo(B1);

        // no endpoint anywhere: REJECT whatever the source (kube-proxy installs no firewall chain then)
        net.publish(new ServiceInfo("default", "lb", "LoadBalancer", null, List.of(VIP), List.of(), List.of(lbIp),
            false, 10800, false, false, List.of(new ServiceInfo.ServicePort("http", 6, 80, 0, List.of())), 0, ranges));
        final Harness.Out reject = net.sendOne("uplink", Harness.fromUplink().ip4(denied, lbIp).tcp(7012, 80, SYN, 1, 0)
            .build());
        assertThat(reject.pkt().proto()).isEqualTo(1);
        assertThat(net.counter("stage/nat44-new/drop/source-not-allowed")).isEqualTo(4);
    }

    @Test
    void shouldMasqueradeAClusterIpClientFromOutsideTheClusterCidrOnly()
    {
        net = new Harness();
        net.publish(Harness.clusterIp("web", VIP, 6, 80, Harness.ready(B1, 8080, true)));
        assertThat(net.sendOne("uplink", Harness.fromUplink().ip4(EXTERNAL, VIP).tcp(7000, 80, SYN, 1, 0).build())
            .pkt().src()).as("source outside the cluster CIDR").isEqualTo(GATEWAY);
        assertThat(net.sendOne("pod-client", tcp(CLIENT, VIP, 7000, 80, SYN, "")).pkt().src())
            .as("pod source").isEqualTo(CLIENT);
    }

    @Test
    void shouldMasqueradeEveryServicePacketWithMasqueradeAll()
    {
        net = new Harness();
        final var d = dev.ferry.core.tables.NodeTables.ClusterSettings.defaults();
        net.settings = new dev.ferry.core.tables.NodeTables.ClusterSettings(d.clusterCidr(), d.serviceCidrs(), 1,
            8472, 30000, 32767, List.of(), true, List.of(), 1024, 65535, Map.of());
        net.publish(Harness.clusterIp("web", VIP, 6, 80, Harness.ready(B1, 8080, true)));
        assertThat(net.sendOne("pod-client", tcp(CLIENT, VIP, 7000, 80, SYN, "")).pkt().src()).isEqualTo(GATEWAY);
    }

    @Test
    void shouldNotMasqueradePodTrafficToNonMasqueradeCidrs()
    {
        net = new Harness();
        final var d = dev.ferry.core.tables.NodeTables.ClusterSettings.defaults();
        net.settings = new dev.ferry.core.tables.NodeTables.ClusterSettings(d.clusterCidr(), d.serviceCidrs(), 1,
            8472, 30000, 32767, List.of(), false, List.of(dev.ferry.core.route.Ip4Prefix.parse("172.16.0.0/12")),
            1024, 65535, Map.of());
        net.publish();
        final Harness.Out o = net.sendOne("pod-client", Harness.fromPod(CLIENT).ip4(CLIENT, Ip4.parse("172.20.0.1"))
            .udp(5000, 53).build());
        assertThat(o.port()).isEqualTo("uplink");
        assertThat(o.pkt().src()).isEqualTo(CLIENT);
        assertThat(net.sendOne("pod-client", Harness.fromPod(CLIENT).ip4(CLIENT, Ip4.parse("8.8.4.4")).udp(5000, 53)
            .build()).pkt().src()).isEqualTo(NODE_IP);
        assertThat(net.sendOne("pod-client", tcp(CLIENT, B1, 5000, 80, SYN, "")).pkt().src())
            .as("pod to pod is never masqueraded").isEqualTo(CLIENT);
    }

    @Test
    void shouldUseOnlyReadyEndpointsAndFallBackToServingTerminating()
    {
        net = new Harness();
        final ServiceInfo.Endpoint terminating = new ServiceInfo.Endpoint(B2, 8080, false, true, true, "n1", "", true);
        final ServiceInfo.Endpoint notServing = new ServiceInfo.Endpoint(CLIENT, 8080, false, false, true, "n1", "",
            true);
        net.publish(Harness.clusterIp("web", VIP, 17, 80, Harness.ready(B1, 8080, true), terminating, notServing));
        for (int i = 0; i < 50; i++)
        {
            assertThat(net.sendOne("pod-client", Harness.fromPod(CLIENT).ip4(CLIENT, VIP).udp(9000 + i, 80).build())
                .port()).as("only the ready endpoint").isEqualTo("pod-b1");
        }
        net.publish(Harness.clusterIp("web", VIP, 17, 80, terminating, notServing));
        for (int i = 0; i < 50; i++)
        {
            assertThat(net.sendOne("pod-client", Harness.fromPod(CLIENT).ip4(CLIENT, VIP).udp(9100 + i, 80).build())
                .port()).as("none ready: the serving, terminating one").isEqualTo("pod-b2");
        }
        net.publish(Harness.clusterIp("web", VIP, 17, 80, notServing));
        assertThat(net.sendOne("pod-client", Harness.fromPod(CLIENT).ip4(CLIENT, VIP).udp(9200, 80).build())
            .pkt().icmpType()).as("nothing usable: REJECT").isEqualTo(IcmpHeader.TYPE_DEST_UNREACHABLE);
    }

    @Test
    void shouldSendClusterTrafficOnlyToEndpointsInTopologyButLocalTrafficToLocalOnes()
    {
        // kube-proxy's CategorizeEndpoints: topology narrows clusterEndpoints, never localEndpoints
        net = new Harness();
        final ServiceInfo.Endpoint localHintedElsewhere = new ServiceInfo.Endpoint(B1, 8080, true, true, false, "n1",
            "z1", true, false);
        final ServiceInfo.Endpoint inZone = new ServiceInfo.Endpoint(B2, 8080, true, true, false, "n1", "z1", true,
            true);
        net.publish(Harness.clusterIp("web", VIP, 17, 80, localHintedElsewhere, inZone));
        for (int i = 0; i < 50; i++)
        {
            assertThat(net.sendOne("pod-client", Harness.fromPod(CLIENT).ip4(CLIENT, VIP).udp(9000 + i, 80).build())
                .port()).as("only the endpoint hinted for this zone").isEqualTo("pod-b2");
        }
        net.publish(service(VIP, List.of(), List.of(), false, true, localHintedElsewhere));
        assertThat(net.sendOne("pod-client", tcp(CLIENT, VIP, 7000, 80, SYN, "")).port())
            .as("internalTrafficPolicy Local ignores hints").isEqualTo("pod-b1");
    }

    @Test
    void shouldApplyInternalTrafficPolicyLocal()
    {
        net = new Harness();
        net.publish(service(VIP, List.of(), List.of(), false, true, Harness.ready(REMOTE_POD, 8080, false)));
        assertThat(net.send("pod-client", tcp(CLIENT, VIP, 7000, 80, SYN, ""))).isEmpty();
        assertThat(net.drops()).containsEntry("stage/nat44-new/drop/no-local-endpoint-internal", 1L);
        net.publish(service(VIP, List.of(), List.of(), false, true, Harness.ready(REMOTE_POD, 8080, false),
            Harness.ready(B2, 8080, true)));
        for (int i = 0; i < 20; i++)
        {
            assertThat(net.sendOne("pod-client", tcp(CLIENT, VIP, 7100 + i, 80, SYN, "")).port()).isEqualTo("pod-b2");
        }
    }

    @Test
    void shouldShortCircuitPodsAndMasqueradeTheNodeUnderExternalPolicyLocal()
    {
        net = new Harness();
        final int lbIp = Ip4.parse("198.51.100.60");
        net.publish(service(VIP, List.of(), List.of(lbIp), true, false, Harness.ready(B1, 8080, true)));
        final Harness.Pkt fromPod = net.sendOne("pod-client", tcp(CLIENT, lbIp, 7000, 80, SYN, "")).pkt();
        assertThat(fromPod.dst()).isEqualTo(B1);
        assertThat(fromPod.src()).as("pod traffic to an external frontend keeps its source").isEqualTo(CLIENT);
        final Harness.Pkt fromNode = net.sendOne("uplink", Harness.fromUplink().ip4(NODE_IP, lbIp)
            .tcp(7001, 80, SYN, 1, 0).build()).pkt();
        assertThat(fromNode.src()).as("the node's own traffic is masqueraded").isEqualTo(GATEWAY);
    }

    @Test
    void shouldListServicesLikeIpvsadm()
    {
        net = new Harness();
        final ServiceInfo headless = new ServiceInfo("default", "db", "ClusterIP", "headless (clusterIP: None)",
            List.of(), List.of(), List.of(), false, 10800, false, false, List.of());
        final ServiceInfo badNodePort = Harness.nodePort("bad", Ip4.parse("10.96.0.20"), 80, 40000, false,
            Harness.ready(B1, 80, true));
        net.publish(Harness.clusterIp("web", VIP, 6, 80, Harness.ready(B1, 8080, true)), headless, badNodePort);
        final String text = net.nat.showServices();
        assertThat(text).contains("TCP  10.96.0.10:80         default/web (ClusterIP)  random");
        assertThat(text).contains("  -> 10.244.1.3:8080       ready local");
        assertThat(text).contains("default/db  not proxied: headless (clusterIP: None)");
        assertThat(text).contains("nodePort 40000 outside the range 30000-32767: not installed");
        // and the out-of-range NodePort is really not served
        net.send("uplink", Harness.fromUplink().ip4(EXTERNAL, NODE_IP).tcp(5555, 40000, SYN, 1, 0).build());
        assertThat(net.counter(Nat.COUNTER_SESSIONS_CREATED)).isZero();
    }

    @Test
    void shouldNotGrowPerPacketWorkWithTheNumberOfServices()
    {
        final double small = probesPerLookup(10);
        final double large = probesPerLookup(10_000);
        assertThat(large).as("probes per frontend lookup with 10,000 Services").isLessThan(2.0);
        assertThat(large).isLessThan(small + 1.0);
    }

    private double probesPerLookup(final int services)
    {
        net = new Harness();
        final ServiceInfo[] svcs = new ServiceInfo[services];
        for (int i = 0; i < services; i++)
        {
            svcs[i] = Harness.clusterIp("s" + i, VIP + i, 17, 53, Harness.ready(B1, 53, true));
        }
        net.publish(svcs);
        for (int i = 0; i < 500; i++)
        {
            final int vip = VIP + (i * 7919) % services;
            net.sendOne("pod-client", Harness.fromPod(CLIENT).ip4(CLIENT, vip).udp(2000 + i, 53).build());
        }
        final double perLookup = (double)net.counter(Nat.COUNTER_FRONTEND_PROBES)
            / net.counter(Nat.COUNTER_FRONTEND_LOOKUPS);
        assertThat(net.lookups()).as("one conntrack lookup per new flow (the slow path looks again only after an "
            + "insert in the same vector)").isBetween(500L, 1000L);
        assertThat(net.poolFull()).isTrue();
        System.out.printf("services=%d lookups=%d probes=%d probes/lookup=%.3f%n", services,
            net.counter(Nat.COUNTER_FRONTEND_LOOKUPS), net.counter(Nat.COUNTER_FRONTEND_PROBES), perLookup);
        net.close();
        net = null;
        return perLookup;
    }
}
