package dev.ferry.node;

import dev.ferry.core.Counters;
import dev.ferry.core.Graph;
import dev.ferry.core.ManualClock;
import dev.ferry.core.PacketPool;
import dev.ferry.core.Ports;
import dev.ferry.core.TxSink;
import dev.ferry.core.header.Ip4Header;
import dev.ferry.core.header.TcpHeader;
import dev.ferry.core.packet.FrameBuilder;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.route.Ip4Prefix;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.tables.ServiceInfo;
import dev.ferry.core.tables.TablesPublisher;
import dev.ferry.nat.Nat;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 13's fuzz suite: mutated frames of every kind through the node's own graph ({@link NodeGraph}, packet
 * mode, as {@code ferry node} and {@code ferry replay} build it), from every kind of port.
 *
 * <p>Seeds: pod to pod, pod to a remote pod, pod to a ClusterIP, pod to outside, NodePort from outside on the
 * uplink, VXLAN from a known VTEP (and nested VXLAN), ARP from pods, the uplink and the host, ICMP errors quoting
 * any seed, the host's own traffic; any IPv4 seed may get options or become a fragment. Mutations: bit flips,
 * byte substitutions, truncation, extension, lies in the length fields (IPv4 total length and IHL, UDP length,
 * of the outer or the inner packet), a random port of entry, and TSO offload metadata (segment size, partial
 * checksum) on one frame in eight.
 *
 * <p>After every vector: no stage threw ({@code graph/stage-exceptions} and {@code graph/drop/stage-exception} stay
 * 0), every frame is accounted for (frames in plus frames the graph created = {@code graph/transmit} plus every
 * {@code stage/.../drop/...} and {@code graph/drop/...} counter, plus the fragments the NAT holds for their
 * datagram's first fragment, {@code nat/fragments-held}), the pool is whole but for those, and no frame left a pod port
 * with an IPv4 source that is not a pod, node or Service address. The default run is 100,000 frames;
 * {@code -Dferry.fuzz.frames=N} runs more and {@code -Dferry.fuzz.seed=S} replays a run. A failure names the seed,
 * the vector and its frames in hex.
 */
class GraphFuzzTest
{
    private static final int FRAMES = Integer.getInteger("ferry.fuzz.frames", 100_000);
    private static final long SEED = Long.getLong("ferry.fuzz.seed", System.nanoTime());
    private static final int VECTOR = 32;

    private static final Ip4Prefix POD_CIDR = Ip4Prefix.parse("10.244.1.0/24");
    private static final int GATEWAY = POD_CIDR.host(1);
    private static final long GATEWAY_MAC = Ip4.podMac(GATEWAY);
    private static final int NODE_IP = Ip4.parse("192.168.50.11");
    private static final Ip4Prefix UNDERLAY = Ip4Prefix.parse("192.168.50.0/24");
    private static final long UPLINK_MAC = Ip4.parseMac("02:00:c0:a8:32:0b");
    private static final long VTEP_MAC = Ip4.parseMac("aa:aa:aa:00:00:01");
    private static final long ROUTER_MAC = Ip4.parseMac("02:00:c0:a8:32:01");
    private static final int PODS = 4;
    private static final int[] REMOTE_IP = {Ip4.parse("192.168.50.12"), Ip4.parse("192.168.50.13")};
    private static final long[] REMOTE_VTEP_MAC = {Ip4.parseMac("aa:aa:aa:00:00:02"),
        Ip4.parseMac("aa:aa:aa:00:00:03")};
    private static final Ip4Prefix[] REMOTE_CIDR = {Ip4Prefix.parse("10.244.2.0/24"),
        Ip4Prefix.parse("10.244.3.0/24")};
    private static final int CLUSTER_IP_TCP = Ip4.parse("10.96.0.10");
    private static final int CLUSTER_IP_UDP = Ip4.parse("10.96.0.53");
    private static final int EXTERNAL_IP = Ip4.parse("198.51.100.7");
    private static final int NODE_PORT = 30080;
    private static final int CLIENT = Ip4.parse("203.0.113.9");
    private static final int[] LENGTH_LIES = {0, 1, 7, 8, 19, 20, 21, 27, 28, 59, 60, 576, 1499, 1500, 1501, 9000,
        0x7fff, 0xfffe, 0xffff};

    private final NodeTables.ClusterSettings cluster = NodeTables.ClusterSettings.defaults();

    @Test
    void shouldAccountForEveryMutatedFrameWithoutAStageThrowing()
    {
        final Rig rig = new Rig();
        try
        {
            rig.run();
        }
        catch (final AssertionError e)
        {
            throw new AssertionError("fuzz run failed; replay with -Dferry.fuzz.seed=" + SEED + " -Dferry.fuzz.frames="
                + FRAMES + ": " + e.getMessage(), e);
        }
        finally
        {
            rig.close();
        }
    }

    private static int pod(final int p)
    {
        return POD_CIDR.host(10 + p);
    }

    private static int remotePod(final int r, final int k)
    {
        return REMOTE_CIDR[r].host(10 + k);
    }

    private NodeTables tables()
    {
        final NodeTables.NodeInfo node = new NodeTables.NodeInfo("node-a", List.of(NODE_IP), POD_CIDR, GATEWAY,
            GATEWAY_MAC, UPLINK_MAC, VTEP_MAC, NODE_IP, 0, UNDERLAY, 1500);
        final List<NodeTables.PodInfo> pods = new ArrayList<>();
        for (int p = 0; p < PODS; p++)
        {
            pods.add(new NodeTables.PodInfo("default", "pod-" + p, pod(p), Ip4.podMac(pod(p)), "pod-" + p));
        }
        final List<NodeTables.RemoteNode> remotes = new ArrayList<>();
        for (int r = 0; r < REMOTE_IP.length; r++)
        {
            remotes.add(new NodeTables.RemoteNode("node-" + (char)('b' + r), REMOTE_CIDR[r], REMOTE_IP[r],
                REMOTE_VTEP_MAC[r], Ip4.podMac(REMOTE_IP[r]), List.of(REMOTE_IP[r])));
        }
        final List<ServiceInfo.Endpoint> web = List.of(
            new ServiceInfo.Endpoint(pod(1), 8080, true, true, false, "node-a", "", true),
            new ServiceInfo.Endpoint(remotePod(0, 1), 8080, true, true, false, "node-b", "", false),
            new ServiceInfo.Endpoint(remotePod(1, 1), 8080, true, true, false, "node-c", "", false));
        final List<ServiceInfo.Endpoint> dns = List.of(
            new ServiceInfo.Endpoint(pod(2), 5353, true, true, false, "node-a", "", true),
            new ServiceInfo.Endpoint(remotePod(0, 2), 5353, true, true, false, "node-b", "", false));
        final List<ServiceInfo> services = List.of(
            new ServiceInfo("default", "web", "NodePort", null, List.of(CLUSTER_IP_TCP), List.of(EXTERNAL_IP),
                List.of(), false, ServiceInfo.DEFAULT_AFFINITY_TIMEOUT, false, false,
                List.of(new ServiceInfo.ServicePort("http", Ip4Header.PROTO_TCP, 80, NODE_PORT, web))),
            new ServiceInfo("kube-system", "dns", "ClusterIP", null, List.of(CLUSTER_IP_UDP), List.of(),
                List.of(), true, ServiceInfo.DEFAULT_AFFINITY_TIMEOUT, false, false,
                List.of(new ServiceInfo.ServicePort("dns", Ip4Header.PROTO_UDP, 53, 0, dns),
                    new ServiceInfo.ServicePort("dns-tcp", Ip4Header.PROTO_TCP, 53, 0, dns))));
        return new NodeTables(1, node, cluster, pods, remotes, services, Map.of());
    }

    /** A seed frame and the port it naturally arrives on. */
    private record Seed(String kind, byte[] frame, int port)
    {
    }

    /** The node, its graph, the seeds and the run. */
    private final class Rig
    {
        private final PacketPool pool = new PacketPool(1024);
        private final Counters counters = Counters.inMemory(8192);
        private final Ports ports = new Ports();
        private final ManualClock clock = new ManualClock(1_700_000_000_000_000_000L);
        private final int[] podPort = new int[PODS];
        private final int uplink;
        private final int host;
        private final NodeGraph nodeGraph;
        private final Graph graph;
        private final List<Seed> seeds = new ArrayList<>();
        private final List<byte[]> vector = new ArrayList<>();
        private final List<Integer> vectorPorts = new ArrayList<>();
        private final List<Ip4Prefix> allowedPrefixes = new ArrayList<>();
        private final List<Integer> allowedAddresses = new ArrayList<>();
        private final List<String> violations = new ArrayList<>();
        private final SplittableRandom random = new SplittableRandom(SEED);
        private long framesIn;
        private long transmitted;
        private long routedIn;
        /** Frames out of a pod port whose source address the run checked (not from the uplink or the host). */
        private long sourceChecked;
        private final List<Integer> entryPorts = new ArrayList<>();

        Rig()
        {
            for (int p = 0; p < PODS; p++)
            {
                podPort[p] = ports.add("pod-" + p, Ports.Kind.POD, GATEWAY_MAC).id();
            }
            uplink = NodeGraph.registerUplink(ports, "uplink", UPLINK_MAC);
            host = NodeGraph.registerHost(ports, "ferry0", GATEWAY_MAC, Ip4.podMac(NODE_IP));
            final TablesPublisher publisher = new TablesPublisher(ports, false);
            final TxSink sink = this::transmit;
            nodeGraph = NodeGraph.builder(NodeConfig.defaults("node-a", Path.of("fuzz.sock"), "uplink")
                .withSeed(SEED), pool, counters, clock, ports, publisher, publisher.ref()).sink(sink).hostPort(host)
                .conntrackHashSeed(SEED).build();
            graph = nodeGraph.graph();
            final NodeTables tables = tables();
            nodeGraph.beforePublish(tables);
            publisher.publish(tables);
            allowedPrefixes.add(POD_CIDR);
            allowedPrefixes.addAll(List.of(REMOTE_CIDR));
            allowedAddresses.addAll(List.of(NODE_IP, CLUSTER_IP_TCP, CLUSTER_IP_UDP, EXTERNAL_IP));
            for (final int r : REMOTE_IP)
            {
                allowedAddresses.add(r);
            }
            // every port a frame can arrive on; the tunnel port (flannel.1) receives only what vxlan-decap hands on
            final int tunnel = nodeGraph.feature(VxlanFeature.class).tunnelPort();
            for (final Ports.Port p : ports.all())
            {
                if (p.id() != tunnel)
                {
                    entryPorts.add(p.id());
                }
            }
            buildSeeds();
        }

        private void transmit(final int h)
        {
            transmitted++;
            final int port = pool.txPort(h);
            if (ports.get(port).kind() == Ports.Kind.POD)
            {
                final byte[] f = pool.toArray(h);
                if (f.length >= 34 && (f[12] & 0xff) == 0x08 && f[13] == 0)
                {
                    final int src = (f[26] & 0xff) << 24 | (f[27] & 0xff) << 16 | (f[28] & 0xff) << 8 | (f[29] & 0xff);
                    final Ports.Kind from = ports.get(pool.rxPort(h)).kind();
                    if (from == Ports.Kind.UPLINK || from == Ports.Kind.HOST)
                    {
                        // the underlay and the node's own stack route to pods with any source (SECURITY.md)
                        routedIn++;
                    }
                    else
                    {
                        sourceChecked++;
                        if (!allowed(src))
                        {
                            violations.add("frame out of pod port " + ports.nameOf(port) + " with source "
                                + Ip4.format(src) + ": " + HexFormat.of().formatHex(f));
                        }
                    }
                }
            }
            pool.free(h);
        }

        private boolean allowed(final int src)
        {
            for (final Ip4Prefix p : allowedPrefixes)
            {
                if (p.contains(src))
                {
                    return true;
                }
            }
            return allowedAddresses.contains(src);
        }

        void run()
        {
            final long allocations0 = pool.allocations();
            long vectors = 0;
            while (framesIn < FRAMES)
            {
                vector.clear();
                vectorPorts.clear();
                final int n = (int)Math.min(VECTOR, FRAMES - framesIn);
                for (int i = 0; i < n; i++)
                {
                    feed();
                }
                graph.run();
                vectors++;
                clock.advance(random.nextLong(1_000_000L, 2_000_000_000L));
                if (vectors % 8 == 0)
                {
                    nodeGraph.housekeeping();
                }
                check(vectors, allocations0);
            }
            printSummary();
            // the checks above hold vacuously if every frame is dropped: the run must forward, and must have sent
            // frames from pods to pods, whose source addresses it checked
            assertThat(transmitted).as("frames the graph transmitted").isPositive();
            assertThat(sourceChecked).as("frames out of a pod port whose source was checked").isPositive();
            assertThat(routedIn).as("frames routed to pods from the uplink or the host").isPositive();
        }

        private void feed()
        {
            final Seed seed = seeds.get(random.nextInt(seeds.size()));
            byte[] f = seed.frame().clone();
            int port = seed.port();
            final int mutations = random.nextInt(10) == 0 ? 0 : 1 + random.nextInt(3);
            for (int m = 0; m < mutations; m++)
            {
                f = mutate(f);
            }
            if (mutations > 0 && random.nextBoolean())
            {
                reseal(f);
            }
            if (random.nextInt(10) == 0)
            {
                port = entryPorts.get(random.nextInt(entryPorts.size()));
            }
            final int room = pool.bufferSize() - pool.headroom();
            if (f.length > room)
            {
                f = Arrays.copyOf(f, room);
            }
            final int h = pool.allocate();
            if (h == PacketPool.NO_BUFFER)
            {
                throw new AssertionError("pool empty before a vector: " + pool.inUse() + " in use");
            }
            pool.write(h, f, 0, f.length);
            pool.rxPort(h, port);
            pool.timestamp(h, clock.nanos());
            if (random.nextInt(8) == 0)
            {
                // offload metadata that need not match the frame (a pod TAP checks it; the graph must not trust
                // that): segment sizes down to 1 byte, so software segmentation runs out of segments and buffers
                pool.gso(h, PacketPool.GSO_TCPV4, 1 + random.nextInt(random.nextBoolean() ? 64 : 1500));
                pool.checksumPartial(h, 34, 16);
            }
            graph.input(port == uplink ? nodeGraph.uplinkEntry() : nodeGraph.entry(), h);
            vector.add(f);
            vectorPorts.add(port);
            framesIn++;
        }

        private byte[] mutate(final byte[] in)
        {
            final byte[] f = in.clone();
            switch (random.nextInt(7))
            {
                case 0 ->
                {
                    for (int k = 1 + random.nextInt(8); k > 0 && f.length > 0; k--)
                    {
                        final int bit = random.nextInt(f.length * 8);
                        f[bit / 8] ^= (byte)(1 << (bit % 8));
                    }
                    return f;
                }
                case 1 ->
                {
                    for (int k = 1 + random.nextInt(4); k > 0 && f.length > 0; k--)
                    {
                        final int[] interesting = {0, 0xff, 0x7f, 0x80, 0x45, 0x11, 0x06, 0x01, random.nextInt(256)};
                        f[random.nextInt(f.length)] = (byte)interesting[random.nextInt(interesting.length)];
                    }
                    return f;
                }
                case 2 ->
                {
                    return Arrays.copyOf(f, random.nextInt(f.length + 1));
                }
                case 3 ->
                {
                    final byte[] longer = Arrays.copyOf(f, f.length + 1 + random.nextInt(64));
                    for (int i = f.length; i < longer.length; i++)
                    {
                        longer[i] = (byte)random.nextInt(256);
                    }
                    return longer;
                }
                default ->
                {
                    return lie(f);
                }
            }
        }

        /** Writes a lie into a length field of the outer packet or of a VXLAN frame's inner packet. */
        private byte[] lie(final byte[] f)
        {
            int l3 = 14;
            if (random.nextBoolean() && f.length > 14 + 20 + 8 + 8 + 14 && (f[23] & 0xff) == Ip4Header.PROTO_UDP)
            {
                l3 = 14 + 20 + 8 + 8 + 14; // VXLAN's inner IPv4
            }
            if (f.length < l3 + 20)
            {
                return f;
            }
            final int lie = random.nextBoolean() ? LENGTH_LIES[random.nextInt(LENGTH_LIES.length)]
                : random.nextInt(65536);
            switch (random.nextInt(3))
            {
                case 0 -> put16(f, l3 + 2, lie);
                case 1 -> f[l3] = (byte)(0x40 | random.nextInt(16));
                default ->
                {
                    final int l4 = l3 + (f[l3] & 0x0f) * 4;
                    if (l4 + 6 <= f.length)
                    {
                        put16(f, l4 + 4, lie);
                    }
                }
            }
            if (random.nextBoolean())
            {
                ipChecksum(f, l3);
            }
            return f;
        }

        private void check(final long vectors, final long allocations0)
        {
            long out = 0;
            long drops = 0;
            final Map<String, Long> snap = counters.snapshot();
            for (final Map.Entry<String, Long> e : snap.entrySet())
            {
                final String k = e.getKey();
                if (k.equals("graph/transmit"))
                {
                    out += e.getValue();
                }
                else if (k.startsWith("graph/drop/") || k.startsWith("stage/") && k.contains("/drop/"))
                {
                    drops += e.getValue();
                }
            }
            final long created = pool.allocations() - allocations0 - framesIn;
            // fragments the NAT's virtual reassembly holds for their datagram's first fragment (bounded, and each
            // is later handed on or dropped under a named reason)
            final long held = snap.getOrDefault(Nat.COUNTER_FRAGMENTS_HELD, 0L);
            String failure = null;
            if (snap.getOrDefault("graph/stage-exceptions", 0L) != 0
                || snap.getOrDefault("graph/drop/stage-exception", 0L) != 0)
            {
                failure = "a stage threw: " + graph.takeFault();
            }
            else if (framesIn + created != out + drops + held)
            {
                failure = "frames in " + framesIn + " + created " + created + " != transmitted " + out
                    + " + counted drops " + drops + " + fragments held " + held;
            }
            else if (out != transmitted)
            {
                failure = "graph/transmit " + out + " != frames the sink saw " + transmitted;
            }
            else if (pool.available() != pool.capacity() - held || held > Nat.FragmentLimits.DEFAULTS.maxHeld())
            {
                failure = "packet buffers leaked: " + pool.inUse() + " in use after the graph drained, " + held
                    + " of them fragments held";
            }
            else if (!violations.isEmpty())
            {
                failure = violations.getFirst();
            }
            if (failure != null)
            {
                final StringBuilder b = new StringBuilder(failure).append("\nvector ").append(vectors)
                    .append(" (frames ").append(framesIn - vector.size()).append("..").append(framesIn - 1)
                    .append("):");
                for (int i = 0; i < vector.size(); i++)
                {
                    b.append("\n  port ").append(ports.nameOf(vectorPorts.get(i))).append(' ')
                        .append(HexFormat.of().formatHex(vector.get(i)));
                }
                throw new AssertionError(b.toString());
            }
        }

        private void printSummary()
        {
            final Map<String, Long> drops = new TreeMap<>();
            for (final Map.Entry<String, Long> e : counters.snapshot().entrySet())
            {
                if (e.getValue() > 0 && (e.getKey().startsWith("graph/drop/") || e.getKey().contains("/drop/")))
                {
                    drops.put(e.getKey(), e.getValue());
                }
            }
            final StringBuilder b = new StringBuilder("fuzz: seed ").append(SEED).append(", ").append(framesIn)
                .append(" frames, ").append(transmitted).append(" transmitted, ")
                .append(drops.values().stream().mapToLong(Long::longValue).sum()).append(" dropped under ")
                .append(drops.size()).append(" reasons; ").append(routedIn)
                .append(" frames routed to pods from the uplink or the host, ").append(sourceChecked)
                .append(" from pods with their source checked; top 10:");
            drops.entrySet().stream().sorted(Map.Entry.<String, Long>comparingByValue().reversed()).limit(10)
                .forEach(e -> b.append(String.format("%n  %9d  %s", e.getValue(), e.getKey())));
            System.out.println(b);
        }

        void close()
        {
            nodeGraph.close();
            pool.close();
            counters.close();
        }

        private void buildSeeds()
        {
            final List<byte[]> ip = new ArrayList<>();
            for (int p = 0; p < PODS; p++)
            {
                final int src = pod(p);
                final int other = pod((p + 1) % PODS);
                final long mac = Ip4.podMac(src);
                add("pod-pod udp", new FrameBuilder().eth(mac, GATEWAY_MAC).ip4(src, other).udp(40000 + p, 8080)
                    .payload(new byte[16]).build(), podPort[p], ip);
                add("pod-pod tcp", new FrameBuilder().eth(mac, GATEWAY_MAC).ip4(src, other)
                    .tcp(41000 + p, 8080, TcpHeader.SYN, 1, 0).build(), podPort[p], ip);
                add("pod-pod icmp", new FrameBuilder().eth(mac, GATEWAY_MAC).ip4(src, other).icmp(8, 0, 0x1234_0001)
                    .payload(new byte[32]).build(), podPort[p], ip);
                add("pod-remote", new FrameBuilder().eth(mac, GATEWAY_MAC).ip4(src, remotePod(p % 2, 1))
                    .udp(42000, 8080).payload(new byte[64]).build(), podPort[p], ip);
                add("pod-clusterip syn", new FrameBuilder().eth(mac, GATEWAY_MAC).ip4(src, CLUSTER_IP_TCP)
                    .tcp(43000 + p, 80, TcpHeader.SYN, 7, 0).build(), podPort[p], ip);
                add("pod-clusterip ack", new FrameBuilder().eth(mac, GATEWAY_MAC).ip4(src, CLUSTER_IP_TCP)
                    .tcp(43000 + p, 80, TcpHeader.ACK | TcpHeader.PSH, 8, 1).payload(new byte[20]).build(),
                    podPort[p], ip);
                add("pod-dns", new FrameBuilder().eth(mac, GATEWAY_MAC).ip4(src, CLUSTER_IP_UDP).udp(44000 + p, 53)
                    .payload(new byte[30]).build(), podPort[p], ip);
                add("pod-outside", new FrameBuilder().eth(mac, GATEWAY_MAC).ip4(src, Ip4.parse("8.8.8.8"))
                    .tcp(45000 + p, 443, TcpHeader.SYN, 9, 0).build(), podPort[p], ip);
                add("pod-ttl1", new FrameBuilder().eth(mac, GATEWAY_MAC).ip4(src, remotePod(0, 3)).ttl(1)
                    .udp(46000, 33434).payload(new byte[12]).build(), podPort[p], ip);
                add("pod-arp", new FrameBuilder().eth(mac, -1L & 0xffff_ffff_ffffL)
                    .arp(1, mac, src, 0, GATEWAY).build(), podPort[p], null);
                add("pod-arp-probe", new FrameBuilder().eth(mac, -1L & 0xffff_ffff_ffffL)
                    .arp(1, mac, 0, 0, src).build(), podPort[p], null);
            }
            add("nodeport syn", new FrameBuilder().eth(ROUTER_MAC, UPLINK_MAC).ip4(CLIENT, NODE_IP)
                .tcp(50000, NODE_PORT, TcpHeader.SYN, 11, 0).build(), uplink, ip);
            add("external-ip syn", new FrameBuilder().eth(ROUTER_MAC, UPLINK_MAC).ip4(CLIENT, EXTERNAL_IP)
                .tcp(50001, 80, TcpHeader.SYN, 11, 0).build(), uplink, ip);
            add("outside reply", new FrameBuilder().eth(ROUTER_MAC, UPLINK_MAC).ip4(Ip4.parse("8.8.8.8"), NODE_IP)
                .tcp(443, 45000, TcpHeader.SYN | TcpHeader.ACK, 100, 10).build(), uplink, ip);
            add("uplink arp request", new FrameBuilder().eth(ROUTER_MAC, -1L & 0xffff_ffff_ffffL)
                .arp(1, ROUTER_MAC, Ip4.parse("192.168.50.1"), 0, NODE_IP).build(), uplink, null);
            add("uplink arp reply", new FrameBuilder().eth(Ip4.podMac(REMOTE_IP[0]), UPLINK_MAC)
                .arp(2, Ip4.podMac(REMOTE_IP[0]), REMOTE_IP[0], UPLINK_MAC, NODE_IP).build(), uplink, null);
            add("host-pod", new FrameBuilder().eth(Ip4.podMac(NODE_IP), GATEWAY_MAC).ip4(NODE_IP, pod(0))
                .tcp(47000, 8080, TcpHeader.SYN, 1, 0).build(), host, ip);
            add("host-clusterip", new FrameBuilder().eth(Ip4.podMac(NODE_IP), GATEWAY_MAC).ip4(NODE_IP,
                CLUSTER_IP_UDP).udp(47001, 53).payload(new byte[8]).build(), host, ip);
            add("host arp", new FrameBuilder().eth(Ip4.podMac(NODE_IP), -1L & 0xffff_ffff_ffffL)
                .arp(1, Ip4.podMac(NODE_IP), NODE_IP, 0, GATEWAY).build(), host, null);
            // VXLAN from the known VTEPs: to local pods, to a ClusterIP, to the node, and nested once and twice
            final List<byte[]> inner = new ArrayList<>();
            for (int r = 0; r < REMOTE_IP.length; r++)
            {
                final long innerSrc = REMOTE_VTEP_MAC[r];
                inner.add(new FrameBuilder().eth(innerSrc, VTEP_MAC).ip4(remotePod(r, 5), pod(r)).udp(48000, 8080)
                    .payload(new byte[10]).build());
                inner.add(new FrameBuilder().eth(innerSrc, VTEP_MAC).ip4(remotePod(r, 5), pod(1))
                    .tcp(48001, 8080, TcpHeader.SYN, 1, 0).build());
                inner.add(new FrameBuilder().eth(innerSrc, VTEP_MAC).ip4(remotePod(r, 6), CLUSTER_IP_TCP)
                    .tcp(48002, 80, TcpHeader.SYN, 1, 0).build());
                inner.add(new FrameBuilder().eth(innerSrc, VTEP_MAC).ip4(REMOTE_IP[r], pod(3)).icmp(8, 0, 1)
                    .payload(new byte[8]).build());
                for (final byte[] i : List.copyOf(inner))
                {
                    final byte[] once = vxlan(r, i);
                    add("vxlan", once, uplink, ip);
                    final byte[] nested = vxlan(r, Arrays.copyOfRange(once, 0, once.length));
                    add("vxlan nested", nested, uplink, ip);
                    add("vxlan nested twice", vxlan(r, nested), uplink, ip);
                }
                inner.clear();
            }
            // ICMP errors quoting every IPv4 seed, toward pods and the node, from the uplink and from pods
            final List<byte[]> quoted = List.copyOf(ip);
            for (final byte[] q : quoted)
            {
                final byte[] quote = Arrays.copyOfRange(q, 14, Math.min(q.length, 14 + 28 + random.nextInt(40)));
                final int type = random.nextBoolean() ? 3 : 11;
                add("icmp error from outside", new FrameBuilder().eth(ROUTER_MAC, UPLINK_MAC)
                    .ip4(Ip4.parse("8.8.4.4"), NODE_IP).icmp(type, random.nextInt(5), 1500).payload(quote).build(),
                    uplink, null);
                final int p = random.nextInt(PODS);
                add("icmp error from pod", new FrameBuilder().eth(Ip4.podMac(pod(p)), GATEWAY_MAC)
                    .ip4(pod(p), random.nextBoolean() ? Ip4.parse("8.8.8.8") : CLUSTER_IP_TCP)
                    .icmp(type, random.nextInt(5), 0).payload(quote).build(), podPort[p], null);
            }
            // IPv4 options and fragments on any IPv4 seed
            for (final byte[] q : quoted)
            {
                add("options", options(q), portOf(q), null);
                add("fragment", fragment(q), portOf(q), null);
            }
        }

        private int portOf(final byte[] frame)
        {
            for (final Seed s : seeds)
            {
                if (s.frame() == frame)
                {
                    return s.port();
                }
            }
            throw new IllegalStateException("no seed");
        }

        private void add(final String kind, final byte[] frame, final int port, final List<byte[]> ip)
        {
            seeds.add(new Seed(kind, frame, port));
            if (ip != null)
            {
                ip.add(frame);
            }
        }

        private byte[] vxlan(final int r, final byte[] inner)
        {
            final byte[] payload = new byte[8 + inner.length];
            payload[0] = 0x08;
            payload[4] = (byte)(cluster.vni() >>> 16);
            payload[5] = (byte)(cluster.vni() >>> 8);
            payload[6] = (byte)cluster.vni();
            System.arraycopy(inner, 0, payload, 8, inner.length);
            return new FrameBuilder().eth(Ip4.podMac(REMOTE_IP[r]), UPLINK_MAC).ip4(REMOTE_IP[r], NODE_IP)
                .udp(49152 + random.nextInt(1000), cluster.vxlanPort()).payload(payload).build();
        }

        /**
         * Makes a mutated frame's checksums right again where they would stop it early (outer and inner IPv4
         * header checksums; a VXLAN datagram's UDP checksum becomes 0, "none"), so that the mutation reaches the
         * stages behind the checks.
         */
        private void reseal(final byte[] f)
        {
            if (f.length < 34 || f[12] != 0x08 || f[13] != 0)
            {
                return;
            }
            ipChecksum(f, 14);
            final int ihl = (f[14] & 0x0f) * 4;
            final int l4 = 14 + ihl;
            if (ihl >= 20 && (f[23] & 0xff) == Ip4Header.PROTO_UDP && l4 + 8 <= f.length
                && get16(f, l4 + 2) == cluster.vxlanPort())
            {
                put16(f, l4 + 6, 0);
                final int inner = l4 + 8 + 8 + 14;
                if (inner + 20 <= f.length)
                {
                    ipChecksum(f, inner);
                }
            }
        }

        /** The frame with 4 to 40 bytes of IPv4 options (NOP, RR, LSRR, router alert, garbage). */
        private byte[] options(final byte[] f)
        {
            final int words = 1 + random.nextInt(10);
            final byte[] opts = new byte[words * 4];
            switch (random.nextInt(4))
            {
                case 0 -> Arrays.fill(opts, (byte)1);
                case 1 ->
                {
                    opts[0] = (byte)0x94;
                    opts[1] = 4;
                }
                case 2 ->
                {
                    opts[0] = (byte)(random.nextBoolean() ? 0x83 : 0x07);
                    opts[1] = (byte)Math.min(opts.length, 3 + 4 * random.nextInt(9));
                    opts[2] = 4;
                }
                default -> random.nextBytes(opts);
            }
            final byte[] out = new byte[f.length + opts.length];
            System.arraycopy(f, 0, out, 0, 34);
            System.arraycopy(opts, 0, out, 34, opts.length);
            System.arraycopy(f, 34, out, 34 + opts.length, f.length - 34);
            out[14] = (byte)(0x40 | 5 + words);
            put16(out, 16, get16(f, 16) + opts.length);
            ipChecksum(out, 14);
            return out;
        }

        /** The frame as a first, middle or last fragment (its L4 header then lies about the rest). */
        private byte[] fragment(final byte[] f)
        {
            final byte[] out = f.clone();
            final int offset = random.nextInt(3) == 0 ? 0 : 1 + random.nextInt(200);
            final int mf = random.nextBoolean() || offset == 0 ? 0x2000 : 0;
            put16(out, 20, mf | offset);
            ipChecksum(out, 14);
            return out;
        }
    }

    private static int get16(final byte[] f, final int off)
    {
        return (f[off] & 0xff) << 8 | (f[off + 1] & 0xff);
    }

    private static void put16(final byte[] f, final int off, final int v)
    {
        f[off] = (byte)(v >>> 8);
        f[off + 1] = (byte)v;
    }

    private static void ipChecksum(final byte[] f, final int l3)
    {
        final int ihl = (f[l3] & 0x0f) * 4;
        if (ihl < 20 || l3 + ihl > f.length)
        {
            return;
        }
        put16(f, l3 + 10, 0);
        long sum = 0;
        for (int i = 0; i < ihl; i += 2)
        {
            sum += get16(f, l3 + i);
        }
        while (sum >>> 16 != 0)
        {
            sum = (sum & 0xffff) + (sum >>> 16);
        }
        put16(f, l3 + 10, (int)~sum & 0xffff);
    }
}
