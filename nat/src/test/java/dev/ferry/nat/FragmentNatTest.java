package dev.ferry.nat;

import dev.ferry.core.header.Ip4Header;
import dev.ferry.core.header.UdpHeader;
import dev.ferry.core.packet.FrameBuilder;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.tables.ServiceInfo;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

import static dev.ferry.nat.Harness.B1;
import static dev.ferry.nat.Harness.B2;
import static dev.ferry.nat.Harness.CLIENT;
import static dev.ferry.nat.Harness.EXTERNAL;
import static dev.ferry.nat.Harness.NODE_IP;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * IPv4 fragments through the NAT (issue 13, class 5): every fragment of a datagram gets its flow's translation, in
 * any arrival order, and the receiver can reassemble it (one IP id, contiguous offsets, the L4 checksum over the
 * whole datagram valid for the translated addresses). Hostile fragment patterns are dropped and counted.
 */
class FragmentNatTest
{
    static final int VIP = Ip4.parse("10.96.0.10");
    private Harness net;

    @AfterEach
    void poolIsFullAgain()
    {
        if (net != null)
        {
            assertThat(net.counter(Nat.COUNTER_FRAGMENTS_HELD)).isZero();
            assertThat(net.poolFull()).as("no buffer leaked or still held").isTrue();
            net.close();
        }
    }

    static byte[] payload(final int n, final int seed)
    {
        final byte[] b = new byte[n];
        for (int i = 0; i < n; i++)
        {
            b[i] = (byte)(i * 31 + seed);
        }
        return b;
    }

    static List<byte[]> udpFragments(final FrameBuilder b, final int id, final int sport, final int dport,
        final byte[] data)
    {
        return FrameBuilder.fragments(b.id(id).udp(sport, dport).payload(data).build(), 1400);
    }

    /** Sends fragments as one vector in the given order, each from {@code port}. */
    List<Harness.Out> sendAll(final String port, final List<byte[]> frames)
    {
        final Object[] args = new Object[frames.size() * 2];
        for (int i = 0; i < frames.size(); i++)
        {
            args[2 * i] = port;
            args[2 * i + 1] = frames.get(i);
        }
        return net.sendVector(args);
    }

    /** The receiver's view: reassembles the fragments that left on one port into the UDP datagram they carry. */
    record Datagram(int src, int dst, int sport, int dport, byte[] data, boolean checksumValid)
    {
    }

    static Datagram reassemble(final List<Harness.Out> out, final String port)
    {
        assertThat(out).isNotEmpty().allSatisfy(o -> assertThat(o.port()).isEqualTo(port));
        final List<Harness.Pkt> pkts = new ArrayList<>();
        int id = -1;
        int total = 0;
        for (final Harness.Out o : out)
        {
            final Harness.Pkt p = o.pkt();
            assertThat(p.ip.checksumValid()).as("IP header checksum of every fragment").isTrue();
            id = id < 0 ? p.ip.identification() : id;
            assertThat(p.ip.identification()).isEqualTo(id);
            assertThat(p.src()).isEqualTo(out.get(0).pkt().src());
            assertThat(p.dst()).isEqualTo(out.get(0).pkt().dst());
            if ((p.ip.flagsAndFragment() & Ip4Header.FLAG_MF) == 0)
            {
                total = ((p.ip.flagsAndFragment() & 0x1fff) << 3) + p.ip.payloadLength();
            }
            pkts.add(p);
        }
        assertThat(total).as("last fragment seen").isPositive();
        final byte[] whole = new byte[20 + total];
        int covered = 0;
        for (final Harness.Pkt p : pkts)
        {
            final int off = (p.ip.flagsAndFragment() & 0x1fff) << 3;
            MemorySegment.copy(p.seg, p.off + p.ip.headerLength(), MemorySegment.ofArray(whole), 20L + off,
                p.ip.payloadLength());
            covered += p.ip.payloadLength();
        }
        assertThat(covered).as("fragments cover the datagram exactly once").isEqualTo(total);
        final MemorySegment seg = MemorySegment.ofArray(whole);
        final Harness.Pkt first = pkts.get(0);
        new Ip4Header().wrap(seg, 0).versionAndHeaderLength(20).totalLength(20 + total).protocol(17)
            .src(first.src()).dst(first.dst()).updateChecksum();
        final UdpHeader udp = new UdpHeader().wrap(seg, 20);
        final byte[] data = new byte[total - 8];
        System.arraycopy(whole, 28, data, 0, data.length);
        return new Datagram(first.src(), first.dst(), udp.srcPort(), udp.dstPort(), data,
            udp.checksumValid(first.src(), first.dst()));
    }

