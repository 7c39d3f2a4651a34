package dev.ferry.node;

import dev.ferry.core.Clock;
import dev.ferry.core.Counters;
import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;
import dev.ferry.tapio.PortCounters;
import dev.ferry.vxlan.VxlanDecap;
import dev.ferry.vxlan.VxlanUdpUnderlay;

import java.net.InetAddress;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.logging.Logger;

/**
 * The VXLAN tunnel port in socket mode ({@code underlay: udp}): the worker's side of the {@code vxlan} module's
 * netty UDP socket ({@link VxlanUdpUnderlay}), bound to the node IP and the cluster's VXLAN port.
 *
 * <pre>
 *   netty I/O thread (own pool)                           worker thread (node pool)
 *   recvmmsg ─► onDatagram(h) ─copy─► rx FrameRing ─copy─► receive(): l3 = SOCKET_DATAGRAM ─► vxlan-decap
 *   sendmmsg ◄── drain task ◄──copy── tx FrameRing ◄─copy── transmit(h) from vxlan-encap (aux = VTEP)
 *                    ▲ execute() once per flush that wrote, while no drain is pending
 * </pre>
 *
 * <p>The socket opens when the tables first name the node's VXLAN address and port, and opens again when they
 * change ({@link #open}, on the worker thread). Until then transmitted packets are counted and dropped. The
 * worker has no descriptor to wait on for this port, so it waits at most 1 ms when idle.
 *
 * <p>Counters ({@link PortCounters}, {@code port/NAME/}): rx-packets and rx-bytes as the worker takes datagrams
 * from the ring, tx-packets and tx-bytes as it queues them for the socket, and why others were lost: rx-ring-full
 * (netty thread), tx-ring-full, tx-no-socket. The socket's own counters are {@code link/vxlan-udp/}.
 */
final class UdpTunnelPort implements NodePort
{
    private static final Logger LOG = Logger.getLogger("dev.ferry.node");
    private static final int RING = 4096;
    private static final int IO_POOL = 4096;

    /** The open socket and the pool its I/O thread owns. */
    private record Link(VxlanUdpUnderlay underlay, PacketPool pool, InetAddress address, int port)
    {
    }

    private final PacketPool pool;
    private final Clock clock;
    private final PortCounters portCounters;
    private final Counters counters;
    private final FrameRing rx;
    private volatile Runnable wake = () ->
    {
    };
    private final FrameRing tx;
    private final int bufferSize;
    private final int tunnelPort;
    private final int rxRingFull;
    private final int txRingFull;
    private final int txNoSocket;
    private final AtomicBoolean drainPending = new AtomicBoolean();
    private final Runnable drain = this::drain;
    private volatile Link link;
    private String failed;
    private boolean wrote;
    private boolean reusePort;

    /**
     * A tunnel port that timestamps received datagrams with the system clock.
     *
     * @param name       the tunnel port's name ({@code flannel.1}).
     * @param tunnelPort its id.
     * @param pool       the worker's pool.
     * @param counters   the worker's counters.
     */
    UdpTunnelPort(final String name, final int tunnelPort, final PacketPool pool, final Counters counters)
    {
        this(name, tunnelPort, pool, counters, Clock.system());
    }

    /**
     * @param name       the tunnel port's name ({@code flannel.1}).
     * @param tunnelPort its id.
     * @param pool       the worker's pool.
     * @param counters   the worker's counters.
     * @param clock      receive timestamps.
     */
    UdpTunnelPort(final String name, final int tunnelPort, final PacketPool pool, final Counters counters,
        final Clock clock)
    {
        this.tunnelPort = tunnelPort;
        this.pool = pool;
        this.clock = clock;
        this.counters = counters;
        this.portCounters = new PortCounters(counters, name);
        this.bufferSize = pool.bufferSize();
        final int room = pool.bufferSize() - pool.headroom();
        this.rx = new FrameRing(RING, room);
        this.tx = new FrameRing(RING, room);
        rxRingFull = portCounters.register("rx-ring-full");
        txRingFull = portCounters.register("tx-ring-full");
        txNoSocket = portCounters.register("tx-no-socket");
    }

    /**
     * Binds the sockets this port opens from now on with {@code SO_REUSEPORT}, so that one tunnel port per worker
     * can bind the same address and port: the kernel gives each datagram to one socket by a hash of its addresses
     * and ports (a VXLAN peer varies the source port by inner flow), so an inner flow stays on one worker's
     * socket while the set of sockets stays the same. Every socket of the group needs it, all in this process's
     * user. Call before {@link #open}.
     *
     * @param on whether to share the port.
     * @return this.
     */
    UdpTunnelPort reusePort(final boolean on)
    {
        this.reusePort = on;
        return this;
    }

