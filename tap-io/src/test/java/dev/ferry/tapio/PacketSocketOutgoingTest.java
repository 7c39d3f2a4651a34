package dev.ferry.tapio;

import dev.ferry.core.header.Wire;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Ports in a fanout group do not take the frames the host's own stack sends out of their link. The link is a veth
 * end inside a namespace with an address (the node), the other end in a second namespace (the wire's far side); the
 * ports are opened inside the first. Its stack sends datagrams to the peer (and answers the peer's datagrams with
 * ICMP port unreachable): none of those may reach the ports' receivers, while every datagram from the peer does.
 * In a group the kernel hands frames to the group's hook, which ignores the socket's {@code PACKET_IGNORE_OUTGOING};
 * without {@code PACKET_FANOUT_FLAG_IGNORE_OUTGOING} and the receive path's check both ports took the host's frames.
 */
@Tag("netns")
class PacketSocketOutgoingTest extends TwoPortFixture
{
    static final String NS = "ferry-tio-og";
    static final String WIRE = "ferry-tio-ogw";
    static final String OURS = "ferry-tog-v0";
    static final String PEER = "ferry-tog-v1";
    static final String OUR_MAC = "02:fe:00:00:31:02";
    static final String PEER_MAC = "02:fe:00:00:31:01";
    static final String OUR_IP = "10.199.31.2";
    static final String PEER_IP = "10.199.31.1";
    /** Datagrams the node's stack sends to the peer. */
    static final int HOST_SENDS = 40;
    /** Datagrams the peer sends to the node, each from its own source port (flows spread over both sockets). */
    static final int PEER_SENDS = 40;
    static final int HOST_DPORT = 9997;
    static final int PEER_DPORT = 9998;

    /** Two ports join with the flag: the group's hook skips the host's frames in the kernel (Linux 6.2 on). */
    @Test
    @SuppressWarnings("try")
    void shouldNotReceiveTheFramesTheHostSendsOutOfAFanoutLink() throws Exception
    {
        createLink();
        try (NetnsSwitch ignored = NetnsSwitch.enter(Netns.path(NS)))
        {
            final int group = PacketSocketPort.fanoutGroup(OURS);
            final PacketSocketPort.Options options = new PacketSocketPort.Options().fanout(group);
            try (PacketSocketPort p0 = PacketSocketPort.open(OURS, 0, pool, counters0, clock, options);
                PacketSocketPort p1 = PacketSocketPort.open(OURS, 1, pool, counters1, clock, options))
            {
                assertThat(p0.fanoutIgnoresOutgoing()).isTrue();
                assertThat(p1.fanoutIgnoresOutgoing()).isTrue();
                final PacketSocketPort[] ports = {p0, p1};
                exchange(ports);
                if (kernelAtLeast(6, 2))
                {
                    // the kernel's hook skipped them: the ring never had them
                    assertThat(outgoing(ports)).as("rx-outgoing").isZero();
                }
            }
        }
        finally
        {
            deleteLink();
        }
    }

    /**
     * The group is made without the flag (a kernel before 6.2 takes it and does nothing): the host's frames reach the
     * rings, and the receive path drops them by their {@code sll_pkttype} and counts them. The second port asks for
     * the flag, the kernel refuses it (a group's members must agree on flags), and it joins without.
     */
    @Test
    @SuppressWarnings("try")
    void shouldDropTheHostsFramesByTheirPacketTypeWhenTheGroupTakesThem() throws Exception
    {
        createLink();
        try (NetnsSwitch ignored = NetnsSwitch.enter(Netns.path(NS)))
        {
            final int group = PacketSocketPort.fanoutGroup(OURS);
            try (PacketSocketPort p0 = PacketSocketPort.open(OURS, 0, pool, counters0, clock,
                new PacketSocketPort.Options().fanout(group).fanoutIgnoreOutgoing(false));
                PacketSocketPort p1 = PacketSocketPort.open(OURS, 1, pool, counters1, clock,
                new PacketSocketPort.Options().fanout(group)))
            {
                assertThat(p0.fanoutIgnoresOutgoing()).isFalse();
                assertThat(p1.fanoutIgnoresOutgoing()).as("joined without the flag").isFalse();
                final PacketSocketPort[] ports = {p0, p1};
                exchange(ports);
                // the datagrams, and any port unreachable the stack sent back: each frame to one socket of the group
                assertThat(outgoing(ports)).as("rx-outgoing").isGreaterThanOrEqualTo(HOST_SENDS);
                assertThat(p0.counters().rxErrorCount() + p1.counters().rxErrorCount()).isZero();
            }
        }
        finally
        {
            deleteLink();
        }
    }

    /** The packet type is the byte the kernel writes at 32 + 10 of a ring frame; only 4 is the host's own. */
    @Test
    void shouldReadThePacketTypeFromTheSockaddrAfterTheRingHeader()
    {
        final MemorySegment ring = MemorySegment.ofArray(new byte[2 * 4096]);
        final long frame = 4096;
        for (final int type : new int[] {0, 1, 2, 3, 5, 6, 7})
        {
            ring.set(ValueLayout.JAVA_BYTE, frame + 42, (byte)type);
            assertThat(PacketSocketPort.outgoing(ring, frame)).as("pkttype %d", type).isFalse();
        }
        ring.set(ValueLayout.JAVA_BYTE, frame + 42, (byte)4);
        assertThat(PacketSocketPort.outgoing(ring, frame)).isTrue();
        assertThat(PacketSocketPort.outgoing(ring, 0)).as("another frame's byte").isFalse();
    }

    /**
     * The node's stack sends HOST_SENDS datagrams to the peer, then the peer sends PEER_SENDS to the node; the ports
     * must hand over every one of the peer's and nothing with the node's source address.
     */
    private void exchange(final PacketSocketPort[] ports) throws InterruptedException
    {
        Netns.inNs(NS, "python3", "-c", "import socket\n"
            + "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            + "for i in range(" + HOST_SENDS + "):\n"
            + "    s.sendto(b'from the host', ('" + PEER_IP + "', " + HOST_DPORT + "))\n");
        Netns.inNs(WIRE, "python3", "-c", "import socket\n"
            + "for i in range(" + PEER_SENDS + "):\n"
            + "    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            + "    s.bind(('" + PEER_IP + "', 21000 + i))\n"
            + "    s.sendto(b'from the peer', ('" + OUR_IP + "', " + PEER_DPORT + "))\n"
            + "    s.close()\n");
        final long ourMac = mac(OUR_MAC);
        final long peerMac = mac(PEER_MAC);
        final int[] seen = new int[3];
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (seen[0] < PEER_SENDS && System.nanoTime() < deadline)
        {
            receive(ports, ourMac, peerMac, seen);
        }
        // the port unreachables answer the peer's datagrams after they arrived: give them time to show
        final long quiet = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(300);
        while (System.nanoTime() < quiet)
        {
            receive(ports, ourMac, peerMac, seen);
        }
        assertThat(seen[1]).as("frames the host sent, handed to the receiver").isZero();
        assertThat(seen[0]).as("the peer's datagrams").isEqualTo(PEER_SENDS);
        assertThat(seen[2]).as("per socket: both took flows").isPositive().isLessThan(PEER_SENDS);
        assertThat(ports[0].counters().rxPackets() + ports[1].counters().rxPackets())
            .as("rx-packets counts what was handed over").isGreaterThanOrEqualTo(PEER_SENDS);
    }

    /** Reads both ports once; seen: the peer's datagrams, frames from the node, the peer's datagrams on port 0. */
    private void receive(final PacketSocketPort[] ports, final long ourMac, final long peerMac, final int[] seen)
    {
        for (int q = 0; q < ports.length; q++)
        {
            ports[q].awaitReadable(10);
            ports[q].receive(v);
            for (int i = 0; i < v.count(); i++)
            {
                final int h = v.get(i);
                final byte[] f = pool.toArray(h);
                pool.free(h);
                final MemorySegment s = MemorySegment.ofArray(f);
                final long source = (long)Wire.u16(s, 6) << 32 | Wire.u32(s, 8) & 0xffff_ffffL;
                if (source == ourMac)
                {
                    seen[1]++;
                }
                else if (source == peerMac && TapPortTest.matches(f, 17, PEER_DPORT))
                {
                    seen[0]++;
                    if (q == 0)
                    {
                        seen[2]++;
                    }
                }
            }
            v.clear();
        }
    }

    private static long outgoing(final PacketSocketPort[] ports)
    {
        long n = 0;
        for (final PacketSocketPort p : ports)
        {
            n += p.counters().counters().get("port/" + OURS + "/rx-outgoing");
        }
        return n;
    }

    /** The node's namespace holds our end with an address, the wire's the peer; static neighbours, no ARP. */
    private static void createLink() throws InterruptedException
    {
        deleteLink();
        Netns.create(NS);
        Netns.create(WIRE);
        Netns.must("ip", "-n", NS, "link", "add", OURS, "address", OUR_MAC, "type", "veth", "peer", "name", PEER,
            "address", PEER_MAC, "netns", WIRE);
        Netns.must("ip", "-n", NS, "addr", "add", OUR_IP + "/24", "dev", OURS);
        Netns.must("ip", "-n", WIRE, "addr", "add", PEER_IP + "/24", "dev", PEER);
        Netns.must("ip", "-n", NS, "link", "set", OURS, "up");
        Netns.must("ip", "-n", WIRE, "link", "set", PEER, "up");
        Netns.must("ip", "-n", NS, "neigh", "replace", PEER_IP, "lladdr", PEER_MAC, "nud", "permanent", "dev", OURS);
        Netns.must("ip", "-n", WIRE, "neigh", "replace", OUR_IP, "lladdr", OUR_MAC, "nud", "permanent", "dev", PEER);
        awaitCarrier();
    }

    /** Deleting the namespaces deletes the veth; the root namespace's names are checked too, should a run have died. */
    private static void deleteLink()
    {
        Netns.delete(NS);
        Netns.delete(WIRE);
        Netns.deleteLink(OURS);
        Netns.deleteLink(PEER);
    }

    /** Waits (at most 10 s) until our end's carrier is up. */
    private static void awaitCarrier() throws InterruptedException
    {
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!Netns.must("ip", "-n", NS, "-o", "link", "show", OURS).contains("state UP")
            && System.nanoTime() < deadline)
        {
            Thread.sleep(20);
        }
    }

    private static long mac(final String text)
    {
        return Long.parseLong(text.replace(":", ""), 16);
    }

    private static boolean kernelAtLeast(final int major, final int minor)
    {
        final String[] parts = System.getProperty("os.version").split("[.-]");
        final int ma = Integer.parseInt(parts[0]);
        final int mi = Integer.parseInt(parts[1]);
        return ma > major || ma == major && mi >= minor;
    }
}