    @Test
    void shouldDnatEveryFragmentOfABigUdpDatagramToAClusterIpAndUnDnatTheFragmentedReply()
    {
        net = new Harness();
        net.publish(Harness.clusterIp("dns", VIP, 17, 53, Harness.ready(B2, 5353, true)));
        final byte[] query = payload(4000, 1);
        final List<byte[]> q = udpFragments(Harness.fromPod(CLIENT).ip4(CLIENT, VIP), 0x1234, 40000, 53, query);
        assertThat(q).hasSize(3);
        final Datagram in = reassemble(sendAll("pod-client", q), "pod-b2");
        assertThat(in.dst()).isEqualTo(B2);
        assertThat(in.src()).isEqualTo(CLIENT);
        assertThat(in.dport()).isEqualTo(5353);
        assertThat(in.data()).isEqualTo(query);
        assertThat(in.checksumValid()).isTrue();

        final byte[] answer = payload(5000, 2);
        final List<byte[]> a = udpFragments(Harness.fromPod(B2).ip4(B2, CLIENT), 0x777, 5353, 40000, answer);
        final Datagram back = reassemble(sendAll("pod-b2", a), "pod-client");
        assertThat(back.src()).isEqualTo(VIP);
        assertThat(back.sport()).isEqualTo(53);
        assertThat(back.dport()).isEqualTo(40000);
        assertThat(back.data()).isEqualTo(answer);
        assertThat(back.checksumValid()).isTrue();
        assertThat(net.counter(Nat.COUNTER_FRAGMENT_CONTEXTS)).as("complete datagrams free their context").isZero();
    }

    @Test
    void shouldTranslateFragmentsAmongBatchedLookupsWithoutReusingAHashTheBatchDidNotCompute()
    {
        // nat44-in's batch skips fragments: a first fragment (of a new flow) reaches the lookup with no hash kept for it
        net = new Harness(Nat.Options.defaults(42), 100_000, false);
        net.map.batching = true;
        net.publish(Harness.clusterIp("dns", VIP, 17, 53, Harness.ready(B2, 5353, true)));
        net.sendOne("pod-client", Harness.fromPod(CLIENT).ip4(CLIENT, VIP).udp(40000, 53).build());
        final byte[] query = payload(3000, 4);
        final List<byte[]> q = udpFragments(Harness.fromPod(CLIENT).ip4(CLIENT, VIP), 0x4321, 40001, 53, query);
        final List<Harness.Out> out = net.sendVector(
            "pod-client", Harness.fromPod(CLIENT).ip4(CLIENT, VIP).udp(40000, 53).build(),
            "pod-client", q.get(0), "pod-client", q.get(1), "pod-client", q.get(2),
            "pod-b2", Harness.fromPod(B2).ip4(B2, CLIENT).udp(5353, 40000).build());
        final Datagram in = reassemble(out.stream().filter(o -> o.pkt().ip.isFragment()).toList(), "pod-b2");
        assertThat(in.dst()).isEqualTo(B2);
        assertThat(in.dport()).isEqualTo(5353);
        assertThat(in.data()).isEqualTo(query);
        assertThat(in.checksumValid()).isTrue();
        assertThat(out).filteredOn(o -> !o.pkt().ip.isFragment()).extracting(Harness.Out::port)
            .containsExactly("pod-b2", "pod-client");
        assertThat(net.map.hashedLookups).as("the unfragmented packets reused their batch's hashes").isPositive();
        assertThat(net.drops()).isEmpty();
    }

    @Test
    void shouldHoldFragmentsThatArriveBeforeTheFirstAndTranslateThemWhenItComes()
    {
        net = new Harness();
        net.publish(Harness.clusterIp("dns", VIP, 17, 53, Harness.ready(B2, 5353, true)));
        final byte[] query = payload(4000, 3);
        final List<byte[]> q = udpFragments(Harness.fromPod(CLIENT).ip4(CLIENT, VIP), 0x4321, 40001, 53, query);
        // the last one, then the middle one, each in its own vector: nothing may leave yet
        assertThat(net.send("pod-client", q.get(2))).isEmpty();
        assertThat(net.send("pod-client", q.get(1))).isEmpty();
        assertThat(net.counter(Nat.COUNTER_FRAGMENTS_HELD)).isEqualTo(2);
        final List<Harness.Out> out = net.send("pod-client", q.get(0));
        assertThat(out).hasSize(3);
        final Datagram in = reassemble(out, "pod-b2");
        assertThat(in.dst()).isEqualTo(B2);
        assertThat(in.data()).isEqualTo(query);
        assertThat(in.checksumValid()).isTrue();
    }

