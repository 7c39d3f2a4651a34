package dev.ferry.tapio;

import dev.ferry.core.Counters;
import dev.ferry.core.header.Wire;
import dev.ferry.core.workers.FlowOwner;
import dev.ferry.core.workers.OwnerProgram;

import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Two AF_PACKET ports on one veth end in one {@code PACKET_FANOUT} group, as two workers would open the uplink:
 * the peer's flows are shared between them by flow hash, each flow on one socket, each frame once; after the link
 * goes down and up both sockets join the group again.
 */
@Tag("netns")
class PacketSocketFanoutTest extends TwoPortFixture
{
    static final String NS = "ferry-tio-fo";
    static final String OURS = "ferry-tfo-v0";
    static final String PEER = "ferry-tfo-v1";
    static final int FLOWS = 32;
    static final int PER_FLOW = 5;
    static final int DPORT = 9999;

    private static void createPair()
    {
        Netns.deleteLink(OURS);
        Netns.must("ip", "link", "add", OURS, "type", "veth", "peer", "name", PEER);
        Netns.disableIpv6(OURS);
        Netns.must("ip", "link", "set", PEER, "netns", NS);
        Netns.must("ip", "-n", NS, "addr", "add", "10.199.9.1/24", "dev", PEER);
        Netns.must("ip", "-n", NS, "link", "set", PEER, "up");
        Netns.must("ip", "-n", NS, "neigh", "replace", "10.199.9.2", "lladdr", "02:fe:00:00:00:02", "dev", PEER);
        Netns.must("ip", "link", "set", OURS, "up");
    }

    @Test
    void shouldShareTheLinksFlowsBetweenTheGroupsSocketsEachFlowOnOne() throws Exception
    {
        Netns.create(NS);
        try
        {
            createPair();
            final int group = PacketSocketPort.fanoutGroup(OURS);
            final PacketSocketPort.Options options = new PacketSocketPort.Options().fanout(group);
            try (PacketSocketPort p0 = PacketSocketPort.open(OURS, 0, pool, counters0, clock, options);
                PacketSocketPort p1 = PacketSocketPort.open(OURS, 1, pool, counters1, clock, options))
            {
                assertThat(p0.fanout()).isEqualTo(group);
                final PacketSocketPort[] ports = {p0, p1};
                sendFlows(0);
                assertFlowsSplit(ports);

                // IPv4 fragments (3,000-byte datagrams over a 1,500 MTU) stay fragments, and a datagram's
                // fragments reach one socket: the hash of a fragment is over addresses and protocol
                Netns.inNs(NS, "python3", "-c", "import socket\n"
                    + "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                    + "for i in range(8):\n"
                    + "    s.sendto(b'f' * 3000, ('10.199.9.2', " + DPORT + "))\n");
                final Map<Integer, Set<Integer>> socketsOfDatagram = new HashMap<>();
                final int fragments = receive(ports, 24, (f, q) ->
                {
                    final MemorySegment s = MemorySegment.ofArray(f);
                    assertThat(f.length).as("not reassembled").isLessThanOrEqualTo(1514);
                    if ((Wire.u16(s, 20) & 0x3fff) != 0)
                    {
                        socketsOfDatagram.computeIfAbsent(Wire.u16(s, 18), k -> new HashSet<>()).add(q);
                    }
                });
                assertThat(fragments).isEqualTo(24);
                assertThat(socketsOfDatagram).hasSize(8);
                assertThat(socketsOfDatagram.values()).allSatisfy(s -> assertThat(s).hasSize(1));

                // the link goes down and up: each socket is made again and joins the group again
                Netns.must("ip", "link", "set", OURS, "down");
                assertThat(awaitState(ports, false)).as("ports down with the link").isTrue();
                Netns.must("ip", "link", "set", OURS, "up");
                assertThat(awaitState(ports, true)).as("ports up again").isTrue();
                sendFlows(100);
                assertFlowsSplit(ports);
            }
        }
        finally
        {
            Netns.delete(NS);
            Netns.deleteLink(OURS);
        }
    }

