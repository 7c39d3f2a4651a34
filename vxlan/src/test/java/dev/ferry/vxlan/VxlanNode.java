package dev.ferry.vxlan;

import dev.ferry.core.Counters;
import dev.ferry.core.Graph;
import dev.ferry.core.ManualClock;
import dev.ferry.core.PacketPool;
import dev.ferry.core.Ports;
import dev.ferry.core.Stage;
import dev.ferry.core.TxSink;
import dev.ferry.core.graph.GraphAssembly;
import dev.ferry.core.graph.GraphFeature;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.route.Ip4Prefix;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.tables.TablesPublisher;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** A one-node ferry graph with the VXLAN stages, built from two-node tables (test fixture). */
final class VxlanNode implements AutoCloseable
{
    static final long VTEP1 = Ip4.parseMac("66:11:11:11:11:01");
    static final long VTEP2 = Ip4.parseMac("66:22:22:22:22:02");
    static final long UPLINK1 = Ip4.parseMac("02:00:00:00:01:01");
    static final long UPLINK2 = Ip4.parseMac("02:00:00:00:02:02");
    static final int NODE1 = Ip4.parse("192.168.50.1");
    static final int NODE2 = Ip4.parse("192.168.50.2");
    static final int POD_A = Ip4.parse("10.244.1.10");
    static final int POD_B = Ip4.parse("10.244.2.20");

    /** One transmitted packet, copied out. */
    record Tx(int port, byte[] bytes)
    {
    }

    final PacketPool pool;
    final Counters counters = Counters.inMemory(1024);
    final ManualClock clock = new ManualClock(1_000_000_000L);
    final Ports ports = new Ports();
    final TablesPublisher publisher;
    final Graph graph;
    final List<Tx> sent = new ArrayList<>();
    /** Per sent frame: its segment size and partial checksum start (-1: none), as the pod TAP would see them. */
    final List<int[]> sentOffload = new ArrayList<>();
    final int slot;
    final int uplink;
    final int tunnel;
    final int podPort;
    final NodeTables tables;
    /** When false the sink only frees transmitted buffers (allocation measurements). */
    boolean keep = true;
    long transmitted;
    /** When set, packets for the tunnel port go here (the UDP underlay in socket mode). */
    TxSink tunnelSink;

    private VxlanNode(final NodeTables tables, final VxlanSettings settings, final int poolSize)
    {
        this.tables = tables;
        // a few large buffers: TSO superframes from a pod (VxlanGraphTest)
        this.pool = new PacketPool(poolSize, PacketPool.DEFAULT_BUFFER_SIZE, PacketPool.DEFAULT_HEADROOM, 2);
        final NodeTables.NodeInfo node = tables.node();
        podPort = ports.add(tables.pods().get(0).portName(), Ports.Kind.POD, node.gatewayMac()).id();
        uplink = ports.add("eth0", Ports.Kind.UPLINK, node.uplinkMac()).id();
        tunnel = VxlanStages.addTunnelPort(ports, settings);
        publisher = new TablesPublisher(ports, false);
        slot = VxlanStages.register(publisher, settings);
        publisher.publish(tables);
        final TxSink sink = new TxSink()
        {
            @Override
            public void transmit(final int h)
            {
                if (tunnelSink != null && pool.txPort(h) == tunnel)
                {
                    tunnelSink.transmit(h);
                    return;
                }
                transmitted++;
                if (keep)
                {
                    sent.add(new Tx(pool.txPort(h), pool.toArray(h)));
                    sentOffload.add(new int[] {pool.gsoSize(h),
                        pool.checksumPartial(h) ? pool.checksumStart(h) : -1});
                }
                pool.free(h);
            }

            @Override
            public void flush()
            {
                if (tunnelSink != null)
                {
                    tunnelSink.flush();
                }
            }
        };
        // the one assembly, with the VXLAN stages as the only feature
        graph = GraphAssembly.of(pool, counters, clock, ports, publisher, publisher.ref()).sink(sink)
            .feature(new GraphFeature()
            {
                @Override
                public String name()
                {
                    return "vxlan";
                }

                @Override
                public List<Stage> beforeLookup(final Context c, final String next)
                {
                    return VxlanStages.serviceStages(pool, publisher.ref(), slot, next);
                }

                @Override
                public List<Stage> afterLookup(final Context c)
                {
                    return VxlanStages.tunnelStages(pool, publisher.ref(), slot, settings, tunnel);
                }
            }).build();
    }

    static VxlanNode of(final NodeTables tables, final VxlanSettings settings)
    {
        return new VxlanNode(tables, settings, 1024);
    }

    static VxlanNode node1(final VxlanSettings settings)
    {
        return new VxlanNode(tables(1, 8472, 1500, UPLINK2), settings, 1024);
    }

