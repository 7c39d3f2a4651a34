package dev.ferry.cli;

import dev.ferry.cli.replay.ReplayEngine;
import dev.ferry.core.header.IcmpHeader;
import dev.ferry.core.header.Ip4Header;
import dev.ferry.core.header.TcpHeader;
import dev.ferry.core.header.UdpHeader;
import dev.ferry.core.packet.FrameBuilder;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.route.Ip4Prefix;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.tables.ServiceInfo;
import dev.ferry.nat.Nat;
import org.jctools.queues.SpscArrayQueue;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

/**
 * Issue 6, "updating under traffic", with Services: the replay graph (core stages, vxlan-bypass, nat44-in,
 * nat44-new, vxlan encap/decap, as {@link Features} wires it) carries TCP connections and UDP
 * request/response flows from eight client pods to ClusterIPs while 1,000 table changes are published:
 * endpoints added, removed or made not ready, Services created and deleted (one of them with 96 UDP
 * endpoints), backend pods deleted and re-created, on this node and behind VXLAN on node n2.
 *
 * <p>The test plays every client and every backend: a frame that leaves on a backend's port (or in a VXLAN
 * packet to n2) is answered the next graph run with a reply built by {@link FrameBuilder}, as the pod's kernel
 * would answer it. Every frame fed in has exactly one expected fate, checked against the tables in force for
 * that graph run; the only drops allowed are the documented ones. What {@code nat/README.md} ("Updating under
 * traffic") promises is asserted exactly:
 * <ul>
 *   <li>a new flow goes to a ready endpoint of its Service in the snapshot in force, or is REJECTed when there
 *       is none;</li>
 *   <li>an established TCP connection keeps its backend across every swap, also when the endpoint or the whole
 *       Service is removed; when its backend pod is deleted, the client gets a host unreachable from the
 *       ClusterIP if the pod was local, and the packets go on toward the old node if it was remote;</li>
 *   <li>a UDP flow keeps its backend while that endpoint stays in its Service; once the endpoint leaves the
 *       Service, its entry is flushed and the next request goes to a live endpoint (or is REJECTed, or dropped
 *       as {@code no-service} when the Service is gone): no UDP frame ever goes to an endpoint that its Service
 *       no longer has;</li>
 *   <li>nothing is lost, duplicated or corrupted, and the pool is full at the end.</li>
 * </ul>
 */
class ServicesUpdateUnderTrafficTest
{
    private static final int CHANGES = 1_000;
    private static final int ACTIVE_FLOWS = 64;
    private static final int SERVICES = 24;
    private static final int BULK = SERVICES;
    private static final int BULK_EVERY = 150;
    private static final long ROUND_NANOS = 5_000_000L;

    static final int NODE_IP = Ip4.parse("192.168.0.10");
    static final int N2_IP = Ip4.parse("192.168.0.11");
    static final int GATEWAY = Ip4.parse("10.244.1.1");
    static final long GATEWAY_MAC = Ip4.podMac(GATEWAY);
    static final long UPLINK_MAC = Ip4.parseMac("02:00:00:00:00:10");
    static final long VTEP_MAC = Ip4.parseMac("02:00:00:00:01:10");
    static final long N2_UNDERLAY_MAC = Ip4.parseMac("02:00:00:00:00:11");
    static final long N2_VTEP_MAC = Ip4.parseMac("02:00:00:00:01:11");
    static final int VXLAN_PORT = NodeTables.ClusterSettings.FLANNEL_DEFAULT_PORT;

    static final int CLIENTS = 8;
    static final int LOCAL_BACKENDS = 16;
    static final int REMOTE_BACKENDS = 16;
    static final int[] TCP_TARGET_PORTS = {8080, 8081};
    static final int[] UDP_TARGET_PORTS = {5353, 5354, 5355};

    static int client(final int i)
    {
        return Ip4.parse("10.244.1.10") + i;
    }

    static int backend(final int i)
    {
        return i < LOCAL_BACKENDS ? Ip4.parse("10.244.1.100") + i : Ip4.parse("10.244.2.100") + i - LOCAL_BACKENDS;
    }

    static boolean isLocal(final int ip)
    {
        return (ip >>> 8) == (GATEWAY >>> 8);
    }

    static int vip(final int service)
    {
        return Ip4.parse("10.96.1.10") + service;
    }

    static int protoOf(final int service)
    {
        return service == BULK || service % 2 == 1 ? Ip4Header.PROTO_UDP : Ip4Header.PROTO_TCP;
    }

    static int portOf(final int service)
    {
        return protoOf(service) == Ip4Header.PROTO_UDP ? 53 : 80;
    }

    static long ep(final int ip, final int port)
    {
        return (ip & 0xffffffffL) << 16 | port;
    }

