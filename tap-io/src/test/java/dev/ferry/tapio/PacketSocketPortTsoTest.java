package dev.ferry.tapio;

import dev.ferry.core.Counters;
import dev.ferry.core.ManualClock;
import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;
import dev.ferry.core.header.Wire;
import dev.ferry.core.packet.FrameBuilder;
import dev.ferry.core.route.Ip4;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * TCP superframes leaving the uplink without a tunnel (issue 12 item 3: NodePort replies, masquerade egress) on real
 * veths: the port plays a pod's end of a TCP connection to a kernel server two hops away, and sends its data as
 * 64 KB superframes. The router namespace in between forwards them to a link with tx checksumming off, so its kernel
 * cuts them in software (the way a NIC without TSO would be served), and a capture there shows MTU-sized segments
 * with valid IPv4 and TCP checksums; the server gets every byte.
 *
 * <pre>
 *   port ── ferry-tso-v0 ══ ferry-tso-v1 [ferry-tso-r: forwards] ferry-tso-w0 (tx off) ══ ferry-tso-w1 [ferry-tso-p]
 *           10.199.12.2     10.199.12.1                            10.199.13.1             10.199.13.2:7777 server
 *   every link MTU 1400; the superframes say gso_size 1448, so the port must cut it to 1400 - 40
 * </pre>
 */
@Tag("netns")
class PacketSocketPortTsoTest
{
    static final String ROUTER = "ferry-tso-r";
    static final String SERVER = "ferry-tso-p";
    static final String OURS = "ferry-tso-v0";
    static final long OUR_MAC = Ip4.parseMac("02:fe:00:00:12:02");
    static final int OUR_IP = Ip4.parse("10.199.12.2");
    static final int SERVER_IP = Ip4.parse("10.199.13.2");
    static final int MTU = 1400;
    static final int POD_MSS = 1448;
    static final int MSS = MTU - 40;
    static final int BYTES = 400_000;
    static final int SYN = 0x02;
    static final int ACK = 0x10;
    static final int PSH = 0x08;
    static final int FIN = 0x01;

    private final PacketPool pool = new PacketPool(1024, PacketPool.DEFAULT_BUFFER_SIZE, PacketPool.DEFAULT_HEADROOM,
        8);
    private final Counters counters = Counters.inMemory(256);
    private final ManualClock clock = new ManualClock(1_000_000_000L);
    private final PacketVector v = new PacketVector();
    private long routerMac;
    private int serverSeq;
    private int acked;
    private int window;
    private int retransmissions;

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

    /** Each superframe is one message (tx-tso-frames), cut by the kernel, valid on the wire, every byte delivered. */
    @Test
    void shouldSendTcpSuperframesWholeForTheKernelToSegment() throws Exception
    {
        final Transfer t = transfer(false);
        assertThat(counters.get("port/" + OURS + "/tx-tso-frames")).as("superframes sent whole, one message each")
            .isEqualTo(t.superframes);
        assertThat(counters.get("port/" + OURS + "/tx-tso-segments")).isEqualTo(t.segments);
        assertThat(counters.get("port/" + OURS + "/tx-gso-refused")).isZero();
        assertThat(counters.get("port/" + OURS + "/tx-tso-software")).isZero();
        assertThat(t.txPackets).as("tx-packets counts segments").isEqualTo(t.segments + t.plain + 3);
    }

    /**
     * With tx checksumming off on the port's own link the kernel refuses a superframe sent past the qdisc
     * (ENOBUFS). The port cuts it in software and loses nothing; later superframes are cut in software without
     * asking again until a second has passed; then one is offered again (and refused again).
     */
    @Test
    void shouldCutSuperframesInSoftwareWhenTheLinkRefusesThem() throws Exception
    {
        final Transfer t = transfer(true);
        assertThat(counters.get("port/" + OURS + "/tx-tso-frames")).isZero();
        assertThat(counters.get("port/" + OURS + "/tx-gso-refused")).as("one refusal, then a second's back-off, "
            + "then one more").isEqualTo(2);
        assertThat(counters.get("port/" + OURS + "/tx-tso-software")).isEqualTo(t.superframes);
        assertThat(t.txPackets).isEqualTo(t.segments + t.plain + 3);
    }

