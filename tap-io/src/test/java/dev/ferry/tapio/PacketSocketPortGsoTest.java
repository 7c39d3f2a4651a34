package dev.ferry.tapio;

import dev.ferry.core.Counters;
import dev.ferry.core.ManualClock;
import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;
import dev.ferry.core.gso.TcpSegmenter;
import dev.ferry.core.header.Checksum;
import dev.ferry.core.header.Wire;
import dev.ferry.core.packet.FrameBuilder;
import dev.ferry.core.route.Ip4;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The uplink's UDP segmentation offload on real veths (issue 12 item 3): a run of VXLAN-sized datagrams to one
 * peer leaves as one {@code sendmmsg} message (one UDP_L4 superframe) and arrives whole at the other end of the
 * veth (veth takes UDP GSO), where a kernel UDP socket gets every datagram byte-exact and another packet-socket
 * port splits it back into the frames that were queued.
 */
@Tag("netns")
class PacketSocketPortGsoTest
{
    static final String NS = "ferry-uso-c";
    static final String OURS = "ferry-uso-v0";
    static final String PEER = "ferry-uso-v1";
    static final String A = "ferry-uso-a";
    static final String B = "ferry-uso-b";
    static final long OUR_MAC = Ip4.parseMac("02:fe:00:00:05:02");
    static final long B_MAC = Ip4.parseMac("02:fe:00:00:05:0b");
    static final int PEER_IP = Ip4.parse("10.199.6.1");
    static final int OUR_IP = Ip4.parse("10.199.6.2");
    static final int VXLAN_PORT = 8472;
    static final int SEGMENTS = 40;
    static final int SEGMENT_PAYLOAD = 1400;
    static final int LAST_PAYLOAD = 333;

    private final PacketPool pool = new PacketPool(1024, PacketPool.DEFAULT_BUFFER_SIZE, PacketPool.DEFAULT_HEADROOM,
        4);
    private final Counters counters = Counters.inMemory(256);
    private final ManualClock clock = new ManualClock(1_000_000_000L);
    private final PacketVector v = new PacketVector();
    private final List<Integer> lastFlags = new ArrayList<>();

    @BeforeEach
    void root()
    {
        Netns.assumeRoot();
    }

    @AfterEach
    void poolIsFullAgain()
    {
        assertThat(pool.available()).as("buffers leaked").isEqualTo(pool.capacity());
        pool.close();
        counters.close();
    }

    @Test
    void shouldSendARunAsOneSuperframeThatAKernelSocketReceivesByteExact() throws Exception
    {
        Netns.create(NS);
        Process receiver = null;
        try
        {
            Netns.deleteLink(OURS);
            Netns.must("ip", "link", "add", OURS, "type", "veth", "peer", "name", PEER);
            Netns.disableIpv6(OURS);
            Netns.must("ip", "link", "set", PEER, "netns", NS);
            Netns.must("ip", "-n", NS, "addr", "add", "10.199.6.1/24", "dev", PEER);
            Netns.must("ip", "-n", NS, "link", "set", PEER, "up");
            Netns.must("ip", "link", "set", OURS, "up");
            final String link = Netns.must("ip", "-n", NS, "-o", "link", "show", PEER);
            final long peerMac = Ip4.parseMac(link.substring(link.indexOf("link/ether ") + 11).substring(0, 17));

            // a plain kernel UDP socket in the namespace prints each datagram it gets as one hex line
            receiver = Netns.startInNs(NS, "timeout", "20", "python3", "-u", "-c",
                "import socket\n"
                    + "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                    + "s.bind(('10.199.6.1', " + VXLAN_PORT + "))\n"
                    + "s.settimeout(10)\n"
                    + "print('ready', flush=True)\n"
                    + "for _ in range(" + SEGMENTS + "):\n"
                    + "    print(s.recv(65536).hex(), flush=True)\n");
            final BufferedReader lines = new BufferedReader(new InputStreamReader(receiver.getInputStream(),
                StandardCharsets.US_ASCII));
            assertThat(lines.readLine()).isEqualTo("ready");

            try (PacketSocketPort port = PacketSocketPort.open(OURS, 7, pool, counters, clock,
                new PacketSocketPort.Options()))
            {
                assertThat(port.offloads()).as("PACKET_VNET_HDR taken").isTrue();
                final List<byte[]> payloads = payloads(new Random(12));
                for (int k = 0; k < SEGMENTS; k++)
                {
                    queue(port, datagram(OUR_MAC, peerMac, OUR_IP, PEER_IP, 0, payloads.get(k)));
                }
                // another flow right behind the run goes out on its own
                queue(port, new FrameBuilder().eth(OUR_MAC, peerMac).ip4(OUR_IP, PEER_IP).df(true).udp(40001, 9)
                    .payload(new byte[100]).build());
                port.flush();

                assertThat(counters.get("port/" + OURS + "/tx-gso-frames")).as("one superframe").isEqualTo(1);
                assertThat(counters.get("port/" + OURS + "/tx-gso-segments")).isEqualTo(SEGMENTS);
                assertThat(port.counters().txPackets()).as("frames, not messages").isEqualTo(SEGMENTS + 1);
                assertThat(port.counters().txErrorCount() + port.counters().txDroppedCount()).isZero();
                for (int k = 0; k < SEGMENTS; k++)
                {
                    final String got = lines.readLine();
                    assertThat(got).as("datagram %d", k).isEqualTo(HexFormat.of().formatHex(payloads.get(k)));
                }
            }
        }
        finally
        {
            if (receiver != null)
            {
                receiver.destroy();
                receiver.waitFor(5, TimeUnit.SECONDS);
            }
            Netns.delete(NS);
            Netns.deleteLink(OURS);
        }
    }