    /**
     * A steered group: a program that answers the UDP source port's lowest bit sends even ports to the socket of
     * place 0 and odd ones to place 1 (the program's loads start at the network header: {@code ldx msh [0]} is the
     * IPv4 header length). A replaced program takes over at once, and the kernel takes the node's real program
     * (OwnerProgram) too. After the link goes down and up, both sockets are kept (the kernel links them again) and
     * parity steers as before.
     */
    @Test
    void shouldSteerFramesByTheGroupsProgramInJoinOrder() throws Exception
    {
        Netns.create(NS);
        try
        {
            createPair();
            final int group = PacketSocketPort.fanoutGroup(OURS);
            final FanoutSteering steering = new FanoutSteering(new long[] {
                insn(0xb1, 0, 0, 0), // ldx 4 * ([0] & 0xf)
                insn(0x48, 0, 0, 0), // ldh [x + 0]
                insn(0x54, 0, 0, 1), // and #1
                insn(0x16, 0, 0, 0), // ret a
            });
            final long[] parity = steering.program();
            try (PacketSocketPort p0 = PacketSocketPort.open(OURS, 0, pool, counters0, clock,
                new PacketSocketPort.Options().fanout(group).fanoutSteering(steering).fanoutMember(0));
                PacketSocketPort p1 = PacketSocketPort.open(OURS, 1, pool, counters1, clock,
                new PacketSocketPort.Options().fanout(group).fanoutSteering(steering).fanoutMember(1)))
            {
                assertThat(steering.mode()).isEqualTo(FanoutSteering.CBPF);
                assertThat(p0.fanoutMode()).isEqualTo(FanoutSteering.CBPF);
                assertThat(p1.fanoutMode()).isEqualTo(FanoutSteering.CBPF);
                final PacketSocketPort[] ports = {p0, p1};
                assertSteeredByParity(ports, 0);

                steering.program(new long[] {insn(0x06, 0, 0, 1)}); // ret #1
                clock.advance(TimeUnit.MILLISECONDS.toNanos(150));
                p0.check();
                sendFlows(100);
                assertThat(receive(ports, FLOWS * PER_FLOW, (f, q) -> assertThat(q).isEqualTo(1)))
                    .isEqualTo(FLOWS * PER_FLOW);

                final FlowOwner rule = new FlowOwner(2, new int[] {0x0ac7_0902}, 1024, 65535,
                    FlowOwner.NO_SERVICES, 42);
                steering.program(OwnerProgram.generate(rule, 8472));
                clock.advance(TimeUnit.MILLISECONDS.toNanos(150));
                p1.check();
                // 10.199.9.1:20000+i -> 10.199.9.2:9999, DPORT is inside the range of the SNAT address: rule 1
                sendFlows(200);
                final int partition = rule.partitionOf(DPORT);
                assertThat(receive(ports, FLOWS * PER_FLOW, (f, q) -> assertThat(q).isEqualTo(partition)))
                    .isEqualTo(FLOWS * PER_FLOW);

                // with Service roles at the cap, the kernel's checker takes a program of some 3000 instructions
                // with trampolines; the destination is a frontend, so each flow goes to its source's worker (rule 2)
                final long[] frontends = new long[OwnerProgram.MAX_ROLES];
                frontends[0] = FlowOwner.endpoint(17, 0x0ac7_0902, DPORT);
                for (int i = 1; i < frontends.length; i++)
                {
                    frontends[i] = FlowOwner.endpoint(i % 2 == 0 ? 6 : 17, 0x0a60_0000 + i * 7919, 1 + i);
                }
                final Set<Long> listed = new HashSet<>();
                for (final long e : frontends)
                {
                    listed.add(e);
                }
                final FlowOwner services = new FlowOwner(2, new int[] {0x0ac7_0902}, 1024, 65535,
                    new FlowOwner.Roles()
                    {
                        @Override
                        public boolean frontend(final int proto, final int ip, final int port)
                        {
                            return listed.contains(FlowOwner.endpoint(proto, ip, port));
                        }

                        @Override
                        public boolean backend(final int proto, final int ip, final int port)
                        {
                            return false;
                        }
                    }, 42);
                final long[] big = OwnerProgram.generate(services, 8472, frontends, new long[0]);
                assertThat(big.length).isGreaterThan(2500);
                steering.program(big);
                clock.advance(TimeUnit.MILLISECONDS.toNanos(150));
                p1.check();
                assertThat(steering.mode()).isEqualTo(FanoutSteering.CBPF);
                sendFlows(300);
                final int[] perWorker = new int[2];
                assertThat(receive(ports, FLOWS * PER_FLOW, (f, q) ->
                {
                    final int sport = Wire.u16(MemorySegment.ofArray(f), 34);
                    assertThat(q).as("source port %d", sport)
                        .isEqualTo(services.owner(17, 0x0ac7_0901, sport, 0x0ac7_0902, DPORT));
                    perWorker[q]++;
                })).isEqualTo(FLOWS * PER_FLOW);
                assertThat(perWorker).as("flows anchored on their sources spread").doesNotContain(0);

                steering.program(parity);
                final int fd0 = p0.fd();
                final int fd1 = p1.fd();
                Netns.must("ip", "link", "set", OURS, "down");
                assertThat(awaitState(ports, false)).as("ports down with the link").isTrue();
                Netns.must("ip", "link", "set", OURS, "up");
                awaitCarrier();
                assertThat(awaitState(ports, true)).as("ports up again").isTrue();
                // the sockets were kept: the kernel linked them again, in creation order
                assertThat(p0.fd()).isEqualTo(fd0);
                assertThat(p1.fd()).isEqualTo(fd1);
                assertThat(steering.slots()).containsExactly(0, 1);
                assertThat(p0.fanoutMode()).isEqualTo(FanoutSteering.CBPF);
                assertThat(p1.fanoutMode()).isEqualTo(FanoutSteering.CBPF);
                assertSteeredByParity(ports, 300);
            }
        }
        finally
        {
            Netns.delete(NS);
            Netns.deleteLink(OURS);
        }
    }

