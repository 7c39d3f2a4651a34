package dev.ferry.node;

import dev.ferry.core.Counters;
import dev.ferry.core.packet.FrameBuilder;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.tables.ServiceInfo;
import dev.ferry.core.workers.Handoff;
import dev.ferry.nat.Nat;
import dev.ferry.nodeapi.NodeApiClient;
import dev.ferry.tapio.MemoryPort;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static dev.ferry.node.NodeFixture.GATEWAY_MAC;
import static dev.ferry.node.NodeFixture.POD_A;
import static dev.ferry.node.NodeFixture.POD_B;
import static dev.ferry.node.WorkerHandoffTest.tap;
import static dev.ferry.node.WorkerHandoffTest.u16;
import static dev.ferry.node.WorkerHandoffTest.u32;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 17's fragment rule on a whole node with {@code workers: 2} (memory ports): every fragment of a datagram is
 * translated by the worker that owns the datagram's flow. All the fragments between two addresses meet on one
 * worker (later fragments carry no ports), whose nat44-frag learns the ports; they then cross to the flow's owner,
 * which holds its conntrack entry. Flows of many source ports to one ClusterIP spread over both workers, while their
 * fragments all first meet on the worker of (pod, ClusterIP): so both cases occur, the flow's owner being that worker
 * and being the other one. Each flow sends an unfragmented datagram, then a fragmented one (first fragment first, or
 * last first), and the backend answers in fragments: the fragments must carry the flow's one binding (same backend of
 * two, same source), the answer must come back from the ClusterIP, and the conntrack tables must hold one entry per
 * flow. On a worker without the flow's entry the fragments would make a second binding, perhaps to the other backend.
 */
class WorkerFragmentsTest
{
    private static final int VIP = Ip4.parse("10.96.0.53");
    /** A second backend of the Service, so that a second binding may pick another one. */
    private static final int POD_C = Ip4.parse("10.244.1.4");
    private static final int FLOWS = 16;
    /** UDP header and payload 3,008 bytes: fragments of 1,400, 1,400 and 208. */
    private static final int PAYLOAD = 3000;
    private static final int CHUNK = 1400;
    private static final int FRAGMENTS = 3;
    private static final Duration WAIT = Duration.ofSeconds(20);

    @TempDir
    Path dir;

    private static NodeTables tables()
    {
        final NodeTables base = NodeFixture.tables(1, List.of(POD_A, POD_B, POD_C), List.of("10.244.2.0/24"));
        final ServiceInfo dns = new ServiceInfo("default", "big-dns", "ClusterIP", null, List.of(VIP), List.of(),
            List.of(), false, ServiceInfo.DEFAULT_AFFINITY_TIMEOUT, false, false,
            List.of(new ServiceInfo.ServicePort("", 17, 53, 0, List.of(
                new ServiceInfo.Endpoint(POD_B, 5353, true, true, false, NodeFixture.NODE, "", true),
                new ServiceInfo.Endpoint(POD_C, 5353, true, true, false, NodeFixture.NODE, "", true)))));
        return new NodeTables(1, base.node(), base.cluster(), base.pods(), base.remoteNodes(), List.of(dns), Map.of());
    }

    private static byte[] payload(final int seed)
    {
        final byte[] p = new byte[PAYLOAD];
        for (int i = 0; i < p.length; i++)
        {
            p[i] = (byte)(i * seed);
        }
        return p;
    }

    private static byte[] udp(final int src, final int dst, final int sport, final int dport, final int id,
        final byte[] payload)
    {
        return new FrameBuilder().eth(Ip4.podMac(src), GATEWAY_MAC).ip4(src, dst).id(id).df(false).udp(sport, dport)
            .payload(payload).build();
    }