    @Test
    void shouldSplitAReceivedSuperframeIntoTheFramesThatWereQueued() throws Exception
    {
        try
        {
            vethPair();
            try (PacketSocketPort a = PacketSocketPort.open(A, 1, pool, counters, clock,
                new PacketSocketPort.Options());
                 PacketSocketPort b = PacketSocketPort.open(B, 2, pool, counters, clock,
                     new PacketSocketPort.Options()))
            {
                assertThat(b.offloads()).isTrue();
                final List<byte[]> payloads = payloads(new Random(34));
                for (int k = 0; k < SEGMENTS; k++)
                {
                    queue(a, datagram(OUR_MAC, B_MAC, OUR_IP, PEER_IP, 0, payloads.get(k)));
                }
                a.flush();
                assertThat(counters.get("port/" + A + "/tx-gso-frames")).isEqualTo(1);

                final List<byte[]> got = receiveDatagrams(b, SEGMENTS);
                assertThat(got).hasSize(SEGMENTS);
                assertThat(counters.get("port/" + B + "/rx-gso-frames")).as("arrived whole").isEqualTo(1);
                assertThat(counters.get("port/" + B + "/rx-gso-segments")).isEqualTo(SEGMENTS);
                assertThat(b.counters().rxErrorCount()).isZero();
                assertThat(lastFlags).as("the superframe's partial outer checksum covers each split frame")
                    .allMatch(fl -> (fl & PacketPool.FLAG_L4_CHECKSUM_TRUSTED) != 0);
                for (int k = 0; k < SEGMENTS; k++)
                {
                    // the kernel numbers the segments' IPv4 ids from the superframe's; the split writes UDP
                    // checksum 0 (the superframe's was partial: never computed on a veth)
                    final byte[] expected = datagram(OUR_MAC, B_MAC, OUR_IP, PEER_IP, k, payloads.get(k));
                    expected[40] = 0;
                    expected[41] = 0;
                    assertThat(got.get(k)).as("segment %d", k).isEqualTo(expected);
                    final MemorySegment f = MemorySegment.ofArray(got.get(k));
                    assertThat(Checksum.compute(f, 14, 20)).as("IPv4 header checksum").isZero();
                }
            }
        }
        finally
        {
            Netns.deleteLink(A);
        }
    }

