package dev.ferry.vxlan;

import dev.ferry.core.Counters;
import dev.ferry.core.PacketPool;
import dev.ferry.core.TxSink;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.FixedRecvByteBufAllocator;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollChannelOption;
import io.netty.channel.epoll.EpollDatagramChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.socket.DatagramPacket;
import io.netty.channel.socket.SocketProtocolFamily;
import io.netty.channel.unix.SegmentedDatagramPacket;

import java.io.IOException;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The VXLAN underlay as a UDP socket: a netty {@code EpollDatagramChannel} bound to the node IP and the VXLAN
 * port. It carries VXLAN header + inner frame; the kernel adds outer Ethernet/IPv4/UDP.
 *
 * <pre>
 *             recvmmsg (+ UDP GRO, split by netty)              sendmmsg (+ UDP GSO runs)
 *  socket ─────────────────────────────► copy into PacketPool ─► Receiver.onDatagram(h) ─► graph (vxlan-decap)
 *         ◄──── write per packet, flush per vector ◄── transmit(h) ◄── interface-output (tx = tunnel port)
 * </pre>
 *
 * <p>Threading: the channel's event loop is the I/O thread and owns the {@link PacketPool}; the graph that feeds
 * {@link #transmit(int)} must run on it too (one worker with inline I/O), or hand packets over through
 * {@link #execute(Runnable)}. A received datagram is copied into a pool buffer with
 * {@link PacketPool#l3Offset(int)} = {@link VxlanDecap#SOCKET_DATAGRAM}, the outer source IPv4 address in
 * {@link PacketPool#aux(int)} and the rx port set to the tunnel port. A transmitted packet's
 * {@link PacketPool#aux(int)} holds the remote VTEP address (vxlan-encap in socket mode sets it).
 *
 * <p>Counters ({@code link/NAME/...}): rx-packets, rx-bytes, rx-no-buffer (pool empty), rx-too-big,
 * tx-packets, tx-bytes, tx-ring-full (netty's outbound buffer above its high-water mark), tx-errors,
 * tx-batches (flushes), tx-gso-sends; {@link #kernelDrops()} reads the socket's drop count from
 * {@code /proc/net/udp} (receive-buffer overflow).
 */
public final class VxlanUdpUnderlay implements TxSink, AutoCloseable
{
    /** Receives datagrams on the I/O thread. */
    public interface Receiver
    {
        /**
         * A datagram is in the pool; the receiver owns the buffer from now on.
         *
         * @param handle packet handle.
         */
        void onDatagram(int handle);

        /** End of one read burst (one epoll wake-up): run the graph now. */
        void onBatchEnd();
    }

    /**
     * Underlay settings.
     *
     * @param name          link name used in counter names.
     * @param bindAddress   the node IP.
     * @param port          the VXLAN port (also the destination port of every send).
     * @param socketBuffer  SO_RCVBUF/SO_SNDBUF request, at least 4 MiB; FORCE variants are tried first.
     * @param recvBatch     datagrams per recvmmsg call.
     * @param gro           enable UDP_GRO on receive.
     * @param gso           send runs of same-size datagrams to one VTEP as one UDP_SEGMENT (GSO) send.
     * @param reusePort     bind with {@code SO_REUSEPORT}: several sockets (one per worker) share the address and
     *                      port, and the kernel gives each datagram to one of them by a hash of its addresses and
     *                      ports, so a flow stays on one socket while the set of sockets stays the same.
     */
    public record Config(String name, InetAddress bindAddress, int port, int socketBuffer, int recvBatch,
        boolean gro, boolean gso, boolean reusePort)
    {
        /** Smallest socket buffer the issue allows. */
        public static final int MIN_SOCKET_BUFFER = 4 << 20;

        /**
         * Validates the settings.
         *
         * @param name         link name.
         * @param bindAddress  node IP.
         * @param port         VXLAN port.
         * @param socketBuffer socket buffer bytes.
         * @param recvBatch    recvmmsg batch.
         * @param gro          UDP GRO.
         * @param gso          UDP GSO.
         * @param reusePort    SO_REUSEPORT.
         */
        public Config
        {
            if (port < 1 || port > 65535 || recvBatch < 1 || socketBuffer < 4096)
            {
                throw new IllegalArgumentException("bad underlay config: port " + port + " batch " + recvBatch
                    + " buffer " + socketBuffer);
            }
        }

        /**
         * Settings without {@code SO_REUSEPORT}.
         *
         * @param name         link name.
         * @param bindAddress  node IP.
         * @param port         VXLAN port.
         * @param socketBuffer socket buffer bytes.
         * @param recvBatch    recvmmsg batch.
         * @param gro          UDP GRO.
         * @param gso          UDP GSO.
         */
        public Config(final String name, final InetAddress bindAddress, final int port, final int socketBuffer,
            final int recvBatch, final boolean gro, final boolean gso)
        {
            this(name, bindAddress, port, socketBuffer, recvBatch, gro, gso, false);
        }

        /**
         * @param on whether to bind with {@code SO_REUSEPORT}.
         * @return these settings with {@link #reusePort()} set.
         */
        public Config withReusePort(final boolean on)
        {
            return new Config(name, bindAddress, port, socketBuffer, recvBatch, gro, gso, on);
        }

        /**
         * @param bindAddress node IP.
         * @param port        VXLAN port.
         * @return defaults: 8 MiB buffers, 64 datagrams per recvmmsg, GRO and GSO on.
         */
        public static Config of(final InetAddress bindAddress, final int port)
        {
            return new Config("vxlan-udp", bindAddress, port, 2 * MIN_SOCKET_BUFFER, 64, true, true);
        }
    }

    private static final int GSO_MAX_SEGMENTS = 64;
    private static final int GSO_MAX_BYTES = 60_000;

    private final Config config;
    private final PacketPool pool;
    private final int tunnelPort;
    private final Receiver receiver;
    private final Counters counters;
    private final EventLoopGroup group;
    private final Channel channel;
    private final ByteBufAllocator alloc = PooledByteBufAllocator.DEFAULT;
    private final byte[] scratch;
    private final int[] queue = new int[1024];
    private int queued;
    private final boolean buffersForced;
    private final boolean gsoActive;
    private final int[] addrKeys = new int[64];
    private final InetSocketAddress[] addrValues = new InetSocketAddress[64];
    private final int rxPackets;
    private final int rxBytes;
    private final int rxNoBuffer;
    private final int rxTooBig;
    private final int txPackets;
    private final int txBytes;
    private final int txRingFull;
    private final int txErrors;
    private final int txBatches;
    private final int txGsoSends;

    private VxlanUdpUnderlay(final Config config, final PacketPool pool, final int tunnelPort,
        final Receiver receiver, final Counters counters) throws InterruptedException
    {
        Epoll.ensureAvailability();
        this.config = config;
        this.pool = pool;
        this.tunnelPort = tunnelPort;
        this.receiver = receiver;
        this.counters = counters;
        this.scratch = new byte[Math.max(pool.bufferSize(), 65536)];
        final String p = "link/" + config.name() + "/";
        rxPackets = counters.register(p + "rx-packets");
        rxBytes = counters.register(p + "rx-bytes");
        rxNoBuffer = counters.register(p + "rx-no-buffer");
        rxTooBig = counters.register(p + "rx-too-big");
        txPackets = counters.register(p + "tx-packets");
        txBytes = counters.register(p + "tx-bytes");
        txRingFull = counters.register(p + "tx-ring-full");
        txErrors = counters.register(p + "tx-errors");
        txBatches = counters.register(p + "tx-batches");
        txGsoSends = counters.register(p + "tx-gso-sends");
        // with GRO one read can hold up to 64 KiB of coalesced datagrams; netty splits them by segment size
        final int slot = config.gro() ? 65535 : pool.bufferSize();
        // netty reads the GRO segment size only on its single-recvmsg path: with GRO one read is one
        // coalesced super-datagram (up to 64 segments), without GRO recvmmsg reads recvBatch datagrams
        final int batch = config.gro() ? 1 : config.recvBatch();
        this.group = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
        final Bootstrap b = new Bootstrap().group(group)
            .channelFactory(() -> new EpollDatagramChannel(SocketProtocolFamily.INET))
            .option(ChannelOption.SO_RCVBUF, config.socketBuffer())
            .option(ChannelOption.SO_SNDBUF, config.socketBuffer())
            .option(EpollChannelOption.MAX_DATAGRAM_PAYLOAD_SIZE, slot)
            .option(ChannelOption.RECVBUF_ALLOCATOR, new FixedRecvByteBufAllocator(slot * batch))
            .option(ChannelOption.WRITE_BUFFER_WATER_MARK, new WriteBufferWaterMark(1 << 20, 4 << 20))
            .option(ChannelOption.ALLOCATOR, alloc)
            .handler(new Handler());
        if (config.gro())
        {
            b.option(EpollChannelOption.UDP_GRO, true);
        }
        if (config.reusePort())
        {
            b.option(EpollChannelOption.SO_REUSEPORT, true);
        }
        this.channel = b.bind(new InetSocketAddress(config.bindAddress(), config.port())).sync().channel();
        this.buffersForced = SocketOptions.forceBuffers(((EpollDatagramChannel)channel).fd().intValue(),
            config.socketBuffer());
        this.gsoActive = config.gso() && EpollDatagramChannel.isSegmentedDatagramPacketSupported();
    }

    /**
     * Opens the underlay socket and starts its I/O thread.
     *
     * @param config     settings.
     * @param pool       the pool received datagrams go into; owned by the I/O thread from now on.
     * @param tunnelPort the tunnel port id set as rx port.
     * @param receiver   called on the I/O thread.
     * @param counters   where link counters are registered (the I/O thread writes them).
     * @return the open underlay.
     * @throws InterruptedException when interrupted while binding.
     */
    public static VxlanUdpUnderlay open(final Config config, final PacketPool pool, final int tunnelPort,
        final Receiver receiver, final Counters counters) throws InterruptedException
    {
        return new VxlanUdpUnderlay(config, pool, tunnelPort, receiver, counters);
    }

    /**
     * Runs a task on the I/O thread (the only thread that may touch the pool and call {@link #transmit}).
     *
     * @param task the task.
     */
    public void execute(final Runnable task)
    {
        channel.eventLoop().execute(task);
    }

    /** @return whether the caller is the I/O thread. */
    public boolean inIoThread()
    {
        return channel.eventLoop().inEventLoop();
    }

    /**
     * Schedules a task on the I/O thread.
     *
     * @param task  the task.
     * @param nanos delay.
     */
    public void schedule(final Runnable task, final long nanos)
    {
        channel.eventLoop().schedule(task, nanos, TimeUnit.NANOSECONDS);
    }

    /**
     * Queues a packet for sending to the VTEP in {@link PacketPool#aux(int)} on the VXLAN port. I/O thread only.
     *
     * @param handle packet handle; its buffer returns to the pool here.
     */
    @Override
    public void transmit(final int handle)
    {
        if (queued == queue.length)
        {
            flush();
        }
        queue[queued++] = handle;
    }

    /** Writes the queued packets and flushes them with one sendmmsg (netty batches the outbound buffer). */
    @Override
    public void flush()
    {
        final int n = queued;
        if (n == 0)
        {
            return;
        }
        queued = 0;
        int i = 0;
        while (i < n)
        {
            final int h = queue[i];
            int run = 1;
            if (gsoActive)
            {
                run = gsoRun(i, n);
            }
            if (!channel.isWritable())
            {
                for (int k = 0; k < run; k++)
                {
                    counters.increment(txRingFull);
                    pool.free(queue[i + k]);
                }
                i += run;
                continue;
            }
            final int len = pool.length(h);
            final ByteBuf buf = alloc.directBuffer(len * run);
            for (int k = 0; k < run; k++)
            {
                final int hk = queue[i + k];
                final int l = pool.copyOut(hk, scratch);
                buf.writeBytes(scratch, 0, l);
                counters.add(txBytes, l);
                pool.free(hk);
            }
            final InetSocketAddress to = address(pool.aux(h));
            if (run > 1)
            {
                counters.increment(txGsoSends);
                channel.write(new SegmentedDatagramPacket(buf, len, to), channel.voidPromise());
            }
            else
            {
                channel.write(new DatagramPacket(buf, to), channel.voidPromise());
            }
            counters.add(txPackets, run);
            i += run;
        }
        channel.flush();
        counters.increment(txBatches);
    }

    /** Length of the run of same-size packets to the same VTEP starting at queue[from]. */
    private int gsoRun(final int from, final int n)
    {
        final int h = queue[from];
        final int dst = pool.aux(h);
        final int len = pool.length(h);
        int run = 1;
        while (from + run < n && run < GSO_MAX_SEGMENTS && (run + 1) * len <= GSO_MAX_BYTES)
        {
            final int next = queue[from + run];
            if (pool.aux(next) != dst || pool.length(next) != len)
            {
                break;
            }
            run++;
        }
        return run;
    }

    private InetSocketAddress address(final int ip)
    {
        // small open-addressing cache: one InetSocketAddress per remote VTEP, made once
        final int mask = addrKeys.length - 1;
        int slot = (ip * 0x9E3779B9 >>> 26) & mask;
        for (int probe = 0; probe < addrKeys.length; probe++)
        {
            final InetSocketAddress a = addrValues[slot];
            if (a == null)
            {
                addrKeys[slot] = ip;
                addrValues[slot] = newAddress(ip);
                return addrValues[slot];
            }
            if (addrKeys[slot] == ip)
            {
                return a;
            }
            slot = (slot + 1) & mask;
        }
        return newAddress(ip);
    }

    private InetSocketAddress newAddress(final int ip)
    {
        try
        {
            final byte[] b = {(byte)(ip >>> 24), (byte)(ip >>> 16), (byte)(ip >>> 8), (byte)ip};
            return new InetSocketAddress(InetAddress.getByAddress(b), config.port());
        }
        catch (final java.net.UnknownHostException e)
        {
            throw new IllegalStateException(e);
        }
    }

    /** @return whether SO_RCVBUFFORCE/SO_SNDBUFFORCE succeeded. */
    public boolean buffersForced()
    {
        return buffersForced;
    }

    /** @return the effective receive buffer (the kernel reports twice the requested size). */
    public int receiveBufferSize()
    {
        return ((EpollDatagramChannel)channel).config().getReceiveBufferSize();
    }

    /** @return the effective send buffer. */
    public int sendBufferSize()
    {
        return ((EpollDatagramChannel)channel).config().getSendBufferSize();
    }

    /** @return whether GSO sends are in use. */
    public boolean gsoActive()
    {
        return gsoActive;
    }

    /** @return the bound address. */
    public InetSocketAddress localAddress()
    {
        return (InetSocketAddress)channel.localAddress();
    }

    /**
     * Datagrams the kernel dropped for this socket (receive buffer full), from the {@code drops} column of
     * {@code /proc/net/udp}. Not for the data path.
     *
     * @return the drop count, or -1 when it cannot be read.
     */
    public long kernelDrops()
    {
        final InetSocketAddress local = localAddress();
        final byte[] a = local.getAddress().getAddress();
        // /proc prints the address as the host-order (little-endian) value of the network-order word
        final String want = String.format("%02X%02X%02X%02X:%04X", a[3], a[2], a[1], a[0], local.getPort());
        try
        {
            final List<String> lines = Files.readAllLines(Path.of("/proc/self/net/udp"));
            for (final String line : lines)
            {
                final String[] f = line.trim().split("\\s+");
                if (f.length > 12 && f[1].equals(want))
                {
                    return Long.parseLong(f[f.length - 1]);
                }
            }
            return -1;
        }
        catch (final IOException | NumberFormatException e)
        {
            return -1;
        }
    }

    @Override
    public void close()
    {
        channel.close().syncUninterruptibly();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }

    private final class Handler extends ChannelInboundHandlerAdapter
    {
        @Override
        public void channelRead(final ChannelHandlerContext ctx, final Object msg)
        {
            final DatagramPacket p = (DatagramPacket)msg;
            try
            {
                receive(p);
            }
            finally
            {
                p.release();
            }
        }

        @Override
        public void channelReadComplete(final ChannelHandlerContext ctx)
        {
            receiver.onBatchEnd();
        }

        @Override
        public void exceptionCaught(final ChannelHandlerContext ctx, final Throwable cause)
        {
            counters.increment(txErrors);
        }
    }

    private void receive(final DatagramPacket p)
    {
        final ByteBuf content = p.content();
        final int len = content.readableBytes();
        if (len > pool.bufferSize() - pool.headroom())
        {
            counters.increment(rxTooBig);
            return;
        }
        final int h = pool.allocate();
        if (h == PacketPool.NO_BUFFER)
        {
            counters.increment(rxNoBuffer);
            return;
        }
        content.getBytes(content.readerIndex(), scratch, 0, len);
        pool.write(h, scratch, 0, len);
        pool.rxPort(h, tunnelPort);
        pool.l3Offset(h, VxlanDecap.SOCKET_DATAGRAM);
        // Inet4Address.hashCode() is the address as an int: no byte[] per packet
        final InetAddress from = p.sender().getAddress();
        pool.aux(h, from instanceof Inet4Address ? from.hashCode() : 0);
        counters.increment(rxPackets);
        counters.add(rxBytes, len);
        receiver.onDatagram(h);
    }
}
