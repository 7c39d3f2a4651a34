package dev.ferry.cli.scenario;

import dev.ferry.core.header.TcpHeader;
import dev.ferry.core.packet.FrameBuilder;
import dev.ferry.core.route.Ip4;

import java.io.IOException;
import java.util.SplittableRandom;

/**
 * A long capture of many concurrent flows over a mix of paths, as node-a of the example cluster sees them, streamed
 * to a sink frame by frame (nothing is kept per frame, so a capture of millions of frames takes seconds and little
 * memory). The same seed gives the same bytes.
 *
 * <p>Paths, one per flow, chosen by the seeded generator:
 * <ul>
 *   <li>{@link Path#POD_TO_POD}: client-1 to web-1:8080, a whole TCP conversation (handshake, data both ways,
 *       close);</li>
 *   <li>{@link Path#CLUSTER_IP}: client-1 to the web Service 10.96.0.10:80, SYN and its retransmits (the backend,
 *       web-1 or web-2, is the dataplane's choice);</li>
 *   <li>{@link Path#CROSS_NODE}: client-1 to web-2:8080 on node-b, a whole TCP conversation: client frames leave
 *       VXLAN-encapsulated, web-2's arrive VXLAN-encapsulated from node-b's VTEP;</li>
 *   <li>{@link Path#NODE_PORT}: an outside client to NodePort 192.168.50.11:30080, SYN and retransmits;</li>
 *   <li>{@link Path#MASQUERADE}: client-1 to 203.0.113.10:443 outside the cluster, SYN and retransmits;</li>
 *   <li>{@link Path#DNS}: client-1 asks the dns Service 10.96.0.53:53 over UDP, dns-1 answers, repeatedly.</li>
 * </ul>
 *
 * <p>Timestamps: {@code perTick} consecutive frames share one timestamp, then the clock moves by {@code gapNanos}
 * (defaults: 1 frame per timestamp, 1 µs apart, i.e. 1000 frames per millisecond). Replay runs the graph once per
 * distinct timestamp, so these two set the vector size replay sees.
 */
public final class MixScenario
{
    /** The path a flow takes through node-a. */
    public enum Path
    {
        /** Pod to pod on node-a. */
        POD_TO_POD,
        /** Pod to a ClusterIP Service. */
        CLUSTER_IP,
        /** Pod to a pod on node-b and back, through VXLAN. */
        CROSS_NODE,
        /** Outside client to a NodePort. */
        NODE_PORT,
        /** Pod to outside (masquerade). */
        MASQUERADE,
        /** DNS over UDP to the dns Service and the answer. */
        DNS
    }

    /** Receives the frames in capture order. */
    @FunctionalInterface
    public interface Sink
    {
        /**
         * One frame.
         *
         * @param epochNanos its timestamp.
         * @param path       the path of its flow.
         * @param frame      the frame (the sink may keep it).
         * @throws IOException when writing fails.
         */
        void frame(long epochNanos, Path path, byte[] frame) throws IOException;
    }

    /** The most flows: each takes its own client port. */
    public static final int MAX_FLOWS = 60_000;

    private static final int GATEWAY = Ip4.parse("10.244.1.1");
    private static final int WEB1 = Ip4.parse("10.244.1.2");
    private static final int CLIENT = Ip4.parse("10.244.1.3");
    private static final int DNS1 = Ip4.parse("10.244.1.4");
    private static final int WEB2 = Ip4.parse("10.244.2.2");
    private static final int NODE_A = Ip4.parse("192.168.50.11");
    private static final int NODE_B = Ip4.parse("192.168.50.12");
    private static final int EXTERNAL = Ip4.parse("203.0.113.7");
    private static final int OUTSIDE_SERVER = Ip4.parse("203.0.113.10");
    private static final int WEB_SERVICE = Ip4.parse("10.96.0.10");
    private static final int DNS_SERVICE = Ip4.parse("10.96.0.53");
    private static final long EXTERNAL_MAC = Ip4.parseMac("02:00:cb:00:71:07");
    private static final long NODE_A_MAC = Ip4.podMac(NODE_A);
    private static final long VTEP_A_MAC = Ip4.parseMac("8a:5e:11:0c:2d:0a");
    private static final long VTEP_B_MAC = Ip4.parseMac("8a:5e:11:0c:2d:0b");
    private static final int VXLAN_PORT = 8472;
    private static final int FIRST_PORT = 2000;
    private static final Path[] PATHS = Path.values();