    static String fmt(final long ep)
    {
        return ep < 0 ? "none" : Ip4.format((int)(ep >>> 16)) + ":" + (ep & 0xffff);
    }

    // ---------------------------------------------------------------------------------------------------------
    // Control side: the cluster changes, one NodeTables per change.

    /** One published change: the tables and which backend pods are dead (local ones are also absent from pods). */
    record Step(NodeTables tables, Set<Integer> dead, String change)
    {
    }

    /** The control plane: a seeded random walk over Services, endpoints and pods. */
    static final class Model
    {
        private final SplittableRandom rnd;
        private final TreeMap<Integer, TreeMap<Long, Boolean>> services = new TreeMap<>();
        private final Set<Integer> dead = new TreeSet<>();
        private final Map<String, Integer> tally = new TreeMap<>();
        private long generation = 1;
        private int changes;

        Model(final long seed)
        {
            rnd = new SplittableRandom(seed);
            for (int s = 0; s < SERVICES; s++)
            {
                services.put(s, randomEndpoints(s, 1 + rnd.nextInt(4)));
            }
        }

        Step initial()
        {
            return step("initial");
        }

        Step next()
        {
            generation++;
            changes++;
            final String change;
            if (changes % BULK_EVERY == 0)
            {
                change = toggleBulk();
            }
            else
            {
                final int r = rnd.nextInt(100);
                change = r < 30 ? addEndpoint() : r < 60 ? removeEndpoint() : r < 72 ? createService()
                    : r < 84 ? deleteService() : r < 92 ? deletePod() : recreatePod();
            }
            tally.merge(change, 1, Integer::sum);
            return step(change);
        }

        Map<String, Integer> tally()
        {
            return tally;
        }

        private TreeMap<Long, Boolean> randomEndpoints(final int s, final int n)
        {
            final TreeMap<Long, Boolean> eps = new TreeMap<>();
            for (int i = 0; i < n; i++)
            {
                final long e = randomEndpoint(s);
                if (e >= 0)
                {
                    eps.put(e, true);
                }
            }
            return eps;
        }

        private long randomEndpoint(final int s)
        {
            final int[] ports = protoOf(s) == Ip4Header.PROTO_UDP ? UDP_TARGET_PORTS : TCP_TARGET_PORTS;
            for (int tries = 0; tries < 20; tries++)
            {
                final int ip = backend(rnd.nextInt(LOCAL_BACKENDS + REMOTE_BACKENDS));
                if (!dead.contains(ip))
                {
                    return ep(ip, ports[rnd.nextInt(ports.length)]);
                }
            }
            return -1;
        }

        private int pick(final Set<Integer> from)
        {
            final List<Integer> l = new ArrayList<>(from);
            return l.get(rnd.nextInt(l.size()));
        }

        private Set<Integer> normalServices()
        {
            final Set<Integer> s = new TreeSet<>(services.keySet());
            s.remove(BULK);
            return s;
        }

        private String addEndpoint()
        {
            if (normalServices().isEmpty())
            {
                return createService();
            }
            final int s = pick(normalServices());
            final long e = randomEndpoint(s);
            if (e < 0)
            {
                return recreatePod();
            }
            services.get(s).put(e, true);
            return "endpoint added or made ready";
        }

        private String removeEndpoint()
        {
            final Set<Integer> withReady = new TreeSet<>();
            for (final int s : normalServices())
            {
                if (services.get(s).containsValue(true))
                {
                    withReady.add(s);
                }
            }
            if (withReady.isEmpty())
            {
                return addEndpoint();
            }
            final int s = pick(withReady);
            final List<Long> ready = new ArrayList<>();
            services.get(s).forEach((e, r) ->
            {
                if (r)
                {
                    ready.add(e);
                }
            });
            final long e = ready.get(rnd.nextInt(ready.size()));
            if (rnd.nextBoolean())
            {
                services.get(s).remove(e);
                return "endpoint removed";
            }
            services.get(s).put(e, false);
            return "endpoint made not ready";
        }

        private String createService()
        {
            final Set<Integer> absent = new TreeSet<>();
            for (int s = 0; s < SERVICES; s++)
            {
                if (!services.containsKey(s))
                {
                    absent.add(s);
                }
            }
            if (absent.isEmpty())
            {
                return deleteService();
            }
            final int s = pick(absent);
            services.put(s, randomEndpoints(s, rnd.nextInt(5)));
            return "Service created";
        }

        private String deleteService()
        {
            if (normalServices().size() < 4)
            {
                return createService();
            }
            services.remove(pick(normalServices()));
            return "Service deleted";
        }