    /** The UDP header and payload a receiver reassembles from the fragments (ordered by offset). */
    private static byte[] reassemble(final List<byte[]> fragments)
    {
        final List<byte[]> sorted = new ArrayList<>(fragments);
        sorted.sort(Comparator.comparingInt(f -> u16(f, 20) & 0x1fff));
        final java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        for (final byte[] f : sorted)
        {
            assertThat((u16(f, 20) & 0x1fff) * 8).as("fragments contiguous").isEqualTo(out.size());
            out.write(f, 34, 14 + u16(f, 16) - 34);
        }
        return out.toByteArray();
    }

    private static boolean headerChecksumValid(final byte[] f)
    {
        int sum = 0;
        for (int i = 14; i < 34; i += 2)
        {
            sum += u16(f, i);
        }
        while (sum >>> 16 != 0)
        {
            sum = (sum & 0xffff) + (sum >>> 16);
        }
        return sum == 0xffff;
    }

    /** Frames sent by any queue of the devices, until there are {@code count}. */
    private static List<byte[]> await(final NodeFixture node, final List<String> devices, final int count,
        final String what) throws InterruptedException
    {
        final List<byte[]> got = new ArrayList<>();
        NodeFixture.await(what, () ->
        {
            for (final String device : devices)
            {
                for (int q = 0; q < 2; q++)
                {
                    node.ports.port(device, q).drainTransmitted().forEach(f -> got.add(f.bytes()));
                }
            }
            return got.size() >= count;
        }, WAIT);
        return got;
    }

    /** Sends a datagram's fragments, the last first when {@code reversed} (they wait for the first). */
    private static void sendFragmented(final MemoryPort port, final byte[] frame, final boolean reversed)
    {
        final List<byte[]> fragments = new ArrayList<>(FrameBuilder.fragments(frame, CHUNK));
        assertThat(fragments).hasSize(FRAGMENTS);
        if (reversed)
        {
            Collections.reverse(fragments);
        }
        fragments.forEach(port::enqueue);
    }

    private static long sum(final NodeFixture node, final String counter)
    {
        long s = 0;
        for (int w = 0; w < 2; w++)
        {
            final Counters c = node.daemon.worker(w).portContext(0).counters();
            s += c.get(counter);
        }
        return s;
    }

