package dev.ferry.tapio;

import dev.ferry.core.Counters;
import dev.ferry.core.ManualClock;
import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;
import dev.ferry.core.header.Checksum;
import dev.ferry.core.header.Wire;
import dev.ferry.core.packet.FrameBuilder;
import dev.ferry.core.route.Ip4;

import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

@Tag("netns")
class PacketSocketPortTest
{
    static final String NS = "ferry-tio-c";
    static final String OURS = "ferry-tio-v0";
    static final String PEER = "ferry-tio-v1";
    static final long OUR_MAC = Ip4.parseMac("02:fe:00:00:00:02");
    static final int PEER_IP = Ip4.parse("10.199.2.1");
    static final int OUR_IP = Ip4.parse("10.199.2.2");

    private final PacketPool pool = new PacketPool(1024);
    private final Counters counters = Counters.inMemory(128);
    private final ManualClock clock = new ManualClock(1_000_000_000L);
    private final PacketVector v = new PacketVector();
    private long peerMac;

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

    /** A veth pair: our end stays here (no address, IPv6 off), the peer end goes into the namespace. */
    private void createPair()
    {
        Netns.deleteLink(OURS);
        Netns.must("ip", "link", "add", OURS, "type", "veth", "peer", "name", PEER);
        Netns.disableIpv6(OURS);
        Netns.must("ip", "link", "set", PEER, "netns", NS);
        Netns.must("ip", "-n", NS, "addr", "add", "10.199.2.1/24", "dev", PEER);
        Netns.must("ip", "-n", NS, "link", "set", PEER, "up");
        Netns.must("ip", "-n", NS, "neigh", "replace", "10.199.2.2", "lladdr", "02:fe:00:00:00:02", "dev", PEER);
        Netns.must("ip", "link", "set", OURS, "up");
        final String link = Netns.must("ip", "-n", NS, "-o", "link", "show", PEER);
        final String mac = link.substring(link.indexOf("link/ether ") + 11).substring(0, 17);
        peerMac = Ip4.parseMac(mac);
    }

    @Test
    void shouldExchangeFramesBothWaysOverAVeth() throws Exception
    {
        Netns.create(NS);
        try
        {
            createPair();
            try (PacketSocketPort port = PacketSocketPort.open(OURS, 7, pool, counters, clock,
                new PacketSocketPort.Options()))
            {
                // kernel -> ferry, through the RX ring; the peer's UDP checksum may be left to offload
                Netns.inNs(NS, "bash", "-c", "printf over-the-ring > /dev/udp/10.199.2.2/9999");
                final byte[] udp = awaitFrame(port, 17, 9999);
                assertThat(udp).as("UDP frame from the peer").isNotNull();
                final MemorySegment u = MemorySegment.ofArray(udp);
                assertThat(Wire.u48(u, 0)).isEqualTo(OUR_MAC);
                assertThat(Wire.u48(u, 6)).isEqualTo(peerMac);
                assertThat(new String(udp, 42, udp.length - 42, StandardCharsets.US_ASCII)).isEqualTo("over-the-ring");
                assertThat(Checksum.fold(Checksum.sum(u, 34, udp.length - 34)
                    + Checksum.pseudoHeader(PEER_IP, OUR_IP, 17, udp.length - 34))).as("UDP checksum")
                    .isEqualTo(0xffff);

                // ferry -> kernel with sendmmsg, a batch of three echo requests; the kernel answers each
                for (int seq = 1; seq <= 3; seq++)
                {
                    queue(port, echo(seq));
                }
                port.flush();
                assertThat(port.counters().txPackets()).isEqualTo(3);
                final byte[][] replies = awaitEchoReplies(port, 1, 3);
                for (int seq = 1; seq <= 3; seq++)
                {
                    final byte[] reply = replies[seq];
                    assertThat(reply).as("echo reply %d", seq).isNotNull();
                    final byte[] expected = new FrameBuilder().eth(peerMac, OUR_MAC).ip4(PEER_IP, OUR_IP)
                        .icmp(0, 0, 0x4242_0000 | seq).payload(payload(seq)).build();
                    assertThat(Arrays.copyOfRange(reply, 34, reply.length))
                        .isEqualTo(Arrays.copyOfRange(expected, 34, expected.length));
                }
                assertThat(counters.get("port/" + OURS + "/rx-packets")).isGreaterThanOrEqualTo(4);
            }
        }
        finally
        {
            Netns.delete(NS);
            Netns.deleteLink(OURS);
        }
    }