        private String toggleBulk()
        {
            if (services.remove(BULK) != null)
            {
                return "Service deleted";
            }
            final TreeMap<Long, Boolean> eps = new TreeMap<>();
            for (int b = 0; b < LOCAL_BACKENDS + REMOTE_BACKENDS; b++)
            {
                for (final int port : UDP_TARGET_PORTS)
                {
                    if (!dead.contains(backend(b)))
                    {
                        eps.put(ep(backend(b), port), true);
                    }
                }
            }
            services.put(BULK, eps);
            return "Service created";
        }

        private String deletePod()
        {
            if (dead.size() >= 8)
            {
                return recreatePod();
            }
            int ip;
            do
            {
                ip = backend(rnd.nextInt(LOCAL_BACKENDS + REMOTE_BACKENDS));
            }
            while (dead.contains(ip));
            dead.add(ip);
            for (final TreeMap<Long, Boolean> eps : services.values())
            {
                final int gone = ip;
                eps.keySet().removeIf(e -> (int)(e >>> 16) == gone);
            }
            return isLocal(ip) ? "local backend pod deleted" : "remote backend pod deleted";
        }

        private String recreatePod()
        {
            if (dead.isEmpty())
            {
                return deletePod();
            }
            dead.remove(pick(dead));
            return "backend pod re-created";
        }