    /**
     * A pod crafts the superframe (its TAP's virtio header) and the graph rewrites it: whatever the port cannot
     * describe to the kernel goes to the software segmenter, and what that cannot cut is a tx-error, never a kernel
     * error. Between two ports on a veth pair (the veth takes superframes whole, the receiving port cuts them).
     */
    @Test
    void shouldNeverHandTheKernelASuperframeItWouldRefuse() throws Exception
    {
        final String a = "ferry-tso-h0";
        final String b = "ferry-tso-h1";
        try
        {
            Netns.deleteLink(a);
            Netns.must("ip", "link", "add", a, "type", "veth", "peer", "name", b);
            Netns.disableIpv6(a);
            Netns.disableIpv6(b);
            Netns.must("ip", "link", "set", a, "up");
            Netns.must("ip", "link", "set", b, "up");
            routerMac = 0x02fe0000120bL;
            try (PacketSocketPort port = PacketSocketPort.open(a, 1, pool, counters, clock,
                new PacketSocketPort.Options());
                 PacketSocketPort peer = PacketSocketPort.open(b, 2, pool, counters, clock,
                     new PacketSocketPort.Options()))
            {
                final byte[] small = new byte[900];
                new Random(3).nextBytes(small);
                // gso_size above the payload: one frame, its checksum completed by the kernel
                send(port, segment(ACK, 1, 1, small), true);
                // gso_size 0, only a partial checksum: the same
                sendRaw(port, segment(ACK, 2, 1, small), 0);
                // a TCP header longer than the IPv4 packet
                final byte[] doff = segment(ACK, 3, 1, new byte[20]);
                doff[46] = (byte)0xf0;
                sendRaw(port, doff, POD_MSS);
                // an IPv4 total length beyond the frame
                final byte[] cut = segment(ACK, 4, 1, new byte[3000]);
                Wire.u16(MemorySegment.ofArray(cut), 16, 5000);
                sendRaw(port, cut, POD_MSS);
                // 5,000 bytes in 1-byte segments: more than 256
                sendRaw(port, segment(ACK, 5, 1, new byte[5000]), 1);
                // not TCP
                final byte[] udp = new FrameBuilder().eth(OUR_MAC, routerMac).ip4(OUR_IP, SERVER_IP).udp(1, 2)
                    .payload(new byte[4000]).build();
                sendRaw(port, udp, POD_MSS);

                assertThat(port.counters().txErrorCount()).as("the four frames that cannot be cut").isEqualTo(4);
                assertThat(counters.get("port/" + a + "/tx-gso-refused")).as("the kernel refused nothing").isZero();
                assertThat(counters.get("port/" + a + "/tx-tso-frames")).isZero();
                assertThat(port.counters().txPackets()).isEqualTo(2);
                int got = 0;
                final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
                while (got < 2 && System.nanoTime() < deadline)
                {
                    peer.awaitReadable(50);
                    peer.receive(v);
                    for (int i = 0; i < v.count(); i++)
                    {
                        final int h = v.get(i);
                        final byte[] f = pool.toArray(h);
                        pool.free(h);
                        final MemorySegment m = MemorySegment.ofArray(f);
                        if (f.length >= 54 && Wire.u8(m, 23) == 6 && Wire.u16(m, 36) == 7777)
                        {
                            assertThat(f).as("the frame as built, checksums complete")
                                .isEqualTo(segment(ACK, got + 1, 1, small));
                            got++;
                        }
                    }
                    v.clear();
                }
                assertThat(got).isEqualTo(2);
            }
        }
        finally
        {
            Netns.deleteLink(a);
        }
    }

    /** Queues a frame in a large buffer with a partial TCP checksum and the given gso_size, and flushes. */
    private void sendRaw(final PacketSocketPort port, final byte[] frame, final int gsoSize)
    {
        final int h = pool.allocateLarge();
        pool.write(h, frame, 0, frame.length);
        pool.l3Offset(h, 14);
        pool.txPort(h, port.id());
        pool.gso(h, PacketPool.GSO_TCPV4, gsoSize);
        pool.checksumPartial(h, 34, 16);
        port.transmit(h);
        port.flush();
    }

    record Transfer(int superframes, long segments, int plain, long txPackets)
    {
    }

