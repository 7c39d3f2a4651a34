package dev.ferry.core.testing;

import dev.ferry.core.Counters;
import dev.ferry.core.Graph;
import dev.ferry.core.ManualClock;
import dev.ferry.core.PacketPool;
import dev.ferry.core.Ports;
import dev.ferry.core.TxSink;
import dev.ferry.core.graph.GraphAssembly;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.route.Ip4Prefix;
import dev.ferry.core.stage.EthernetInput;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.tables.TablesPublisher;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A one-node L3 graph for tests: node-a with pod CIDR 10.244.1.0/24, pods .2 and .3, a remote node-b
 * (10.244.2.0/24), and an uplink. Frames that leave are copied into {@link #sent}.
 */
public final class TestNode implements AutoCloseable
{
    /** Pod A address. */
    public static final int POD_A = Ip4.parse("10.244.1.2");
    /** Pod B address. */
    public static final int POD_B = Ip4.parse("10.244.1.3");
    /** Gateway address. */
    public static final int GATEWAY = Ip4.parse("10.244.1.1");
    /** Node address. */
    public static final int NODE_IP = Ip4.parse("192.168.50.11");
    /** Gateway MAC by the CNI convention. */
    public static final long GATEWAY_MAC = Ip4.podMac(GATEWAY);

    /** One transmitted frame. */
    public record Sent(String port, byte[] frame)
    {
    }

    public final PacketPool pool = new PacketPool(1024, PacketPool.DEFAULT_BUFFER_SIZE, PacketPool.DEFAULT_HEADROOM, 2);
    /** Segment size ({@link PacketPool#gsoSize}) of each frame in {@link #sent}, 0 for plain packets. */
    public final List<Integer> sentGsoSize = new ArrayList<>();
    public final Counters counters = Counters.inMemory(4096);
    public final ManualClock clock = new ManualClock(1_700_000_000_000_000_000L);
    public final Ports ports = new Ports();
    public final TablesPublisher publisher;
    public final Graph graph;
    public final List<Sent> sent = new ArrayList<>();
    public final int podA;
    public final int podB;
    public final int uplink;

    public TestNode()
    {
        podA = ports.add("tap0af40102", Ports.Kind.POD, GATEWAY_MAC).id();
        podB = ports.add("tap0af40103", Ports.Kind.POD, GATEWAY_MAC).id();
        uplink = ports.add("uplink", Ports.Kind.UPLINK, Ip4.podMac(NODE_IP), true).id();
        publisher = new TablesPublisher(ports, true);
        final TxSink sink = h ->
        {
            sent.add(new Sent(ports.nameOf(pool.txPort(h)), pool.toArray(h)));
            sentGsoSize.add(pool.gsoSize(h));
            pool.free(h);
        };
        graph = GraphAssembly.of(pool, counters, clock, ports, publisher, publisher.ref()).sink(sink).build();
        publisher.publish(tables(1));
    }

    public static NodeTables tables(final long generation)
    {
        final NodeTables.NodeInfo node = new NodeTables.NodeInfo("node-a", List.of(NODE_IP),
            Ip4Prefix.parse("10.244.1.0/24"), GATEWAY, GATEWAY_MAC, Ip4.podMac(NODE_IP),
            Ip4.parseMac("aa:aa:aa:00:00:01"), NODE_IP, 0, Ip4Prefix.parse("192.168.50.0/24"), 1500);
        final List<NodeTables.PodInfo> pods = List.of(
            new NodeTables.PodInfo("default", "a", POD_A, Ip4.podMac(POD_A), "tap0af40102"),
            new NodeTables.PodInfo("default", "b", POD_B, Ip4.podMac(POD_B), "tap0af40103"));
        final List<NodeTables.RemoteNode> remotes = List.of(new NodeTables.RemoteNode("node-b",
            Ip4Prefix.parse("10.244.2.0/24"), Ip4.parse("192.168.50.12"), Ip4.parseMac("aa:aa:aa:00:00:02"),
            Ip4.podMac(Ip4.parse("192.168.50.12")), List.of(Ip4.parse("192.168.50.12"))));
        return new NodeTables(generation, node, NodeTables.ClusterSettings.defaults(), pods, remotes, List.of(),
            Map.of());
    }

    /**
     * Receives one frame on a port and runs the graph.
     *
     * @param port  receiving port.
     * @param frame the frame.
     */
    public void receive(final int port, final byte[] frame)
    {
        final int h = pool.allocate();
        pool.write(h, frame, 0, frame.length);
        pool.rxPort(h, port);
        pool.timestamp(h, clock.nanos());
        graph.input(graph.indexOf(EthernetInput.NAME), h);
        graph.run();
    }

    /**
     * Receives a TSO superframe (a large buffer with offload metadata, as a pod TAP with TSO hands it over) and runs
     * the graph.
     *
     * @param port  receiving port.
     * @param frame the frame, IPv4 TCP right after Ethernet.
     * @param mss   its segment size.
     */
    public void receiveSuperframe(final int port, final byte[] frame, final int mss)
    {
        final int h = pool.allocateLarge();
        pool.write(h, frame, 0, frame.length);
        pool.rxPort(h, port);
        pool.timestamp(h, clock.nanos());
        pool.gso(h, PacketPool.GSO_TCPV4, mss);
        pool.checksumPartial(h, 34, 16);
        graph.input(graph.indexOf(EthernetInput.NAME), h);
        graph.run();
    }

    /**
     * @param name counter name.
     * @return its value.
     */
    public long counter(final String name)
    {
        return counters.get(name);
    }

    @Override
    public void close()
    {
        if (pool.available() != pool.capacity())
        {
            throw new AssertionError("packet buffers leaked: " + pool.inUse());
        }
        pool.close();
        counters.close();
    }
}