        private Step step(final String change)
        {
            final NodeTables.NodeInfo node = new NodeTables.NodeInfo("n1", List.of(NODE_IP),
                Ip4Prefix.parse("10.244.1.0/24"), GATEWAY, GATEWAY_MAC, UPLINK_MAC, VTEP_MAC, NODE_IP, 0,
                Ip4Prefix.parse("192.168.0.0/24"), 1500);
            final List<NodeTables.PodInfo> pods = new ArrayList<>();
            for (int c = 0; c < CLIENTS; c++)
            {
                pods.add(new NodeTables.PodInfo("default", "c" + c, client(c), Ip4.podMac(client(c)), "c" + c));
            }
            for (int b = 0; b < LOCAL_BACKENDS; b++)
            {
                if (!dead.contains(backend(b)))
                {
                    pods.add(new NodeTables.PodInfo("default", "l" + b, backend(b), Ip4.podMac(backend(b)), "l" + b));
                }
            }
            final List<NodeTables.RemoteNode> remotes = List.of(new NodeTables.RemoteNode("n2",
                Ip4Prefix.parse("10.244.2.0/24"), N2_IP, N2_VTEP_MAC, N2_UNDERLAY_MAC, List.of(N2_IP)));
            final List<ServiceInfo> svcs = new ArrayList<>();
            services.forEach((s, eps) ->
            {
                final List<ServiceInfo.Endpoint> list = new ArrayList<>();
                eps.forEach((e, ready) -> list.add(new ServiceInfo.Endpoint((int)(e >>> 16), (int)(e & 0xffff), ready,
                    ready, false, isLocal((int)(e >>> 16)) ? "n1" : "n2", "", isLocal((int)(e >>> 16)))));
                svcs.add(new ServiceInfo("default", "svc-" + s, "ClusterIP", null, List.of(vip(s)), List.of(),
                    List.of(), false, ServiceInfo.DEFAULT_AFFINITY_TIMEOUT, false, false,
                    List.of(new ServiceInfo.ServicePort("", protoOf(s), portOf(s), 0, list))));
            });
            final NodeTables t = new NodeTables(generation, node, NodeTables.ClusterSettings.defaults(), pods, remotes,
                svcs, Map.of());
            return new Step(t, Set.copyOf(dead), change);
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // Worker side: the graph, the clients and the backends.

    /** What the tables in force say, as the checks need it. */
    record View(long generation, Map<Integer, Set<Long>> readyByVip, Set<Integer> dead)
    {
        static View of(final Step step)
        {
            final Map<Integer, Set<Long>> ready = new HashMap<>();
            for (final ServiceInfo s : step.tables().services())
            {
                final Set<Long> eps = new HashSet<>();
                for (final ServiceInfo.Endpoint e : s.ports().get(0).endpoints())
                {
                    if (e.ready())
                    {
                        eps.add(ep(e.ip(), e.port()));
                    }
                }
                ready.put(s.clusterIps().get(0), eps);
            }
            return new View(step.tables().generation(), ready, step.dead());
        }
    }

    enum Phase
    {
        SYN, SYN_ACK, REQUEST, RESPONSE, FIN, FIN_ACK, LAST_ACK, UDP_REQUEST, UDP_RESPONSE, DONE;

        boolean backendSends()
        {
            return this == SYN_ACK || this == RESPONSE || this == FIN_ACK || this == UDP_RESPONSE;
        }
    }

    static final class Flow
    {
        final int id;
        final int clientIndex;
        final int client;
        final int cport;
        final int service;
        final int proto;
        Phase phase;
        long bound = -1;
        boolean broken;
        int exchangesLeft;
        boolean inFlight;
        boolean expectDrop;
        int sent;
        int received;

        Flow(final int id, final int clientIndex, final int service, final int exchanges)
        {
            this.id = id;
            this.clientIndex = clientIndex;
            this.client = client(clientIndex);
            this.cport = 20000 + id;
            this.service = service;
            this.proto = protoOf(service);
            this.phase = proto == Ip4Header.PROTO_TCP ? Phase.SYN : Phase.UDP_REQUEST;
            this.exchangesLeft = exchanges;
        }

        long key()
        {
            return ep(client, cport);
        }

        @Override
        public String toString()
        {
            return "flow " + id + " (" + (proto == Ip4Header.PROTO_TCP ? "TCP " : "UDP ") + Ip4.format(client) + ":"
                + cport + " -> svc-" + service + " " + Ip4.format(vip(service)) + ":" + portOf(service) + ", bound "
                + fmt(bound) + (broken ? " (endpoint removed since)" : "") + ", phase " + phase + ")";
        }
    }

    /** Totals printed at the end and checked for coverage. */
    static final class Totals
    {
        final Map<String, Long> m = new LinkedHashMap<>();

        void add(final String k)
        {
            m.merge(k, 1L, Long::sum);
        }

        long get(final String k)
        {
            return m.getOrDefault(k, 0L);
        }
    }

    /** One node under traffic: the replay graph plus the clients and backends the test plays. */
    static final class Traffic implements AutoCloseable
    {
        final SplittableRandom rnd = new SplittableRandom(7);
        final ReplayEngine engine;
        final List<byte[]> out = new ArrayList<>();
        final List<String> outPorts = new ArrayList<>();
        final Map<Long, Flow> flows = new HashMap<>();
        final List<Flow> active = new ArrayList<>();
        final Totals totals = new Totals();
        final Map<String, Integer> clientByPort = new HashMap<>();
        final Map<String, Integer> backendByPort = new HashMap<>();
        View view;
        long now = 1_700_000_000_000_000_000L;
        int nextFlowId;
        long framesIn;
        long framesOut;
        long swaps;
        long rounds;
        long expectedDrops;
        int completedFlows;

        Traffic(final Step initial, final Nat.Balancing balancing)
        {
            engine = new ReplayEngine(initial.tables(), balancing, (t, port, mem, off, len) ->
            {
                outPorts.add(port);
                out.add(mem.asSlice(off, len).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE));
            }, 0, now);
            view = View.of(initial);
            for (int c = 0; c < CLIENTS; c++)
            {
                clientByPort.put("c" + c, client(c));
            }
            for (int b = 0; b < LOCAL_BACKENDS; b++)
            {
                backendByPort.put("l" + b, backend(b));
            }
        }

        /** Publishes a change (between graph runs, on this thread) and updates what flows may expect. */
        void publish(final Step step)
        {
            engine.publish(step.tables());
            swaps++;
            view = View.of(step);
            for (final Flow f : active)
            {
                if (f.bound < 0)
                {
                    continue;
                }
                final Set<Long> ready = view.readyByVip().get(vip(f.service));
                if (ready == null || !ready.contains(f.bound))
                {
                    f.broken = true;
                }
                if (f.phase.backendSends() && view.dead().contains((int)(f.bound >>> 16)))
                {
                    // the pod that owed the reply is gone: the client would time out
                    totals.add("flows whose backend pod died while it owed a reply");
                    finish(f);
                }
            }
            active.removeIf(f -> f.phase == Phase.DONE);
        }

        private void finish(final Flow f)
        {
            f.phase = Phase.DONE;
            completedFlows++;
        }

        /** One graph run: every active flow has one frame in flight, from its client or its backend. */
        void round()
        {
            rounds++;
            now += ROUND_NANOS;
            while (active.size() < ACTIVE_FLOWS)
            {
                startFlow();
            }
            final Map<String, Long> dropsBefore = drops();
            long expectedDropsNow = 0;
            for (final Flow f : active)
            {
                final byte[] frame = f.phase.backendSends() ? backendFrame(f) : clientFrame(f);
                f.inFlight = true;
                f.expectDrop = !f.phase.backendSends() && f.proto == Ip4Header.PROTO_UDP
                    && !view.readyByVip().containsKey(vip(f.service));
                expectedDropsNow += f.expectDrop ? 1 : 0;
                f.sent++;
                framesIn++;
                engine.feed(now, frame);
            }
            out.clear();
            outPorts.clear();
            engine.finish();
            for (int i = 0; i < out.size(); i++)
            {
                framesOut++;
                onOutput(outPorts.get(i), out.get(i));
            }
            for (final Flow f : active)
            {
                if (f.inFlight)
                {
                    assertThat(f.expectDrop).as("frame lost at generation %d: %s; drops %s", view.generation(), f,
                        diff(dropsBefore, drops())).isTrue();
                    f.inFlight = false;
                    totals.add("UDP requests to a deleted Service dropped (no-service)");
                    finish(f);
                }
            }
            final Map<String, Long> dropped = diff(dropsBefore, drops());
            assertThat(dropped).as("drops in the run at generation %d", view.generation())
                .isEqualTo(expectedDropsNow == 0 ? Map.of()
                    : Map.of("stage/nat44-new/drop/no-service", expectedDropsNow));
            expectedDrops += expectedDropsNow;
            active.removeIf(f -> f.phase == Phase.DONE);
        }

        private Map<String, Long> drops()
        {
            final Map<String, Long> m = new TreeMap<>();
            engine.counters().snapshot().forEach((k, v) ->
            {
                if (k.contains("/drop/") && v != 0)
                {
                    m.put(k, v);
                }
            });
            return m;
        }

        private static Map<String, Long> diff(final Map<String, Long> before, final Map<String, Long> after)
        {
            final Map<String, Long> d = new TreeMap<>();
            after.forEach((k, v) ->
            {
                final long delta = v - before.getOrDefault(k, 0L);
                if (delta != 0)
                {
                    d.put(k, delta);
                }
            });
            return d;
        }

        private void startFlow()
        {
            final List<Integer> live = new ArrayList<>(view.readyByVip().keySet());
            live.sort(Integer::compare);
            // mostly Services with a ready endpoint; sometimes any existing one (REJECT when it has none)
            final List<Integer> serving = new ArrayList<>();
            for (final int v : live)
            {
                if (!view.readyByVip().get(v).isEmpty())
                {
                    serving.add(v);
                }
            }
            final List<Integer> from = serving.isEmpty() || rnd.nextInt(10) == 0 ? live : serving;
            final int service = from.get(rnd.nextInt(from.size())) - vip(0);
            final Flow f = new Flow(nextFlowId++, rnd.nextInt(CLIENTS), service, 3 + rnd.nextInt(40));
            flows.put(f.key(), f);
            active.add(f);
            totals.add(f.proto == Ip4Header.PROTO_TCP ? "TCP flows" : "UDP flows");
        }

        private byte[] payload(final Flow f)
        {
            return ByteBuffer.allocate(8).putInt(f.id).putInt(f.sent).array();
        }

        private byte[] clientFrame(final Flow f)
        {
            final FrameBuilder b = new FrameBuilder().eth(Ip4.podMac(f.client), GATEWAY_MAC).ip4(f.client,
                vip(f.service));
            return switch (f.phase)
            {
                case SYN -> b.tcp(f.cport, 80, TcpHeader.SYN, 1000, 0).build();
                case REQUEST -> b.tcp(f.cport, 80, TcpHeader.PSH | TcpHeader.ACK, 1001, 5001).payload(payload(f))
                    .build();
                case FIN -> b.tcp(f.cport, 80, TcpHeader.FIN | TcpHeader.ACK, 1001, 5001).build();
                case LAST_ACK -> b.tcp(f.cport, 80, TcpHeader.ACK, 1002, 5002).build();
                case UDP_REQUEST -> b.udp(f.cport, 53).payload(payload(f)).build();
                default -> throw new IllegalStateException(f.toString());
            };
        }

        private byte[] backendFrame(final Flow f)
        {
            final int ip = (int)(f.bound >>> 16);
            final int port = (int)(f.bound & 0xffff);
            final FrameBuilder b = new FrameBuilder().eth(isLocal(ip) ? Ip4.podMac(ip) : N2_VTEP_MAC,
                isLocal(ip) ? GATEWAY_MAC : VTEP_MAC).ip4(ip, f.client);
            final byte[] inner = switch (f.phase)
            {
                case SYN_ACK -> b.tcp(port, f.cport, TcpHeader.SYN | TcpHeader.ACK, 5000, 1001).build();
                case RESPONSE -> b.tcp(port, f.cport, TcpHeader.PSH | TcpHeader.ACK, 5001, 1001).payload(payload(f))
                    .build();
                case FIN_ACK -> b.tcp(port, f.cport, TcpHeader.FIN | TcpHeader.ACK, 5001, 1002).build();
                case UDP_RESPONSE -> b.udp(port, f.cport).payload(payload(f)).build();
                default -> throw new IllegalStateException(f.toString());
            };
            if (isLocal(ip))
            {
                return inner;
            }
            // node n2's kernel VXLAN: flannel's port and VNI 1
            final byte[] vx = new byte[8 + inner.length];
            vx[0] = 0x08;
            vx[6] = 1;
            System.arraycopy(inner, 0, vx, 8, inner.length);
            return new FrameBuilder().eth(N2_UNDERLAY_MAC, UPLINK_MAC).ip4(N2_IP, NODE_IP)
                .udp(40000 + (f.id & 0x3fff), VXLAN_PORT).payload(vx).build();
        }

        // ---- what came out ----

        private void onOutput(final String port, final byte[] frame)
        {
            final Integer clientIp = clientByPort.get(port);
            if (clientIp != null)
            {
                toClient(port, clientIp, frame);
                return;
            }
            final Integer localBackend = backendByPort.get(port);
            if (localBackend != null)
            {
                atBackend(port, localBackend, frame, 14);
                return;
            }
            if (port.equals(ReplayEngine.UPLINK))
            {
                final Parsed outer = new Parsed(frame, 14);
                assertThat(outer.proto == Ip4Header.PROTO_UDP && outer.dst == N2_IP && outer.dport == VXLAN_PORT)
                    .as("uplink frame is VXLAN to n2: %s", outer).isTrue();
                final int innerIp = (int)outer.l4 + 8 + 8 + 14;
                final Parsed inner = new Parsed(frame, innerIp);
                assertThat(isLocal(inner.dst)).as("VXLAN frame for a pod of n2: %s", inner).isFalse();
                atBackend(port, inner.dst, frame, innerIp);
                return;
            }
            fail("frame out on unexpected port %s: %s", port, new Parsed(frame, 14));
        }

        private Flow inFlight(final long key, final Parsed p)
        {
            final Flow f = flows.get(key);
            assertThat(f).as("frame of no flow: %s", p).isNotNull();
            assertThat(f.inFlight).as("second frame out for one frame in (duplicate or misrouted): %s; %s", p, f)
                .isTrue();
            f.inFlight = false;
            f.received++;
            return f;
        }

        private void toClient(final String port, final int clientIp, final byte[] frame)
        {
            final Parsed p = new Parsed(frame, 14);
            assertThat(p.checksumsValid()).as("checksums of %s", p).isTrue();
            assertThat(p.dst).as("frame on %s is for its pod: %s", port, p).isEqualTo(clientIp);
            if (p.proto == Ip4Header.PROTO_ICMP)
            {
                final Parsed q = new Parsed(frame, (int)p.l4 + 8);
                final Flow f = inFlight(ep(q.src, q.sport), p);
                assertThat(q.dst).as("quote names the ClusterIP: %s", f).isEqualTo(vip(f.service));
                assertThat(q.dport).as("quote names the Service port: %s", f).isEqualTo(portOf(f.service));
                assertThat(p.icmpType).isEqualTo(IcmpHeader.TYPE_DEST_UNREACHABLE);
                if (p.icmpCode == IcmpHeader.CODE_PORT_UNREACHABLE)
                {
                    final boolean fresh = f.phase == Phase.SYN || f.phase == Phase.UDP_REQUEST
                        && (f.bound < 0 || f.broken);
                    final Set<Long> ready = view.readyByVip().get(vip(f.service));
                    assertThat(fresh && ready != null && ready.isEmpty())
                        .as("REJECT only for a new flow to a Service without ready endpoints: %s", f).isTrue();
                    assertThat(p.src).as("REJECT comes from the pods' gateway, as icmp_send picks it: %s", f)
                        .isEqualTo(GATEWAY);
                    totals.add("REJECTs (no ready endpoint)");
                    // connection refused: the TCP connect() fails, the UDP client (dig) gives up
                    finish(f);
                    return;
                }
                assertThat(p.icmpCode).as("host unreachable: %s", f).isEqualTo(IcmpHeader.CODE_HOST_UNREACHABLE);
                assertThat(f.proto == Ip4Header.PROTO_TCP && f.bound >= 0 && isLocal((int)(f.bound >>> 16))
                    && view.dead().contains((int)(f.bound >>> 16)))
                    .as("host unreachable only for TCP to a deleted local pod: %s", f).isTrue();
                assertThat(p.src).as("host unreachable translated to come from the ClusterIP: %s", f)
                    .isEqualTo(vip(f.service));
                totals.add("TCP to a deleted local pod: host unreachable from the ClusterIP");
                finish(f);
                return;
            }
            final Flow f = inFlight(ep(p.dst, p.dport), p);
            assertThat(f.phase.backendSends()).as("reply while the client sent: %s; %s", p, f).isTrue();
            assertThat(p.payloadOk(f)).as("payload intact: %s", f).isTrue();
            if (f.proto == Ip4Header.PROTO_UDP && f.broken && p.src == (int)(f.bound >>> 16))
            {
                // the entry was flushed while the reply was on its way: it arrives untranslated, as after
                // kube-proxy's conntrack -D, and the client's socket (connected to the ClusterIP) ignores it
                assertThat(p.sport).isEqualTo((int)(f.bound & 0xffff));
                totals.add("UDP replies untranslated after their entry was flushed");
                f.phase = Phase.UDP_REQUEST;
                return;
            }
            assertThat(p.src).as("reply comes from the ClusterIP: %s; %s", p, f).isEqualTo(vip(f.service));
            assertThat(p.sport).as("reply comes from the Service port: %s", f).isEqualTo(portOf(f.service));
            switch (f.phase)
            {
                case SYN_ACK -> f.phase = Phase.REQUEST;
                case RESPONSE -> f.phase = --f.exchangesLeft == 0 ? Phase.FIN : Phase.REQUEST;
                case FIN_ACK -> f.phase = Phase.LAST_ACK;
                default ->
                {
                    f.phase = Phase.UDP_REQUEST;
                    if (--f.exchangesLeft == 0)
                    {
                        finish(f);
                    }
                }
            }
        }

        private void atBackend(final String port, final int backendIp, final byte[] frame, final int ipOff)
        {
            final Parsed p = new Parsed(frame, ipOff);
            assertThat(p.checksumsValid()).as("checksums of %s", p).isTrue();
            assertThat(p.dst).as("frame on %s is for its pod: %s", port, p).isEqualTo(backendIp);
            final Flow f = inFlight(ep(p.src, p.sport), p);
            final long e = ep(p.dst, p.dport);
            final Set<Long> ready = view.readyByVip().get(vip(f.service));
            assertThat(f.phase.backendSends()).as("a backend got a frame while it owed a reply: %s", f).isFalse();
            assertThat(p.payloadOk(f)).as("payload intact: %s", f).isTrue();
            switch (f.phase)
            {
                case SYN ->
                {
                    assertThat(ready).as("new TCP flow goes to a ready endpoint of its Service at generation %d: %s"
                        + " went to %s", view.generation(), f, fmt(e)).isNotNull().contains(e);
                    f.bound = e;
                    f.broken = false;
                    f.phase = Phase.SYN_ACK;
                }
                case REQUEST, FIN, LAST_ACK ->
                {
                    assertThat(e).as("established TCP keeps its backend at generation %d: %s", view.generation(), f)
                        .isEqualTo(f.bound);
                    if (view.dead().contains(p.dst))
                    {
                        assertThat(isLocal(p.dst)).as("only a remote dead pod still gets packets: %s", f).isFalse();
                        totals.add("TCP to a deleted remote pod: sent on toward its old node");
                        finish(f);
                        return;
                    }
                    if (f.broken)
                    {
                        totals.add("TCP packets kept on a backend removed from its Service");
                    }
                    f.phase = f.phase == Phase.REQUEST ? Phase.RESPONSE : f.phase == Phase.FIN ? Phase.FIN_ACK
                        : Phase.DONE;
                    if (f.phase == Phase.DONE)
                    {
                        finish(f);
                    }
                }
                default ->
                {
                    assertThat(ready).as("UDP to a Service present at generation %d: %s went to %s",
                        view.generation(), f, fmt(e)).isNotNull();
                    assertThat(ready).as("UDP goes only to a ready endpoint of its Service at generation %d: %s"
                        + " went to %s", view.generation(), f, fmt(e)).contains(e);
                    if (f.bound >= 0 && !f.broken)
                    {
                        assertThat(e).as("UDP flow keeps a backend that stayed: %s", f).isEqualTo(f.bound);
                        totals.add("UDP requests on a kept binding");
                    }
                    else if (f.bound >= 0)
                    {
                        totals.add("UDP flows moved after their endpoint left (entry flushed)");
                    }
                    f.bound = e;
                    f.broken = false;
                    f.phase = Phase.UDP_RESPONSE;
                }
            }
        }

        void assertPoolFullAndPrint(final String variant)
        {
            assertThat(engine.pool().available()).as("every buffer back in the pool").isEqualTo(
                engine.pool().capacity());
            assertThat(engine.poolExhausted()).isZero();
            System.out.printf("%s: %d frames in, %d frames out, %d table swaps, %d graph runs, %d flows (%d "
                + "finished), %d documented drops, %d UDP flows flushed%n", variant, framesIn, framesOut, swaps, rounds,
                nextFlowId, completedFlows, expectedDrops, engine.counters().get(Nat.COUNTER_UDP_FLUSHED));
            totals.m.forEach((k, v) -> System.out.printf("  %-72s %8d%n", k, v));
        }

        void assertCoverage()
        {
            assertThat(swaps).isGreaterThanOrEqualTo(CHANGES);
            assertThat(framesIn).as("every frame in came out, or was one of the documented drops")
                .isEqualTo(framesOut + expectedDrops);
            for (final String k : List.of("REJECTs (no ready endpoint)",
                "TCP to a deleted local pod: host unreachable from the ClusterIP",
                "TCP to a deleted remote pod: sent on toward its old node",
                "TCP packets kept on a backend removed from its Service",
                "UDP flows moved after their endpoint left (entry flushed)", "UDP requests on a kept binding",
                "UDP requests to a deleted Service dropped (no-service)"))
            {
                assertThat(totals.get(k)).as("the run exercised: %s", k).isPositive();
            }
        }

        @Override
        public void close()
        {
            engine.close();
        }
    }

