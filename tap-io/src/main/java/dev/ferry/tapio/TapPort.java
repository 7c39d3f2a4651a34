package dev.ferry.tapio;

import dev.ferry.core.Clock;
import dev.ferry.core.Counters;
import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;

/**
 * A TAP device ({@code /dev/net/tun}, {@code IFF_TAP | IFF_NO_PI}) opened through the FFM API: a pod's link, or
 * the host's.
 *
 * <pre>
 *   kernel (pod netns) ──► tap fd ──read() into the buffer at the headroom mark──► receive(vector)
 *   transmit(h) ──write() straight from the buffer──► tap fd ──► kernel (pod netns)
 *                   with IFF_VNET_HDR: | virtio_net_hdr (10 or 12) | frame |   the header sits in headroom
 * </pre>
 *
 * <p>The descriptor is non-blocking: {@link #receive} reads until EAGAIN or a full vector, and an idle I/O
 * thread waits in {@link #awaitReadable(int)} or an {@link Epoll}. Receive and transmit copy nothing in user
 * space and allocate nothing. The device can be made persistent ({@code TUNSETPERSIST}), so that it and the
 * pod's configuration survive a restart of the dataplane, which then attaches again by name. With a virtio
 * header, offloads are switched off ({@code TUNSETOFFLOAD 0}); transmitted headers are zeros, and a received
 * header that asks for a checksum has it completed in software.
 *
 * <p>Counters ({@link PortCounters}, {@code port/NAME/}): rx-packets, rx-bytes, rx-no-buffer, rx-errors (read errors,
 * GSO frames, oversize), tx-packets, tx-bytes, tx-errors, tx-dropped (device down: EIO, or queue full). NAME is
 * the device name unless {@link Options#portName(String)} gives another (a pod's TAP renamed in its namespace).
 */
public final class TapPort implements Port
{
    /** Virtio header length without mergeable buffers ({@code struct virtio_net_hdr}). */
    public static final int VNET_HDR = 10;
    /** Virtio header length with {@code num_buffers} ({@code struct virtio_net_hdr_mrg_rxbuf}). */
    public static final int VNET_HDR_MRG = 12;

    private static final System.Logger LOG = System.getLogger("dev.ferry.tapio");

    static final long TUNSETIFF = 0x400454caL;
    static final long TUNSETPERSIST = 0x400454cbL;
    static final long TUNGETIFF = 0x800454d2L;
    static final long TUNSETOFFLOAD = 0x400454d0L;
    static final long TUNSETVNETHDRSZ = 0x400454d8L;
    static final int IFF_TAP = 0x0002;
    static final int IFF_NO_PI = 0x1000;
    static final int IFF_VNET_HDR = 0x4000;
    static final int VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;

    /** How to open a TAP: all optional. */
    public static final class Options
    {
        private long mac = -1;
        private int mtu;
        private int vnetHeader;
        private boolean persistent;
        private boolean up;
        private java.nio.file.Path namespace;
        private String portName;

        /**
         * @param value the port's name in counters, when it differs from the device's (a pod's TAP, renamed eth0
         *              in the pod's namespace, keeps its node-side name).
         * @return this.
         */
        public Options portName(final String value)
        {
            this.portName = value;
            return this;
        }

        /**
         * Opens (or attaches to) the device inside a network namespace, e.g. a pod's {@code /run/netns/NAME}.
         * The descriptor keeps working from this process's namespace afterwards.
         *
         * @param value namespace file, or null for this process's namespace.
         * @return this.
         */
        public Options namespace(final java.nio.file.Path value)
        {
            this.namespace = value;
            return this;
        }

        /**
         * @param value the device's MAC (the pod side), as 48 bits; unset leaves the kernel's choice.
         * @return this.
         */
        public Options mac(final long value)
        {
            this.mac = value;
            return this;
        }

        /**
         * @param value the device MTU; 0 leaves it (needs the device in this process's namespace).
         * @return this.
         */
        public Options mtu(final int value)
        {
            this.mtu = value;
            return this;
        }

