package dev.ferry.tapio;

import dev.ferry.core.Clock;
import dev.ferry.core.Counters;
import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;
import dev.ferry.core.gso.TcpCoalescer;
import dev.ferry.core.header.Wire;

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
 * thread waits in {@link #awaitReadable(int)} or an {@link Epoll}. Receive and transmit allocate nothing, and copy
 * nothing in user space but a plain frame read with TSO (moved once into a small buffer). The device can be made
 * persistent ({@code TUNSETPERSIST}), so that it and the pod's configuration survive a restart of the dataplane,
 * which then attaches again by name.
 *
 * <p>With a virtio header and {@link Options#offloads}, the TAP negotiates checksum offload and TSO
 * ({@code TUNSETOFFLOAD TUN_F_CSUM|TUN_F_TSO4|TUN_F_TSO6}, falling back to checksum offload alone, then to none;
 * USO is probed and reported, not enabled: ferry segments only TCP). A read then returns up to a 64 KB TCP
 * superframe, into a large pool buffer; its {@code gso_type}/{@code gso_size} and {@code NEEDS_CSUM} range go into
 * the packet's offload metadata, and a frame that fits a small buffer is copied into one. A write puts the
 * metadata back into the header, so the kernel delivers the superframe whole to the pod's socket. Without
 * offloads ({@code TUNSETOFFLOAD 0}) transmitted headers are zeros. Either way, a received plain frame whose
 * header asks for a checksum has it completed in software.
 *
 * <p>Counters ({@link PortCounters}, {@code port/NAME/}): rx-packets, rx-bytes, rx-no-buffer, rx-errors (read errors,
 * superframes ferry did not ask for or whose header does not match the frame, oversize), tx-packets, tx-bytes,
 * tx-errors, tx-dropped (device down: EIO, or queue full); with TSO also tx-coalesced-frames (superframes written
 * from runs of TCP segments), tx-coalesced-segments (the segments in them) and tx-coalesce-bad-checksum (segments
 * kept out of a run because their IPv4 or TCP checksum did not verify; see {@link #flush()}). A coalesced
 * superframe counts once in tx-packets, as one write. NAME is the device name unless
 * {@link Options#portName(String)} gives another (a pod's TAP renamed in its namespace).
 */
public final class TapPort implements Port
{
    /** Virtio header length without mergeable buffers ({@code struct virtio_net_hdr}). */
    public static final int VNET_HDR = VirtioNetHeader.SIZE;
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
    static final int IFF_MULTI_QUEUE = 0x0100;
    static final int TUN_F_CSUM = 0x01;
    static final int TUN_F_TSO4 = 0x02;
    static final int TUN_F_TSO6 = 0x04;
    static final int TUN_F_USO4 = 0x20;
    static final int TUN_F_USO6 = 0x40;
    /**
     * Superframes one {@link #receive} call takes at most (1 MiB). Segmented for another node, 16 of them are about
     * 750 MTU-sized frames, which fit the peer's 1,024-frame AF_PACKET ring and the UDP tunnel port's 4,096-frame
     * ring in one burst (with 64, a lab iperf3 across nodes retransmitted 117 segments in its second second). On
     * one node a receive found 3 frames per call on average, so the cap costs nothing there.
     */
    public static final int MAX_SUPERFRAMES_PER_RECEIVE = 16;
    /** What a TAP opened with offloads got, logged once per distinct answer. */
    private static final java.util.concurrent.atomic.AtomicInteger LOGGED_OFFLOADS =
        new java.util.concurrent.atomic.AtomicInteger(-1);

    /** How to open a TAP: all optional. */
    public static final class Options
    {
        private long mac = -1;
        private int mtu;
        private int txQueueLength;
        private int vnetHeader;
        private boolean persistent;
        private boolean offloads;
        private boolean up;
        private boolean multiQueue;
        private java.nio.file.Path namespace;
        private String portName;

        /**
         * Opens one queue of a multi-queue device ({@code IFF_MULTI_QUEUE}): every open of the same name with this
         * option attaches one more queue, with its own descriptor (a worker's). The kernel spreads the frames it
         * sends (the pod's) over the queues by flow hash, and a flow follows the queue ferry last wrote it on (learned
         * once the kernel has handled the written frame). The virtio header size, offloads, persistence, MAC, MTU
         * and up are the device's, not the queue's: give every queue the same options. A device created
         * single-queue refuses a multi-queue open and vice versa ({@code EINVAL}; the exception says which and how
         * to fix it). Closing a queue detaches only that queue; the device goes away with its last queue unless it
         * is persistent.
         *
         * @param value whether to open one queue of a multi-queue device.
         * @return this.
         */
        public Options multiQueue(final boolean value)
        {
            this.multiQueue = value;
            return this;
        }

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
         * The device's transmit queue length ({@code txqueuelen}): for a TAP, how many frames the kernel queues for
         * ferry to read (per queue of a multi-queue device) before it drops what the pod sends, counted as the
         * pod interface's TX {@code dropped} ({@code ip -s link}). The kernel's default (1,000 here, 500 in
         * older kernels) is 51 ms of 64-byte datagrams at 10 Mbit/s: less than a worker can be kept off a busy
         * core. Each queued frame holds its buffer (a superframe up to 64 KiB), and the kernel no longer charges it
         * to the sending socket, so this also bounds what a pod can pin in the kernel while ferry does not read.
         * Set on every open: a device created by an older ferry gets it too.
         *
         * @param value frames, or 0 to leave the kernel's (needs the device in this process's namespace, or
         *              {@link #namespace}).
         * @return this.
         */
        public Options txQueueLength(final int value)
        {
            if (value < 0)
            {
                throw new IllegalArgumentException("transmit queue length must be 0 or more: " + value);
            }
            this.txQueueLength = value;
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
         * Asks for checksum offload and TSO (needs a virtio header, {@link #vnetHeader}; the pool needs large
         * buffers to take superframes). Without large buffers the TAP gets no TSO.
         *
         * @param value whether to negotiate offloads.
         * @return this.
         */
        public Options offloads(final boolean value)
        {
            this.offloads = value;
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
    private final int offloads;
    /** With TSO: the TX batch, coalesced and written on {@link #flush()}; null without. */
    private final TcpCoalescer coalescer;
    private final int[] txQueue;
    private int txQueued;
    /** {@code struct iovec[TcpCoalescer.MAX_SEGMENTS]} for one superframe's gather write. */
    private final MemorySegment iov;
    private final int txCoalescedFrames;
    private final int txCoalescedSegments;
    private final int txCoalesceBadChecksum;
    private final String portName;
    /** One queue of a multi-queue device ({@code IFF_MULTI_QUEUE}). */
    private final boolean multiQueue;
    /** A second descriptor of another port's open device, written to only ({@link #transmitOnly}). */
    private final boolean transmitOnly;
    private boolean closed;

    private TapPort(final String device, final String portName, final int id, final PacketPool pool,
        final Counters counters, final Clock clock, final Arena arena, final MemorySegment state, final int fd,
        final int vnetHeader, final int offloads, final boolean multiQueue, final boolean transmitOnly)
    {
        this.device = device;
        this.portName = portName;
        this.multiQueue = multiQueue;
        this.transmitOnly = transmitOnly;
        this.id = id;
        this.pool = pool;
        this.clock = clock;
        this.counters = new PortCounters(counters, portName == null ? device : portName);
        this.arena = arena;
        this.state = state;
        this.fd = fd;
        this.vnetHeader = vnetHeader;
        this.offloads = offloads;
        this.pollFd = arena.allocate(8, 8);
        pollFd.set(ValueLayout.JAVA_INT, 0, fd);
        pollFd.set(ValueLayout.JAVA_SHORT, 4, LinuxNative.POLLIN);
        final boolean coalesce = (offloads & TUN_F_TSO4) != 0;
        this.coalescer = coalesce ? new TcpCoalescer(pool) : null;
        this.txQueue = coalesce ? new int[TcpCoalescer.MAX_BATCH] : null;
        this.iov = coalesce ? arena.allocate(16L * TcpCoalescer.MAX_SEGMENTS, 8) : null;
        this.txCoalescedFrames = coalesce ? this.counters.register("tx-coalesced-frames") : -1;
        this.txCoalescedSegments = coalesce ? this.counters.register("tx-coalesced-segments") : -1;
        this.txCoalesceBadChecksum = coalesce ? this.counters.register("tx-coalesce-bad-checksum") : -1;
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

    /**
     * A port that writes to the device another port of this process has open, through a second descriptor of the
     * same open file, and never reads: for a node of several workers whose pod TAP was made single-queue (by a node
     * of one worker), which takes one reader only. The reader's worker receives everything the pod sends; every
     * worker transmits to the pod through its own port. Same virtio header and offloads as the reader's.
     *
     * @param reader   the port that reads the device.
     * @param id       port id (the reader's: the same device).
     * @param pool     this worker's packet pool.
     * @param counters this worker's counters.
     * @param clock    this worker's clock.
     * @return the port.
     * @throws NativeException when the descriptor cannot be duplicated.
     */
    public static TapPort transmitOnly(final TapPort reader, final int id, final PacketPool pool,
        final Counters counters, final Clock clock) throws NativeException
    {
        final Arena arena = Arena.ofShared();
        final MemorySegment st = LinuxNative.newCallState(arena);
        final int fd = LinuxNative.dupCloexec(st, reader.fd);
        if (fd < 0)
        {
            final int e = LinuxNative.errno(st);
            arena.close();
            throw new NativeException("fcntl(F_DUPFD_CLOEXEC, " + reader.device + ")", e);
        }
        return new TapPort(reader.device, reader.portName, id, pool, counters, clock, arena, st, fd,
            reader.vnetHeader, reader.offloads, reader.multiQueue, true);
    }

    /** @return whether this is one queue of a multi-queue device. */
    public boolean multiQueue()
    {
        return multiQueue;
    }

    /** @return whether this port only writes ({@link #transmitOnly}). */
    public boolean isTransmitOnly()
    {
        return transmitOnly;
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
            final int flags = IFF_TAP | IFF_NO_PI | (options.vnetHeader > 0 ? IFF_VNET_HDR : 0)
                | (options.multiQueue ? IFF_MULTI_QUEUE : 0);
            ifr.set(ValueLayout.JAVA_SHORT, LinuxNative.IFNAMSIZ, (short)flags);
            if (LinuxNative.ioctl(st, fd, TUNSETIFF, ifr) < 0)
            {
                final int e = LinuxNative.errno(st);
                throw e == LinuxNative.EINVAL ? queueModeMismatch(arena, name, flags, e)
                    : new NativeException("ioctl(TUNSETIFF, " + name + ")", e);
            }
            final String actual = ifr.getString(0, StandardCharsets.US_ASCII);
            int offloads = 0;
            if (options.vnetHeader > 0)
            {
                final MemorySegment size = arena.allocateFrom(ValueLayout.JAVA_INT, options.vnetHeader);
                LinuxNative.check(LinuxNative.ioctl(st, fd, TUNSETVNETHDRSZ, size), st,
                    "ioctl(TUNSETVNETHDRSZ, " + actual + ")");
                offloads = options.offloads && pool.largeCapacity() > 0 ?
                    negotiateOffloads(st, fd, actual, !options.multiQueue) : 0;
                if (offloads == 0)
                {
                    LinuxNative.check(LinuxNative.ioctl(st, fd, TUNSETOFFLOAD, MemorySegment.NULL), st,
                        "ioctl(TUNSETOFFLOAD, " + actual + ")");
                }
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
            if (options.mtu > 0 || options.up || options.txQueueLength > 0)
            {
                Interfaces.configure(actual, options.mtu, options.up, options.txQueueLength);
            }
            return new TapPort(actual, options.portName, id, pool, counters, clock, arena, st, fd,
                options.vnetHeader, offloads, options.multiQueue, false);
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

    /**
     * Explains an {@code EINVAL} from {@code TUNSETIFF} on an existing device: the kernel refuses an open whose
     * {@code IFF_MULTI_QUEUE} differs from the device's, and a name that is not a TAP. For a multi-queue open, a
     * single-queue attach on a fresh descriptor tells the two apart: it succeeds on an idle persistent device (and
     * is closed at once) or finds it busy; a live multi-queue device is never probed (an attach would rewrite its
     * flags under the queues that are open).
     */
    private static NativeException queueModeMismatch(final Arena arena, final String name, final int flags,
        final int errno)
    {
        final String call = "ioctl(TUNSETIFF, " + name + ")";
        final boolean askedMultiQueue = (flags & IFF_MULTI_QUEUE) != 0;
        // a persistent device with nothing attached (a restarted node's pod TAP) takes the other mode's attach
        final int other = probeAttach(arena, name, flags ^ IFF_MULTI_QUEUE);
        if (askedMultiQueue && (other == 0 || other == LinuxNative.EBUSY))
        {
            return new TapQueueModeException(call, errno, "; " + name + " exists as a single-queue TAP (persistent, "
                + "made without multi-queue) and takes no multi-queue open: delete it (ip link delete " + name
                + ") so that it is made again multi-queue, or open it without multiQueue", false);
        }
        if (!askedMultiQueue && other == 0)
        {
            return new TapQueueModeException(call, errno, "; " + name + " exists as a multi-queue TAP: open it with "
                + "TapPort.Options.multiQueue(true)", true);
        }
        if (!askedMultiQueue)
        {
            return new NativeException(call, errno, "; " + name + " exists with other flags: a multi-queue TAP "
                + "(open it with TapPort.Options.multiQueue(true)) or not a TAP at all");
        }
        return new NativeException(call, errno, "; " + name + " exists and is not a TAP device");
    }

    /** Attaches a fresh descriptor to the device with these flags and closes it at once: 0, or the errno. */
    private static int probeAttach(final Arena arena, final String name, final int flags)
    {
        final MemorySegment st = LinuxNative.newCallState(arena);
        final int probe = LinuxNative.open(st, arena.allocateFrom("/dev/net/tun"),
            LinuxNative.O_RDWR | LinuxNative.O_NONBLOCK | LinuxNative.O_CLOEXEC, 0);
        if (probe < 0)
        {
            return LinuxNative.EINVAL;
        }
        final MemorySegment ifr = LinuxNative.ifreq(arena, name);
        ifr.set(ValueLayout.JAVA_SHORT, LinuxNative.IFNAMSIZ, (short)flags);
        final int result = LinuxNative.ioctl(st, probe, TUNSETIFF, ifr) == 0 ? 0 : LinuxNative.errno(st);
        LinuxNative.close(st, probe);
        return result;
    }

    /**
     * Probes the offloads the kernel takes, best first (an unknown bit fails with EINVAL: the documented probe),
     * and leaves the TAP with checksum offload and TSO, or checksum offload alone, or none (0 returned, the
     * caller clears them). USO is probed only to report it: ferry's segmenter splits TCP, not UDP. Offloads are
     * the device's: a queue of a multi-queue device skips the USO probe, which would switch USO on for a moment
     * under the queues already open.
     */
    private static int negotiateOffloads(final MemorySegment st, final int fd, final String name,
        final boolean probeUso)
    {
        final int tso = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
        final boolean uso = probeUso && LinuxNative.ioctl(st, fd, TUNSETOFFLOAD,
            MemorySegment.ofAddress(tso | TUN_F_USO4 | TUN_F_USO6)) == 0;
        int got = 0;
        for (final int want : new int[] {tso, TUN_F_CSUM})
        {
            if (LinuxNative.ioctl(st, fd, TUNSETOFFLOAD, MemorySegment.ofAddress(want)) == 0)
            {
                got = want;
                break;
            }
        }
        final int report = got | (uso ? TUN_F_USO4 : 0);
        if (LOGGED_OFFLOADS.getAndSet(report) != report)
        {
            LOG.log(System.Logger.Level.INFO, "pod TAP {0}: offloads {1}{2}", name,
                got == tso ? "checksum + TSO4/TSO6" : got == TUN_F_CSUM ? "checksum only (no TSO)" : "none",
                uso ? "; the kernel offers USO, not enabled (ferry segments only TCP)" : "");
        }
        return got;
    }

    /** @return whether the TAP negotiated TSO: reads may return superframes and writes take them. */
    @Override
    public boolean acceptsOffload()
    {
        return (offloads & TUN_F_TSO4) != 0;
    }

    /** @return the {@code TUN_F_*} offload bits the TAP got (0 for none). */
    public int offloads()
    {
        return offloads;
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

    /** @return the descriptor, for an {@link Epoll}; -1 for a {@link #transmitOnly} port (it never reads). */
    @Override
    public int fd()
    {
        return transmitOnly ? -1 : fd;
    }

    /**
     * @return true: a receive is a {@code read()} on the device, EAGAIN when its queue is empty; false for a
     *         {@link #transmitOnly} port, whose receive returns at once.
     */
    @Override
    public boolean receiveIsSyscall()
    {
        return !transmitOnly;
    }

    /**
     * Reads frames into pool buffers until EAGAIN, a full vector or an empty pool. Each packet gets this port
     * as rx port and the clock's time (read once per call). With TSO a read lands in a large buffer; a plain
     * frame that fits a small buffer moves into one, so large buffers stay with superframes, and a call stops after
     * {@link #MAX_SUPERFRAMES_PER_RECEIVE} superframes. A {@link #transmitOnly} port receives nothing.
     *
     * @param out the vector that receives the handles.
     * @return packets added.
     */
    @Override
    public int receive(final PacketVector out)
    {
        if (transmitOnly)
        {
            // the reader's worker takes what the pod sends: two readers would split a flow between workers
            return 0;
        }
        final PacketPool pool = this.pool;
        final MemorySegment mem = pool.memory();
        final long base = mem.address();
        final int hdr = vnetHeader;
        final boolean tso = (offloads & TUN_F_TSO4) != 0;
        final int smallRoom = pool.bufferSize() - pool.headroom();
        final long now = clock.nanos();
        int added = 0;
        int superframes = 0;
        long bytes = 0;
        while (!out.isFull() && superframes < MAX_SUPERFRAMES_PER_RECEIVE)
        {
            int h = tso ? pool.allocateLarge() : pool.allocate();
            if (h == PacketPool.NO_BUFFER)
            {
                // no large buffer free: the superframes in flight hold them; the TAP queue waits for the next run
                if (!tso)
                {
                    counters.rxNoBuffer();
                }
                break;
            }
            final long frame = pool.frameOffset(h);
            final int room = pool.bufferSizeOf(h) - pool.headroom();
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
            if (len < 14 || (hdr > 0 && !acceptVnetHeader(mem, h, frame, len)))
            {
                pool.free(h);
                counters.rxError();
                continue;
            }
            if (tso && pool.gsoSize(h) == 0 && len <= smallRoom)
            {
                final int small = pool.allocate();
                if (small == PacketPool.NO_BUFFER)
                {
                    pool.free(h);
                    counters.rxNoBuffer();
                    break;
                }
                MemorySegment.copy(mem, frame, mem, pool.frameOffset(small), len);
                pool.free(h);
                h = small;
            }
            if (pool.gsoSize(h) != 0)
            {
                superframes++;
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

    /**
     * Checks the virtio header in front of a received frame. A superframe keeps its offload metadata (its
     * checksum stays partial); a plain frame has a partial checksum completed.
     */
    private boolean acceptVnetHeader(final MemorySegment mem, final int handle, final long frame, final int len)
    {
        final long h = frame - vnetHeader;
        final int flags = VirtioNetHeader.flags(mem, h);
        final int gsoType = VirtioNetHeader.gsoType(mem, h);
        final int gsoSize = VirtioNetHeader.gsoSize(mem, h);
        final int start = VirtioNetHeader.csumStart(mem, h);
        final int offset = VirtioNetHeader.csumOffset(mem, h);
        final boolean needsCsum = (flags & VirtioNetHeader.F_NEEDS_CSUM) != 0;
        if (gsoType != VirtioNetHeader.GSO_NONE)
        {
            // only TCP over IPv4 with a partial checksum whose range is the TCP segment: a pod can craft the header
            // (a packet socket with PACKET_VNET_HDR), so the metadata must match the frame; anything else counts as
            // an rx-error (TSO6 cannot occur: the IPv4 dataplane's pods have no IPv6 route to ferry)
            if (gsoType != VirtioNetHeader.GSO_TCPV4 || (offloads & TUN_F_TSO4) == 0 || gsoSize == 0 || !needsCsum
                || !isTcp4Superframe(mem, frame, len, start, offset))
            {
                return false;
            }
            pool.gso(handle, PacketPool.GSO_TCPV4, gsoSize);
            pool.checksumPartial(handle, start, offset);
            return true;
        }
        if (needsCsum)
        {
            return PartialChecksum.complete(mem, frame, len, start, offset);
        }
        return true;
    }

    /**
     * Whether a superframe's metadata matches its headers: untagged IPv4 without fragmentation, TCP, the checksum
     * range starting at the TCP header with the field at 16, the TCP header and the IPv4 total length inside the
     * frame.
     */
    static boolean isTcp4Superframe(final MemorySegment mem, final long frame, final int len, final int start,
        final int offset)
    {
        if (len < 14 + 40 || Wire.u16(mem, frame + 12) != 0x0800)
        {
            return false;
        }
        final int vihl = Wire.u8(mem, frame + 14);
        final int ihl = (vihl & 0x0f) * 4;
        if ((vihl & 0xf0) != 0x40 || ihl < 20 || Wire.u8(mem, frame + 14 + 9) != 6 || start != 14 + ihl
            || offset != 16 || start + 20 > len || (Wire.u16(mem, frame + 14 + 6) & 0x3fff) != 0)
        {
            return false;
        }
        final int doff = (Wire.u8(mem, frame + start + 12) >>> 4) * 4;
        final int total = Wire.u16(mem, frame + 14 + 2);
        return doff >= 20 && start + doff <= len && 14 + total <= len && total >= ihl + doff;
    }

    /**
     * Takes a frame for the device. Without TSO it is written at once ({@link #write}); with TSO it joins the TX
     * batch, which {@link #flush()} coalesces (a full batch flushes itself).
     *
     * @param handle packet handle.
     */
    @Override
    public void transmit(final int handle)
    {
        if (coalescer == null)
        {
            write(handle);
            return;
        }
        txQueue[txQueued++] = handle;
        if (txQueued == txQueue.length)
        {
            flush();
        }
    }

    /**
     * Writes the TX batch (TSO only): runs of consecutive TCP segments of one flow go out as one superframe each
     * ({@link TcpCoalescer}: gather write of the first segment's rewritten headers and every segment's payload,
     * with {@code GSO_TCPV4}, the first payload size as {@code gso_size}, and {@code NEEDS_CSUM}); everything
     * else goes out as {@link #transmit} would without TSO, in order.
     */
    @Override
    public void flush()
    {
        final int queued = txQueued;
        if (queued == 0)
        {
            return;
        }
        txQueued = 0;
        final TcpCoalescer c = coalescer;
        final int frames = c.plan(txQueue, queued);
        final int refused = c.refusedChecksums();
        if (refused > 0)
        {
            counters.counters().add(txCoalesceBadChecksum, refused);
        }
        for (int f = 0; f < frames; f++)
        {
            final int n = c.frameSegments(f);
            if (n > 1 && pool.headroomOf(c.handle(f, 0)) >= vnetHeader)
            {
                writeRun(c, f);
                continue;
            }
            // one frame, or (never seen: stages keep headroom) no room for the virtio header: each as it is
            for (int k = 0; k < n; k++)
            {
                write(c.handle(f, k));
            }
        }
    }

    /** Writes a run of segments as one superframe with one {@code writev}, and frees them. */
    private void writeRun(final TcpCoalescer c, final int f)
    {
        final PacketPool pool = this.pool;
        final int n = c.frameSegments(f);
        final int head = c.handle(f, 0);
        final int hdr = vnetHeader;
        final MemorySegment mem = pool.memory();
        final long base = mem.address();
        final long frame = pool.frameOffset(head);
        final int payloadAt = c.payloadOffset(f);
        final int len = c.coalesce(f);
        for (int i = 1; i <= hdr; i++)
        {
            mem.set(ValueLayout.JAVA_BYTE, frame - i, (byte)0);
        }
        if (!writeVnetHeader(mem, head, frame - hdr, len))
        {
            // cannot happen: the coalescer took only IPv4 TCP at the l3 offset
            counters.txErrors(1);
            freeRun(c, f, n);
            return;
        }
        final MemorySegment iov = this.iov;
        iov.set(ValueLayout.JAVA_LONG, 0, base + frame - hdr);
        iov.set(ValueLayout.JAVA_LONG, 8, hdr + payloadAt + c.payloadLength(f, 0));
        for (int k = 1; k < n; k++)
        {
            iov.set(ValueLayout.JAVA_LONG, 16L * k, base + pool.frameOffset(c.handle(f, k)) + payloadAt);
            iov.set(ValueLayout.JAVA_LONG, 16L * k + 8, c.payloadLength(f, k));
        }
        final long written = LinuxNative.writev(state, fd, iov.address(), n);
        if (written < 0)
        {
            countWriteError();
        }
        else
        {
            counters.tx(len);
            final Counters all = counters.counters();
            all.increment(txCoalescedFrames);
            all.add(txCoalescedSegments, n);
        }
        freeRun(c, f, n);
    }

    private void freeRun(final TcpCoalescer c, final int f, final int n)
    {
        for (int k = 0; k < n; k++)
        {
            pool.free(c.handle(f, k));
        }
    }

    private void countWriteError()
    {
        final int e = LinuxNative.errno(state);
        if (e == LinuxNative.EIO || e == LinuxNative.EAGAIN)
        {
            counters.txDropped(1);
        }
        else
        {
            counters.txErrors(1);
        }
    }

    /**
     * Writes the frame to the device and frees the buffer. A device that is down (EIO) or a full queue
     * (EAGAIN) counts tx-dropped; other errors count tx-errors. With TSO, a superframe goes out as one write
     * whose header carries its segment size and partial checksum: the kernel delivers it whole.
     */
    private void write(final int handle)
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
            if (offloads != 0 && (pool.gsoSize(handle) != 0 || pool.checksumPartial(handle))
                && !writeVnetHeader(mem, handle, frame - hdr, len))
            {
                counters.txErrors(1);
                pool.free(handle);
                return;
            }
        }
        final long n = LinuxNative.write(state, fd, mem.address() + frame - hdr, len + hdr);
        if (n < 0)
        {
            countWriteError();
        }
        else
        {
            counters.tx(len);
        }
        pool.free(handle);
    }

    /**
     * Fills the virtio header of an IPv4 TCP superframe or partial-checksum packet from the frame itself (the
     * IPv4 header at the packet's l3 offset), not from offsets recorded at receive: stages between may have
     * changed the L2 header's length.
     *
     * @return false when the frame is not IPv4 TCP with the headers in the frame.
     */
    private boolean writeVnetHeader(final MemorySegment mem, final int handle, final long h, final int len)
    {
        final long frame = h + vnetHeader;
        final int l3 = pool.l3Offset(handle);
        if (l3 < 14 || l3 + 40 > len || (Wire.u8(mem, frame + l3) & 0xf0) != 0x40
            || Wire.u8(mem, frame + l3 + 9) != 6)
        {
            return false;
        }
        final int start = l3 + (Wire.u8(mem, frame + l3) & 0x0f) * 4;
        if (start + 20 > len)
        {
            return false;
        }
        final int hdrLen = start + (Wire.u8(mem, frame + start + 12) >>> 4) * 4;
        final int gsoSize = (offloads & TUN_F_TSO4) != 0 ? pool.gsoSize(handle) : 0;
        mem.set(ValueLayout.JAVA_BYTE, h, (byte)VirtioNetHeader.F_NEEDS_CSUM);
        final int gsoType = gsoSize == 0 ? VirtioNetHeader.GSO_NONE : VirtioNetHeader.GSO_TCPV4;
        mem.set(ValueLayout.JAVA_BYTE, h + 1, (byte)gsoType);
        mem.set(ValueLayout.JAVA_SHORT_UNALIGNED, h + 2, (short)hdrLen);
        mem.set(ValueLayout.JAVA_SHORT_UNALIGNED, h + 4, (short)gsoSize);
        mem.set(ValueLayout.JAVA_SHORT_UNALIGNED, h + 6, (short)start);
        mem.set(ValueLayout.JAVA_SHORT_UNALIGNED, h + 8, (short)16);
        return true;
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
            if (txQueued > 0)
            {
                counters.txDropped(txQueued);
            }
            for (int i = 0; i < txQueued; i++)
            {
                pool.free(txQueue[i]);
            }
            txQueued = 0;
            LinuxNative.close(state, fd);
            arena.close();
        }
    }
}