    /**
     * Three and four sockets in one steered group, each frame's worker its UDP source port modulo the workers: the
     * sockets join out of place order, members close and open again (the middle one, the first to join, two at
     * once, reopened in reverse order), and the link goes down and up (quickly, and slowly); after each, every
     * frame whose program answer is a worker with a socket lands on that socket, and the others on some socket.
     */
    @Test
    void shouldSteerEachWorkersFramesToItsSocketInAnyJoinOrderForThreeAndFourWorkers() throws Exception
    {
        Netns.create(NS);
        try
        {
            createPair();
            for (final int n : new int[] {3, 4})
            {
                steerPlaces(n);
            }
        }
        finally
        {
            Netns.delete(NS);
            Netns.deleteLink(OURS);
        }
    }

    private void steerPlaces(final int n) throws Exception
    {
        final int group = PacketSocketPort.fanoutGroup(OURS);
        final FanoutSteering steering = new FanoutSteering(new long[] {
            insn(0xb1, 0, 0, 0), // ldx 4 * ([0] & 0xf)
            insn(0x48, 0, 0, 0), // ldh [x + 0]
            insn(0x94, 0, 0, n), // mod #n
            insn(0x16, 0, 0, 0), // ret a
        });
        final PacketSocketPort[] byPlace = new PacketSocketPort[n];
        final Counters[] counters = new Counters[n];
        try
        {
            // join order: the last place first, then the others
            open(byPlace, counters, steering, group, n - 1);
            for (int p = 0; p < n - 1; p++)
            {
                open(byPlace, counters, steering, group, p);
            }
            assertSteeredByPlace(byPlace, 1000);
            final int changes = steering.tableChanges();

            // the middle one leaves: the last member moves into its slot; its frames go to a stand-in
            close(byPlace, counters, 1);
            assertSteeredByPlace(byPlace, 1100);
            open(byPlace, counters, steering, group, 1);
            assertSteeredByPlace(byPlace, 1200);

            // the first to join (place n - 1, slot 0 until now) leaves and comes back
            close(byPlace, counters, n - 1);
            assertSteeredByPlace(byPlace, 1300);
            open(byPlace, counters, steering, group, n - 1);
            assertSteeredByPlace(byPlace, 1400);

            // two at once, back in reverse order
            close(byPlace, counters, 0);
            close(byPlace, counters, n - 1);
            assertSteeredByPlace(byPlace, 1500);
            open(byPlace, counters, steering, group, n - 1);
            open(byPlace, counters, steering, group, 0);
            assertSteeredByPlace(byPlace, 1600);
            assertThat(steering.tableChanges()).as("the table followed the members").isGreaterThan(changes);

            // the member in slot 0 leaves and comes back: the array is no longer in creation order
            int first = 0;
            while (steering.slots()[first] != 0)
            {
                first++;
            }
            close(byPlace, counters, first);
            open(byPlace, counters, steering, group, first);
            assertSteeredByPlace(byPlace, 1650);
            final int[] beforeFlap = steering.slots();

            // a quick flap: down and up before any port looks; the kernel links the kept sockets again, in creation
            // order, which the model takes when the first port reports the flap
            Netns.must("sh", "-c", "ip link set " + OURS + " down && ip link set " + OURS + " up");
            awaitCarrier();
            awaitFlapSeen(byPlace);
            assertThat(steering.slots()).as("the flap reordered the members").isNotEqualTo(beforeFlap);
            assertSteeredByPlace(byPlace, 1700);

            // a slow one: the ports see the link down, then up
            Netns.must("ip", "link", "set", OURS, "down");
            assertThat(awaitState(byPlace, false)).as("ports down with the link").isTrue();
            Netns.must("ip", "link", "set", OURS, "up");
            awaitCarrier();
            assertThat(awaitState(byPlace, true)).as("ports up again").isTrue();
            assertSteeredByPlace(byPlace, 1800);
            assertThat(steering.slots()).hasSize(n);
        }
        finally
        {
            for (int p = 0; p < n; p++)
            {
                if (byPlace[p] != null)
                {
                    close(byPlace, counters, p);
                }
            }
        }
    }