        /**
         * @param length 0 for none, or {@link #VNET_HDR} / {@link #VNET_HDR_MRG} for {@code IFF_VNET_HDR}.
         * @return this.
         */
        public Options vnetHeader(final int length)
        {
            if (length != 0 && length != VNET_HDR && length != VNET_HDR_MRG)
            {
                throw new IllegalArgumentException("virtio header length must be 0, 10 or 12: " + length);
            }
            this.vnetHeader = length;
            return this;
        }

        /**
         * @param value keep the device after the last descriptor closes.
         * @return this.
         */
        public Options persistent(final boolean value)
        {
            this.persistent = value;
            return this;
        }

        /**
         * @param value bring the device up (needs the device in this process's namespace).
         * @return this.
         */
        public Options up(final boolean value)
        {
            this.up = value;
            return this;
        }
    }

    private final String device;
    private final int id;
    private final PacketPool pool;
    private final Clock clock;
    private final PortCounters counters;
    private final Arena arena;
    private final MemorySegment state;
    private final MemorySegment pollFd;
    private final int fd;
    private final int vnetHeader;
    private boolean closed;

    private TapPort(final String device, final String portName, final int id, final PacketPool pool,
        final Counters counters, final Clock clock, final Arena arena, final MemorySegment state, final int fd,
        final int vnetHeader)
    {
        this.device = device;
        this.id = id;
        this.pool = pool;
        this.clock = clock;
        this.counters = new PortCounters(counters, portName == null ? device : portName);
        this.arena = arena;
        this.state = state;
        this.fd = fd;
        this.vnetHeader = vnetHeader;
        this.pollFd = arena.allocate(8, 8);
        pollFd.set(ValueLayout.JAVA_INT, 0, fd);
        pollFd.set(ValueLayout.JAVA_SHORT, 4, LinuxNative.POLLIN);
    }

    /**
     * Creates a TAP device, or attaches to the persistent one of that name (its flags must match).
     *
     * @param name     device name, 1 to 15 characters.
     * @param id       port id stamped on received packets.
     * @param pool     the packet pool.
     * @param counters where the port counters are registered.
     * @param clock    receive timestamps.
     * @param options  MAC, MTU, virtio header, persistence, up.
     * @return the open port.
     * @throws NativeException when a call fails (the message names it and the errno).
     */
    @SuppressWarnings("try")
    public static TapPort open(final String name, final int id, final PacketPool pool, final Counters counters,
        final Clock clock, final Options options) throws NativeException
    {
        if (options.namespace == null)
        {
            return openHere(name, id, pool, counters, clock, options);
        }
        try (NetnsSwitch ignored = NetnsSwitch.enter(options.namespace))
        {
            return openHere(name, id, pool, counters, clock, options);
        }
    }

