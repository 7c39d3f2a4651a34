package dev.ferry.cli.scenario;

import dev.ferry.core.header.ArpHeader;
import dev.ferry.core.header.EthernetHeader;
import dev.ferry.core.header.IcmpHeader;
import dev.ferry.core.header.TcpHeader;
import dev.ferry.core.packet.FrameBuilder;
import dev.ferry.core.route.Ip4;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.function.UnaryOperator;

/**
 * A small scenario builder: hosts exchange TCP, UDP, ICMP and ARP on a timeline, and the result is a list
 * of frames that a pcap stores. Tests and the bundled example generate their captures with it, so no
 * binary blob is edited by hand.
 *
 * <pre>
 *   Scenario s = new Scenario(startNanos);
 *   Scenario.Host client = s.pod("10.244.1.3", "10.244.1.1");
 *   s.tcp(client, 40000, Ip4.parse("10.96.0.10"), 80).open().send("GET /").close();
 *   List&lt;TimedFrame&gt; frames = s.frames();
 * </pre>
 */
public final class Scenario
{
    private final List<TimedFrame> frames = new ArrayList<>();
    private long now;
    private long stepNanos = 1_000_000L;
    private int ipId = 1;

    /**
     * @param startNanos time of the first frame.
     */
    public Scenario(final long startNanos)
    {
        this.now = startNanos;
    }

    /**
     * A host as seen on one link: its address, its MAC, and the MAC it sends to (its gateway or a peer).
     *
     * @param ip      address.
     * @param mac     MAC.
     * @param nextHop MAC that frames from this host are addressed to.
     */
    public record Host(int ip, long mac, long nextHop)
    {
    }

    /**
     * A pod: MAC by the CNI convention, sending to its gateway's conventional MAC.
     *
     * @param ip      pod address.
     * @param gateway gateway address.
     * @return the host.
     */
    public Host pod(final String ip, final String gateway)
    {
        final int a = Ip4.parse(ip);
        return new Host(a, Ip4.podMac(a), Ip4.podMac(Ip4.parse(gateway)));
    }

    /**
     * A host on the underlay or outside, sending to a given MAC (the node's uplink).
     *
     * @param ip      address.
     * @param mac     its MAC.
     * @param nextHop MAC its frames go to.
     * @return the host.
     */
    public Host host(final String ip, final long mac, final long nextHop)
    {
        return new Host(Ip4.parse(ip), mac, nextHop);
    }

    /**
     * Sets the gap between consecutive frames.
     *
     * @param nanos gap in nanoseconds.
     * @return this.
     */
    public Scenario step(final long nanos)
    {
        this.stepNanos = nanos;
        return this;
    }

    /**
     * Moves time forward without a frame.
     *
     * @param nanos how long.
     * @return this.
     */
    public Scenario idle(final long nanos)
    {
        now += nanos;
        return this;
    }

    /**
     * Appends a raw frame (for malformed cases built by editing a good frame).
     *
     * @param frame the frame.
     * @return this.
     */
    public Scenario raw(final byte[] frame)
    {
        frames.add(new TimedFrame(now, frame.clone()));
        now += stepNanos;
        return this;
    }

    /**
     * Appends a frame built from a prepared builder.
     *
     * @param from   sender (MACs).
     * @param build  fills in the IP layer and above.
     * @return this.
     */
    public Scenario frame(final Host from, final UnaryOperator<FrameBuilder> build)
    {
        return raw(build.apply(new FrameBuilder().eth(from.mac(), from.nextHop()).id(nextId())).build());
    }

    /**
     * An ARP request from a host for an address.
     *
     * @param from   asking host.
     * @param target address asked for.
     * @return this.
     */
    public Scenario arpRequest(final Host from, final int target)
    {
        return raw(new FrameBuilder().eth(from.mac(), EthernetHeader.BROADCAST)
            .arp(ArpHeader.OP_REQUEST, from.mac(), from.ip(), 0, target).padTo(60).build());
    }

    /**
     * An ICMP echo request.
     *
     * @param from sender.
     * @param to   destination address.
     * @param id   identifier.
     * @param seq  sequence.
     * @return this.
     */
    public Scenario ping(final Host from, final int to, final int id, final int seq)
    {
        return frame(from, b -> b.ip4(from.ip(), to).icmp(IcmpHeader.TYPE_ECHO_REQUEST, 0, (id << 16) | seq)
            .payload("ferry-ping-payload-0123456789abcdef".getBytes(StandardCharsets.US_ASCII)));
    }

    /**
     * A UDP datagram.
     *
     * @param from    sender.
     * @param sport   source port.
     * @param to      destination address.
     * @param dport   destination port.
     * @param payload data.
     * @return this.
     */
    public Scenario udp(final Host from, final int sport, final int to, final int dport, final byte[] payload)
    {
        return frame(from, b -> b.ip4(from.ip(), to).udp(sport, dport).payload(payload));
    }