    private void open(final PacketSocketPort[] byPlace, final Counters[] counters, final FanoutSteering steering,
        final int group, final int place) throws NativeException
    {
        counters[place] = Counters.inMemory(64);
        byPlace[place] = PacketSocketPort.open(OURS, place, pool, counters[place], clock,
            new PacketSocketPort.Options().fanout(group).fanoutSteering(steering).fanoutMember(place));
        assertThat(byPlace[place].fanoutMode()).isEqualTo(FanoutSteering.CBPF);
    }

    private static void close(final PacketSocketPort[] byPlace, final Counters[] counters, final int place)
    {
        byPlace[place].close();
        byPlace[place] = null;
        counters[place].close();
        counters[place] = null;
    }

    /** Checks every port until each has seen the quick flap (link-down counted) and is up again. */
    private void awaitFlapSeen(final PacketSocketPort[] ports) throws InterruptedException
    {
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (System.nanoTime() < deadline)
        {
            clock.advance(TimeUnit.MILLISECONDS.toNanos(150));
            boolean all = true;
            for (final PacketSocketPort p : ports)
            {
                if (p != null)
                {
                    all &= p.check() && p.counters().linkDowns() == 1;
                }
            }
            if (all)
            {
                return;
            }
            Thread.sleep(50);
        }
        throw new AssertionError("the ports did not see the quick flap");
    }

