package dev.ferry.core;

import dev.ferry.core.graph.GraphAssembly;
import dev.ferry.core.header.ArpHeader;
import dev.ferry.core.header.EthernetHeader;
import dev.ferry.core.packet.FrameBuilder;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.route.Ip4Prefix;
import dev.ferry.core.stage.EthernetInput;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.tables.TablesPublisher;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 13, class 3: a pod port accepts only the pod's own Ethernet source and IPv4 source (ARP: sender MAC and
 * IP, 0.0.0.0 allowed for a probe), as Calico and Cilium bind a pod's interface to its addresses. pod-0 sends as
 * pod-1, as its node, as a public address, with pod-1's MAC, and ARPs as pod-1: each is dropped and counted.
 */
class PodSourceValidationTest
{
    private static final Ip4Prefix POD_CIDR = Ip4Prefix.parse("10.244.1.0/24");
    private static final long GATEWAY_MAC = Ip4.parseMac("0a:58:0a:f4:01:01");
    private static final int NODE_IP = Ip4.parse("192.168.1.10");

    private PacketPool pool;
    private Counters counters;
    private Graph graph;
    private Ports ports;
    private int entry;
    private final List<byte[]> sent = new ArrayList<>();

    @BeforeEach
    void buildNode()
    {
        pool = new PacketPool(256);
        counters = Counters.inMemory(4096);
        ports = new Ports();
        ports.add("uplink", Ports.Kind.UPLINK, Ip4.parseMac("02:00:00:00:00:01"));
        final List<NodeTables.PodInfo> pods = new ArrayList<>();
        for (int p = 0; p < 2; p++)
        {
            ports.add("pod-" + p, Ports.Kind.POD, GATEWAY_MAC);
            pods.add(new NodeTables.PodInfo("t", "pod-" + p, podIp(p), Ip4.podMac(podIp(p)), "pod-" + p));
        }
        ports.add("pod-unbound", Ports.Kind.POD, GATEWAY_MAC);
        final NodeTables.NodeInfo node = new NodeTables.NodeInfo("n1", List.of(NODE_IP), POD_CIDR,
            POD_CIDR.host(1), GATEWAY_MAC, Ip4.parseMac("02:00:00:00:00:01"), Ip4.parseMac("9e:00:00:00:00:01"),
            NODE_IP, Ip4.parse("192.168.1.1"), Ip4Prefix.parse("192.168.1.0/24"), 1500);
        final TablesPublisher publisher = new TablesPublisher(ports, true);
        publisher.publish(new NodeTables(1, node, NodeTables.ClusterSettings.defaults(), pods, List.of(), List.of(),
            Map.of()));
        graph = GraphAssembly.of(pool, counters, new ManualClock(1L), ports, publisher, publisher.ref())
            .sink(h ->
            {
                sent.add(pool.toArray(h));
                pool.free(h);
            }).build();
        entry = graph.indexOf(EthernetInput.NAME);
    }

    @AfterEach
    void close()
    {
        assertThat(pool.available()).as("no buffer leaked").isEqualTo(pool.capacity());
        pool.close();
        counters.close();
    }

    private static int podIp(final int p)
    {
        return POD_CIDR.host(10 + p);
    }

    private void send(final String port, final byte[] frame)
    {
        final int h = pool.allocate();
        pool.write(h, frame, 0, frame.length);
        pool.rxPort(h, ports.idOf(port));
        graph.input(entry, h);
        graph.run();
    }

    private static byte[] udp(final long mac, final int src, final int dst)
    {
        return new FrameBuilder().eth(mac, GATEWAY_MAC).ip4(src, dst).udp(40000, 53).payload(new byte[8]).build();
    }

    private long spoofed()
    {
        return counters.get("stage/ip4-input/drop/pod-source-spoofed");
    }

    @Test
    void shouldForwardAPodsOwnTraffic()
    {
        send("pod-0", udp(Ip4.podMac(podIp(0)), podIp(0), podIp(1)));
        assertThat(sent).as("pod-0 to pod-1, its own addresses: forwarded").hasSize(1);
        assertThat(spoofed()).isZero();
    }

    @Test
    void shouldDropAPodSendingAsAnotherPod()
    {
        send("pod-0", udp(Ip4.podMac(podIp(0)), podIp(1), Ip4.parse("10.244.1.99")));
        send("pod-0", udp(Ip4.podMac(podIp(1)), podIp(1), Ip4.parse("10.244.1.99")));
        send("pod-0", udp(Ip4.podMac(podIp(1)), podIp(0), podIp(1)));
        assertThat(sent).isEmpty();
        assertThat(spoofed()).as("pod-1's IP; pod-1's IP and MAC; pod-1's MAC").isEqualTo(3);
    }

    @Test
    void shouldDropAPodSendingAsItsNodeOrAPublicAddressOrUnspecified()
    {
        send("pod-0", udp(Ip4.podMac(podIp(0)), NODE_IP, podIp(1)));
        send("pod-0", udp(Ip4.podMac(podIp(0)), Ip4.parse("8.8.8.8"), podIp(1)));
        send("pod-0", udp(Ip4.podMac(podIp(0)), 0, -1));
        assertThat(sent).isEmpty();
        assertThat(spoofed()).as("as the node, as 8.8.8.8, as 0.0.0.0 to broadcast").isEqualTo(3);
    }