    /** A parsed IPv4 packet inside a frame. */
    static final class Parsed
    {
        final MemorySegment seg;
        final int off;
        final int proto;
        final int src;
        final int dst;
        final long l4;
        final int l4Len;
        final int sport;
        final int dport;
        final int icmpType;
        final int icmpCode;
        final Ip4Header ip = new Ip4Header();

        Parsed(final byte[] frame, final int off)
        {
            this.seg = MemorySegment.ofArray(frame);
            this.off = off;
            ip.wrap(seg, off);
            proto = ip.protocol();
            src = ip.src();
            dst = ip.dst();
            l4 = ip.payloadOffset();
            l4Len = ip.payloadLength();
            final ByteBuffer bb = ByteBuffer.wrap(frame);
            sport = bb.getShort((int)l4) & 0xffff;
            dport = bb.getShort((int)l4 + 2) & 0xffff;
            icmpType = frame[(int)l4] & 0xff;
            icmpCode = frame[(int)l4 + 1] & 0xff;
        }

        boolean checksumsValid()
        {
            if (!ip.checksumValid())
            {
                return false;
            }
            return switch (proto)
            {
                case Ip4Header.PROTO_TCP -> new TcpHeader().wrap(seg, l4).checksumValid(src, dst, l4Len);
                case Ip4Header.PROTO_UDP -> new UdpHeader().wrap(seg, l4).checksumValid(src, dst);
                case Ip4Header.PROTO_ICMP -> new IcmpHeader().wrap(seg, l4).checksumValid(l4Len);
                default -> true;
            };
        }

