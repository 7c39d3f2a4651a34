package dev.ferry.core;

import dev.ferry.core.graph.GraphAssembly;
import dev.ferry.core.graph.GraphFeature;
import dev.ferry.core.packet.FrameBuilder;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.route.Ip4Prefix;
import dev.ferry.core.stage.EthernetInput;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.tables.TablesPublisher;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 13, class 1: a stage that throws must not corrupt the graph. A feature stage between ip4-input and
 * ip4-lookup throws on its third vector, after handing on part of it (and, in one test, after allocating a buffer
 * of its own). Forwarding continues on the next vectors, every frame is either transmitted or counted as a drop,
 * and every buffer is back in the pool.
 */
class GraphContainmentTest
{
    private static final int PODS = 4;
    private static final int VECTOR = 100;
    private static final Ip4Prefix POD_CIDR = Ip4Prefix.parse("10.244.1.0/24");
    private static final long GATEWAY_MAC = Ip4.parseMac("0a:58:0a:f4:01:01");

    private PacketPool pool;
    private Counters counters;
    private Graph graph;
    private Ports ports;
    private int entry;
    private long transmitted;
    private Thrower thrower;
    private byte[][] sinkCapture;

    @BeforeEach
    void buildNode()
    {
        pool = new PacketPool(4 * PacketVector.CAPACITY);
        counters = Counters.inMemory(4096);
        ports = new Ports();
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
        thrower = new Thrower();
        graph = GraphAssembly.of(pool, counters, new ManualClock(1L), ports, publisher, publisher.ref())
            .feature(thrower).sink(h ->
            {
                transmitted++;
                if (sinkCapture != null)
                {
                    sinkCapture[0] = pool.toArray(h);
                }
                pool.free(h);
            }).build();
        entry = graph.indexOf(EthernetInput.NAME);
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

    private void forwardVector()
    {
        for (int i = 0; i < VECTOR; i++)
        {
            final int src = i % PODS;
            final int dst = (src + 1) % PODS;
            final byte[] f = new FrameBuilder().eth(Ip4.podMac(podIp(src)), GATEWAY_MAC).ip4(podIp(src), podIp(dst))
                .ttl(64).udp(10000 + i, 53).payload(new byte[22]).build();
            final int h = pool.allocate();
            pool.write(h, f, 0, f.length);
            pool.rxPort(h, ports.idOf("pod-" + src));
            graph.input(entry, h);
        }
        graph.run();
    }

    private long drops()
    {
        long sum = 0;
        for (final Map.Entry<String, Long> e : counters.snapshot().entrySet())
        {
            if (e.getKey().contains("/drop/"))
            {
                sum += e.getValue();
            }
        }
        return sum;
    }

    @Test
    void shouldDropTheRestOfTheVectorAndKeepForwardingWhenAStageThrows()
    {
        forwardVector();
        forwardVector();
        assertThat(transmitted).as("two good vectors forwarded").isEqualTo(2 * VECTOR);

        forwardVector(); // the third: the stage hands on 40 packets, drops 10, then throws

        assertThat(transmitted).as("the 40 packets handed on before the throw still leave").isEqualTo(2 * VECTOR + 40);
        assertThat(counters.get("graph/drop/stage-exception")).as("the 50 it never handed on are dropped")
            .isEqualTo(VECTOR - 50);
        assertThat(counters.get("graph/stage-exceptions")).isEqualTo(1);
        // edge and transmit counts are gathered per call and added when it ends, a throwing call included
        assertThat(counters.get("stage/thrower/next/ip4-lookup")).as("the 40 handed on are counted on the edge")
            .isEqualTo(2 * VECTOR + 40);
        assertThat(counters.get("graph/transmit")).isEqualTo(transmitted);
        assertThat(pool.available()).as("no buffer leaked").isEqualTo(pool.capacity());
        final Graph.StageFault fault = graph.takeFault();
        assertThat(fault).isNotNull();
        assertThat(fault.stage()).isEqualTo("thrower");
        assertThat(fault.exception()).hasMessage("boom on vector 3");
        assertThat(fault.dropped()).isEqualTo(VECTOR - 50);
        assertThat(graph.takeFault()).as("the slot is drained").isNull();

        forwardVector();
        forwardVector();

        final long in = 5L * VECTOR;
        assertThat(transmitted).as("forwarding continues").isEqualTo(4 * VECTOR + 40);
        assertThat(transmitted + drops()).as("frames in = frames out + counted drops").isEqualTo(in);
        assertThat(pool.available()).as("no buffer leaked").isEqualTo(pool.capacity());
        assertThat(counters.get("stage/ip4-lookup/packets")).as("no packet left in a stage's frame")
            .isEqualTo(4 * VECTOR + 40);
        assertThat(counters.get("stage/thrower/next/ip4-lookup")).isEqualTo(4 * VECTOR + 40);
        assertThat(counters.get("graph/transmit")).isEqualTo(transmitted);
    }

    @Test
    void shouldFreeABufferTheThrowingStageAllocatedAndNeverHandedOn()
    {
        thrower.allocateBeforeThrow = true;
        forwardVector();
        forwardVector();
        forwardVector();
        forwardVector();

        assertThat(counters.get("graph/drop/stage-exception")).as("50 of the vector plus the stage's own buffer")
            .isEqualTo(VECTOR - 50 + 1);
        assertThat(pool.available()).as("no buffer leaked").isEqualTo(pool.capacity());
        assertThat(transmitted + drops()).as("frames in + the one created = out + counted drops")
            .isEqualTo(4L * VECTOR + 1);
    }

    /**
     * The defect that made a stage throw: a packet whose frame ends at the very end of its buffer (as after
     * several decapsulations) and whose TTL runs out. icmp-error moved the quote 28 bytes on before checking the
     * room, writing into the next buffer. Now it quotes what fits.
     *
     * @param ipPayload the UDP payload of the expiring packet.
     * @return the one transmitted frame, or null.
     */
    private byte[] expireAtBufferEnd(final int ipPayload)
    {
        final byte[] f = new FrameBuilder().eth(Ip4.podMac(podIp(0)), GATEWAY_MAC).ip4(podIp(0), podIp(1))
            .ttl(1).udp(10000, 53).payload(new byte[ipPayload]).build();
        final int max = pool.bufferSize() - pool.headroom();
        final byte[] whole = new byte[max];
        System.arraycopy(f, 0, whole, max - f.length, f.length);
        final int h = pool.allocate();
        final int canary = pool.allocate();
        assertThat(canary).as("the next buffer in memory").isEqualTo(h + 1);
        pool.write(canary, new byte[64], 0, 64);
        pool.write(h, whole, 0, max);
        pool.advance(h, max - f.length);
        pool.rxPort(h, ports.idOf("pod-0"));
        final byte[][] out = new byte[1][];
        final Graph g = graph;
        g.input(entry, h);
        sinkCapture = out;
        g.run();
        sinkCapture = null;
        assertThat(pool.toArray(canary)).as("the next buffer is untouched").isEqualTo(new byte[64]);
        pool.free(canary);
        assertThat(pool.available()).as("no buffer leaked").isEqualTo(pool.capacity());
        return out[0];
    }

    @Test
    void shouldQuoteOnlyWhatFitsWhenAnExpiringPacketEndsAtTheBufferEnd()
    {
        final byte[] err = expireAtBufferEnd(44); // IPv4 72 bytes, of which 44 fit after the error headers

        assertThat(err).as("a time-exceeded error goes back to the pod").isNotNull();
        final dev.ferry.core.header.Ip4Header ip = new dev.ferry.core.header.Ip4Header()
            .wrap(java.lang.foreign.MemorySegment.ofArray(err), 14);
        assertThat(ip.protocol()).isEqualTo(1);
        assertThat(ip.dst()).isEqualTo(podIp(0));
        assertThat(ip.checksumValid()).isTrue();
        assertThat(err[14 + 20]).as("ICMP type time exceeded").isEqualTo((byte)11);
        assertThat(ip.totalLength()).as("headers plus the 44 bytes that fit").isEqualTo(20 + 8 + 44);
        assertThat(counters.get("graph/drop/stage-exception")).isZero();
    }

    @Test
    void shouldDropTheErrorWhenNotEvenTheQuotedHeaderFits()
    {
        assertThat(expireAtBufferEnd(4)).as("IPv4 32 bytes, room for 4: no error").isNull();
        assertThat(counters.get("stage/icmp-error/drop/no-room")).isEqualTo(1);
        assertThat(counters.get("graph/drop/stage-exception")).isZero();
    }

    /** A feature whose one stage passes packets on, and on its third vector fails half-way. */
    private final class Thrower implements GraphFeature, Stage
    {
        boolean allocateBeforeThrow;
        private int vectors;

        @Override
        public String name()
        {
            return "thrower";
        }

        @Override
        public List<Stage> beforeLookup(final Context context, final String next)
        {
            assertThat(next).isEqualTo("ip4-lookup");
            return List.of(this);
        }

        @Override
        public List<String> nextNames()
        {
            return List.of("ip4-lookup");
        }

        @Override
        public List<? extends DropReason> dropReasons()
        {
            return List.of(Drop.values());
        }

        @Override
        public void process(final PacketVector in, final Next out)
        {
            vectors++;
            for (int i = 0; i < in.count(); i++)
            {
                if (vectors == 3 && i == 50)
                {
                    if (allocateBeforeThrow)
                    {
                        pool.allocate();
                    }
                    throw new IllegalStateException("boom on vector 3");
                }
                if (vectors == 3 && i >= 40)
                {
                    out.drop(in.get(i), Drop.TEST);
                }
                else
                {
                    out.next(in.get(i), 0);
                }
            }
        }
    }

    /** The thrower's one drop reason. */
    private enum Drop implements DropReason
    {
        TEST;

        @Override
        public int id()
        {
            return 9999;
        }

        @Override
        public String sentence()
        {
            return "test drop";
        }
    }
}