    @Test
    void shouldTranslateEveryFragmentOnItsFlowsOwnerWithTheFlowsBinding() throws Exception
    {
        final NodeConfig config = NodeConfig.defaults(NodeFixture.NODE, dir.resolve("api/ferry.sock"), "eth9")
            .withThreading(ThreadingMode.DEDICATED).withWorkers(2);
        try (NodeFixture node = new NodeFixture(config, tables());
            NodeApiClient client = NodeApiClient.connect(node.socket()))
        {
            node.daemon.attach(NodeFixture.attachRequest("ca", POD_A)).get(10, TimeUnit.SECONDS);
            node.daemon.attach(NodeFixture.attachRequest("cb", POD_B)).get(10, TimeUnit.SECONDS);
            node.daemon.attach(NodeFixture.attachRequest("cc", POD_C)).get(10, TimeUnit.SECONDS);
            final List<String> backends = List.of(tap(POD_B), tap(POD_C));
            final int[] chosen = new int[2];
            client.traceAdd(200);
            for (int f = 0; f < FLOWS; f++)
            {
                final int sport = 33000 + f;
                final MemoryPort podA = node.ports.port(tap(POD_A), f % 2);
                podA.enqueue(udp(POD_A, VIP, sport, 53, 100 + f, new byte[] {1, 2, 3, 4}));
                final List<byte[]> whole = await(node, backends, 1, "flow " + f + "'s unfragmented datagram");
                assertThat(whole).hasSize(1);
                final int backend = u32(whole.get(0), 30);
                assertThat(backend).as("DNAT to a backend").isIn(POD_B, POD_C);
                chosen[backend == POD_B ? 0 : 1]++;
                assertThat(u16(whole.get(0), 36)).isEqualTo(5353);
                final int natSrc = u32(whole.get(0), 26);
                final int natSport = u16(whole.get(0), 34);

                // the same flow's fragmented datagram, on the other queue of the pod's TAP
                final byte[] query = payload(f + 1);
                sendFragmented(node.ports.port(tap(POD_A), (f + 1) % 2), udp(POD_A, VIP, sport, 53, 200 + f, query),
                    f % 2 == 1);
                final List<byte[]> in = await(node, backends, FRAGMENTS, "flow " + f + "'s fragments at a backend");
                assertThat(in).as("flow %d: every fragment forwarded once", f).hasSize(FRAGMENTS);
                for (final byte[] frag : in)
                {
                    assertThat(u32(frag, 26)).as("flow %d: the flow's source on every fragment", f).isEqualTo(natSrc);
                    assertThat(u32(frag, 30)).as("flow %d: the flow's backend on every fragment", f).isEqualTo(backend);
                    assertThat(headerChecksumValid(frag)).as("flow %d: IP header checksum", f).isTrue();
                }
                final byte[] expectedIn = udp(natSrc, backend, natSport, 5353, 0, query);
                assertThat(reassemble(in)).as("flow %d: the backend reassembles the flow's datagram, UDP checksum"
                    + " updated for the binding", f).isEqualTo(Arrays.copyOfRange(expectedIn, 34, expectedIn.length));

                // the backend's answer, fragmented too, arriving on the other worker's queue of its TAP
                final byte[] answer = payload(3 * f + 7);
                sendFragmented(node.ports.port(tap(backend), f % 2), new FrameBuilder().eth(Ip4.podMac(backend),
                    GATEWAY_MAC).ip4(backend, natSrc).id(300 + f).df(false).udp(5353, natSport).payload(answer).build(),
                    f % 3 == 0);
                final List<byte[]> back = await(node, List.of(tap(POD_A)), FRAGMENTS, "flow " + f + "'s answer at the client");
                assertThat(back).as("flow %d: every fragment of the answer forwarded once", f).hasSize(FRAGMENTS);
                for (final byte[] frag : back)
                {
                    assertThat(u32(frag, 26)).as("flow %d: the answer comes from the ClusterIP", f).isEqualTo(VIP);
                    assertThat(u32(frag, 30)).isEqualTo(POD_A);
                    assertThat(headerChecksumValid(frag)).isTrue();
                }
                final byte[] expectedBack = udp(VIP, POD_A, 53, sport, 0, answer);
                assertThat(reassemble(back)).as("flow %d: the client reassembles the answer from ClusterIP:53", f)
                    .isEqualTo(Arrays.copyOfRange(expectedBack, 34, expectedBack.length));
            }
            assertThat(chosen).as("both backends chosen by some flows").doesNotContain(0);
            final List<String> conntrack = node.daemon.show("conntrack").get(10, TimeUnit.SECONDS);
            assertThat(conntrack).as("one entry per flow: no fragment made a second binding on another worker")
                .hasSize(FLOWS);
            final List<String> trace = node.daemon.show("trace").get(10, TimeUnit.SECONDS);
            assertThat(trace).as("some fragments crossed from the worker of their addresses to their flow's owner")
                .anyMatch(l -> l.contains("by its datagram's ports (handed over)"));
            assertThat(trace).as("some later fragments waited for their first one")
                .anyMatch(l -> l.contains("fragment held until its datagram's first fragment arrives"));
            NodeFixture.await("the fragment gauges back at 0", () -> sum(node, Nat.COUNTER_FRAGMENTS_HELD) == 0
                && sum(node, Nat.COUNTER_FRAGMENT_CONTEXTS) == 0, WAIT);
            assertThat(sum(node, Nat.COUNTER_FRAGMENT_TIMEOUTS)).isZero();
            assertThat(sum(node, Handoff.COUNTER_SENT)).as("frames crossed the rings, each taken by its owner")
                .isPositive().isEqualTo(sum(node, Handoff.COUNTER_RECEIVED));
            assertThat(node.daemon.show("stats").get(10, TimeUnit.SECONDS)).contains("workers: 2")
                .contains("No drops");
        }
    }
}