    /**
     * Receive GRO: a peer ferry's run of VXLAN datagrams that carry one pod superframe's TCP segments (cut by the
     * segmenter, as vxlan-encap does) crosses the veth as one UDP superframe and comes out of the receiving port as
     * ONE VXLAN frame whose inner frame is the pod's superframe again (TCP checksum field: the pseudo-header sum),
     * with its segment size and the partial checksum at the inner TCP header; cut again, it gives back the very
     * frames that were sent.
     */
    @Test
    void shouldMergeAPeersRunOfOneTcpFlowBackIntoOneSuperframe() throws Exception
    {
        final int mss = 1398;
        final byte[] payload = new byte[30 * mss + 100];
        new Random(56).nextBytes(payload);
        final byte[] pod = VxlanGroTest.podSuperframe(payload, 40000, 1, 0x18);
        final TcpSegmenter segmenter = new TcpSegmenter(pool);
        final int sf = pool.allocateLarge();
        pool.write(sf, pod, 0, pod.length);
        pool.l3Offset(sf, 14);
        pool.gso(sf, PacketPool.GSO_TCPV4, mss);
        pool.checksumPartial(sf, 34, 16);
        final int n = segmenter.segment(sf);
        assertThat(n).isEqualTo(31);
        final List<byte[]> inner = new ArrayList<>();
        for (int k = 0; k < n; k++)
        {
            inner.add(pool.toArray(segmenter.get(k)));
            pool.free(segmenter.get(k));
        }
        try
        {
            vethPair();
            try (PacketSocketPort a = PacketSocketPort.open(A, 1, pool, counters, clock,
                new PacketSocketPort.Options());
                 PacketSocketPort b = PacketSocketPort.open(B, 2, pool, counters, clock,
                     new PacketSocketPort.Options()))
            {
                assertThat(b.offloads()).isTrue();
                for (final byte[] f : inner)
                {
                    final byte[] vx = new byte[8 + f.length];
                    vx[0] = 8;
                    vx[6] = 1;
                    System.arraycopy(f, 0, vx, 8, f.length);
                    queue(a, datagram(OUR_MAC, B_MAC, OUR_IP, PEER_IP, 0, vx));
                }
                a.flush();
                assertThat(counters.get("port/" + A + "/tx-gso-frames")).isEqualTo(1);

                final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
                int h = -1;
                while (h < 0 && System.nanoTime() < deadline)
                {
                    b.awaitReadable(50);
                    b.receive(v);
                    for (int i = 0; i < v.count(); i++)
                    {
                        final int got = v.get(i);
                        if (h < 0 && pool.length(got) > 42 + 50
                            && Wire.u16(pool.memory(), pool.frameOffset(got) + 36) == VXLAN_PORT)
                        {
                            h = got;
                        }
                        else
                        {
                            pool.free(got);
                        }
                    }
                    v.clear();
                }
                assertThat(h).as("a VXLAN frame arrived").isNotNegative();
                assertThat(counters.get("port/" + B + "/rx-gro-frames")).as("one merged frame").isEqualTo(1);
                assertThat(counters.get("port/" + B + "/rx-gro-segments")).isEqualTo(n);
                assertThat(b.counters().rxPackets()).as("one packet into the graph").isEqualTo(1);
                assertThat(pool.gsoSize(h)).isEqualTo(mss);
                assertThat(pool.checksumPartial(h)).isTrue();
                assertThat(pool.checksumStart(h)).isEqualTo(VxlanGro.TCP_AT);
                final byte[] merged = pool.toArray(h);
                final byte[] expected = pod.clone();
                System.arraycopy(merged, 50 + 50, expected, 50, 2);
                assertThat(Arrays.copyOfRange(merged, 50, merged.length)).as("the pod's superframe")
                    .isEqualTo(expected);
                // cut again after the decap, as a TAP without TSO would: the frames that were sent
                pool.advance(h, 50);
                pool.l3Offset(h, 14);
                final int back = segmenter.segment(h);
                assertThat(back).isEqualTo(n);
                for (int k = 0; k < n; k++)
                {
                    assertThat(pool.toArray(segmenter.get(k))).as("segment %d", k).isEqualTo(inner.get(k));
                    pool.free(segmenter.get(k));
                }
            }
        }
        finally
        {
            Netns.deleteLink(A);
        }
    }