    private final long frames;
    private final int flows;
    private final long seed;
    private final long gapNanos;
    private final int perTick;
    private final byte[] data = new byte[64];
    private final byte[] dnsQuery = ExampleScenarios.dnsQuery();
    private final byte[] dnsAnswer = ExampleScenarios.dnsAnswer(WEB_SERVICE);
    private final FrameBuilder inner = new FrameBuilder();
    private int ipId;

    /**
     * @param frames   how many frames.
     * @param flows    how many flows (1..{@link #MAX_FLOWS}); each lasts about {@code frames / flows} frames.
     * @param seed     seed of the path choice and the interleaving.
     * @param gapNanos time between two timestamps.
     * @param perTick  frames sharing one timestamp.
     */
    public MixScenario(final long frames, final int flows, final long seed, final long gapNanos, final int perTick)
    {
        if (frames < 0 || flows < 1 || flows > MAX_FLOWS || gapNanos < 0 || perTick < 1)
        {
            throw new IllegalArgumentException("need frames >= 0, 1 <= flows <= " + MAX_FLOWS
                + ", gap >= 0 and frames per timestamp >= 1");
        }
        this.frames = frames;
        this.flows = flows;
        this.seed = seed;
        this.gapNanos = gapNanos;
        this.perTick = perTick;
        for (int i = 0; i < data.length; i++)
        {
            data[i] = (byte)('a' + i % 26);
        }
    }

    /**
     * Generates every frame into the sink.
     *
     * @param sink where frames go.
     * @throws IOException when the sink fails.
     */
    public void generate(final Sink sink) throws IOException
    {
        final SplittableRandom random = new SplittableRandom(seed);
        final Path[] path = new Path[flows];
        final int[] step = new int[flows];
        final int[] clientSeq = new int[flows];
        final int[] serverSeq = new int[flows];
        final int[] active = new int[flows];
        // each flow's share of frames; the last ones end and leave their frames to the others
        final long share = Math.max(1, frames / flows);
        for (int f = 0; f < flows; f++)
        {
            path[f] = PATHS[random.nextInt(PATHS.length)];
            clientSeq[f] = random.nextInt();
            serverSeq[f] = random.nextInt();
            active[f] = f;
        }
        int live = flows;
        long now = ExampleScenarios.START;
        for (long n = 0; n < frames; n++)
        {
            final int pick = random.nextInt(live);
            final int f = active[pick];
            final byte[] frame = next(f, path[f], step[f]++, clientSeq, serverSeq, share);
            sink.frame(now, path[f], frame);
            if (step[f] >= share && live > 1 && frames - n > live)
            {
                active[pick] = active[--live];
            }
            if ((n + 1) % perTick == 0)
            {
                now += gapNanos;
            }
        }
    }

    private byte[] next(final int f, final Path p, final int step, final int[] cs, final int[] ss, final long share)
    {
        final int port = FIRST_PORT + f;
        final long client = Ip4.podMac(CLIENT);
        final long gw = Ip4.podMac(GATEWAY);
        return switch (p)
        {
            case POD_TO_POD -> conversation(f, step, share, cs, ss, false, port);
            case CROSS_NODE -> conversation(f, step, share, cs, ss, true, port);
            case CLUSTER_IP -> syn(client, gw, CLIENT, port, WEB_SERVICE, 80, cs[f]);
            case MASQUERADE -> syn(client, gw, CLIENT, port, OUTSIDE_SERVER, 443, cs[f]);
            case NODE_PORT -> syn(EXTERNAL_MAC, NODE_A_MAC, EXTERNAL, port, NODE_A, 30080, cs[f]);
            case DNS -> step % 2 == 0
                ? new FrameBuilder().eth(client, gw).ip4(CLIENT, DNS_SERVICE).id(nextId()).udp(port, 53)
                    .payload(dnsQuery).build()
                : new FrameBuilder().eth(Ip4.podMac(DNS1), gw).ip4(DNS1, CLIENT).id(nextId()).udp(53, port)
                    .payload(dnsAnswer).build();
        };
    }