    /**
     * Sends the flows; a frame whose worker (source port modulo the places) has a socket must land on it, the
     * others on any socket; every present place gets frames.
     */
    private void assertSteeredByPlace(final PacketSocketPort[] byPlace, final int base)
    {
        final int n = byPlace.length;
        sendFlows(base);
        final int[] per = new int[n];
        final int[] wrong = new int[1];
        assertThat(receive(byPlace, FLOWS * PER_FLOW, (f, q) ->
        {
            per[q]++;
            final int w = Wire.u16(MemorySegment.ofArray(f), 34) % n;
            if (byPlace[w] != null && w != q)
            {
                wrong[0]++;
            }
        })).as("every frame once").isEqualTo(FLOWS * PER_FLOW);
        assertThat(wrong[0]).as("frames on another socket than their worker's (%d places, base %d)", n, base).isZero();
        for (int p = 0; p < n; p++)
        {
            if (byPlace[p] != null)
            {
                assertThat(per[p]).as("place %d got its frames", p).isPositive();
            }
        }
    }

    /** Waits (real time, at most 10 s) until the veth's carrier is up: a port's check opens only a running link. */
    private static void awaitCarrier() throws InterruptedException
    {
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!Netns.must("cat", "/sys/class/net/" + OURS + "/operstate").trim().equals("up")
            && System.nanoTime() < deadline)
        {
            Thread.sleep(20);
        }
    }

    private void assertSteeredByParity(final PacketSocketPort[] ports, final int base)
    {
        sendFlows(base);
        final int[] wrong = new int[1];
        final int[] per = new int[2];
        assertThat(receive(ports, FLOWS * PER_FLOW, (f, q) ->
        {
            per[q]++;
            if ((Wire.u16(MemorySegment.ofArray(f), 34) & 1) != q)
            {
                wrong[0]++;
            }
        })).isEqualTo(FLOWS * PER_FLOW);
        assertThat(wrong[0]).as("frames on the other socket than their source port's parity").isZero();
        assertThat(per[0]).isEqualTo(per[1]);
    }

    private static long insn(final int code, final int jt, final int jf, final int k)
    {
        return (long)code << 48 | (long)jt << 40 | (long)jf << 32 | k & 0xffffffffL;
    }

    @Test
    void shouldRefuseAFanoutOnAMissingLinkOrAGroupIdOfAnotherLink() throws Exception
    {
        final String a = "ferry-tfo-a0";
        final String b = "ferry-tfo-b0";
        try
        {
            final PacketSocketPort.Options gone = new PacketSocketPort.Options().fanout(4242);
            assertThatThrownBy(() -> PacketSocketPort.open("ferry-tfo-gone", 0, pool, counters0, clock, gone))
                .isInstanceOf(NativeException.class)
                .hasMessage("if_nametoindex(ferry-tfo-gone): No such device (errno 19)");
            assertThatThrownBy(() -> PacketSocketPort.fanoutGroup("ferry-tfo-gone"))
                .hasMessage("if_nametoindex(ferry-tfo-gone): No such device (errno 19)");
            assertThatThrownBy(() -> new PacketSocketPort.Options().fanout(65536))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("0 to 65535");

            Netns.deleteLink(a);
            Netns.deleteLink(b);
            Netns.must("ip", "link", "add", a, "type", "veth", "peer", "name", "ferry-tfo-a1");
            Netns.must("ip", "link", "add", b, "type", "veth", "peer", "name", "ferry-tfo-b1");
            Netns.must("ip", "link", "set", a, "up");
            Netns.must("ip", "link", "set", b, "up");
            final int group = PacketSocketPort.fanoutGroup(a);
            assertThat(PacketSocketPort.fanoutGroup(b)).as("another link, another group").isNotEqualTo(group);
            final PacketSocketPort.Options same = new PacketSocketPort.Options().fanout(group);
            try (PacketSocketPort first = PacketSocketPort.open(a, 0, pool, counters0, clock, same))
            {
                assertThat(first.isUp()).isTrue();
                assertThatThrownBy(() -> PacketSocketPort.open(b, 1, pool, counters1, clock, same))
                    .isInstanceOf(NativeException.class)
                    .hasMessageStartingWith("setsockopt(PACKET_FANOUT, group " + group + ", " + b
                        + "): Invalid argument (errno 22); the group id is taken");
            }
        }
        finally
        {
            Netns.deleteLink(a);
            Netns.deleteLink(b);
        }
    }

    /** The peer sends FLOWS flows of PER_FLOW datagrams, source ports from 20000 + base. */
    private static void sendFlows(final int base)
    {
        Netns.inNs(NS, "python3", "-c", "import socket\n"
            + "for i in range(" + FLOWS + "):\n"
            + "    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            + "    s.bind(('10.199.9.1', " + (20000 + base) + " + i))\n"
            + "    for k in range(" + PER_FLOW + "):\n"
            + "        s.sendto(b'flow', ('10.199.9.2', " + DPORT + "))\n"
            + "    s.close()\n");
    }

    private void assertFlowsSplit(final PacketSocketPort[] ports)
    {
        final long before0 = ports[0].counters().rxPackets();
        final long before1 = ports[1].counters().rxPackets();
        final Map<Integer, Set<Integer>> socketsOf = new HashMap<>();
        final int[] per = new int[2];
        final int got = receive(ports, FLOWS * PER_FLOW, (f, q) ->
        {
            socketsOf.computeIfAbsent(Wire.u16(MemorySegment.ofArray(f), 34), k -> new HashSet<>()).add(q);
            per[q]++;
        });
        assertThat(got).as("every datagram once").isEqualTo(FLOWS * PER_FLOW);
        assertThat(socketsOf).hasSize(FLOWS);
        assertThat(socketsOf.values()).as("each flow on one socket").allSatisfy(s -> assertThat(s).hasSize(1));
        assertThat(per[0]).as("socket 0 got flows").isPositive();
        assertThat(per[1]).as("socket 1 got flows").isPositive();
        assertThat(ports[0].counters().rxPackets() - before0 + ports[1].counters().rxPackets() - before1)
            .as("rx-packets of both add up to what was sent").isEqualTo(FLOWS * PER_FLOW);
    }

    /** A received UDP frame to DPORT and the index of the socket that had it. */
    private interface Seen
    {
        void frame(byte[] frame, int socket);
    }

    /** Reads both sockets until {@code expected} UDP frames to DPORT arrived or 10 s passed; frees everything. */
    private int receive(final PacketSocketPort[] ports, final int expected, final Seen seen)
    {
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        int total = 0;
        while (total < expected && System.nanoTime() < deadline)
        {
            for (int q = 0; q < ports.length; q++)
            {
                if (ports[q] == null)
                {
                    continue;
                }
                ports[q].awaitReadable(10);
                ports[q].receive(v);
                for (int i = 0; i < v.count(); i++)
                {
                    final int h = v.get(i);
                    final byte[] f = pool.toArray(h);
                    pool.free(h);
                    if (TapPortTest.matches(f, 17, -1))
                    {
                        seen.frame(f, q);
                        total++;
                    }
                }
                v.clear();
            }
        }
        return total;
    }

    private boolean awaitState(final PacketSocketPort[] ports, final boolean up) throws InterruptedException
    {
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (System.nanoTime() < deadline)
        {
            clock.advance(TimeUnit.MILLISECONDS.toNanos(150));
            boolean all = true;
            for (final PacketSocketPort p : ports)
            {
                all &= p == null || p.check() == up;
            }
            if (all)
            {
                return true;
            }
            Thread.sleep(50);
        }
        return false;
    }
}