        /** Data frames carry (flow id, frame number); others carry nothing. */
        boolean payloadOk(final Flow f)
        {
            final int hdr = proto == Ip4Header.PROTO_UDP ? 8 : (seg.get(java.lang.foreign.ValueLayout.JAVA_BYTE,
                l4 + 12) & 0xf0) >>> 2;
            final int len = l4Len - hdr;
            if (len == 0)
            {
                return true;
            }
            final ByteBuffer bb = seg.asByteBuffer();
            return len == 8 && bb.getInt((int)(l4 + hdr)) == f.id;
        }

        @Override
        public String toString()
        {
            return Ip4.format(src) + ":" + sport + " -> " + Ip4.format(dst) + ":" + dport + " proto " + proto;
        }
    }

    // ---------------------------------------------------------------------------------------------------------

    @ParameterizedTest
    @EnumSource(Nat.Balancing.class)
    void shouldLoseAndMisrouteNothingWhileThousandServiceChangesArePublishedBetweenRuns(final Nat.Balancing lb)
    {
        final Model model = new Model(11);
        try (Traffic t = new Traffic(model.initial(), lb))
        {
            for (int c = 0; c < CHANGES; c++)
            {
                t.publish(model.next());
                t.round();
                t.round();
            }
            t.assertPoolFullAndPrint("same thread, " + lb);
            System.out.println("  changes: " + model.tally());
            t.assertCoverage();
        }
    }