    private static TapPort openHere(final String name, final int id, final PacketPool pool, final Counters counters,
        final Clock clock, final Options options) throws NativeException
    {
        final Arena arena = Arena.ofShared();
        final MemorySegment st = LinuxNative.newCallState(arena);
        int fd = -1;
        try
        {
            fd = (int)LinuxNative.check(LinuxNative.open(st, arena.allocateFrom("/dev/net/tun"),
                LinuxNative.O_RDWR | LinuxNative.O_NONBLOCK | LinuxNative.O_CLOEXEC, 0), st, "open(/dev/net/tun)");
            final MemorySegment ifr = LinuxNative.ifreq(arena, name);
            final int flags = IFF_TAP | IFF_NO_PI | (options.vnetHeader > 0 ? IFF_VNET_HDR : 0);
            ifr.set(ValueLayout.JAVA_SHORT, LinuxNative.IFNAMSIZ, (short)flags);
            LinuxNative.check(LinuxNative.ioctl(st, fd, TUNSETIFF, ifr), st, "ioctl(TUNSETIFF, " + name + ")");
            final String actual = ifr.getString(0, StandardCharsets.US_ASCII);
            if (options.vnetHeader > 0)
            {
                final MemorySegment size = arena.allocateFrom(ValueLayout.JAVA_INT, options.vnetHeader);
                LinuxNative.check(LinuxNative.ioctl(st, fd, TUNSETVNETHDRSZ, size), st,
                    "ioctl(TUNSETVNETHDRSZ, " + actual + ")");
                LinuxNative.check(LinuxNative.ioctl(st, fd, TUNSETOFFLOAD, MemorySegment.NULL), st,
                    "ioctl(TUNSETOFFLOAD, " + actual + ")");
            }
            if (options.persistent)
            {
                LinuxNative.check(LinuxNative.ioctl(st, fd, TUNSETPERSIST, MemorySegment.ofAddress(1)), st,
                    "ioctl(TUNSETPERSIST, " + actual + ")");
            }
            if (options.mac >= 0)
            {
                final MemorySegment req = LinuxNative.ifreq(arena, actual);
                req.set(ValueLayout.JAVA_SHORT, LinuxNative.IFNAMSIZ, (short)LinuxNative.ARPHRD_ETHER);
                for (int i = 0; i < 6; i++)
                {
                    req.set(ValueLayout.JAVA_BYTE, LinuxNative.IFNAMSIZ + 2 + i, (byte)(options.mac >>> (40 - 8 * i)));
                }
                // the tun descriptor takes SIOCSIFHWADDR itself, wherever the device's namespace is
                LinuxNative.check(LinuxNative.ioctl(st, fd, LinuxNative.SIOCSIFHWADDR, req), st,
                    "ioctl(SIOCSIFHWADDR, " + actual + ")");
            }
            if (options.mtu > 0 || options.up)
            {
                Interfaces.configure(actual, options.mtu, options.up);
            }
            return new TapPort(actual, options.portName, id, pool, counters, clock, arena, st, fd,
                options.vnetHeader);
        }
        catch (final NativeException | RuntimeException e)
        {
            if (fd >= 0)
            {
                LinuxNative.close(st, fd);
            }
            arena.close();
            throw e;
        }
    }

    /** @return the port's name in counters (the device name unless {@link Options#portName} said otherwise). */
    @Override
    public String name()
    {
        return counters.name();
    }

    /** @return the device name, in the namespace it was opened in. */
    public String device()
    {
        return device;
    }

    @Override
    public PortCounters counters()
    {
        return counters;
    }

    /** @return the port id. */
    public int id()
    {
        return id;
    }

    /** @return the descriptor, for an {@link Epoll}. */
    @Override
    public int fd()
    {
        return fd;
    }

    /**
     * Reads frames into pool buffers until EAGAIN, a full vector or an empty pool. Each packet gets this port
     * as rx port and the clock's time (read once per call).
     *
     * @param out the vector that receives the handles.
     * @return packets added.
     */
    @Override
    public int receive(final PacketVector out)
    {
        final PacketPool pool = this.pool;
        final MemorySegment mem = pool.memory();
        final long base = mem.address();
        final int hdr = vnetHeader;
        final int room = pool.bufferSize() - pool.headroom();
        final long now = clock.nanos();
        int added = 0;
        long bytes = 0;
        while (!out.isFull())
        {
            final int h = pool.allocate();
            if (h == PacketPool.NO_BUFFER)
            {
                counters.rxNoBuffer();
                break;
            }
            final long frame = pool.frameOffset(h);
            final long n = LinuxNative.read(state, fd, base + frame - hdr, room + hdr);
            if (n <= 0)
            {
                pool.free(h);
                if (n < 0 && LinuxNative.errno(state) != LinuxNative.EAGAIN)
                {
                    counters.rxError();
                }
                break;
            }
            final int len = (int)n - hdr;
            if (len < 14 || (hdr > 0 && !acceptVnetHeader(mem, frame, len)))
            {
                pool.free(h);
                counters.rxError();
                continue;
            }
            pool.length(h, len);
            pool.rxPort(h, id);
            pool.timestamp(h, now);
            bytes += len;
            out.add(h);
            added++;
        }
        if (added > 0)
        {
            counters.rx(added, bytes);
        }
        return added;
    }