    @Test
    void shouldDropEverythingFromAPodPortNoPodIsBoundTo()
    {
        send("pod-unbound", udp(Ip4.podMac(podIp(5)), podIp(5), podIp(1)));
        assertThat(sent).isEmpty();
        assertThat(spoofed()).isEqualTo(1);
    }

    @Test
    void shouldNotCheckTheUplink()
    {
        send("uplink", new FrameBuilder().eth(Ip4.parseMac("02:00:00:00:00:99"), Ip4.parseMac("02:00:00:00:00:01"))
            .ip4(Ip4.parse("192.168.1.50"), podIp(1)).udp(40000, 53).payload(new byte[8]).build());
        assertThat(spoofed()).isZero();
        assertThat(sent).hasSize(1);
    }

    @Test
    void shouldDropPodTrafficToMartianDestinations()
    {
        final long mac0 = Ip4.podMac(podIp(0));
        for (final String dst : List.of("255.255.255.255", "224.0.0.251", "239.1.2.3", "240.0.0.1", "127.0.0.1",
            "0.1.2.3"))
        {
            send("pod-0", udp(mac0, podIp(0), Ip4.parse(dst)));
        }
        assertThat(sent).as("nothing leaves, in particular not masqueraded out of the uplink").isEmpty();
        assertThat(counters.get("stage/ip4-input/drop/pod-martian-destination")).isEqualTo(6);
        assertThat(spoofed()).isZero();
    }

    @Test
    void shouldNotRouteUnicastIpv4InAnEthernetBroadcastFrame()
    {
        send("pod-0", new FrameBuilder().eth(Ip4.podMac(podIp(0)), EthernetHeader.BROADCAST)
            .ip4(podIp(0), podIp(1)).udp(40000, 53).payload(new byte[8]).build());
        send("uplink", new FrameBuilder().eth(Ip4.parseMac("02:00:00:00:00:99"), EthernetHeader.BROADCAST)
            .ip4(Ip4.parse("192.168.1.50"), podIp(1)).udp(40000, 53).payload(new byte[8]).build());
        assertThat(sent).isEmpty();
        assertThat(counters.get("stage/ip4-input/drop/l2-broadcast")).isEqualTo(2);
    }

    @Test
    void shouldSendNoIcmpErrorForASubnetBroadcast()
    {
        // TTL 1 toward the pod CIDR's broadcast address: no time-exceeded goes back
        send("pod-0", new FrameBuilder().eth(Ip4.podMac(podIp(0)), GATEWAY_MAC).ip4(podIp(0),
            Ip4.parse("10.244.1.255")).ttl(1).udp(40000, 53).payload(new byte[8]).build());
        // from the underlay, toward the underlay subnet's broadcast address
        send("uplink", new FrameBuilder().eth(Ip4.parseMac("02:00:00:00:00:99"), Ip4.parseMac("02:00:00:00:00:01"))
            .ip4(Ip4.parse("192.168.1.50"), Ip4.parse("192.168.1.255")).ttl(1).udp(40000, 53)
            .payload(new byte[8]).build());
        assertThat(sent).as("no ICMP error").isEmpty();
        assertThat(counters.get("stage/icmp-error/drop/not-unicast")).isEqualTo(2);
    }

    private static byte[] arp(final long ethSrc, final long senderMac, final int senderIp, final int target)
    {
        final byte[] f = new byte[42];
        final MemorySegment m = MemorySegment.ofArray(f);
        new EthernetHeader().wrap(m, 0).dst(EthernetHeader.BROADCAST).src(ethSrc).etherType(EthernetHeader.TYPE_ARP);
        new ArpHeader().wrap(m, 14).ethernetIp4().operation(ArpHeader.OP_REQUEST).senderMac(senderMac)
            .senderIp(senderIp).targetMac(0).targetIp(target);
        return f;
    }

    @Test
    void shouldAnswerAPodsOwnArpAndAProbeButNotArpAsAnotherPod()
    {
        final long mac0 = Ip4.podMac(podIp(0));
        final long mac1 = Ip4.podMac(podIp(1));
        send("pod-0", arp(mac0, mac0, podIp(0), POD_CIDR.host(1)));
        assertThat(sent).as("who-has gateway from pod-0 itself: answered").hasSize(1);
        send("pod-0", arp(mac0, mac0, 0, POD_CIDR.host(1)));
        assertThat(sent).as("a probe from 0.0.0.0: answered").hasSize(2);

        send("pod-0", arp(mac0, mac0, podIp(1), POD_CIDR.host(1)));
        send("pod-0", arp(mac0, mac1, podIp(0), POD_CIDR.host(1)));
        send("pod-0", arp(mac1, mac0, podIp(0), POD_CIDR.host(1)));
        assertThat(sent).as("sender IP, sender MAC or Ethernet source of pod-1: no answer").hasSize(2);
        assertThat(counters.get("stage/arp/drop/pod-source-spoofed")).isEqualTo(3);
    }
}