    /**
     * With tx checksumming switched off on the link (as `ethtool -K DEV tx off` does, and the lab benchmark's
     * offloads-off runs do), the kernel drops a superframe sent with PACKET_QDISC_BYPASS instead of segmenting it
     * (ENOBUFS). The port sends that run's frames one by one, loses none, counts the refusal, and tries runs again
     * a second later. Before this, every run was lost (tx-dropped) and a cross-node TCP connection carried nothing.
     */
    @Test
    void shouldSendFramesOneByOneWhenTheLinkRefusesSuperframes() throws Exception
    {
        try
        {
            vethPair();
            Netns.must("ethtool", "-K", A, "tx", "off");
            try (PacketSocketPort a = PacketSocketPort.open(A, 1, pool, counters, clock,
                new PacketSocketPort.Options());
                 PacketSocketPort b = PacketSocketPort.open(B, 2, pool, counters, clock,
                     new PacketSocketPort.Options()))
            {
                final List<byte[]> payloads = payloads(new Random(35));
                for (int round = 1; round <= 2; round++)
                {
                    for (int k = 0; k < SEGMENTS; k++)
                    {
                        queue(a, datagram(OUR_MAC, B_MAC, OUR_IP, PEER_IP, k, payloads.get(k)));
                    }
                    a.flush();
                    assertThat(counters.get("port/" + A + "/tx-gso-refused")).as("round %d", round).isEqualTo(round);
                    assertThat(counters.get("port/" + A + "/tx-gso-frames")).isZero();
                    assertThat(a.counters().txDroppedCount() + a.counters().txErrorCount()).isZero();
                    final List<byte[]> got = receiveDatagrams(b, SEGMENTS);
                    assertThat(got).as("every frame of the refused run arrives").hasSize(SEGMENTS);
                    for (int k = 0; k < SEGMENTS; k++)
                    {
                        assertThat(got.get(k)).isEqualTo(datagram(OUR_MAC, B_MAC, OUR_IP, PEER_IP, k,
                            payloads.get(k)));
                    }
                    // runs are tried again once a second has passed
                    clock.advance(1_000_000_001L);
                }
            }
        }
        finally
        {
            Netns.deleteLink(A);
        }
    }

    /**
     * A kernel TCP sender's TSO superframes (a peer on the underlay without a tunnel: NodePort or masquerade traffic)
     * cross a veth whole; the port taps them there and cuts each into MTU-sized segments with complete checksums
     * that add up to exactly the bytes the server sent.
     */
    @Test
    void shouldSegmentAPeersTcpSuperframeAtThePort() throws Exception
    {
        final String server = "ferry-uso-s";
        final String client = "ferry-uso-k";
        final String bridge = "ferry-uso-br";
        Netns.create(server);
        Netns.create(client);
        Process srv = null;
        Process cli = null;
        try
        {
            Netns.deleteLink(bridge);
            Netns.must("ip", "link", "add", bridge, "type", "bridge");
            Netns.disableIpv6(bridge);
            for (final String[] end : new String[][] {{"ferry-uso-s0", "ferry-uso-s1", server, "10.199.8.1/24"},
                {"ferry-uso-k0", "ferry-uso-k1", client, "10.199.8.2/24"}})
            {
                Netns.deleteLink(end[0]);
                Netns.must("ip", "link", "add", end[0], "type", "veth", "peer", "name", end[1]);
                Netns.disableIpv6(end[0]);
                Netns.must("ip", "link", "set", end[1], "netns", end[2]);
                Netns.must("ip", "-n", end[2], "addr", "add", end[3], "dev", end[1]);
                Netns.must("ip", "-n", end[2], "link", "set", end[1], "up");
                Netns.must("ip", "link", "set", end[0], "master", bridge, "up");
            }
            Netns.must("ip", "link", "set", bridge, "up");
            try (PacketSocketPort port = PacketSocketPort.open("ferry-uso-s0", 3, pool, counters, clock,
                new PacketSocketPort.Options()))
            {
                // the server sends 1 MB and prints its SHA-256; the client reads to the end
                srv = Netns.startInNs(server, "timeout", "20", "python3", "-u", "-c",
                    "import socket, os, hashlib\n"
                        + "s = socket.socket()\n"
                        + "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
                        + "s.bind(('10.199.8.1', 7777))\n"
                        + "s.listen(1)\n"
                        + "print('ready', flush=True)\n"
                        + "c, _ = s.accept()\n"
                        + "data = os.urandom(1 << 20)\n"
                        + "c.sendall(data)\n"
                        + "c.close()\n"
                        + "print(hashlib.sha256(data).hexdigest(), flush=True)\n");
                final BufferedReader srvOut = new BufferedReader(new InputStreamReader(srv.getInputStream(),
                    StandardCharsets.US_ASCII));
                assertThat(srvOut.readLine()).isEqualTo("ready");
                cli = Netns.startInNs(client, "timeout", "20", "python3", "-c",
                    "import socket\n"
                        + "s = socket.create_connection(('10.199.8.1', 7777))\n"
                        + "while s.recv(1 << 16):\n"
                        + "    pass\n");
                final TcpStream stream = new TcpStream();
                final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
                while (System.nanoTime() < deadline && (cli.isAlive() || port.awaitReadable(100)))
                {
                    port.awaitReadable(20);
                    port.receive(v);
                    for (int i = 0; i < v.count(); i++)
                    {
                        final int h = v.get(i);
                        final byte[] f = pool.toArray(h);
                        pool.free(h);
                        final MemorySegment m = MemorySegment.ofArray(f);
                        if (f.length >= 54 && Wire.u16(m, 12) == 0x0800 && Wire.u8(m, 23) == 6
                            && Wire.u16(m, 34) == 7777)
                        {
                            assertThat(f.length).as("a segment fits the MTU").isLessThanOrEqualTo(1514);
                            stream.add(f, 14);
                        }
                    }
                    v.clear();
                }
                assertThat(cli.waitFor(5, TimeUnit.SECONDS)).as("client done").isTrue();
                final String sent = srvOut.readLine();
                assertThat(counters.get("port/ferry-uso-s0/rx-gso-frames")).as("TSO superframes arrived whole")
                    .isPositive();
                assertThat(port.counters().rxErrorCount()).isZero();
                assertThat(stream.sha256(1 << 20)).as("the stream, reassembled").isEqualTo(sent);
            }
        }
        finally
        {
            for (final Process p : new Process[] {srv, cli})
            {
                if (p != null)
                {
                    p.destroy();
                    p.waitFor(5, TimeUnit.SECONDS);
                }
            }
            Netns.delete(server);
            Netns.delete(client);
            Netns.deleteLink("ferry-uso-s0");
            Netns.deleteLink("ferry-uso-k0");
            Netns.deleteLink(bridge);
        }
    }

