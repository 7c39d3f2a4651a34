package dev.ferry.node;

import dev.ferry.core.Clock;
import dev.ferry.core.Counters;
import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;
import dev.ferry.core.Ports;
import dev.ferry.core.route.Ip4;
import dev.ferry.tapio.NativeException;
import dev.ferry.tapio.PacketSocketPort;
import dev.ferry.tapio.TapPort;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The real ports, from {@code tap-io}: the uplink through AF_PACKET ({@link PacketSocketPort}, TPACKET_V3 ring,
 * sendmmsg), the host TAP and the pod TAPs through FFM ({@link TapPort}). Registered for
 * {@link java.util.ServiceLoader}, so {@code ferry node} uses it unless {@code --memory-ports} is given.
 *
 * <p>A pod TAP is created in the node's namespace with the pod's MAC and MTU; the CNI plugin moves it into the
 * pod's namespace, renames it and brings it up. It is persistent, so the pod keeps its interface while the node
 * restarts; the restarted node opens it again inside the pod's namespace ({@link #reopenPodTap}), and CNI DEL
 * (or the namespace's deletion) removes it.
 */
public final class TapIoPortFactory implements PortFactory
{
    /** Ferry's MAC on the host TAP (the source of frames it sends up to the node's kernel). */
    public static final long HOST_MAC = Ip4.parseMac("02:fe:00:00:00:02");
    /** The MAC of the kernel's side of the host TAP. */
    public static final long HOST_PEER_MAC = Ip4.parseMac("02:fe:00:00:00:03");

    private PacketPool pool;
    private Counters counters;
    private Clock clock;

    @Override
    public void bind(final PacketPool packetPool, final Counters nodeCounters, final Clock time)
    {
        this.pool = packetPool;
        this.counters = nodeCounters;
        this.clock = time;
    }

    private void requireBound()
    {
        if (pool == null)
        {
            throw new IllegalStateException("TapIoPortFactory.bind was not called before opening a port");
        }
    }

    @Override
    public NodePort openUplink(final String ifName) throws IOException
    {
        requireBound();
        final long mac = readMac(ifName);
        try
        {
            final PacketSocketPort p = PacketSocketPort.open(ifName, 0, pool, counters, clock,
                new PacketSocketPort.Options());
            return new Uplink(p, mac);
        }
        catch (final NativeException e)
        {
            throw new IOException("uplink " + ifName + ": " + e.getMessage(), e);
        }
    }

    @Override
    public NodePort openHostTap(final String name) throws IOException
    {
        requireBound();
        try
        {
            final TapPort t = TapPort.open(name, 0, pool, counters, clock,
                new TapPort.Options().mac(HOST_PEER_MAC).up(true));
            return new Tap(t, Ports.Kind.HOST, HOST_MAC, HOST_PEER_MAC);
        }
        catch (final NativeException e)
        {
            throw new IOException("host TAP " + name + ": " + e.getMessage(), e);
        }
    }

    @Override
    public NodePort openPodTap(final PodAttachment pod) throws IOException
    {
        requireBound();
        try
        {
            // persistent: the pod keeps its interface while the node restarts (CNI DEL deletes it)
            final TapPort t = TapPort.open(pod.tapName(), 0, pool, counters, clock,
                new TapPort.Options().mac(pod.mac()).mtu(pod.mtu()).persistent(true));
            return new Tap(t, Ports.Kind.POD, pod.gatewayMac(), pod.mac());
        }
        catch (final NativeException e)
        {
            throw new IOException("pod TAP " + pod.tapName() + ": " + e.getMessage(), e);
        }
    }

    @Override
    public NodePort reopenPodTap(final PodAttachment pod) throws IOException
    {
        requireBound();
        final Path netns = Path.of(pod.netns());
        if (!Files.exists(netns))
        {
            throw new IOException("pod " + pod.podNamespace() + "/" + pod.podName() + ": namespace " + netns
                + " is gone");
        }
        try
        {
            final TapPort t = TapPort.open(pod.ifName(), 0, pool, counters, clock,
                new TapPort.Options().namespace(netns).persistent(true));
            return new Tap(t, Ports.Kind.POD, pod.gatewayMac(), pod.mac());
        }
        catch (final NativeException e)
        {
            throw new IOException("pod TAP " + pod.ifName() + " in " + netns + ": " + e.getMessage(), e);
        }
    }

    private static long readMac(final String ifName) throws IOException
    {
        final Path f = Path.of("/sys/class/net", ifName, "address");
        if (!Files.exists(f))
        {
            throw new IOException("uplink " + ifName + ": no such interface in this network namespace");
        }
        return Ip4.parseMac(Files.readString(f).strip());
    }

    private static final class Uplink implements NodePort
    {
        private final PacketSocketPort port;
        private final long mac;

        Uplink(final PacketSocketPort port, final long mac)
        {
            this.port = port;
            this.mac = mac;
        }

        @Override
        public String name()
        {
            return port.name();
        }

        @Override
        public Ports.Kind kind()
        {
            return Ports.Kind.UPLINK;
        }

        @Override
        public long mac()
        {
            return mac;
        }

        @Override
        public int receive(final PacketPool unused, final PacketVector out)
        {
            final int n = port.receive(out);
            if (n == 0)
            {
                port.maintain();
            }
            return n;
        }

        @Override
        public void transmit(final PacketPool unused, final int handle)
        {
            port.transmit(handle);
        }

        @Override
        public void flush()
        {
            port.flush();
        }

        @Override
        public void close()
        {
            port.close();
        }
    }

    private static final class Tap implements NodePort
    {
        private final TapPort port;
        private final Ports.Kind kind;
        private final long mac;
        private final long peerMac;

        Tap(final TapPort port, final Ports.Kind kind, final long mac, final long peerMac)
        {
            this.port = port;
            this.kind = kind;
            this.mac = mac;
            this.peerMac = peerMac;
        }

        @Override
        public String name()
        {
            return port.name();
        }

        @Override
        public Ports.Kind kind()
        {
            return kind;
        }

        @Override
        public long mac()
        {
            return mac;
        }

        @Override
        public long peerMac()
        {
            return peerMac;
        }

        @Override
        public int receive(final PacketPool unused, final PacketVector out)
        {
            return port.receive(out);
        }

        @Override
        public void transmit(final PacketPool unused, final int handle)
        {
            port.transmit(handle);
        }

        @Override
        public void close()
        {
            port.close();
        }
    }
}