    private Transfer transfer(final boolean refuse) throws Exception
    {
        Netns.create(ROUTER);
        Netns.create(SERVER);
        Process server = null;
        Process capture = null;
        final Path pcap = Files.createTempFile("ferry-tso", ".pcap");
        try
        {
            topology(refuse);
            server = Netns.startInNs(SERVER, "timeout", "30", "python3", "-u", "-c",
                "import socket, hashlib\n"
                    + "s = socket.socket()\n"
                    + "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
                    + "s.bind(('10.199.13.2', 7777))\n"
                    + "s.listen(1)\n"
                    + "print('ready', flush=True)\n"
                    + "c, _ = s.accept()\n"
                    + "h = hashlib.sha256()\n"
                    + "n = 0\n"
                    + "while True:\n"
                    + "    d = c.recv(1 << 16)\n"
                    + "    if not d:\n"
                    + "        break\n"
                    + "    h.update(d)\n"
                    + "    n += len(d)\n"
                    + "print(n, h.hexdigest(), flush=True)\n");
            final BufferedReader serverOut = new BufferedReader(new InputStreamReader(server.getInputStream(),
                StandardCharsets.US_ASCII));
            assertThat(serverOut.readLine()).isEqualTo("ready");
            capture = Netns.startInNs(SERVER, "timeout", "30", "tcpdump", "-i", "ferry-tso-w1", "-n", "-U", "-s", "0",
                "-w", pcap.toString(), "tcp", "port", "7777");
            final BufferedReader captureOut = new BufferedReader(new InputStreamReader(capture.getInputStream(),
                StandardCharsets.US_ASCII));
            assertThat(captureOut.readLine()).contains("listening on");

            final byte[] data = new byte[BYTES];
            new Random(77).nextBytes(data);
            int superframes = 0;
            int plain = 0;
            long segments = 0;
            final long txPackets;
            try (PacketSocketPort port = PacketSocketPort.open(OURS, 5, pool, counters, clock,
                new PacketSocketPort.Options()))
            {
                assertThat(port.acceptsOffload()).as("the uplink takes superframes").isTrue();
                assertThat(port.mtu()).isEqualTo(MTU);
                final int isn = 1000;
                send(port, segment(SYN, isn, 0, new byte[0]), false);
                awaitAck(port, isn + 1, 10);
                send(port, segment(ACK, isn + 1, serverSeq + 1, new byte[0]), false);
                // one superframe in flight at a time; one that is not fully acknowledged within a second is sent
                // again from the first byte missing (the kernel's receive queue may prune under memory pressure)
                int sentTo = 0;
                while (sentTo < BYTES || acked - (isn + 1) < BYTES)
                {
                    final int from = acked - (isn + 1);
                    if (from < sentTo)
                    {
                        retransmissions++;
                    }
                    if (refuse && superframes == 3)
                    {
                        // the back-off is over: one superframe is offered whole again
                        clock.advance(1_000_000_001L);
                    }
                    final int chunk = Math.min(Math.min(BYTES - from, 60_000), window);
                    // what is left after a partial acknowledgement, or a window the server shrank under memory
                    // pressure, may fit one segment: that goes as a plain segment, not counted as a superframe
                    final boolean whole = chunk > MSS;
                    send(port, segment(ACK | PSH, isn + 1 + from, serverSeq + 1,
                        Arrays.copyOfRange(data, from, from + chunk)), whole);
                    if (whole)
                    {
                        superframes++;
                        segments += (chunk + MSS - 1) / MSS;
                    }
                    else
                    {
                        plain++;
                    }
                    sentTo = from + chunk;
                    awaitAck(port, isn + 1 + sentTo, 1);
                }
                send(port, segment(FIN | ACK, isn + 1 + BYTES, serverSeq + 1, new byte[0]), false);
                assertThat(port.counters().txErrorCount() + port.counters().txDroppedCount()).isZero();
                txPackets = port.counters().txPackets();
            }
            final String[] got = serverOut.readLine().split(" ");
            assertThat(got[0]).as("bytes the server read").isEqualTo(Integer.toString(BYTES));
            assertThat(got[1]).as("SHA-256").isEqualTo(HexFormat.of().formatHex(
                MessageDigest.getInstance("SHA-256").digest(data)));
            awaitCaptured(pcap);
            capture.destroy();
            capture.waitFor(5, TimeUnit.SECONDS);
            checkCapture(pcap);
            assertThat(superframes).as("superframes sent (400 KB in chunks of up to 60 KB)").isGreaterThanOrEqualTo(
                BYTES / 60_000);
            return new Transfer(superframes, segments, plain, txPackets);
        }
        finally
        {
            for (final Process p : new Process[] {server, capture})
            {
                if (p != null)
                {
                    p.destroy();
                    p.waitFor(5, TimeUnit.SECONDS);
                }
            }
            Files.deleteIfExists(pcap);
            Netns.delete(ROUTER);
            Netns.delete(SERVER);
            Netns.deleteLink(OURS);
        }
    }