    private byte[] syn(final long from, final long to, final int src, final int sport, final int dst,
        final int dport, final int seq)
    {
        return new FrameBuilder().eth(from, to).ip4(src, dst).id(nextId()).df(true)
            .tcp(sport, dport, TcpHeader.SYN, seq, 0).build();
    }

    /**
     * A TCP conversation from client-1 to web-1 (or web-2 across VXLAN): SYN, SYN-ACK, ACK, then data alternating
     * client and server, and in the last four frames of its share FIN, ACK, FIN, ACK.
     */
    private byte[] conversation(final int f, final int step, final long share, final int[] cs, final int[] ss,
        final boolean remote, final int port)
    {
        final long closeAt = Math.max(3, share - 4);
        final boolean fromClient;
        final int flags;
        int length = 0;
        if (step == 0)
        {
            fromClient = true;
            flags = TcpHeader.SYN;
        }
        else if (step == 1)
        {
            fromClient = false;
            flags = TcpHeader.SYN | TcpHeader.ACK;
        }
        else if (step == 2)
        {
            fromClient = true;
            flags = TcpHeader.ACK;
        }
        else if (step < closeAt)
        {
            fromClient = step % 2 == 1;
            flags = TcpHeader.ACK | TcpHeader.PSH;
            length = data.length;
        }
        else
        {
            // FIN from the client, the server's ACK+FIN, the client's last ACK; then bare ACKs
            final long k = step - closeAt;
            fromClient = k != 1;
            flags = k <= 1 ? TcpHeader.FIN | TcpHeader.ACK : TcpHeader.ACK;
        }
        final int server = remote ? WEB2 : WEB1;
        final int seq = fromClient ? cs[f] : ss[f];
        final int ack = step == 0 ? 0 : fromClient ? ss[f] : cs[f];
        final int advance = length + ((flags & (TcpHeader.SYN | TcpHeader.FIN)) != 0 ? 1 : 0);
        final boolean finSeen = step > closeAt + 1;
        if (fromClient)
        {
            cs[f] += finSeen ? 0 : advance;
        }
        else
        {
            ss[f] += finSeen ? 0 : advance;
        }
        final byte[] payload = length == 0 ? new byte[0] : data;
        if (fromClient)
        {
            return new FrameBuilder().eth(Ip4.podMac(CLIENT), Ip4.podMac(GATEWAY)).ip4(CLIENT, server).id(nextId())
                .df(true).tcp(port, 8080, flags, seq, ack).payload(payload).build();
        }
        if (!remote)
        {
            return new FrameBuilder().eth(Ip4.podMac(WEB1), Ip4.podMac(GATEWAY)).ip4(WEB1, CLIENT).id(nextId())
                .df(true).tcp(8080, port, flags, seq, ack).payload(payload).build();
        }
        // web-2's frame as node-b's VTEP sends it to node-a's (inner TTL already decremented on node-b)
        final byte[] in = inner.eth(VTEP_B_MAC, VTEP_A_MAC).ip4(WEB2, CLIENT).ttl(63).id(nextId()).df(true)
            .tcp(8080, port, flags, seq, ack).payload(payload).build();
        final byte[] vx = new byte[8 + in.length];
        vx[0] = 0x08;
        vx[6] = 1;
        System.arraycopy(in, 0, vx, 8, in.length);
        return new FrameBuilder().eth(Ip4.podMac(NODE_B), NODE_A_MAC).ip4(NODE_B, NODE_A).id(nextId())
            .udp(32768 + (port & 0x3fff), VXLAN_PORT).payload(vx).build();
    }

    private int nextId()
    {
        return ipId++ & 0xffff;
    }
}