    /**
     * A kernel VXLAN peer with offloads on (flannel on a veth) hands the veth {@code SKB_GSO_UDP_TUNNEL} superframes,
     * which a packet socket's virtio header cannot describe as such: Linux 6.18 reports them as TCPV4 with the
     * checksum range at the inner TCP header (csum_start 84). The port cuts the inner TCP and re-makes each segment's
     * outer headers, so vxlan-decap gets ordinary VXLAN frames: MTU-sized, valid outer IPv4 and inner checksums,
     * adding up to the 1 MB the client sent. (Without the virtio header these frames were rx-errors.)
     */
    @Test
    void shouldSegmentAKernelVxlanPeersTunnelSuperframe() throws Exception
    {
        final String a = "ferry-uso-ta";
        final String b = "ferry-uso-tb";
        final String bridge = "ferry-uso-br";
        Netns.create(a);
        Netns.create(b);
        Process srv = null;
        Process cli = null;
        try
        {
            Netns.deleteLink(bridge);
            Netns.must("ip", "link", "add", bridge, "type", "bridge");
            Netns.disableIpv6(bridge);
            for (final String[] end : new String[][] {{"ferry-uso-a0", "ferry-uso-a1", a, "10.199.9.1", "10.199.9.2",
                "10.244.9.1"}, {"ferry-uso-b0", "ferry-uso-b1", b, "10.199.9.2", "10.199.9.1", "10.244.9.2"}})
            {
                Netns.deleteLink(end[0]);
                Netns.must("ip", "link", "add", end[0], "type", "veth", "peer", "name", end[1]);
                Netns.disableIpv6(end[0]);
                Netns.must("ip", "link", "set", end[1], "netns", end[2]);
                Netns.must("ip", "-n", end[2], "addr", "add", end[3] + "/24", "dev", end[1]);
                Netns.must("ip", "-n", end[2], "link", "set", end[1], "up");
                Netns.must("ip", "link", "set", end[0], "master", bridge, "up");
                Netns.must("ip", "-n", end[2], "link", "add", "ferry-uso-vx", "type", "vxlan", "id", "1", "local",
                    end[3], "remote", end[4], "dstport", "8472", "dev", end[1]);
                Netns.must("ip", "-n", end[2], "addr", "add", end[5] + "/24", "dev", "ferry-uso-vx");
                Netns.must("ip", "-n", end[2], "link", "set", "ferry-uso-vx", "up");
            }
            Netns.must("ip", "link", "set", bridge, "up");
            try (PacketSocketPort port = PacketSocketPort.open("ferry-uso-a0", 3, pool, counters, clock,
                new PacketSocketPort.Options()))
            {
                srv = Netns.startInNs(b, "timeout", "20", "python3", "-u", "-c",
                    "import socket\n"
                        + "import hashlib\n"
                        + "s = socket.socket()\n"
                        + "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
                        + "s.bind(('10.244.9.2', 7777))\n"
                        + "s.listen(1)\n"
                        + "print('ready', flush=True)\n"
                        + "c, _ = s.accept()\n"
                        + "h = hashlib.sha256()\n"
                        + "while True:\n"
                        + "    d = c.recv(1 << 16)\n"
                        + "    if not d:\n"
                        + "        break\n"
                        + "    h.update(d)\n"
                        + "print(h.hexdigest(), flush=True)\n");
                final BufferedReader srvOut = new BufferedReader(new InputStreamReader(srv.getInputStream(),
                    StandardCharsets.US_ASCII));
                assertThat(srvOut.readLine()).isEqualTo("ready");
                cli = Netns.startInNs(a, "timeout", "20", "python3", "-c",
                    "import socket\n"
                        + "s = socket.create_connection(('10.244.9.2', 7777))\n"
                        + "s.sendall(bytes(range(256)) * 4096)\n"
                        + "s.close()\n");
                final TcpStream stream = new TcpStream();
                final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
                while (System.nanoTime() < deadline && (cli.isAlive() || port.awaitReadable(100)))
                {
                    port.awaitReadable(20);
                    port.receive(v);
                    for (int i = 0; i < v.count(); i++)
                    {
                        final int h = v.get(i);
                        final byte[] f = pool.toArray(h);
                        pool.free(h);
                        final MemorySegment m = MemorySegment.ofArray(f);
                        if (f.length >= 50 + 54 && Wire.u8(m, 23) == 17 && Wire.u16(m, 36) == VXLAN_PORT)
                        {
                            assertThat(f.length).as("a frame fits the MTU").isLessThanOrEqualTo(1514);
                            assertThat(Checksum.compute(m, 14, 20)).as("outer IPv4 header checksum").isZero();
                            assertThat(Wire.u16(m, 16)).as("outer IPv4 length").isEqualTo(f.length - 14);
                            assertThat(Wire.u16(m, 38)).as("outer UDP length").isEqualTo(f.length - 34);
                            // the split segments carry none; frames the kernel sent plainly keep its checksum
                            final int udpSum = Checksum.fold(Checksum.sum(m, 34, f.length - 34)
                                + Checksum.pseudoHeader(Wire.u32(m, 26), Wire.u32(m, 30), 17, f.length - 34));
                            assertThat(Wire.u16(m, 40) == 0 || udpSum == 0xffff).as("outer UDP checksum").isTrue();
                            stream.add(f, 50 + 14);
                        }
                    }
                    v.clear();
                }
                final String got = srvOut.readLine();
                assertThat(counters.get("port/ferry-uso-a0/rx-gso-frames")).as("tunnel superframes split")
                    .isPositive();
                assertThat(port.counters().rxErrorCount()).isZero();
                assertThat(stream.sha256(1 << 20)).as("the inner stream, reassembled").isEqualTo(got);
            }
        }
        finally
        {
            for (final Process p : new Process[] {srv, cli})
            {
                if (p != null)
                {
                    p.destroy();
                    p.waitFor(5, TimeUnit.SECONDS);
                }
            }
            Netns.delete(a);
            Netns.delete(b);
            Netns.deleteLink("ferry-uso-a0");
            Netns.deleteLink("ferry-uso-b0");
            Netns.deleteLink(bridge);
        }
    }