    /**
     * Starts a TCP conversation between a client and a server address as seen on the client's link.
     *
     * @param client client host.
     * @param cport  client port.
     * @param server server address (a pod, or a Service address).
     * @param sport  server port.
     * @return the conversation.
     */
    public Tcp tcp(final Host client, final int cport, final int server, final int sport)
    {
        return new Tcp(client, cport, server, sport);
    }

    /** @return the frames so far, in time order. */
    public List<TimedFrame> frames()
    {
        return Collections.unmodifiableList(frames);
    }

    private int nextId()
    {
        return ipId++ & 0xffff;
    }

    /**
     * One side of a TCP conversation: the frames a client sends (and, with {@link #replyFrom}, the frames a
     * server on a local link sends back).
     */
    public final class Tcp
    {
        private final Host client;
        private final int cport;
        private final int server;
        private final int sport;
        private int clientSeq = 1000;
        private int serverSeq = 5000;

        private Tcp(final Host client, final int cport, final int server, final int sport)
        {
            this.client = client;
            this.cport = cport;
            this.server = server;
            this.sport = sport;
        }

        /**
         * The client's SYN.
         *
         * @return this.
         */
        public Tcp syn()
        {
            frame(client, b -> b.ip4(client.ip(), server).df(true).tcp(cport, sport, TcpHeader.SYN, clientSeq, 0));
            clientSeq++;
            return this;
        }

        /**
         * The server's SYN-ACK as sent by a server host on its own link.
         *
         * @param host   the server as it sends (its real address, which NAT may hide from the client).
         * @param toIp   the address it replies to (the client, or a masquerade address).
         * @param toPort the port it replies to.
         * @return this.
         */
        public Tcp synAckFrom(final Host host, final int toIp, final int toPort)
        {
            frame(host, b -> b.ip4(host.ip(), toIp).df(true)
                .tcp(realServerPort(), toPort, TcpHeader.SYN | TcpHeader.ACK, serverSeq, clientSeq));
            serverSeq++;
            return this;
        }

        /**
         * The client's ACK completing the handshake.
         *
         * @return this.
         */
        public Tcp ack()
        {
            frame(client, b -> b.ip4(client.ip(), server).df(true)
                .tcp(cport, sport, TcpHeader.ACK, clientSeq, serverSeq));
            return this;
        }

        /**
         * Client data.
         *
         * @param text the data.
         * @return this.
         */
        public Tcp send(final String text)
        {
            final byte[] data = text.getBytes(StandardCharsets.US_ASCII);
            frame(client, b -> b.ip4(client.ip(), server).df(true)
                .tcp(cport, sport, TcpHeader.ACK | TcpHeader.PSH, clientSeq, serverSeq).payload(data));
            clientSeq += data.length;
            return this;
        }

        /**
         * Server data, sent from the server's link.
         *
         * @param host   the server as it sends.
         * @param toIp   the address it replies to.
         * @param toPort the port it replies to.
         * @param text   the data.
         * @return this.
         */
        public Tcp replyFrom(final Host host, final int toIp, final int toPort, final String text)
        {
            final byte[] data = text.getBytes(StandardCharsets.US_ASCII);
            frame(host, b -> b.ip4(host.ip(), toIp).df(true)
                .tcp(realServerPort(), toPort, TcpHeader.ACK | TcpHeader.PSH, serverSeq, clientSeq).payload(data));
            serverSeq += data.length;
            return this;
        }

        /**
         * The client's FIN.
         *
         * @return this.
         */
        public Tcp fin()
        {
            frame(client, b -> b.ip4(client.ip(), server).df(true)
                .tcp(cport, sport, TcpHeader.FIN | TcpHeader.ACK, clientSeq, serverSeq));
            clientSeq++;
            return this;
        }

        /**
         * The server's FIN, from its link.
         *
         * @param host   the server as it sends.
         * @param toIp   the address it replies to.
         * @param toPort the port it replies to.
         * @return this.
         */
        public Tcp finFrom(final Host host, final int toIp, final int toPort)
        {
            frame(host, b -> b.ip4(host.ip(), toIp).df(true)
                .tcp(realServerPort(), toPort, TcpHeader.FIN | TcpHeader.ACK, serverSeq, clientSeq));
            serverSeq++;
            return this;
        }

        private int backendPort = -1;

        /**
         * Sets the port the real server listens on (a Service's targetPort), for server-side frames.
         *
         * @param port the backend port.
         * @return this.
         */
        public Tcp backendPort(final int port)
        {
            this.backendPort = port;
            return this;
        }

        private int realServerPort()
        {
            return backendPort < 0 ? sport : backendPort;
        }
    }
}