    @Test
    void shouldTranslateFragmentsInAnyOrderWithinOneVector()
    {
        net = new Harness();
        net.publish(Harness.clusterIp("dns", VIP, 17, 53, Harness.ready(B2, 5353, true)));
        final byte[] query = payload(9000, 4);
        final List<byte[]> q = new ArrayList<>(udpFragments(Harness.fromPod(CLIENT).ip4(CLIENT, VIP), 7, 40002, 53,
            query));
        Collections.reverse(q);
        final Datagram in = reassemble(sendAll("pod-client", q), "pod-b2");
        assertThat(in.dst()).isEqualTo(B2);
        assertThat(in.data()).isEqualTo(query);
        assertThat(in.checksumValid()).isTrue();
    }

    @Test
    void shouldMasqueradeFragmentedEgressAndRestoreTheFragmentedReply()
    {
        net = new Harness();
        net.publish();
        final byte[] data = payload(3000, 5);
        final List<Harness.Out> out = sendAll("pod-client", udpFragments(Harness.fromPod(CLIENT).ip4(CLIENT,
            EXTERNAL), 99, 41000, 9999, data));
        final Datagram egress = reassemble(out, "uplink");
        assertThat(egress.src()).as("no fragment leaks the pod's address").isEqualTo(NODE_IP);
        assertThat(egress.checksumValid()).isTrue();
        final byte[] reply = payload(3500, 6);
        final Datagram back = reassemble(sendAll("uplink", udpFragments(Harness.fromUplink().ip4(EXTERNAL, NODE_IP),
            5, 9999, egress.sport(), reply)), "pod-client");
        assertThat(back.dst()).isEqualTo(CLIENT);
        assertThat(back.dport()).isEqualTo(41000);
        assertThat(back.data()).isEqualTo(reply);
        assertThat(back.checksumValid()).isTrue();
    }

    @Test
    void shouldNotTakeAUdpDatagramFromPort1ToPort0ForUntranslatedIcmp()
    {
        // nat44-frag marks the fragments of ICMP it does not translate with ports 1 -> 0 in aux: a pod's UDP datagram
        // with exactly those ports must still be masqueraded whole, not leave with the pod's address
        net = new Harness();
        net.publish();
        final List<Harness.Out> out = sendAll("pod-client", udpFragments(Harness.fromPod(CLIENT).ip4(CLIENT,
            EXTERNAL), 98, 1, 0, payload(3000, 7)));
        assertThat(out).as("fragments forwarded").hasSizeGreaterThan(1)
            .allSatisfy(o -> assertThat(o.pkt().src()).as("no fragment leaks the pod's address").isEqualTo(NODE_IP));
    }

    @Test
    void shouldDnatFragmentsToANodePortAndRestoreTheReply()
    {
        net = new Harness();
        net.publish(new ServiceInfo("default", "np", "NodePort", null, List.of(VIP), List.of(), List.of(), false,
            ServiceInfo.DEFAULT_AFFINITY_TIMEOUT, false, false,
            List.of(new ServiceInfo.ServicePort("", 17, 53, 30053, List.of(Harness.ready(B1, 5353, true))))));
        final byte[] data = payload(2500, 7);
        final Datagram in = reassemble(sendAll("uplink", udpFragments(Harness.fromUplink().ip4(EXTERNAL, NODE_IP), 11,
            42000, 30053, data)), "pod-b1");
        assertThat(in.dst()).isEqualTo(B1);
        assertThat(in.dport()).isEqualTo(5353);
        assertThat(in.data()).isEqualTo(data);
        assertThat(in.checksumValid()).isTrue();
        final byte[] reply = payload(2600, 8);
        final Datagram back = reassemble(sendAll("pod-b1", udpFragments(Harness.fromPod(B1).ip4(B1, in.src()), 12,
            5353, in.sport(), reply)), "uplink");
        assertThat(back.src()).isEqualTo(NODE_IP);
        assertThat(back.dst()).isEqualTo(EXTERNAL);
        assertThat(back.sport()).isEqualTo(30053);
        assertThat(back.dport()).isEqualTo(42000);
        assertThat(back.checksumValid()).isTrue();
    }