    /** Frames queued for the next batch when the port closes never reach the wire: tx-dropped, buffers back. */
    @Test
    void shouldCountFramesStillQueuedAtCloseAsDropped() throws Exception
    {
        Netns.create(NS);
        try
        {
            createPair();
            final PacketSocketPort port = PacketSocketPort.open(OURS, 7, pool, counters, clock,
                new PacketSocketPort.Options());
            try
            {
                for (int seq = 1; seq <= 3; seq++)
                {
                    queue(port, echo(seq));
                }
                assertThat(port.counters().txPackets()).as("nothing sent before a flush").isZero();
            }
            finally
            {
                port.close();
            }
            assertThat(counters.get("port/" + OURS + "/tx-dropped")).isEqualTo(3);
            assertThat(counters.get("port/" + OURS + "/tx-packets")).isZero();
        }
        finally
        {
            Netns.delete(NS);
            Netns.deleteLink(OURS);
        }
    }

    /**
     * Frames that find the RX ring full are dropped by the kernel, which the link counts as received: the port must
     * count them (rx-ring-full), or a loss between the link and ferry is silent (issue 17's accounting).
     */
    @Test
    void shouldCountTheFramesTheKernelDroppedOnAFullRing() throws Exception
    {
        Netns.create(NS);
        try
        {
            createPair();
            // one 1 MiB block of 64 KiB frames: 15 frames fit
            try (PacketSocketPort port = PacketSocketPort.open(OURS, 7, pool, counters, clock,
                new PacketSocketPort.Options().blockCount(1)))
            {
                final int sent = 200;
                Netns.inNs(NS, "bash", "-c",
                    "for i in $(seq " + sent + "); do printf x > /dev/udp/10.199.2.2/9999; done");
                long received = 0;
                int n;
                while ((n = port.receive(v)) > 0)
                {
                    received += n;
                    for (int i = 0; i < v.count(); i++)
                    {
                        pool.free(v.get(i));
                    }
                    v.clear();
                }
                clock.advance(TimeUnit.SECONDS.toNanos(1));
                port.check();
                final long ringFull = counters.get("port/" + OURS + "/rx-ring-full");
                assertThat(received).as("what the ring held").isLessThan(sent);
                assertThat(ringFull).as("the kernel's drops on the full ring, counted").isPositive();
                assertThat(received + ringFull).as("every datagram received or counted").isGreaterThanOrEqualTo(sent);
            }
        }
        finally
        {
            Netns.delete(NS);
            Netns.deleteLink(OURS);
        }
    }

    @Test
    void shouldGoDownWithTheLinkAndComeBackWhenItReturnsOrIsRecreated() throws Exception
    {
        Netns.create(NS);
        try
        {
            createPair();
            try (PacketSocketPort port = PacketSocketPort.open(OURS, 7, pool, counters, clock,
                new PacketSocketPort.Options()))
            {
                assertThat(exchange(port, 1)).as("frames flow at first").isTrue();
                final long firstGeneration = port.fdGeneration();

                Netns.must("ip", "link", "set", OURS, "down");
                assertThat(awaitState(port, false)).as("port down after link down").isTrue();
                assertThat(counters.get("port/" + OURS + "/link-down")).isEqualTo(1);
                queue(port, echo(9));
                port.flush();
                assertThat(counters.get("port/" + OURS + "/tx-dropped")).isEqualTo(1);

                Netns.must("ip", "link", "set", OURS, "up");
                assertThat(awaitState(port, true)).as("port up after link up").isTrue();
                assertThat(counters.get("port/" + OURS + "/link-up")).isEqualTo(1);
                assertThat(exchange(port, 2)).as("frames flow after link up").isTrue();
                // the reopened socket usually gets the closed one's number: the generation tells a worker's epoll
                // set that it is a new descriptor all the same
                assertThat(port.fdGeneration()).as("descriptor generation after the reopen (fd " + port.fd() + ")")
                    .isGreaterThan(firstGeneration);
                final long secondGeneration = port.fdGeneration();

                Netns.must("ip", "link", "del", OURS);
                assertThat(awaitState(port, false)).as("port down after the link is deleted").isTrue();
                assertThat(port.counters().linkDowns()).isEqualTo(2);
                assertThat(port.receive(v)).isZero();

                createPair();
                assertThat(awaitState(port, true)).as("port up on the recreated link").isTrue();
                assertThat(counters.get("port/" + OURS + "/link-up")).isEqualTo(2);
                assertThat(exchange(port, 3)).as("frames flow on the recreated link").isTrue();
                assertThat(port.fdGeneration()).as("descriptor generation on the recreated link")
                    .isGreaterThan(secondGeneration);
            }
        }
        finally
        {
            Netns.delete(NS);
            Netns.deleteLink(OURS);
        }
    }