    private void topology(final boolean refuse)
    {
        Netns.deleteLink(OURS);
        Netns.must("ip", "link", "add", OURS, "mtu", Integer.toString(MTU), "type", "veth", "peer", "name",
            "ferry-tso-v1", "mtu", Integer.toString(MTU));
        Netns.disableIpv6(OURS);
        Netns.must("ip", "link", "set", "ferry-tso-v1", "netns", ROUTER);
        Netns.must("ip", "-n", ROUTER, "link", "add", "ferry-tso-w0", "mtu", Integer.toString(MTU), "type", "veth",
            "peer", "name", "ferry-tso-w1", "mtu", Integer.toString(MTU));
        Netns.must("ip", "-n", ROUTER, "link", "set", "ferry-tso-w1", "netns", SERVER);
        Netns.must("ip", "-n", ROUTER, "addr", "add", "10.199.12.1/24", "dev", "ferry-tso-v1");
        Netns.must("ip", "-n", ROUTER, "addr", "add", "10.199.13.1/24", "dev", "ferry-tso-w0");
        Netns.must("ip", "-n", SERVER, "addr", "add", "10.199.13.2/24", "dev", "ferry-tso-w1");
        Netns.must("ip", "-n", ROUTER, "link", "set", "ferry-tso-v1", "up");
        Netns.must("ip", "-n", ROUTER, "link", "set", "ferry-tso-w0", "up");
        Netns.must("ip", "-n", SERVER, "link", "set", "ferry-tso-w1", "up");
        Netns.must("ip", "-n", SERVER, "route", "add", "default", "via", "10.199.13.1");
        Netns.must("ip", "-n", ROUTER, "neigh", "replace", "10.199.12.2", "lladdr", "02:fe:00:00:12:02", "dev",
            "ferry-tso-v1", "nud", "permanent");
        Netns.inNs(ROUTER, "bash", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward");
        // the router's egress takes no superframes and computes no checksums: its kernel cuts them in software
        Netns.inNs(ROUTER, "ethtool", "-K", "ferry-tso-w0", "tx", "off");
        if (refuse)
        {
            Netns.must("ethtool", "-K", OURS, "tx", "off");
        }
        Netns.must("ip", "link", "set", OURS, "up");
        final String link = Netns.must("ip", "-n", ROUTER, "-o", "link", "show", "ferry-tso-v1");
        routerMac = Ip4.parseMac(link.substring(link.indexOf("link/ether ") + 11).substring(0, 17));
    }

    private byte[] segment(final int flags, final int seq, final int ack, final byte[] payload)
    {
        return new FrameBuilder().eth(OUR_MAC, routerMac).ip4(OUR_IP, SERVER_IP).df(true).id(seq & 0xffff)
            .tcp(41000, 7777, flags, seq, ack).payload(payload).build();
    }

    /** Queues a frame (a superframe: in a large buffer, gso_size {@link #POD_MSS}, partial checksum) and flushes. */
    private void send(final PacketSocketPort port, final byte[] frame, final boolean superframe)
    {
        final int h = superframe ? pool.allocateLarge() : pool.allocate();
        pool.write(h, frame, 0, frame.length);
        pool.l3Offset(h, 14);
        pool.txPort(h, port.id());
        if (superframe)
        {
            pool.gso(h, PacketPool.GSO_TCPV4, POD_MSS);
            pool.checksumPartial(h, 34, 16);
        }
        port.transmit(h);
        port.flush();
    }

    /** Reads the server's segments until one acknowledges {@code seq}; notes its sequence number and window. */
    private void awaitAck(final PacketSocketPort port, final int seq, final int seconds)
    {
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (System.nanoTime() < deadline)
        {
            port.awaitReadable(20);
            port.receive(v);
            for (int i = 0; i < v.count(); i++)
            {
                final int h = v.get(i);
                final byte[] f = pool.toArray(h);
                pool.free(h);
                final MemorySegment m = MemorySegment.ofArray(f);
                if (f.length >= 54 && Wire.u16(m, 12) == 0x0800 && Wire.u8(m, 23) == 6 && Wire.u16(m, 34) == 7777)
                {
                    final int flags = Wire.u8(m, 47);
                    assertThat(flags & 0x04).as("no reset from the server").isZero();
                    if ((flags & SYN) != 0)
                    {
                        serverSeq = Wire.u32(m, 38);
                    }
                    acked = Wire.u32(m, 42);
                    window = Wire.u16(m, 48);
                }
            }
            v.clear();
            if (acked == seq)
            {
                return;
            }
        }
        if (seconds > 1)
        {
            throw new AssertionError("no acknowledgement of " + seq + " (last " + acked + ")");
        }
    }

    /** Waits until the capture holds our FIN: tcpdump may still be behind the kernel when the server is done. */
    @SuppressWarnings("unchecked")
    private static void awaitCaptured(final Path pcap) throws Exception
    {
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (System.nanoTime() < deadline)
        {
            for (final TestFiles.Rec r : (java.util.List<TestFiles.Rec>)TestFiles.readUntilFault(pcap)[0])
            {
                final MemorySegment m = MemorySegment.ofArray(r.frame());
                if (r.frame().length >= 54 && Wire.u16(m, 36) == 7777 && (Wire.u8(m, 47) & FIN) != 0)
                {
                    return;
                }
            }
            Thread.sleep(100);
        }
        throw new AssertionError("the capture never showed the FIN");
    }

    /**
     * The data segments the server's link carried: MTU-sized, valid checksums (tshark checks them), all present. (The
     * server's own acknowledgements are captured before its link's checksum offload fills them in: not looked at.)
     */
    private static void checkCapture(final Path pcap) throws Exception
    {
        final String bad = TestFiles.tshark("-r", pcap.toString(), "-o", "ip.check_checksum:TRUE", "-o",
            "tcp.check_checksum:TRUE", "-Y", "tcp.dstport == 7777 && (ip.checksum.status == 0 "
                + "|| tcp.checksum.status == 0 || ip.len > " + MTU + ")", "-T", "fields", "-e", "frame.number");
        assertThat(bad.lines().filter(l -> !l.isBlank()).count()).as("frames with a bad checksum or too large: "
            + bad).isZero();
        final String fields = TestFiles.tshark("-r", pcap.toString(), "-o", "ip.check_checksum:TRUE", "-o",
            "tcp.check_checksum:TRUE", "-o", "tcp.relative_sequence_numbers:TRUE", "-Y", "tcp.dstport == 7777 && "
                + "tcp.len > 0 && tcp.checksum.status == 1 && ip.checksum.status == 1", "-T", "fields", "-e", "tcp.seq",
            "-e", "tcp.len");
        final java.util.TreeMap<Long, Long> ranges = new java.util.TreeMap<>();
        final long[] sizes = fields.lines().filter(l -> !l.isBlank()).mapToLong(l ->
        {
            final String[] f = l.split("\t");
            final long len = Long.parseLong(f[1]);
            ranges.merge(Long.parseLong(f[0]), len, Math::max);
            return len;
        }).toArray();
        assertThat(sizes.length).as("data segments with good checksums on the server's link")
            .isGreaterThanOrEqualTo((BYTES + MSS - 1) / MSS);
        // the stream from byte 1 (after the SYN) to the end, without a hole
        long covered = 1;
        for (final java.util.Map.Entry<Long, Long> e : ranges.entrySet())
        {
            assertThat(e.getKey()).as("no hole in the captured stream").isLessThanOrEqualTo(covered);
            covered = Math.max(covered, e.getKey() + e.getValue());
        }
        assertThat(covered - 1).as("bytes captured").isEqualTo(BYTES);
        assertThat(Arrays.stream(sizes).max().orElse(0)).isEqualTo(MSS);
    }
}