    /** Checks the virtio header in front of a received frame; completes a partial checksum. */
    private boolean acceptVnetHeader(final MemorySegment mem, final long frame, final int len)
    {
        final long h = frame - vnetHeader;
        final int flags = mem.get(ValueLayout.JAVA_BYTE, h) & 0xff;
        final int gsoType = mem.get(ValueLayout.JAVA_BYTE, h + 1) & 0xff;
        if (gsoType != 0)
        {
            // offloads are off, so the kernel should never hand us a superframe
            return false;
        }
        if ((flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) != 0)
        {
            // virtio fields are little-endian on the little-endian hosts we run on (legacy virtio: native order)
            final int start = mem.get(ValueLayout.JAVA_SHORT_UNALIGNED, h + 6) & 0xffff;
            final int offset = mem.get(ValueLayout.JAVA_SHORT_UNALIGNED, h + 8) & 0xffff;
            return PartialChecksum.complete(mem, frame, len, start, offset);
        }
        return true;
    }

    /**
     * Writes the frame to the device and frees the buffer. A device that is down (EIO) or a full queue
     * (EAGAIN) counts tx-dropped; other errors count tx-errors.
     *
     * @param handle packet handle.
     */
    @Override
    public void transmit(final int handle)
    {
        final PacketPool pool = this.pool;
        final int hdr = vnetHeader;
        final int len = pool.length(handle);
        if (pool.headroomOf(handle) < hdr)
        {
            counters.txErrors(1);
            pool.free(handle);
            return;
        }
        final MemorySegment mem = pool.memory();
        final long frame = pool.frameOffset(handle);
        if (hdr > 0)
        {
            for (int i = 1; i <= hdr; i++)
            {
                mem.set(ValueLayout.JAVA_BYTE, frame - i, (byte)0);
            }
        }
        final long n = LinuxNative.write(state, fd, mem.address() + frame - hdr, len + hdr);
        if (n < 0)
        {
            final int e = LinuxNative.errno(state);
            final boolean dropped = e == LinuxNative.EIO || e == LinuxNative.EAGAIN;
            if (dropped)
            {
                counters.txDropped(1);
            }
            else
            {
                counters.txErrors(1);
            }
        }
        else
        {
            counters.tx(len);
        }
        pool.free(handle);
    }

    /**
     * Waits until a frame can be read, the timeout passes or a signal interrupts.
     *
     * @param timeoutMillis longest wait; 0 polls.
     * @return whether the device has a frame to read.
     */
    public boolean awaitReadable(final int timeoutMillis)
    {
        pollFd.set(ValueLayout.JAVA_SHORT, 6, (short)0);
        final int n = LinuxNative.poll(state, pollFd.address(), 1, timeoutMillis);
        return n > 0 && (pollFd.get(ValueLayout.JAVA_SHORT, 6) & LinuxNative.POLLIN) != 0;
    }

    /**
     * Sets or clears persistence on the open device: a device that is not persistent goes away when its last
     * descriptor closes.
     *
     * @param value whether to keep the device.
     * @throws NativeException when the ioctl fails.
     */
    public void persistent(final boolean value) throws NativeException
    {
        final MemorySegment arg = MemorySegment.ofAddress(value ? 1 : 0);
        LinuxNative.check(LinuxNative.ioctl(state, fd, TUNSETPERSIST, arg), state,
            "ioctl(TUNSETPERSIST, " + device + ")");
    }


    /** Clears persistence, then closes: the device goes away (a pod's TAP on CNI DEL). */
    @Override
    public void remove()
    {
        if (!closed)
        {
            try
            {
                persistent(false);
            }
            catch (final NativeException e)
            {
                LOG.log(System.Logger.Level.WARNING, "port {0}: cannot clear persistence, the device may stay: {1}",
                    name(), e.getMessage());
            }
        }
        close();
    }

    /** Closes the descriptor; a persistent device stays, any other goes away. */
    @Override
    public void close()
    {
        if (!closed)
        {
            closed = true;
            LinuxNative.close(state, fd);
            arena.close();
        }
    }
}