    @Test
    void shouldForwardPodToPodFragmentsUnchanged()
    {
        net = new Harness();
        net.publish();
        final List<byte[]> f = udpFragments(Harness.fromPod(B1).ip4(B1, B2), 21, 1000, 2000, payload(3000, 9));
        final List<Harness.Out> out = sendAll("pod-b1", f);
        assertThat(out).as(net.drops().toString()).hasSize(f.size());
        for (int i = 0; i < f.size(); i++)
        {
            final byte[] sentIp = java.util.Arrays.copyOfRange(f.get(i), 34, f.get(i).length);
            final byte[] outIp = java.util.Arrays.copyOfRange(out.get(i).bytes(), 34, out.get(i).bytes().length);
            assertThat(outIp).as("payload of fragment " + i).isEqualTo(sentIp);
            assertThat(out.get(i).pkt().src()).isEqualTo(B1);
            assertThat(out.get(i).pkt().dst()).isEqualTo(B2);
        }
    }

    @Test
    void shouldNeverSendAFragmentOfARejectedServiceDatagramUntranslated()
    {
        net = new Harness();
        net.publish(Harness.clusterIp("empty", VIP, 17, 53));
        final List<byte[]> q = udpFragments(Harness.fromPod(CLIENT).ip4(CLIENT, VIP), 31, 40003, 53,
            payload(4000, 10));
        final List<Harness.Out> out = sendAll("pod-client", q);
        // the first fragment is REJECTed (ICMP port unreachable to the client); the others have no flow
        assertThat(out).hasSize(1);
        assertThat(out.get(0).pkt().proto()).isEqualTo(Ip4Header.PROTO_ICMP);
        assertThat(net.counter("stage/nat44-new/drop/fragment-no-flow")).isEqualTo(2);
    }

    @Test
    void shouldDropADatagramWithOverlappingFragments()
    {
        net = new Harness();
        net.publish(Harness.clusterIp("dns", VIP, 17, 53, Harness.ready(B2, 5353, true)));
        final List<byte[]> q = udpFragments(Harness.fromPod(CLIENT).ip4(CLIENT, VIP), 41, 40004, 53,
            payload(4000, 11));
        // a fragment at offset 1392 overlaps the first (0..1400)
        final byte[] overlap = q.get(1).clone();
        new Ip4Header().wrap(MemorySegment.ofArray(overlap), 14).flagsAndFragment(Ip4Header.FLAG_MF | 1392 >> 3)
            .updateChecksum();
        assertThat(net.send("pod-client", overlap)).isEmpty();
        assertThat(net.send("pod-client", q.get(0))).isEmpty();
        assertThat(sendAll("pod-client", q.subList(1, 3))).isEmpty();
        assertThat(net.counter("stage/nat44-frag/drop/overlap")).isEqualTo(1);
        assertThat(net.counter("stage/nat44-frag/drop/datagram-dropped")).isEqualTo(3);
        net.clock.advance(3_000_000_000L);
        net.send("pod-client", Harness.fromPod(CLIENT).ip4(CLIENT, B1).udp(1, 2).build());
        assertThat(net.counter(Nat.COUNTER_FRAGMENT_CONTEXTS)).isZero();
    }

    @Test
    void shouldNotLetADuplicateFirstFragmentChangeThePorts()
    {
        net = new Harness();
        net.publish(Harness.clusterIp("dns", VIP, 17, 53, Harness.ready(B2, 5353, true)));
        final List<byte[]> q = udpFragments(Harness.fromPod(CLIENT).ip4(CLIENT, VIP), 51, 40005, 53,
            payload(4000, 12));
        final List<byte[]> other = udpFragments(Harness.fromPod(CLIENT).ip4(CLIENT, VIP), 51, 40006, 53,
            payload(4000, 12));
        assertThat(net.send("pod-client", q.get(0))).hasSize(1);
        assertThat(net.send("pod-client", other.get(0))).as("a second first fragment").isEmpty();
        assertThat(net.counter("stage/nat44-frag/drop/duplicate")).isEqualTo(1);
        final List<Harness.Out> rest = sendAll("pod-client", q.subList(1, 3));
        assertThat(rest).hasSize(2).allSatisfy(o -> assertThat(o.pkt().dst()).isEqualTo(B2));
    }

    @Test
    void shouldDropTinyFirstFragmentsAndTcpFragmentsThatWouldRewriteTheHeader()
    {
        net = new Harness();
        net.publish(Harness.clusterIp("web", VIP, 6, 80, Harness.ready(B2, 8080, true)));
        final byte[] syn = Harness.fromPod(CLIENT).ip4(CLIENT, VIP).id(61).tcp(40007, 80, 0x02, 1, 0)
            .payload(payload(64, 13)).build();
        // a first fragment of 8 bytes: the ports, but not the TCP flags (RFC 1858)
        final List<byte[]> tiny = FrameBuilder.fragments(syn, 8);
        assertThat(net.send("pod-client", tiny.get(0))).isEmpty();
        // a TCP fragment at offset 8 would overwrite the flags on reassembly
        assertThat(net.send("pod-client", tiny.get(1))).isEmpty();
        assertThat(net.counter("stage/nat44-frag/drop/tiny")).isEqualTo(2);
    }