    /** One direction of a TCP connection seen frame by frame: checksums checked, payload kept by sequence number. */
    static final class TcpStream
    {
        private final java.util.TreeMap<Long, byte[]> bySeq = new java.util.TreeMap<>();
        private long isn = -1;

        /** Takes a frame whose IPv4 header (TCP inside) is at {@code l3}. */
        void add(final byte[] f, final int l3)
        {
            final MemorySegment m = MemorySegment.ofArray(f);
            assertThat(Checksum.compute(m, l3, 20)).as("IPv4 header checksum").isZero();
            final int tcpLength = Wire.u16(m, l3 + 2) - 20;
            final int l4 = l3 + 20;
            assertThat(Checksum.fold(Checksum.sum(m, l4, tcpLength) + Checksum.pseudoHeader(Wire.u32(m, l3 + 12),
                Wire.u32(m, l3 + 16), 6, tcpLength))).as("TCP checksum").isEqualTo(0xffff);
            final long seq = Wire.u32(m, l4 + 4) & 0xffff_ffffL;
            if ((Wire.u8(m, l4 + 13) & 0x02) != 0)
            {
                isn = seq + 1;
            }
            final int doff = (Wire.u8(m, l4 + 12) >>> 4) * 4;
            final int payload = tcpLength - doff;
            if (payload > 0)
            {
                bySeq.put(seq, Arrays.copyOfRange(f, l4 + doff, l4 + doff + payload));
            }
        }

