package dev.ferry.core;

import dev.ferry.core.header.EthernetHeader;
import dev.ferry.core.header.Ip4Header;
import dev.ferry.core.graph.GraphAssembly;
import dev.ferry.core.packet.FrameBuilder;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.route.Ip4Prefix;
import dev.ferry.core.stage.EthernetInput;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.tables.TablesPublisher;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Issue 2: no allocation in the hot path. The whole L3 graph forwards pod-to-pod frames, re-armed from
 * templates into pool buffers; after a warm-up the thread's allocated bytes are measured across a million
 * packets and must stay under one byte per packet.
 */
class GraphAllocationTest
{
    private static final int PODS = 8;
    private static final int VECTOR = PacketVector.CAPACITY;
    private static final int FRAME = 64;
    private static final Ip4Prefix POD_CIDR = Ip4Prefix.parse("10.244.1.0/24");
    private static final long GATEWAY_MAC = Ip4.parseMac("0a:58:0a:f4:01:01");

    private PacketPool pool;
    private Counters counters;
    private Graph graph;
    private int entry;
    private CheckingSink sink;
    private final byte[][] templates = new byte[VECTOR][];
    private final int[] rxPort = new int[VECTOR];
    private final int[] txPort = new int[VECTOR];

    @BeforeEach
    void buildNode()
    {
        pool = new PacketPool(2 * VECTOR);
        counters = Counters.inMemory(4096);
        final Ports ports = new Ports();
        final List<NodeTables.PodInfo> pods = new ArrayList<>();
        for (int p = 0; p < PODS; p++)
        {
            ports.add("pod-" + p, Ports.Kind.POD, GATEWAY_MAC);
            pods.add(new NodeTables.PodInfo("t", "pod-" + p, podIp(p), Ip4.podMac(podIp(p)), "pod-" + p));
        }
        final NodeTables.NodeInfo node = new NodeTables.NodeInfo("n1", List.of(Ip4.parse("192.168.1.10")), POD_CIDR,
            POD_CIDR.host(1), GATEWAY_MAC, Ip4.parseMac("02:00:00:00:00:01"), Ip4.parseMac("9e:00:00:00:00:01"),
            Ip4.parse("192.168.1.10"), 0, Ip4Prefix.parse("192.168.1.0/24"), 1500);
        final TablesPublisher publisher = new TablesPublisher(ports, false);
        publisher.publish(new NodeTables(1, node, NodeTables.ClusterSettings.defaults(), pods, List.of(), List.of(),
            Map.of()));
        final ManualClock clock = new ManualClock(1L);
        sink = new CheckingSink();
        graph = GraphAssembly.of(pool, counters, clock, ports, publisher, publisher.ref()).sink(sink).build();
        entry = graph.indexOf(EthernetInput.NAME);
        for (int i = 0; i < VECTOR; i++)
        {
            final int src = i % PODS;
            final int dst = (src + 1 + i / PODS % (PODS - 1)) % PODS;
            templates[i] = new FrameBuilder().eth(Ip4.podMac(podIp(src)), GATEWAY_MAC).ip4(podIp(src), podIp(dst))
                .ttl(64).udp(10000 + i, 53).payload(new byte[FRAME - 42]).build();
            rxPort[i] = ports.idOf("pod-" + src);
            txPort[i] = ports.idOf("pod-" + dst);
        }
    }

    @AfterEach
    void close()
    {
        pool.close();
        counters.close();
    }

    private static int podIp(final int p)
    {
        return POD_CIDR.host(10 + p);
    }

    /** One vector in: allocate, copy the template in (fresh TTL and checksum), queue; then run the graph. */
    private void forwardVector()
    {
        for (int i = 0; i < VECTOR; i++)
        {
            final int h = pool.allocate();
            pool.write(h, templates[i], 0, templates[i].length);
            pool.rxPort(h, rxPort[i]);
            graph.input(entry, h);
        }
        graph.run();
    }

    @Test
    void shouldForwardEveryPacketToItsPodWithTtlDecrementedAndMacsRewritten()
    {
        forwardVector();

        assertThat(counters.get("graph/transmit")).as("every packet transmitted").isEqualTo(VECTOR);
        assertThat(sink.wellFormed).as("frames out with TTL 63, valid checksum, gateway src MAC, pod dst MAC, on the"
            + " destination pod's port").isEqualTo(VECTOR);
        for (int p = 0; p < PODS; p++)
        {
            long expected = 0;
            for (int i = 0; i < VECTOR; i++)
            {
                expected += txPort[i] == p ? 1 : 0;
            }
            assertThat(sink.transmittedOnPort[p]).as("packets out of pod-%d", p).isEqualTo(expected);
        }
        assertThat(pool.available()).as("every buffer back in the pool").isEqualTo(pool.capacity());
    }

    @Test
    void shouldAllocateLessThanOneBytePerPacketOnceWarm()
    {
        final java.lang.management.ThreadMXBean generic = ManagementFactory.getThreadMXBean();
        assumeTrue(generic instanceof com.sun.management.ThreadMXBean, "this JVM cannot count allocated bytes");
        final com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean)generic;
        assumeTrue(threads.isThreadAllocatedMemorySupported(), "thread allocation accounting not supported");
        threads.setThreadAllocatedMemoryEnabled(true);

        final int warmVectors = 2_000_000 / VECTOR;
        for (int v = 0; v < warmVectors; v++)
        {
            forwardVector();
        }
        final int vectors = 1_000_000 / VECTOR;
        final long packets = (long)vectors * VECTOR;
        final long before = threads.getCurrentThreadAllocatedBytes();
        for (int v = 0; v < vectors; v++)
        {
            forwardVector();
        }
        final long allocated = threads.getCurrentThreadAllocatedBytes() - before;
        System.out.printf("L3 graph, warm: %d bytes allocated over %d packets (%.4f B/packet)%n", allocated, packets,
            (double)allocated / packets);

        assertThat(counters.get("graph/transmit")).as("every packet forwarded, none dropped")
            .isEqualTo((long)(warmVectors + vectors) * VECTOR);
        assertThat((double)allocated / packets).as("bytes allocated per packet (%d bytes over %d packets)",
            allocated, packets).isLessThan(1.0);
        assertThat(pool.available()).as("every buffer back in the pool").isEqualTo(pool.capacity());
    }

    /**
     * Checks each transmitted frame through flyweights (no allocation), counts it per port, frees it.
     */
    private final class CheckingSink implements TxSink
    {
        final long[] transmittedOnPort = new long[PODS];
        long wellFormed;
        private final EthernetHeader eth = new EthernetHeader();
        private final Ip4Header ip = new Ip4Header();

        @Override
        public void transmit(final int h)
        {
            final int port = pool.txPort(h);
            transmittedOnPort[port]++;
            final long frame = pool.frameOffset(h);
            eth.wrap(pool.memory(), frame);
            ip.wrap(pool.memory(), frame + EthernetHeader.LENGTH);
            final int dst = ip.dst();
            if (ip.ttl() == 63 && ip.checksumValid() && eth.src() == GATEWAY_MAC && eth.dst() == Ip4.podMac(dst)
                && port == dst - podIp(0))
            {
                wellFormed++;
            }
            pool.free(h);
        }
    }
}