    @Test
    void shouldDropADatagramOfTooManyFragments()
    {
        net = new Harness(Nat.Options.defaults(42).fragments(new Nat.FragmentLimits(16, 4, 8, 3000)), 1000);
        net.publish(Harness.clusterIp("dns", VIP, 17, 53, Harness.ready(B2, 5353, true)));
        final List<byte[]> q = FrameBuilder.fragments(Harness.fromPod(CLIENT).ip4(CLIENT, VIP).id(71)
            .udp(40008, 53).payload(payload(200, 14)).build(), 32);
        assertThat(q).hasSize(7);
        final List<Harness.Out> out = sendAll("pod-client", q);
        assertThat(out).as("the first four pass, then the datagram is dropped").hasSize(4);
        assertThat(net.counter("stage/nat44-frag/drop/too-many")).isEqualTo(1);
        assertThat(net.counter("stage/nat44-frag/drop/datagram-dropped")).isEqualTo(2);
    }

    @Test
    void shouldDropHeldFragmentsWhenTheirFirstNeverComes()
    {
        net = new Harness();
        net.publish(Harness.clusterIp("dns", VIP, 17, 53, Harness.ready(B2, 5353, true)));
        final List<byte[]> q = udpFragments(Harness.fromPod(CLIENT).ip4(CLIENT, VIP), 81, 40009, 53,
            payload(4000, 15));
        assertThat(sendAll("pod-client", q.subList(1, 3))).isEmpty();
        assertThat(net.counter(Nat.COUNTER_FRAGMENTS_HELD)).isEqualTo(2);
        net.clock.advance(2_999_000_000L);
        net.send("pod-client", Harness.fromPod(CLIENT).ip4(CLIENT, B1).udp(1, 2).build());
        assertThat(net.counter(Nat.COUNTER_FRAGMENTS_HELD)).as("not yet").isEqualTo(2);
        net.clock.advance(1_000_000L);
        net.send("pod-client", Harness.fromPod(CLIENT).ip4(CLIENT, B1).udp(1, 2).build());
        assertThat(net.counter("stage/nat44-in/drop/fragment-timeout")).isEqualTo(2);
        assertThat(net.counter(Nat.COUNTER_FRAGMENT_TIMEOUTS)).isEqualTo(1);
        assertThat(net.counter(Nat.COUNTER_FRAGMENT_CONTEXTS)).isZero();
    }

    @Test
    void shouldBoundHeldFragmentsAndContexts()
    {
        net = new Harness(Nat.Options.defaults(42).fragments(new Nat.FragmentLimits(4, 64, 3, 3000)), 1000);
        net.publish(Harness.clusterIp("dns", VIP, 17, 53, Harness.ready(B2, 5353, true)));
        for (int id = 0; id < 6; id++)
        {
            final List<byte[]> q = udpFragments(Harness.fromPod(CLIENT).ip4(CLIENT, VIP), 100 + id, 40010, 53,
                payload(2000, id));
            assertThat(net.send("pod-client", q.get(1))).isEmpty();
        }
        assertThat(net.counter(Nat.COUNTER_FRAGMENTS_HELD)).isEqualTo(3);
        assertThat(net.counter(Nat.COUNTER_FRAGMENT_CONTEXTS)).isEqualTo(4);
        assertThat(net.counter("stage/nat44-frag/drop/hold-full")).isEqualTo(1);
        assertThat(net.counter("stage/nat44-frag/drop/table-full")).isEqualTo(2);
        net.clock.advance(3_000_000_000L);
        net.send("pod-client", Harness.fromPod(CLIENT).ip4(CLIENT, B1).udp(1, 2).build());
        assertThat(net.counter(Nat.COUNTER_FRAGMENT_CONTEXTS)).isZero();
    }

    @Test
    void shouldDropAFragmentThatEndsBeyond64KInIp4Input()
    {
        net = new Harness();
        net.publish();
        final byte[] f = udpFragments(Harness.fromPod(CLIENT).ip4(CLIENT, B1), 91, 1, 2, payload(3000, 16)).get(1);
        new Ip4Header().wrap(MemorySegment.ofArray(f), 14).flagsAndFragment(0x1fff).updateChecksum();
        assertThat(net.send("pod-client", f)).isEmpty();
        assertThat(net.counter("stage/ip4-input/drop/fragment-beyond-64k")).isEqualTo(1);
    }
}