    private boolean awaitState(final PacketSocketPort port, final boolean up) throws InterruptedException
    {
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (System.nanoTime() < deadline)
        {
            port.awaitReadable(20);
            drain(port);
            clock.advance(TimeUnit.MILLISECONDS.toNanos(150));
            if (port.check() == up)
            {
                return true;
            }
            Thread.sleep(50);
        }
        return false;
    }

    private void drain(final PacketSocketPort port)
    {
        port.receive(v);
        for (int i = 0; i < v.count(); i++)
        {
            pool.free(v.get(i));
        }
        v.clear();
    }

    private boolean exchange(final PacketSocketPort port, final int seq)
    {
        queue(port, echo(seq));
        port.flush();
        return awaitEchoReply(port, seq) != null;
    }

    private static byte[] payload(final int seq)
    {
        return ("ferry-ring-" + seq).getBytes(StandardCharsets.US_ASCII);
    }

    private byte[] echo(final int seq)
    {
        return new FrameBuilder().eth(OUR_MAC, peerMac).ip4(OUR_IP, PEER_IP).icmp(8, 0, 0x4242_0000 | seq)
            .payload(payload(seq)).build();
    }

    private void queue(final PacketSocketPort port, final byte[] frame)
    {
        final int h = pool.allocate();
        pool.write(h, frame, 0, frame.length);
        pool.txPort(h, port.id());
        port.transmit(h);
    }

    private byte[] awaitEchoReply(final PacketSocketPort port, final int seq)
    {
        return awaitEchoReplies(port, seq, seq)[seq];
    }

    /** Collects echo replies with sequence numbers in [first, last], indexed by sequence; up to 5 seconds. */
    private byte[][] awaitEchoReplies(final PacketSocketPort port, final int first, final int last)
    {
        final byte[][] got = new byte[last + 1][];
        int missing = last - first + 1;
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (missing > 0 && System.nanoTime() < deadline)
        {
            port.awaitReadable(50);
            port.receive(v);
            for (int i = 0; i < v.count(); i++)
            {
                final int h = v.get(i);
                final byte[] f = pool.toArray(h);
                pool.free(h);
                if (TapPortTest.matches(f, 1, -1) && f[34] == 0)
                {
                    final int seq = Wire.u16(MemorySegment.ofArray(f), 40);
                    if (seq >= first && seq <= last && got[seq] == null)
                    {
                        got[seq] = f;
                        missing--;
                    }
                }
            }
            v.clear();
        }
        return got;
    }

    /** Receives until a frame of the protocol (and UDP port) arrives, freeing every buffer; up to 5 seconds. */
    private byte[] awaitFrame(final PacketSocketPort port, final int protocol, final int udpPort)
    {
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        byte[] found = null;
        while (found == null && System.nanoTime() < deadline)
        {
            port.awaitReadable(50);
            port.receive(v);
            for (int i = 0; i < v.count(); i++)
            {
                final int h = v.get(i);
                final byte[] f = pool.toArray(h);
                assertThat(pool.rxPort(h)).isEqualTo(port.id());
                assertThat(pool.timestamp(h)).as("kernel timestamp").isGreaterThan(1_600_000_000_000_000_000L);
                pool.free(h);
                if (found == null && TapPortTest.matches(f, protocol, udpPort))
                {
                    found = f;
                }
            }
            v.clear();
        }
        return found;
    }
}