    static VxlanNode node2(final VxlanSettings settings)
    {
        return new VxlanNode(tables(2, 8472, 1500, UPLINK1), settings, 1024);
    }

    static NodeTables tables(final int which, final int port, final int mtu, final long remoteUnderlayMac)
    {
        return tables(which, port, mtu, remoteUnderlayMac, which == 1 ? NODE1 : NODE2, which == 1 ? NODE2 : NODE1);
    }

    static NodeTables tables(final int which, final int port, final int mtu, final long remoteUnderlayMac,
        final int self, final int peer)
    {
        final boolean one = which == 1;
        final Ip4Prefix cidr = Ip4Prefix.parse(one ? "10.244.1.0/24" : "10.244.2.0/24");
        final Ip4Prefix peerCidr = Ip4Prefix.parse(one ? "10.244.2.0/24" : "10.244.1.0/24");
        final int gw = cidr.host(1);
        final NodeTables.NodeInfo node = new NodeTables.NodeInfo("node-" + which, List.of(self), cidr, gw,
            Ip4.podMac(gw), one ? UPLINK1 : UPLINK2, one ? VTEP1 : VTEP2, self, 0,
            Ip4Prefix.parse("192.168.50.0/24"), mtu);
        final NodeTables.ClusterSettings d = NodeTables.ClusterSettings.defaults();
        final NodeTables.ClusterSettings cluster = new NodeTables.ClusterSettings(d.clusterCidr(), d.serviceCidrs(),
            1, port, d.nodePortMin(), d.nodePortMax(), d.nodePortAddresses(), false, List.of(), 1024, 65535,
            Map.of());
        final int podIp = one ? POD_A : POD_B;
        final NodeTables.PodInfo pod = new NodeTables.PodInfo("default", one ? "a" : "b", podIp, Ip4.podMac(podIp),
            one ? "pod-a" : "pod-b");
        final NodeTables.RemoteNode remote = new NodeTables.RemoteNode("node-" + (one ? 2 : 1), peerCidr, peer,
            one ? VTEP2 : VTEP1, remoteUnderlayMac, List.of(peer));
        return new NodeTables(1, node, cluster, List.of(pod), List.of(remote), List.of(), Map.of());
    }

    /** Sends a frame in on a port and runs the graph. */
    void receive(final int port, final byte[] frame)
    {
        final int h = pool.allocate();
        pool.write(h, frame, 0, frame.length);
        pool.rxPort(h, port);
        graph.input(graph.indexOf("ethernet-input"), h);
        graph.run();
    }

    /** Sends a TSO superframe in on a port (a large buffer, offload metadata as a pod TAP sets it), runs the graph. */
    void receiveSuperframe(final int port, final byte[] frame, final int mss)
    {
        final int h = pool.allocateLarge();
        pool.write(h, frame, 0, frame.length);
        pool.rxPort(h, port);
        pool.gso(h, PacketPool.GSO_TCPV4, mss);
        pool.checksumPartial(h, 34, 16);
        graph.input(graph.indexOf("ethernet-input"), h);
        graph.run();
    }

    /** Receives a frame with offload metadata: segment size {@code mss}, partial checksum from {@code start}. */
    void receiveSuperframe(final int port, final byte[] frame, final int mss, final int start)
    {
        final int h = pool.allocateLarge();
        pool.write(h, frame, 0, frame.length);
        pool.rxPort(h, port);
        pool.gso(h, PacketPool.GSO_TCPV4, mss);
        pool.checksumPartial(h, start, 16);
        graph.input(graph.indexOf("ethernet-input"), h);
        graph.run();
    }

    /** Enters a frame directly at a stage, with the l3 offset set as ethernet-input would. */
    void enterAt(final String stage, final byte[] frame, final int l3, final int aux)
    {
        enterAt(stage, frame, l3, aux, uplink, 0);
    }

    /** Enters a frame directly at a stage as received on {@code port}, with packet flags {@code flags}. */
    void enterAt(final String stage, final byte[] frame, final int l3, final int aux, final int port,
        final int flags)
    {
        final int h = pool.allocate();
        pool.write(h, frame, 0, frame.length);
        pool.rxPort(h, port);
        pool.flags(h, flags);
        pool.l3Offset(h, l3);
        pool.aux(h, aux);
        graph.input(graph.indexOf(stage), h);
        graph.run();
    }

    long counter(final String name)
    {
        return counters.get(name);
    }

    /** Sum of every drop counter plus transmits: each input must add exactly one. */
    long outcomes()
    {
        long sum = 0;
        for (final Map.Entry<String, Long> e : counters.snapshot().entrySet())
        {
            if (e.getKey().contains("/drop/") || e.getKey().equals("graph/transmit"))
            {
                sum += e.getValue();
            }
        }
        return sum;
    }

    @Override
    public void close()
    {
        pool.close();
        counters.close();
    }
}