    /**
     * Binds the socket to the node's VXLAN address and port, closing the one bound before (worker thread).
     *
     * @param address the node IP (flannel public-ip).
     * @param port    the cluster's VXLAN port.
     */
    void open(final InetAddress address, final int port)
    {
        final Link old = link;
        final String key = address.getHostAddress() + ":" + port;
        if (old != null && old.address().equals(address) && old.port() == port || key.equals(failed))
        {
            return;
        }
        closeLink();
        final PacketPool ioPool = new PacketPool(IO_POOL, bufferSize, PacketPool.DEFAULT_HEADROOM);
        try
        {
            final VxlanUdpUnderlay.Config config = VxlanUdpUnderlay.Config.of(address, port).withReusePort(reusePort);
            final VxlanUdpUnderlay u = VxlanUdpUnderlay.open(config, ioPool, tunnelPort, new Inbound(ioPool),
                counters);
            link = new Link(u, ioPool, address, port);
            failed = null;
            LOG.info(() -> "VXLAN socket bound to " + key);
        }
        catch (final Exception e)
        {
            // netty throws its checked bind errors without declaring them
            ioPool.close();
            failed = key;
            if (e instanceof InterruptedException)
            {
                Thread.currentThread().interrupt();
            }
            LOG.warning(() -> "VXLAN socket not open: cannot bind " + key + ": " + e.getMessage()
                + " (cross-node traffic is dropped until the tables name another address)");
        }
    }

    @Override
    public String name()
    {
        return portCounters.name();
    }

    @Override
    public PortCounters counters()
    {
        return portCounters;
    }

    @Override
    public String entryStage()
    {
        return VxlanDecap.NAME;
    }

    @Override
    public int receive(final PacketVector out)
    {
        final PacketPool pool = this.pool;
        int n = 0;
        long bytes = 0;
        long now = 0;
        while (!out.isFull())
        {
            final int h = rx.poll(pool);
            if (h == PacketPool.NO_BUFFER)
            {
                break;
            }
            if (n == 0)
            {
                now = clock.nanos();
            }
            pool.l3Offset(h, VxlanDecap.SOCKET_DATAGRAM);
            pool.rxPort(h, tunnelPort);
            pool.timestamp(h, now);
            bytes += pool.length(h);
            out.add(h);
            n++;
        }
        if (n > 0)
        {
            portCounters.rx(n, bytes);
        }
        return n;
    }

    @Override
    public void transmit(final int handle)
    {
        final PacketPool pool = this.pool;
        if (link == null)
        {
            counters.increment(txNoSocket);
        }
        else if (tx.offer(pool, handle))
        {
            portCounters.tx(pool.length(handle));
            wrote = true;
        }
        else
        {
            counters.increment(txRingFull);
        }
        pool.free(handle);
    }

    @Override
    public void flush()
    {
        if (!wrote)
        {
            return;
        }
        wrote = false;
        final Link l = link;
        if (l != null && drainPending.compareAndSet(false, true))
        {
            l.underlay().execute(drain);
        }
    }

    /** On the netty I/O thread: sends everything the worker queued, as one flush. */
    private void drain()
    {
        // cleared first: a frame queued after this point schedules the next drain
        drainPending.set(false);
        final Link l = link;
        if (l == null)
        {
            return;
        }
        int h;
        while ((h = tx.poll(l.pool())) != PacketPool.NO_BUFFER)
        {
            l.underlay().transmit(h);
        }
        l.underlay().flush();
    }

    /** Datagrams on the netty I/O thread of one socket: copied into the ring, buffer back to that socket's pool. */
    private final class Inbound implements VxlanUdpUnderlay.Receiver
    {
        private final PacketPool ioPool;

        Inbound(final PacketPool ioPool)
        {
            this.ioPool = ioPool;
        }

        @Override
        public void onDatagram(final int handle)
        {
            if (!rx.offer(ioPool, handle))
            {
                counters.increment(rxRingFull);
            }
            ioPool.free(handle);
        }

        @Override
        public void onBatchEnd()
        {
            // the worker polls the ring in its duty cycle; if it is blocked in epoll, this wakes it
            wake.run();
        }
    }

    private void closeLink()
    {
        final Link l = link;
        link = null;
        if (l != null)
        {
            l.underlay().close();
            l.pool().close();
        }
        drainPending.set(false);
    }

    @Override
    public boolean wakeOnInput(final Runnable onInput)
    {
        this.wake = onInput;
        return true;
    }

    @Override
    public boolean inputQueued()
    {
        return !rx.isEmpty();
    }

    @Override
    public void close()
    {
        closeLink();
        rx.close();
        tx.close();
    }
}