    @Test
    void shouldLoseAndMisrouteNothingWhenAControlThreadQueuesTheChanges() throws Exception
    {
        final Model model = new Model(23);
        final Step initial = model.initial();
        // a node's control side: computes each change and hands it to the worker through a bounded SPSC queue
        final SpscArrayQueue<Step> commands = new SpscArrayQueue<>(16);
        final AtomicBoolean controlDone = new AtomicBoolean();
        final Thread control = new Thread(() ->
        {
            for (int c = 0; c < CHANGES; c++)
            {
                final Step s = model.next();
                while (!commands.offer(s))
                {
                    Thread.yield();
                }
            }
            controlDone.set(true);
        }, "control");
        try (Traffic t = new Traffic(initial, Nat.Balancing.RANDOM))
        {
            control.start();
            int drainedTotal = 0;
            int multi = 0;
            while (true)
            {
                final boolean last = controlDone.get();
                // the worker's duty cycle: drain a bounded number of commands, then one graph run
                int drained = 0;
                Step s;
                while (drained < 4 && (s = commands.poll()) != null)
                {
                    t.publish(s);
                    drained++;
                }
                drainedTotal += drained;
                multi += drained > 1 ? 1 : 0;
                t.round();
                if (last && drained == 0 && commands.isEmpty())
                {
                    break;
                }
            }
            control.join();
            assertThat(drainedTotal).isEqualTo(CHANGES);
            t.assertPoolFullAndPrint("control thread + command queue");
            System.out.println("  graph runs preceded by more than one swap: " + multi);
            System.out.println("  changes: " + model.tally());
            t.assertCoverage();
        }
    }
}