        /** @return the SHA-256 of the stream from the SYN on, which must be exactly {@code length} bytes. */
        String sha256(final int length) throws Exception
        {
            assertThat(isn).as("saw the SYN").isNotNegative();
            final MessageDigest sha = MessageDigest.getInstance("SHA-256");
            long next = isn;
            for (final Map.Entry<Long, byte[]> e : bySeq.entrySet())
            {
                final long at = e.getKey();
                final byte[] bytes = e.getValue();
                if (at + bytes.length <= next)
                {
                    continue; // a retransmission of bytes already taken
                }
                assertThat(at).as("no hole in the stream").isLessThanOrEqualTo(next);
                sha.update(bytes, (int)(next - at), (int)(at + bytes.length - next));
                next = at + bytes.length;
            }
            assertThat(next - isn).as("bytes seen").isEqualTo(length);
            return HexFormat.of().formatHex(sha.digest());
        }
    }

    static List<byte[]> payloads(final Random random)
    {
        final List<byte[]> payloads = new ArrayList<>();
        for (int k = 0; k < SEGMENTS; k++)
        {
            final byte[] p = new byte[k == SEGMENTS - 1 ? LAST_PAYLOAD : SEGMENT_PAYLOAD];
            random.nextBytes(p);
            // the VXLAN header: I flag, VNI 1
            p[0] = 0x08;
            p[1] = 0;
            p[2] = 0;
            p[3] = 0;
            p[4] = 0;
            p[5] = 0;
            p[6] = 1;
            p[7] = 0;
            payloads.add(p);
        }
        return payloads;
    }

    static byte[] datagram(final long srcMac, final long dstMac, final int src, final int dst, final int id,
        final byte[] payload)
    {
        return new FrameBuilder().eth(srcMac, dstMac).ip4(src, dst).df(true).id(id).udp(40000, VXLAN_PORT)
            .payload(payload).build();
    }

    private void queue(final PacketSocketPort port, final byte[] frame)
    {
        final int h = pool.allocate();
        pool.write(h, frame, 0, frame.length);
        pool.txPort(h, port.id());
        port.transmit(h);
    }

    /** A fresh veth pair A-B, both up, without IPv6 (no router solicitations on the wire). */
    private static void vethPair() throws Exception
    {
        Netns.deleteLink(A);
        Netns.must("ip", "link", "add", A, "type", "veth", "peer", "name", B);
        Netns.disableIpv6(A);
        Netns.disableIpv6(B);
        Netns.must("ip", "link", "set", A, "up");
        Netns.must("ip", "link", "set", B, "up");
    }

    /** Receives UDP frames to the VXLAN port until {@code count} arrived, freeing every buffer; up to 5 seconds. */
    private List<byte[]> receiveDatagrams(final PacketSocketPort port, final int count)
    {
        lastFlags.clear();
        final List<byte[]> got = new ArrayList<>();
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (got.size() < count && System.nanoTime() < deadline)
        {
            port.awaitReadable(50);
            port.receive(v);
            for (int i = 0; i < v.count(); i++)
            {
                final int h = v.get(i);
                final byte[] f = pool.toArray(h);
                lastFlags.add(pool.flags(h));
                pool.free(h);
                if (f.length > 42 && Wire.u16(MemorySegment.ofArray(f), 36) == VXLAN_PORT)
                {
                    got.add(f);
                }
            }
            v.clear();
        }
        return got;
    }
}
