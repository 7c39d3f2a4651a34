package dev.ferry.tapio;

import dev.ferry.core.Clock;
import dev.ferry.core.Counters;
import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;
import dev.ferry.core.gso.TcpSegmenter;
import dev.ferry.core.header.Wire;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.VarHandle;

/**
 * An existing link (the node's uplink, a veth) opened as an {@code AF_PACKET} socket: a TPACKET_V2 ring for
 * receive (per-frame status, so the kernel wakes a waiting reader for every frame and a lone frame never waits
 * for a block retire timer; under load the reader takes every ready frame in one pass),
 * {@code sendmmsg} straight from pool buffers for transmit, {@code PACKET_QDISC_BYPASS} on, the link's own
 * outgoing traffic ignored ({@code PACKET_IGNORE_OUTGOING}; in a fanout group, whose hook the kernel checks instead
 * of the socket's, {@code PACKET_FANOUT_FLAG_IGNORE_OUTGOING}; and on every kernel a received frame whose
 * {@code sll_pkttype} is {@code PACKET_OUTGOING}, a frame the host sent, is dropped and counted in rx-outgoing).
 *
 * <pre>
 *   link ──► kernel ──► RX ring: | frame 0 | frame 1 | ... |  (TP_STATUS_USER frames are ours)
 *                                    └─ tpacket2_hdr, frame ─► copy into a pool buffer ─► receive(vector)
 *   transmit(h) ──► batch ──flush()──► sendmmsg(iovec → buffer) ──► link
 *
 *   state:  UP ──poll error / ENETDOWN / ENXIO / link down or gone──► DOWN   (link-down +1, one log line)
 *           DOWN ──maintain(): link exists and is up──► reopen socket and ring ──► UP   (link-up +1, log line)
 *           (a steered group's member whose link went down but still exists keeps its socket and ring: the kernel
 *            links it into the group again when the link returns, and the port goes UP without reopening)
 * </pre>
 *
 * <p>While down, received nothing and transmitted packets are dropped (tx-dropped). The I/O thread calls
 * {@link #maintain()} when idle; it looks at the link at most every {@code checkIntervalMillis} unless an error
 * forces it. A VLAN tag that the kernel took out of band is put back in the frame; a checksum left partial by
 * offload (IPv4 TCP/UDP) is completed.
 *
 * <p>Offloads ({@link Options#offloads}, on unless the kernel refuses {@code PACKET_VNET_HDR}): every frame carries
 * a virtio header both ways. {@link #flush()} sends a run of VXLAN datagrams to one peer as one UDP GSO message
 * (see {@link UdpGso}), gathered from the pool buffers without a copy, and a TCP superframe (a pod's, leaving
 * without a tunnel) as one {@code GSO_TCPV4} message for the kernel to cut (see {@link TcpTso}); {@link #receive}
 * splits a UDP superframe (a peer ferry's run) into ordinary frames, except that consecutive datagrams carrying
 * consecutive segments of one inner TCP flow are merged back into one VXLAN frame with an inner TCP superframe
 * ({@link VxlanGro}: receive GRO), and a TCPv4 one (a peer's TSO over a veth, or a kernel VXLAN device's tunnel
 * superframe) with the software segmenter. Other
 * superframes, and without offloads any frame larger than a buffer or cut by the ring, are dropped and counted in
 * rx-errors.
 *
 * <pre>
 *   flush():  | frame a | frame a' | frame a'' | frame b |   (a, a', a'': same peer and headers, equal lengths)
 *             ─► msg 0: [vnet UDP_L4 + headers for a..a''] [payload a] [payload a'] [payload a'']
 *                msg 1: [vnet none] [frame b]
 * </pre>
 *
 * <p>Counters ({@link PortCounters}, {@code port/NAME/}): rx-packets, rx-bytes, rx-no-buffer, rx-errors (oversize,
 * truncated, malformed superframes), tx-packets, tx-bytes, tx-errors, tx-dropped, link-down, link-up, and
 * tx-gso-frames, tx-gso-segments, rx-gso-frames, rx-gso-segments, tx-tso-frames, tx-tso-segments (superframes and
 * the frames in them; the packet counters count frames), rx-gro-frames, rx-gro-segments (VXLAN frames with an
 * inner TCP superframe merged from a received UDP superframe, and the datagrams merged into them; those datagrams
 * are in rx-gso-segments too), tx-tso-software (TCP superframes cut by the port),
 * tx-gso-refused, rx-ring-full (frames the kernel dropped because the RX ring was full: {@code PACKET_STATISTICS},
 * read at each link check; the link's own counters count those frames as received), and rx-outgoing (frames the
 * host's own stack sent out of the link, which the kernel handed to the ring as {@code PACKET_OUTGOING}: not
 * received, not errors). Received frames enter the graph at {@link Options#entryStage(String)} (a node's uplink:
 * neighbour-learn).
 */
public final class PacketSocketPort implements Port
{
    /**
     * Receive GRO ({@link VxlanGro}) on or off: a diagnostic switch for A/B measurements
     * ({@code -Dferry.uplink.rxGro=false} splits every run as before it existed).
     */
    static final boolean RX_GRO = !"false".equals(System.getProperty("ferry.uplink.rxGro"));

    static final int SOL_PACKET = 263;
    static final int PACKET_RX_RING = 5;
    static final int PACKET_VERSION = 10;
    static final int PACKET_QDISC_BYPASS = 20;
    static final int PACKET_IGNORE_OUTGOING = 23;
    static final int PACKET_VNET_HDR = 15;
    static final int PACKET_FANOUT = 18;
    static final int PACKET_STATISTICS = 6;
    static final int PACKET_FANOUT_HASH = 0;
    // linux/if_packet.h: 6 (7 is PACKET_FANOUT_EBPF, whose data is a program fd)
    static final int PACKET_FANOUT_CBPF = 6;
    static final int PACKET_FANOUT_DATA = 22;
    static final int PACKET_FANOUT_FLAG_DEFRAG = 0x8000;
    // linux/if_packet.h, Linux 6.2 on: the group's hook skips outgoing frames (PACKET_IGNORE_OUTGOING is the socket's)
    static final int PACKET_FANOUT_FLAG_IGNORE_OUTGOING = 0x4000;
    /** No fanout group: the socket receives every frame of the link. */
    public static final int NO_FANOUT = -1;
    static final int TPACKET_V2 = 1;
    static final int ETH_P_ALL_BE = 0x0300;
    static final int TP_STATUS_USER = 1;
    static final int TP_STATUS_COPY = 2;
    static final int TP_STATUS_CSUMNOTREADY = 8;
    static final int TP_STATUS_VLAN_VALID = 0x10;
    static final int TP_STATUS_VLAN_TPID_VALID = 0x40;
    /**
     * Where {@code sll_pkttype} sits in a ring frame: the kernel writes a {@code sockaddr_ll} at
     * {@code TPACKET_ALIGN(sizeof(struct tpacket2_hdr))} = 32 (tpacket_rcv), and the packet type is its byte 10
     * (family 2, protocol 2, ifindex 4, hatype 2, then pkttype 1, halen 1, addr 8); the frame itself starts at
     * tp_mac, 66 or more.
     */
    static final int SLL_PKTTYPE_AT = 32 + 10;
    /** {@code PACKET_OUTGOING} (linux/if_packet.h): a frame the host transmitted on the link. */
    static final byte PACKET_OUTGOING = 4;

    private static final System.Logger LOG = System.getLogger("dev.ferry.tapio");
    private static final VarHandle INT = ValueLayout.JAVA_INT.varHandle();
    private static final int MMSG_SIZE = 64;
    private static final int IOV_SIZE = 16;
    private static final long GSO_RETRY_NANOS = 1_000_000_000L;
    /** Ring frame for a superframe: the kernel's header (76 bytes with the virtio header) and a 64 KB frame. */
    static final int SUPERFRAME_RING_FRAME = 69632;
    /** Ring block with superframes: 15 frames of {@link #SUPERFRAME_RING_FRAME} in a power-of-two allocation. */
    static final int SUPERFRAME_RING_BLOCK = 1 << 20;
    /** Room per message for the virtio header and a superframe's outer headers. */
    private static final int HEADER_SCRATCH = 64;
    /** A receive helper's result: the frame is dropped and counted in rx-errors. */
    private static final int REJECTED = -1;
    /** A receive helper's result: no room for the frame's segments now; it stays in the ring. */
    private static final int NO_ROOM = -2;
    /** A receive result: a frame the host sent, dropped and counted in rx-outgoing. */
    private static final int OUTGOING = -3;

    /** Ring geometry and link checks. */
    public static final class Options
    {
        private int blockSize = 1 << 18;
        private int blockCount = 16;
        private int frameSize = 4096;
        private int checkIntervalMillis = 100;
        private boolean offloads = true;
        private String entryStage;
        private int fanoutGroup = NO_FANOUT;
        private boolean fanoutDefrag;
        private FanoutSteering fanoutSteering;
        private int fanoutMember = -1;
        private boolean fanoutIgnoreOutgoing = true;

        /**
         * Joins a {@code PACKET_FANOUT} group ({@code PACKET_FANOUT_HASH}) once bound: the sockets of one group, all
         * on this link, share its received frames by the kernel's flow hash, so a flow's frames reach one socket
         * (one worker) while the group's membership stays the same. Each socket still transmits on its own. The id
         * names the group in the network namespace: give every socket of the link the same id, unique to this link
         * and process ({@link #fanoutGroup(String)}). A socket reopened after the link came back joins again.
         *
         * @param groupId 0 to 65535, or {@link #NO_FANOUT} (default).
         * @return this.
         */
        public Options fanout(final int groupId)
        {
            if (groupId != NO_FANOUT && (groupId < 0 || groupId > 0xffff))
            {
                throw new IllegalArgumentException("fanout group id must be 0 to 65535: " + groupId);
            }
            this.fanoutGroup = groupId;
            return this;
        }

        /**
         * Adds {@code PACKET_FANOUT_FLAG_DEFRAG} to the group (off by default): the kernel reassembles IPv4
         * fragments before it picks a socket, and the socket receives the whole datagram, which is dropped as
         * an rx-error when it is larger than a pool buffer. Not needed to keep a datagram's fragments together:
         * the flow hash of a fragment covers addresses and protocol only, the same for every fragment.
         *
         * @param on whether the group reassembles fragments before hashing.
         * @return this.
         */
        public Options fanoutDefrag(final boolean on)
        {
            this.fanoutDefrag = on;
            return this;
        }

        /**
         * Steers the {@link #fanout(int)} group with a classic BPF program ({@code PACKET_FANOUT_CBPF}) instead of
         * the kernel's flow hash: the program's answer is a place ({@link #fanoutMember(int)}), which the holder maps
         * to the slot of that place's socket in the kernel's member array, whatever order the sockets joined in.
         * Give every socket of the group the same holder. A kernel that refuses the mode or the program for the
         * first socket leaves the group in {@code PACKET_FANOUT_HASH} (one log line; {@link FanoutSteering#mode()}).
         *
         * @param steering the group's program, or null for the hash (default).
         * @return this.
         */
        public Options fanoutSteering(final FanoutSteering steering)
        {
            this.fanoutSteering = steering;
            return this;
        }

        /**
         * This socket's place in a steered group (the worker its program's answer names): the group's program
         * answers place w with the slot of w's socket ({@link FanoutSteering}), in any join order. Without a place
         * (default) the socket is a member that no answer names (it gets frames only as a place's stand-in).
         *
         * @param member 0 to 63, or -1.
         * @return this.
         */
        public Options fanoutMember(final int member)
        {
            if (member < -1 || member > 63)
            {
                throw new IllegalArgumentException("fanout member must be 0 to 63: " + member);
            }
            this.fanoutMember = member;
            return this;
        }

        /**
         * Whether to ask for {@code PACKET_FANOUT_FLAG_IGNORE_OUTGOING} when joining (default on). Off only in tests:
         * it stands in for a kernel before 6.2, which takes the flag and ignores it, so that the receive path's own
         * check of {@code sll_pkttype} is what keeps the host's frames out.
         *
         * @param on whether the join asks the group to skip outgoing frames.
         * @return this.
         */
        Options fanoutIgnoreOutgoing(final boolean on)
        {
            this.fanoutIgnoreOutgoing = on;
            return this;
        }

        /**
         * @param on whether to ask for the virtio header ({@code PACKET_VNET_HDR}, default on): runs of VXLAN
         *           frames leave as UDP superframes, received superframes are split, and the ring's frames grow to
         *           hold 64 KB ({@link #SUPERFRAME_RING_FRAME} bytes in blocks of at least 1 MiB).
         * @return this.
         */
        public Options offloads(final boolean on)
        {
            this.offloads = on;
            return this;
        }

        /**
         * @param name the graph stage where received frames enter, or null for the graph's usual entry.
         * @return this.
         */
        public Options entryStage(final String name)
        {
            this.entryStage = name;
            return this;
        }

        /**
         * @param bytes bytes per ring block, a multiple of the page size (default 256 KiB).
         * @return this.
         */
        public Options blockSize(final int bytes)
        {
            this.blockSize = bytes;
            return this;
        }

        /**
         * @param count blocks in the ring (default 16).
         * @return this.
         */
        public Options blockCount(final int count)
        {
            this.blockCount = count;
            return this;
        }

        /**
         * @param bytes bytes per ring frame, header included: a multiple of 16 that divides the block size
         *              (default 4096, room for a 2048-byte frame after the kernel's header).
         * @return this.
         */
        public Options frameSize(final int bytes)
        {
            this.frameSize = bytes;
            return this;
        }

        /**
         * @param millis least time between two link checks by {@link #maintain()} (default 100).
         * @return this.
         */
        public Options checkIntervalMillis(final int millis)
        {
            this.checkIntervalMillis = millis;
            return this;
        }
    }

    private final String name;
    private final int id;
    private final PacketPool pool;
    private final PortCounters counters;
    private final Options options;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment state = LinuxNative.newCallState(arena);
    private final MemorySegment pollFd = arena.allocate(8, 8);
    private final MemorySegment mmsgs = arena.allocate((long)PacketVector.CAPACITY * MMSG_SIZE, 8);
    // one iovec per frame plus one per message (the virtio header) when offloads are on
    private final MemorySegment iovs = arena.allocate(2L * PacketVector.CAPACITY * IOV_SIZE, 8);
    private final MemorySegment scratch = arena.allocate((long)PacketVector.CAPACITY * HEADER_SCRATCH, 8);
    private final int[] pending = new int[PacketVector.CAPACITY];
    private final long[] pendingAt = new long[PacketVector.CAPACITY];
    private final int[] pendingLength = new int[PacketVector.CAPACITY];
    private final int[] messageFirst = new int[PacketVector.CAPACITY];
    private final int[] messageFrames = new int[PacketVector.CAPACITY];
    // per queued frame: the wire segments of a TCP superframe sent whole (virtio header in its headroom), else 0
    private final int[] pendingSegments = new int[PacketVector.CAPACITY];
    // per message: the same for the message's frame (0: plain frames or a UDP run)
    private final int[] messageSegments = new int[PacketVector.CAPACITY];
    // frames a refused superframe's batch put aside, sent again by flush before anything queued after them (room for a
    // batch put aside by transmit, the batch queued behind it, and one refusal of each kind while flush drains them)
    private final int[] deferred = new int[4 * PacketVector.CAPACITY];
    private int deferredHead;
    private int deferredCount;
    private boolean draining;
    private final TcpSegmenter segmenter;
    private final int txGsoFrames;
    private final int txGsoSegments;
    private final int rxGsoFrames;
    /** Frames the kernel dropped because the RX ring was full (its {@code tp_drops}), read at each link check. */
    private final int rxRingFull;
    /** Frames the host's own stack sent out of the link ({@code PACKET_OUTGOING}), dropped on receive. */
    private final int rxOutgoing;
    private final int rxGsoSegments;
    private final int rxGroFrames;
    private final int rxGroSegments;
    private final int txGsoRefused;
    private final int txTsoFrames;
    private final int txTsoSegments;
    private final int txTsoSoftware;
    private final long checkIntervalNanos;
    private final Clock clock;
    private int pendingCount;

    private int fd = -1;
    // grows with every socket opened: a reopened socket may get the closed one's number (Port#fdGeneration)
    private long fdGeneration;
    private int ifindex;
    // whether this socket joined the group in cbpf mode with the program attached
    private volatile boolean steered;
    // whether this socket's group skips outgoing frames (joined with PACKET_FANOUT_FLAG_IGNORE_OUTGOING)
    private volatile boolean groupIgnoresOutgoing;
    private boolean ignoreOutgoingRefusalLogged;
    // a member of the steering's model (FanoutSteering): joins, leaves and flap reports go through its lock
    private boolean member;
    // a member whose link went down keeps its socket (the kernel links it again when the link returns, in creation
    // order); unlinked: it saw ENETDOWN, so the kernel unlinked it and has not linked it again as far as we know
    private boolean unlinked;
    private boolean vnet;
    private boolean vnetRefusalLogged;
    // runs go out as superframes unless the kernel refused one lately (see flush)
    private boolean gsoRuns = true;
    private long gsoRetryAt;
    private boolean gsoRefusalLogged;
    // TCP superframes go out whole unless the kernel refused one lately (see flush)
    private boolean tsoWhole = true;
    private long tsoRetryAt;
    private boolean tsoRefusalLogged;
    private int mtu;
    private int ringFrameSize;
    private int ringBlockSize;
    private boolean up;
    private MemorySegment ring = MemorySegment.NULL;
    private int frame;
    private int frames;
    private int framesPerBlock;
    private long nextCheck;
    private boolean checkNow;
    private boolean closed;

    private PacketSocketPort(final String name, final int id, final PacketPool pool, final Counters counters,
        final Clock clock, final Options options)
    {
        this.name = name;
        this.id = id;
        this.pool = pool;
        this.counters = new PortCounters(counters, name);
        this.clock = clock;
        this.options = options;
        this.checkIntervalNanos = options.checkIntervalMillis * 1_000_000L;
        this.segmenter = new TcpSegmenter(pool);
        txGsoFrames = this.counters.register("tx-gso-frames");
        txGsoSegments = this.counters.register("tx-gso-segments");
        rxGsoFrames = this.counters.register("rx-gso-frames");
        rxRingFull = this.counters.register("rx-ring-full");
        rxOutgoing = this.counters.register("rx-outgoing");
        rxGsoSegments = this.counters.register("rx-gso-segments");
        rxGroFrames = this.counters.register("rx-gro-frames");
        rxGroSegments = this.counters.register("rx-gro-segments");
        txGsoRefused = this.counters.register("tx-gso-refused");
        txTsoFrames = this.counters.register("tx-tso-frames");
        txTsoSegments = this.counters.register("tx-tso-segments");
        txTsoSoftware = this.counters.register("tx-tso-software");
    }

    /**
     * Opens a link that exists and is up.
     *
     * @param name     interface name.
     * @param id       port id stamped on received packets.
     * @param pool     the packet pool.
     * @param counters where the port counters are registered.
     * @param clock    paces link checks.
     * @param options  ring geometry and check interval.
     * @return the open port.
     * @throws NativeException when the link does not exist or a call fails.
     */
    public static PacketSocketPort open(final String name, final int id, final PacketPool pool,
        final Counters counters, final Clock clock, final Options options) throws NativeException
    {
        final PacketSocketPort p = new PacketSocketPort(name, id, pool, counters, clock, options);
        try
        {
            p.openSocket();
        }
        catch (final NativeException | RuntimeException e)
        {
            p.close();
            throw e;
        }
        p.up = true;
        p.nextCheck = clock.nanos() + p.checkIntervalNanos;
        return p;
    }

    private void openSocket() throws NativeException
    {
        final FanoutSteering steering = options.fanoutSteering;
        if (steering != null && options.fanoutGroup != NO_FANOUT)
        {
            // creation and join under the group's lock: the kernel links sockets again after a flap in creation
            // order, so the model needs creation order to be join order
            synchronized (steering)
            {
                openSocketLocked();
            }
        }
        else
        {
            openSocketLocked();
        }
    }

    private void openSocketLocked() throws NativeException
    {
        final int index = Interfaces.index(name);
        if (index == 0)
        {
            throw new NativeException("if_nametoindex(" + name + ")", LinuxNative.ENODEV);
        }
        final MemorySegment st = state;
        final int s = (int)LinuxNative.check(LinuxNative.socket(st, LinuxNative.AF_PACKET,
            LinuxNative.SOCK_RAW | LinuxNative.SOCK_NONBLOCK | LinuxNative.SOCK_CLOEXEC, 0), st,
            "socket(AF_PACKET, SOCK_RAW)");
        fd = s;
        fdGeneration++;
        try (Arena a = Arena.ofConfined())
        {
            setInt(a, s, PACKET_VERSION, TPACKET_V2, "PACKET_VERSION");
            // the virtio header must be asked for before the ring exists (the kernel refuses it afterwards)
            vnet = options.offloads && askVnetHeader(a, s);
            ringFrameSize = vnet ? Math.max(options.frameSize, SUPERFRAME_RING_FRAME) : options.frameSize;
            ringBlockSize = vnet ? Math.max(options.blockSize, SUPERFRAME_RING_BLOCK) : options.blockSize;
            final int blocks = options.blockCount;
            final int perBlock = ringBlockSize / ringFrameSize;
            final MemorySegment req = a.allocate(16, 4);
            req.set(ValueLayout.JAVA_INT, 0, ringBlockSize);
            req.set(ValueLayout.JAVA_INT, 4, blocks);
            req.set(ValueLayout.JAVA_INT, 8, ringFrameSize);
            req.set(ValueLayout.JAVA_INT, 12, perBlock * blocks);
            LinuxNative.check(LinuxNative.setsockopt(st, s, SOL_PACKET, PACKET_RX_RING, req, 16), st,
                "setsockopt(PACKET_RX_RING, " + name + ")");
            final long size = (long)ringBlockSize * blocks;
            final long addr = LinuxNative.mmap(st, size, LinuxNative.PROT_READ | LinuxNative.PROT_WRITE,
                LinuxNative.MAP_SHARED, s, 0);
            if (addr == LinuxNative.MAP_FAILED)
            {
                throw new NativeException("mmap(packet ring, " + name + ")", LinuxNative.errno(st));
            }
            ring = mapped(addr, size);
            frame = 0;
            framesPerBlock = perBlock;
            frames = perBlock * blocks;
            setInt(a, s, PACKET_QDISC_BYPASS, 1, "PACKET_QDISC_BYPASS");
            setInt(a, s, PACKET_IGNORE_OUTGOING, 1, "PACKET_IGNORE_OUTGOING");
            final MemorySegment sll = a.allocate(20, 4);
            sll.set(ValueLayout.JAVA_SHORT, 0, (short)LinuxNative.AF_PACKET);
            sll.set(ValueLayout.JAVA_SHORT, 2, (short)ETH_P_ALL_BE);
            sll.set(ValueLayout.JAVA_INT, 4, index);
            LinuxNative.check(LinuxNative.bind(st, s, sll, 20), st, "bind(AF_PACKET, " + name + ")");
            if (options.fanoutGroup != NO_FANOUT && !joinFanout(a, s))
            {
                // the kernel refused the steering program for the group's first socket: again, in hash mode
                closeSocket();
                openSocketLocked();
                return;
            }
        }
        catch (final NativeException | RuntimeException e)
        {
            closeSocket();
            throw e;
        }
        ifindex = index;
        mtu = Interfaces.mtu(name);
        pollFd.set(ValueLayout.JAVA_INT, 0, s);
        pollFd.set(ValueLayout.JAVA_SHORT, 4, LinuxNative.POLLIN);
    }

    /**
     * Joins the fanout group: after bind (the kernel refuses a socket that is not bound to a protocol) and after
     * the ring. Until it joins, the socket sees every frame of the link, as a lone socket does.
     */
    private boolean joinFanout(final Arena a, final int s) throws NativeException
    {
        final FanoutSteering steering = options.fanoutSteering;
        final int flags = options.fanoutDefrag ? PACKET_FANOUT_FLAG_DEFRAG : 0;
        steered = false;
        unlinked = false;
        groupIgnoresOutgoing = false;
        if (steering != null && steering.cbpf())
        {
            final int refused = joinGroup(a, s, PACKET_FANOUT_CBPF | flags);
            if (refused == 0)
            {
                // the caller holds the steering's lock: the model appends this socket as the kernel just did
                final boolean first = !steering.anyJoined();
                member = true;
                final int e = steering.joined(s, options.fanoutMember);
                if (e == 0)
                {
                    steered = true;
                    if (first)
                    {
                        LOG.log(System.Logger.Level.INFO, "link {0}: fanout group {1} in cbpf mode: the kernel hands"
                            + " each frame to the socket of the worker its program names", name,
                            String.valueOf(options.fanoutGroup));
                    }
                    return true;
                }
                if (steering.anyJoined())
                {
                    throw new NativeException("setsockopt(PACKET_FANOUT_DATA, group " + options.fanoutGroup + ", "
                        + name + ")", e);
                }
                refuseSteering(steering, "the program: " + LinuxNative.strerror(e) + " (errno " + e + ")");
                return false;
            }
            if (steering.anyJoined())
            {
                throw new NativeException("setsockopt(PACKET_FANOUT, cbpf, group " + options.fanoutGroup + ", " + name
                    + ")", refused);
            }
            // an old kernel, or the id taken by another link's group: the hash join below tells them apart
            refuseSteering(steering, "the mode: " + LinuxNative.strerror(refused) + " (errno " + refused + ")");
        }
        final int e = joinGroup(a, s, PACKET_FANOUT_HASH | flags);
        if (e != 0)
        {
            throw new NativeException("setsockopt(PACKET_FANOUT, group " + options.fanoutGroup + ", " + name + ")", e,
                e == LinuxNative.EINVAL ? "; the group id is taken in this network namespace by a group on another "
                    + "link or with another mode (a link that went away keeps its group until its last socket "
                    + "closes): give each link its own id" : "");
        }
        return true;
    }

    /**
     * Joins the group as {@code typeFlags} plus {@code PACKET_FANOUT_FLAG_IGNORE_OUTGOING}: the kernel hands a group's
     * frames to the group's hook, not the socket's, so the socket's {@code PACKET_IGNORE_OUTGOING} does not apply
     * (dev_queue_xmit_nit checks the hook's ignore_outgoing, which fanout_add sets from this flag alone). A refusal
     * (EINVAL: a group made without the flag, whose members must all agree on flags, or a kernel that checks for
     * flags it lacks) joins without it, logged once: then the receive path's check of {@code sll_pkttype} keeps the
     * host's frames out (rx-outgoing), as it does on a kernel before 6.2, which takes the flag and ignores it.
     *
     * @return 0, or the errno of the last join tried.
     */
    private int joinGroup(final Arena a, final int s, final int typeFlags)
    {
        if (options.fanoutIgnoreOutgoing)
        {
            if (setFanout(a, s, typeFlags | PACKET_FANOUT_FLAG_IGNORE_OUTGOING) == 0)
            {
                groupIgnoresOutgoing = true;
                return 0;
            }
            final int refused = LinuxNative.errno(state);
            if (refused != LinuxNative.EINVAL || setFanout(a, s, typeFlags) < 0)
            {
                // the other errors (and the id taken by another link's group) are the join's own
                return refused == LinuxNative.EINVAL ? LinuxNative.errno(state) : refused;
            }
            if (!ignoreOutgoingRefusalLogged)
            {
                ignoreOutgoingRefusalLogged = true;
                LOG.log(System.Logger.Level.WARNING, "link {0}: fanout group {1} joined without "
                    + "PACKET_FANOUT_FLAG_IGNORE_OUTGOING ({2}, errno {3}: the group was made without it or the kernel "
                    + "refuses it): frames the host sends on the link reach the ring and are dropped on receive (port "
                    + "counter rx-outgoing)", name, String.valueOf(options.fanoutGroup), LinuxNative.strerror(refused),
                    refused);
            }
            return 0;
        }
        return setFanout(a, s, typeFlags) == 0 ? 0 : LinuxNative.errno(state);
    }

    private int setFanout(final Arena a, final int s, final int typeFlags)
    {
        final MemorySegment v = a.allocateFrom(ValueLayout.JAVA_INT, typeFlags << 16 | options.fanoutGroup);
        return LinuxNative.setsockopt(state, s, SOL_PACKET, PACKET_FANOUT, v, 4);
    }

    private void refuseSteering(final FanoutSteering steering, final String why)
    {
        steering.refuse();
        LOG.log(System.Logger.Level.WARNING, "link {0}: fanout group {1} in hash mode: the kernel refused {2}; a flow"
            + " from the link reaches its owner worker by chance (1 in the workers) and is handed over otherwise",
            name, String.valueOf(options.fanoutGroup), why);
    }

    /**
     * A fanout group id for a link, unique per link within this process: the low 16 bits of a mix of the pid and
     * the link's ifindex (two links of one process never share an id; two processes on one host may, and a join
     * that collides with another link's group fails with a clear error).
     *
     * @param link the interface name.
     * @return the group id, 0 to 65535.
     * @throws NativeException when the link does not exist.
     */
    public static int fanoutGroup(final String link) throws NativeException
    {
        final int index = Interfaces.index(link);
        if (index == 0)
        {
            throw new NativeException("if_nametoindex(" + link + ")", LinuxNative.ENODEV);
        }
        return (int)((ProcessHandle.current().pid() * 0x9E3779B1L + index) & 0xffff);
    }

    /** @return the fanout group this port joins, or {@link #NO_FANOUT}. */
    public int fanout()
    {
        return options.fanoutGroup;
    }

    /**
     * @return how the fanout group shares the link's frames: {@link FanoutSteering#CBPF} when this socket joined
     *         with the steering program, {@link FanoutSteering#HASH} when it joined in hash mode, null without a
     *         group.
     */
    public String fanoutMode()
    {
        if (options.fanoutGroup == NO_FANOUT)
        {
            return null;
        }
        return steered ? FanoutSteering.CBPF : FanoutSteering.HASH;
    }

    /**
     * @return whether this socket joined its fanout group with {@code PACKET_FANOUT_FLAG_IGNORE_OUTGOING} (a kernel
     *         before 6.2 takes the flag without acting on it); false without a group.
     */
    boolean fanoutIgnoresOutgoing()
    {
        return groupIgnoresOutgoing;
    }

    /** Asks for {@code PACKET_VNET_HDR}; a kernel that refuses it leaves the port without offloads (logged once). */
    private boolean askVnetHeader(final Arena a, final int s)
    {
        final MemorySegment v = a.allocateFrom(ValueLayout.JAVA_INT, 1);
        if (LinuxNative.setsockopt(state, s, SOL_PACKET, PACKET_VNET_HDR, v, 4) == 0)
        {
            return true;
        }
        if (!vnetRefusalLogged)
        {
            vnetRefusalLogged = true;
            final int e = LinuxNative.errno(state);
            LOG.log(System.Logger.Level.WARNING, "link {0}: PACKET_VNET_HDR refused ({1}, errno {2}); the uplink sends "
                + "and receives one frame per message, without UDP segmentation offload", name,
                LinuxNative.strerror(e), e);
        }
        return false;
    }

    /** @return whether the socket has the virtio header: UDP superframes out, superframes split on receive. */
    public boolean offloads()
    {
        return vnet;
    }

    /**
     * With the virtio header the port takes TCPv4 superframes and partial checksums ({@link #transmit} sends them
     * whole, or cuts them itself when the link refuses them); without it the sender segments first.
     *
     * @return whether the socket has the virtio header.
     */
    @Override
    public boolean acceptsOffload()
    {
        return vnet;
    }

    /** @return the link's MTU as last read (at open and at each link check). */
    public int mtu()
    {
        return mtu;
    }

    @SuppressWarnings("restricted")
    private static MemorySegment mapped(final long address, final long size)
    {
        return MemorySegment.ofAddress(address).reinterpret(size);
    }

    private void setInt(final Arena a, final int s, final int option, final int value, final String what)
        throws NativeException
    {
        final MemorySegment v = a.allocateFrom(ValueLayout.JAVA_INT, value);
        LinuxNative.check(LinuxNative.setsockopt(state, s, SOL_PACKET, option, v, 4), state,
            "setsockopt(" + what + ", " + name + ")");
    }

    /**
     * Adds the kernel's drops since the last read ({@code PACKET_STATISTICS}, which resets them) to rx-ring-full:
     * frames the link received that found this socket's ring full, which no other counter sees (the link counts them
     * received). Control rate: at each link check and when the socket closes.
     */
    private void countRingDrops()
    {
        if (fd < 0)
        {
            return;
        }
        try (Arena a = Arena.ofConfined())
        {
            // struct tpacket_stats { unsigned tp_packets; unsigned tp_drops; }
            final MemorySegment v = a.allocate(8, 4);
            final MemorySegment len = a.allocateFrom(ValueLayout.JAVA_INT, 8);
            if (LinuxNative.getsockopt(state, fd, SOL_PACKET, PACKET_STATISTICS, v, len) == 0)
            {
                final long drops = v.get(ValueLayout.JAVA_INT, 4) & 0xffff_ffffL;
                if (drops > 0)
                {
                    counters.counters().add(rxRingFull, drops);
                }
            }
        }
    }

    private void closeSocket()
    {
        countRingDrops();
        if (member)
        {
            // leave the model and close under the group's lock: the kernel unlinks the socket as the model does, and
            // no other thread attaches a program through this descriptor once it is closed
            synchronized (options.fanoutSteering)
            {
                member = false;
                options.fanoutSteering.leaving(fd, !unlinked);
                releaseSocket();
            }
        }
        else
        {
            releaseSocket();
        }
        unlinked = false;
    }

    private void releaseSocket()
    {
        if (ring.byteSize() > 0)
        {
            LinuxNative.munmap(state, ring.address(), ring.byteSize());
            ring = MemorySegment.NULL;
        }
        if (fd >= 0)
        {
            LinuxNative.close(state, fd);
            fd = -1;
        }
    }

    /** @return the interface name. */
    @Override
    public String name()
    {
        return name;
    }

    @Override
    public PortCounters counters()
    {
        return counters;
    }

    @Override
    public String entryStage()
    {
        return options.entryStage;
    }

    /** @return the port id. */
    public int id()
    {
        return id;
    }

    /** @return whether the port is up. */
    public boolean isUp()
    {
        return up;
    }

    /** @return the socket descriptor for an {@link Epoll}, or -1 while the port is down (it changes on reopen). */
    @Override
    public int fd()
    {
        return fd;
    }

    @Override
    public long fdGeneration()
    {
        return fdGeneration;
    }

    /**
     * Copies frames from the ring into pool buffers until the ring has no ready frame, the vector is full or the
     * pool is empty. Each packet gets this port as rx port and its kernel receive time.
     *
     * @param out the vector that receives the handles.
     * @return packets added (0 while the port is down).
     */
    @Override
    public int receive(final PacketVector out)
    {
        if (!up)
        {
            return 0;
        }
        final MemorySegment ring = this.ring;
        final PacketPool pool = this.pool;
        final MemorySegment mem = pool.memory();
        final int room = pool.bufferSize() - pool.headroom();
        final int before = out.count();
        long bytes = 0;
        while (!out.isFull())
        {
            final long p = frameAddress(frame);
            // tpacket2_hdr: status 0, len 4, snaplen 8, mac 12, net 14, sec 16, nsec 20, vlan_tci 24, vlan_tpid 26
            final int status = (int)INT.getAcquire(ring, p);
            if ((status & TP_STATUS_USER) == 0)
            {
                break;
            }
            // tp_len: the length on the wire; larger than tp_snaplen when the kernel cut a (GSO) superframe
            final int wire = ring.get(ValueLayout.JAVA_INT, p + 4);
            final int snap = ring.get(ValueLayout.JAVA_INT, p + 8);
            final long macAt = p + (ring.get(ValueLayout.JAVA_SHORT, p + 12) & 0xffff);
            final long sec = ring.get(ValueLayout.JAVA_INT, p + 16) & 0xffff_ffffL;
            final long nsec = ring.get(ValueLayout.JAVA_INT, p + 20) & 0xffff_ffffL;
            final boolean vlan = (status & TP_STATUS_VLAN_VALID) != 0;
            // the virtio header sits just before the frame; its gso_type says whether the frame is a superframe
            final int gsoType = vnet ? VirtioNetHeader.gsoType(ring, macAt - VirtioNetHeader.SIZE) : 0;
            final long when = sec * 1_000_000_000L + nsec;
            final int got;
            if (outgoing(ring, p))
            {
                // a frame the host's own stack sent out of the link (the group's hook is not the socket's: see
                // joinGroup); it never came from the wire
                got = OUTGOING;
            }
            else if (gsoType != VirtioNetHeader.GSO_NONE)
            {
                if (vlan || wire != snap || (status & TP_STATUS_COPY) != 0)
                {
                    got = REJECTED;
                }
                else
                {
                    got = gsoType == VirtioNetHeader.GSO_UDP_L4 ? splitUdp(ring, macAt, snap, out, when)
                        : splitTcp(ring, macAt, snap, gsoType, out, when);
                }
                if (got == NO_ROOM)
                {
                    // the vector or the pool has no room for all the segments: the frame waits for the next call
                    break;
                }
            }
            else
            {
                final int h = pool.allocate();
                if (h == PacketPool.NO_BUFFER)
                {
                    counters.rxNoBuffer();
                    break;
                }
                final int len = snap + (vlan ? 4 : 0);
                if (len > room || len < 14 || wire != snap || (status & TP_STATUS_COPY) != 0)
                {
                    pool.free(h);
                    got = REJECTED;
                }
                else
                {
                    copyFrame(ring, p, macAt, status, snap, vlan, mem, pool.frameOffset(h));
                    if ((status & TP_STATUS_CSUMNOTREADY) != 0)
                    {
                        completeChecksum(ring, macAt, mem, pool.frameOffset(h), len, vlan);
                    }
                    pool.length(h, len);
                    pool.rxPort(h, id);
                    pool.timestamp(h, when);
                    out.add(h);
                    got = len;
                }
            }
            if (got == REJECTED)
            {
                counters.rxError();
            }
            else if (got == OUTGOING)
            {
                counters.counters().increment(rxOutgoing);
            }
            else
            {
                bytes += got;
            }
            // hand the frame back to the kernel
            INT.setRelease(ring, p, 0);
            frame = frame + 1 == frames ? 0 : frame + 1;
        }
        final int added = out.count() - before;
        if (added > 0)
        {
            counters.rx(added, bytes);
        }
        return added;
    }

    /**
     * @param ring  the RX ring.
     * @param frame where a ring frame starts (its tpacket2_hdr).
     * @return whether the kernel marked the frame {@code PACKET_OUTGOING} in the {@code sockaddr_ll} it wrote after the
     *         header: a frame the host transmitted on the link, not one that arrived.
     */
    static boolean outgoing(final MemorySegment ring, final long frame)
    {
        return ring.get(ValueLayout.JAVA_BYTE, frame + SLL_PKTTYPE_AT) == PACKET_OUTGOING;
    }

    /** Copies a plain frame out of the ring, with its VLAN tag put back and a partial checksum completed. */
    private static void copyFrame(final MemorySegment ring, final long p, final long macAt, final int status,
        final int snap, final boolean vlan, final MemorySegment mem, final long dst)
    {
        if (vlan)
        {
            // put back the 802.1Q tag that the kernel carried out of band
            final int tpid = (status & TP_STATUS_VLAN_TPID_VALID) != 0 ?
                ring.get(ValueLayout.JAVA_SHORT, p + 26) & 0xffff : 0x8100;
            final int tci = ring.get(ValueLayout.JAVA_SHORT, p + 24) & 0xffff;
            MemorySegment.copy(ring, macAt, mem, dst, 12);
            mem.set(ValueLayout.JAVA_BYTE, dst + 12, (byte)(tpid >>> 8));
            mem.set(ValueLayout.JAVA_BYTE, dst + 13, (byte)tpid);
            mem.set(ValueLayout.JAVA_BYTE, dst + 14, (byte)(tci >>> 8));
            mem.set(ValueLayout.JAVA_BYTE, dst + 15, (byte)tci);
            MemorySegment.copy(ring, macAt + 12, mem, dst + 16, snap - 12);
        }
        else
        {
            MemorySegment.copy(ring, macAt, mem, dst, snap);
        }
    }

    /**
     * Completes a checksum the kernel left partial. With the virtio header the range is exact (csum_start counts
     * from the frame as the kernel saw it, without an out-of-band VLAN tag): a kernel VXLAN device leaves either
     * the inner or, when the inner one is already complete, the outer UDP checksum partial, and only the header
     * says which. Without it the range is guessed from the headers ({@link PartialChecksum#completeIp4}).
     */
    private void completeChecksum(final MemorySegment ring, final long macAt, final MemorySegment mem, final long dst,
        final int len, final boolean vlan)
    {
        final long v = macAt - VirtioNetHeader.SIZE;
        if (vnet && (VirtioNetHeader.flags(ring, v) & VirtioNetHeader.F_NEEDS_CSUM) != 0)
        {
            final int start = VirtioNetHeader.csumStart(ring, v) + (vlan ? 4 : 0);
            final int offset = VirtioNetHeader.csumOffset(ring, v);
            // the IPv4 total length, not the frame, bounds the range (short frames are padded)
            final int l3 = vlan ? 18 : 14;
            final int end = len >= l3 + 20 && Wire.u16(mem, dst + l3 - 2) == 0x0800 ?
                Math.min(len, l3 + Wire.u16(mem, dst + l3 + 2)) : len;
            if (PartialChecksum.complete(mem, dst, end, start, offset))
            {
                return;
            }
        }
        PartialChecksum.completeIp4(mem, dst, len);
    }

    /**
     * Splits a UDP superframe in the ring (a peer's USO, or a run batched by another ferry) into ordinary frames in
     * small pool buffers, so vxlan-decap sees plain VXLAN datagrams; a run of datagrams that carries consecutive
     * segments of one inner TCP flow becomes one VXLAN frame with an inner TCP superframe in a large buffer instead
     * ({@link VxlanGro}), or ordinary frames when no large buffer is free.
     *
     * @return bytes added, {@link #REJECTED} (malformed, or a segment larger than a buffer) or {@link #NO_ROOM}.
     */
    private int splitUdp(final MemorySegment ring, final long f, final int len, final PacketVector out,
        final long when)
    {
        final PacketPool pool = this.pool;
        final int gsoSize = VirtioNetHeader.gsoSize(ring, f - VirtioNetHeader.SIZE);
        final int count = UdpGso.segments(ring, f, len, gsoSize);
        if (count == UdpGso.MALFORMED || UdpGso.HEADERS + gsoSize > pool.bufferSize() - pool.headroom())
        {
            return REJECTED;
        }
        if (PacketVector.CAPACITY - out.count() < count || pool.availableSmall() < count)
        {
            if (out.isEmpty())
            {
                counters.rxNoBuffer();
            }
            return NO_ROOM;
        }
        final MemorySegment mem = pool.memory();
        // the superframe's outer UDP checksum (always present: the kernel takes UDP GSO only with one) was either
        // left partial by a sender on this host (never on a wire) or checked by the kernel: it covers the inner
        // frames, so the TAP coalescer need not verify their TCP checksums again
        final int vnetFlags = VirtioNetHeader.flags(ring, f - VirtioNetHeader.SIZE);
        final boolean covered = (vnetFlags & (VirtioNetHeader.F_NEEDS_CSUM | VirtioNetHeader.F_DATA_VALID)) != 0
            && ring.get(ValueLayout.JAVA_SHORT_UNALIGNED, f + UdpGso.UDP_AT + 6) != 0;
        final int largeRoom = PacketPool.LARGE_BUFFER_SIZE - pool.headroom();
        int bytes = 0;
        int k = 0;
        while (k < count)
        {
            // a peer's run of one inner TCP flow becomes one superframe again (one copy, one trip through the graph)
            final int run = RX_GRO ? VxlanGro.runLength(ring, f, gsoSize, count, k, covered, largeRoom) : 1;
            final int big = run > 1 ? pool.allocateLarge() : PacketPool.NO_BUFFER;
            final int h = big != PacketPool.NO_BUFFER ? big : pool.allocate();
            final int taken;
            final int segLen;
            if (big != PacketPool.NO_BUFFER)
            {
                taken = run;
                segLen = VxlanGro.write(ring, f, gsoSize, k, run, mem, pool.frameOffset(h));
                pool.gso(h, PacketPool.GSO_TCPV4, VxlanGro.segmentSize(ring, f, gsoSize, k));
                pool.checksumPartial(h, VxlanGro.TCP_AT, 16);
                // covered, or every segment's TCP checksum verified in runLength
                pool.flags(h, pool.flags(h) | PacketPool.FLAG_L4_CHECKSUM_TRUSTED);
                counters.counters().increment(rxGroFrames);
                counters.counters().add(rxGroSegments, run);
            }
            else
            {
                taken = 1;
                segLen = UdpGso.writeSegment(ring, f, gsoSize, k, mem, pool.frameOffset(h));
                if (covered)
                {
                    pool.flags(h, pool.flags(h) | PacketPool.FLAG_L4_CHECKSUM_TRUSTED);
                }
            }
            pool.length(h, segLen);
            pool.rxPort(h, id);
            pool.timestamp(h, when);
            out.add(h);
            bytes += segLen;
            k += taken;
        }
        counters.counters().increment(rxGsoFrames);
        counters.counters().add(rxGsoSegments, count);
        return bytes;
    }

    /**
     * Splits a TCP superframe in the ring with the software segmenter: copied into a large buffer with its offload
     * metadata, then cut into MTU-sized frames with complete checksums. Either a peer's TSO on a path without a
     * tunnel, or a kernel VXLAN device's tunnel superframe (a flannel node with offloads on, over a veth), which the
     * kernel reports as TCPV4 with the checksum range at the inner TCP header: then the inner TCP is cut and each
     * segment's outer IPv4/UDP headers are re-made. Any other superframe type is rejected.
     *
     * @return bytes added, {@link #REJECTED} or {@link #NO_ROOM}.
     */
    private int splitTcp(final MemorySegment ring, final long f, final int len, final int gsoType,
        final PacketVector out, final long when)
    {
        final PacketPool pool = this.pool;
        final long v = f - VirtioNetHeader.SIZE;
        final int flags = VirtioNetHeader.flags(ring, v);
        final int gsoSize = VirtioNetHeader.gsoSize(ring, v);
        final int start = VirtioNetHeader.csumStart(ring, v);
        final int offset = VirtioNetHeader.csumOffset(ring, v);
        if ((gsoType & ~VirtioNetHeader.GSO_ECN) != VirtioNetHeader.GSO_TCPV4
            || (flags & VirtioNetHeader.F_NEEDS_CSUM) == 0 || gsoSize == 0
            || len > PacketPool.LARGE_BUFFER_SIZE - pool.headroom())
        {
            return REJECTED;
        }
        // at most this many segments (a TCP header is at least 20 bytes): all of them must fit the vector
        final int most = Math.max(1, (len - 54 + gsoSize - 1) / gsoSize);
        if (most > TcpSegmenter.MAX_SEGMENTS)
        {
            return REJECTED;
        }
        if (PacketVector.CAPACITY - out.count() < most)
        {
            return NO_ROOM;
        }
        final int h = pool.allocateLarge();
        if (h == PacketPool.NO_BUFFER)
        {
            if (out.isEmpty())
            {
                counters.rxNoBuffer();
            }
            return NO_ROOM;
        }
        final MemorySegment mem = pool.memory();
        final long dst = pool.frameOffset(h);
        MemorySegment.copy(ring, f, mem, dst, len);
        // a checksum range beyond a plain TCP/IPv4 header's end means a tunnel: the inner frame after VXLAN
        final boolean tunnel = start >= UdpGso.INNER_IP_AT;
        final int inner = tunnel ? UdpGso.INNER_IP_AT - 14 : 0;
        if (tunnel && !UdpGso.isVxlanFrame(mem, dst, len)
            || !TapPort.isTcp4Superframe(mem, dst + inner, len - inner, start - inner, offset))
        {
            pool.free(h);
            return REJECTED;
        }
        final int outerId = Wire.u16(mem, dst + 18);
        pool.length(h, len);
        pool.l3Offset(h, inner + 14);
        pool.gso(h, PacketPool.GSO_TCPV4, gsoSize);
        pool.checksumPartial(h, start, offset);
        final int count = segmenter.segment(h);
        if (count < 0)
        {
            pool.free(h);
            return count == TcpSegmenter.NO_BUFFER ? NO_ROOM : REJECTED;
        }
        int bytes = 0;
        for (int k = 0; k < count; k++)
        {
            final int seg = segmenter.get(k);
            if (tunnel)
            {
                UdpGso.fixOuter(mem, pool.frameOffset(seg), pool.length(seg), outerId + k);
            }
            // as a frame received plainly: the graph finds its own l3 offset
            pool.l3Offset(seg, 0);
            pool.rxPort(seg, id);
            pool.timestamp(seg, when);
            bytes += pool.length(seg);
            out.add(seg);
        }
        counters.counters().increment(rxGsoFrames);
        counters.counters().add(rxGsoSegments, count);
        return bytes;
    }
    private long frameAddress(final int index)
    {
        return (long)(index / framesPerBlock) * ringBlockSize + (long)(index % framesPerBlock) * ringFrameSize;
    }

    /**
     * Queues a packet for the next {@link #flush()} (a batch of 256 goes out as soon as it fills). While the port
     * is down the packet is dropped and counted. A TCP superframe or a frame with a partial checksum (only with the
     * virtio header: {@link #acceptsOffload()}) is queued to go out whole when {@link TcpTso#prepare} accepts it,
     * else cut by the software segmenter into segments that fit the MTU.
     *
     * @param handle packet handle.
     */
    @Override
    public void transmit(final int handle)
    {
        if (!up)
        {
            counters.txDropped(1);
            pool.free(handle);
            return;
        }
        // a full queue is sent as soon as it fills (queue)
        enqueue(handle);
    }

    /** Queues a frame (a superframe whole or in segments); a full queue is sent at once. */
    private void enqueue(final int h)
    {
        final PacketPool pool = this.pool;
        if (pool.gsoSize(h) == 0 && !pool.checksumPartial(h))
        {
            queue(h, 0);
            return;
        }
        if (!tsoWhole && clock.nanos() - tsoRetryAt >= 0)
        {
            tsoWhole = true;
        }
        final MemorySegment mem = pool.memory();
        final long frame = pool.frameOffset(h);
        if (vnet && tsoWhole && pool.headroomOf(h) >= VirtioNetHeader.SIZE
            && (pool.gsoSize(h) == 0 || pool.gsoType(h) == PacketPool.GSO_TCPV4))
        {
            // the virtio header goes into the headroom: one iovec for the whole message
            final int segments = TcpTso.prepare(mem, frame, pool.length(h), pool.l3Offset(h), pool.gsoSize(h), mtu,
                mem, frame - VirtioNetHeader.SIZE);
            if (segments > 0)
            {
                pool.length(h, TcpTso.sendLength(mem, frame));
                queue(h, segments);
                return;
            }
        }
        segmentInSoftware(h, mem, frame);
    }

    /**
     * Cuts a superframe with the software segmenter into segments that fit the MTU (the frame's own segment size
     * when smaller) and queues them; a frame it cannot cut is a tx-error.
     */
    private void segmentInSoftware(final int h, final MemorySegment mem, final long frame)
    {
        final PacketPool pool = this.pool;
        final int gsoSize = pool.gsoSize(h);
        if (gsoSize != 0)
        {
            final int headers = TcpTso.headerBytes(mem, frame, pool.length(h), pool.l3Offset(h));
            final int mss = headers < 0 ? gsoSize : TcpTso.mss(gsoSize, mtu, headers);
            if (mss == 0)
            {
                counters.txErrors(1);
                pool.free(h);
                return;
            }
            pool.gso(h, pool.gsoType(h), mss);
        }
        final int n = segmenter.segment(h);
        if (n < 0)
        {
            // not IPv4 TCP with its headers in the frame, too many segments, or no buffers
            counters.txErrors(1);
            pool.free(h);
            return;
        }
        if (gsoSize != 0)
        {
            counters.counters().increment(txTsoSoftware);
        }
        for (int k = 0; k < n; k++)
        {
            queue(segmenter.get(k), 0);
        }
    }

    private void queue(final int h, final int segments)
    {
        pending[pendingCount] = h;
        pendingSegments[pendingCount] = segments;
        pendingCount++;
        if (pendingCount == pending.length)
        {
            sendBatch();
        }
    }

    /**
     * Sends the queued packets with {@code sendmmsg} and frees their buffers. With offloads, a run of frames that
     * {@link UdpGso#runLength} accepts goes out as one UDP superframe message: the virtio header and the rewritten
     * outer headers from scratch memory, then each frame's UDP payload straight from its pool buffer (no copy); a
     * TCP superframe goes out as one message behind its own virtio header ({@link TcpTso}); any other frame goes out
     * alone behind a zero virtio header. When the kernel refuses a superframe, that frame and the ones after it are
     * queued again, superframes now cut in software, and whole superframes are tried again a second later.
     */
    @Override
    public void flush()
    {
        if (deferredHead < deferredCount)
        {
            // a refusal while transmit filled a batch put frames aside: they go first, then what was queued after
            System.arraycopy(pending, 0, deferred, deferredCount, pendingCount);
            deferredCount += pendingCount;
            pendingCount = 0;
        }
        else
        {
            sendBatch();
        }
        draining = true;
        while (deferredHead < deferredCount)
        {
            if (!up)
            {
                counters.txDropped(deferredCount - deferredHead);
                while (deferredHead < deferredCount)
                {
                    pool.free(deferred[deferredHead++]);
                }
                break;
            }
            // enqueue may send a full batch, and a refusal in it puts frames back in front of these
            enqueue(deferred[deferredHead++]);
        }
        draining = false;
        deferredHead = 0;
        deferredCount = 0;
        sendBatch();
    }

    private void sendBatch()
    {
        final int n = pendingCount;
        if (n == 0)
        {
            return;
        }
        final PacketPool pool = this.pool;
        final MemorySegment mem = pool.memory();
        final long base = mem.address();
        for (int i = 0; i < n; i++)
        {
            final int h = pending[i];
            pendingAt[i] = pool.frameOffset(h);
            pendingLength[i] = pool.length(h);
        }
        if (!gsoRuns && clock.nanos() - gsoRetryAt >= 0)
        {
            gsoRuns = true;
        }
        final int messages = vnet ? buildOffloadMessages(mem, n) : buildPlainMessages(base, n);
        int sent = 0;
        boolean unsentAreErrors = false;
        while (sent < messages && up)
        {
            final int r = LinuxNative.sendmmsg(state, fd, mmsgs.address() + (long)sent * MMSG_SIZE, messages - sent,
                0);
            if (r > 0)
            {
                countSent(mem, sent, sent + r);
                sent += r;
                continue;
            }
            final int e = LinuxNative.errno(state);
            if (e == LinuxNative.EINTR)
            {
                continue;
            }
            if (e == LinuxNative.ENETDOWN || e == LinuxNative.ENXIO || e == LinuxNative.ENODEV)
            {
                // ENXIO, ENODEV: the link is gone; ENETDOWN: down, still there
                markDown(e == LinuxNative.ENETDOWN ? ifindex : 0, e);
            }
            else if (messageFrames[sent] > 1 || messageSegments[sent] > 1)
            {
                // the kernel refused a superframe: with PACKET_QDISC_BYPASS, a device that cannot take it whole (tx
                // checksumming, TCP or UDP segmentation switched off with ethtool) drops what would need software
                // segmentation (ENOBUFS). That frame and the rest are queued again (superframes cut in software);
                // superframes of that kind are tried again later.
                if (messageSegments[sent] > 1)
                {
                    refuseTso(e);
                }
                else
                {
                    refuseGso(e);
                }
                deferUnsent(messageFirst[sent], n);
                return;
            }
            else if (e != LinuxNative.EAGAIN && e != LinuxNative.ENOBUFS)
            {
                unsentAreErrors = true;
            }
            break;
        }
        final int unsent = sent == messages ? 0 : n - messageFirst[sent];
        if (unsentAreErrors)
        {
            counters.txErrors(unsent);
        }
        else
        {
            counters.txDropped(unsent);
        }
        for (int i = 0; i < n; i++)
        {
            pool.free(pending[i]);
        }
        pendingCount = 0;
    }

    private void countSent(final MemorySegment mem, final int from, final int to)
    {
        for (int m = from; m < to; m++)
        {
            final int first = messageFirst[m];
            final int count = messageFrames[m];
            final int segments = messageSegments[m];
            if (segments > 0)
            {
                // frames on the wire, not messages
                counters.tx(segments, TcpTso.wireBytes(mem, pendingAt[first], segments));
                if (segments > 1)
                {
                    counters.counters().increment(txTsoFrames);
                    counters.counters().add(txTsoSegments, segments);
                }
                continue;
            }
            for (int i = first; i < first + count; i++)
            {
                counters.tx(pendingLength[i]);
            }
            if (count > 1)
            {
                counters.counters().increment(txGsoFrames);
                counters.counters().add(txGsoSegments, count);
            }
        }
    }

    /**
     * Frees the sent frames before {@code from} and puts the rest aside for {@link #flush()}: in front of those still
     * waiting while flush sends them again (these were taken from there), else behind them.
     */
    private void deferUnsent(final int from, final int n)
    {
        for (int i = 0; i < from; i++)
        {
            pool.free(pending[i]);
        }
        final int count = n - from;
        if (draining)
        {
            final int waiting = deferredCount - deferredHead;
            System.arraycopy(deferred, deferredHead, deferred, count, waiting);
            System.arraycopy(pending, from, deferred, 0, count);
            deferredHead = 0;
            deferredCount = count + waiting;
        }
        else
        {
            System.arraycopy(pending, from, deferred, deferredCount, count);
            deferredCount += count;
        }
        pendingCount = 0;
    }

    /** One message, one iovec per frame. */
    private int buildPlainMessages(final long base, final int n)
    {
        for (int i = 0; i < n; i++)
        {
            final long iov = (long)i * IOV_SIZE;
            iovs.set(ValueLayout.JAVA_LONG, iov, base + pendingAt[i]);
            iovs.set(ValueLayout.JAVA_LONG, iov + 8, pendingLength[i]);
            message(i, i, 1, iovs.address() + iov, 1);
        }
        return n;
    }

    /** Runs of frames as UDP superframes, other frames alone; every message starts with a virtio header. */
    private int buildOffloadMessages(final MemorySegment mem, final int n)
    {
        final long base = mem.address();
        int messages = 0;
        int iov = 0;
        int i = 0;
        while (i < n)
        {
            final long first = (long)iov * IOV_SIZE;
            final int segments = pendingSegments[i];
            if (segments > 0)
            {
                // a TCP superframe with its virtio header in front (written into the headroom when queued)
                iovec(iov++, base + pendingAt[i] - VirtioNetHeader.SIZE, VirtioNetHeader.SIZE + pendingLength[i]);
                message(messages, i, 1, iovs.address() + first, 1);
                messageSegments[messages] = segments;
                messages++;
                i++;
                continue;
            }
            final int k = gsoRuns ? UdpGso.runLength(mem, pendingAt, pendingLength, i, n) : 1;
            final long hdr = (long)messages * HEADER_SCRATCH;
            if (k == 1)
            {
                UdpGso.writePlainHeader(scratch, hdr);
                iovec(iov++, scratch.address() + hdr, VirtioNetHeader.SIZE);
                iovec(iov++, base + pendingAt[i], pendingLength[i]);
            }
            else
            {
                int payload = 0;
                for (int j = i; j < i + k; j++)
                {
                    payload += pendingLength[j] - UdpGso.HEADERS;
                }
                UdpGso.writeSuperframeHeader(mem, pendingAt[i], scratch, hdr, payload,
                    pendingLength[i] - UdpGso.HEADERS);
                iovec(iov++, scratch.address() + hdr, VirtioNetHeader.SIZE + UdpGso.HEADERS);
                for (int j = i; j < i + k; j++)
                {
                    iovec(iov++, base + pendingAt[j] + UdpGso.HEADERS, pendingLength[j] - UdpGso.HEADERS);
                }
            }
            message(messages, i, k, iovs.address() + first, iov - (int)(first / IOV_SIZE));
            messages++;
            i += k;
        }
        return messages;
    }

    private void refuseGso(final int errno)
    {
        gsoRuns = false;
        gsoRetryAt = clock.nanos() + GSO_RETRY_NANOS;
        counters.counters().increment(txGsoRefused);
        if (!gsoRefusalLogged)
        {
            gsoRefusalLogged = true;
            LOG.log(System.Logger.Level.WARNING, "{0}: the kernel refused a UDP GSO superframe (errno {1}; is tx "
                + "checksumming or tx-udp-segmentation off on the link?): sending frames one by one, retrying runs "
                + "every second (port counter tx-gso-refused)", name, errno);
        }
    }

    private void refuseTso(final int errno)
    {
        tsoWhole = false;
        tsoRetryAt = clock.nanos() + GSO_RETRY_NANOS;
        counters.counters().increment(txGsoRefused);
        if (!tsoRefusalLogged)
        {
            tsoRefusalLogged = true;
            LOG.log(System.Logger.Level.WARNING, "{0}: the kernel refused a TCP superframe (errno {1}; is tx "
                + "checksumming or tcp-segmentation-offload off on the link?): cutting TCP superframes in software, "
                + "trying whole ones again every second (port counters tx-gso-refused, tx-tso-software)", name, errno);
        }
    }

    private void iovec(final int index, final long address, final long length)
    {
        final long at = (long)index * IOV_SIZE;
        iovs.set(ValueLayout.JAVA_LONG, at, address);
        iovs.set(ValueLayout.JAVA_LONG, at + 8, length);
    }

    private void message(final int m, final int first, final int frames, final long iov, final int iovCount)
    {
        // struct mmsghdr: msghdr {name, namelen, iov, iovlen, control, controllen, flags}, msg_len
        final long at = (long)m * MMSG_SIZE;
        mmsgs.set(ValueLayout.JAVA_LONG, at + 16, iov);
        mmsgs.set(ValueLayout.JAVA_LONG, at + 24, iovCount);
        messageFirst[m] = first;
        messageFrames[m] = frames;
        messageSegments[m] = 0;
    }

    /**
     * Waits until the ring holds a frame, the link reports an error, or the timeout passes. An error makes the
     * next {@link #maintain()} look at the link at once.
     *
     * @param timeoutMillis longest wait; 0 polls.
     * @return whether a frame is ready.
     */
    public boolean awaitReadable(final int timeoutMillis)
    {
        if (!up)
        {
            return false;
        }
        if (((int)INT.getAcquire(ring, frameAddress(frame)) & TP_STATUS_USER) != 0)
        {
            return true;
        }
        pollFd.set(ValueLayout.JAVA_SHORT, 6, (short)0);
        final int n = LinuxNative.poll(state, pollFd.address(), 1, timeoutMillis);
        final short revents = pollFd.get(ValueLayout.JAVA_SHORT, 6);
        if (n > 0 && (revents & (LinuxNative.POLLERR | LinuxNative.POLLHUP | LinuxNative.POLLNVAL)) != 0)
        {
            checkNow = true;
        }
        return n > 0 && (revents & LinuxNative.POLLIN) != 0;
    }

    /**
     * Looks at the link (at most every check interval, or at once after an error): a link that is down or gone
     * takes the port down; a link that is back (possibly recreated with a new index) reopens the socket and
     * takes the port up. Call it from the I/O thread when idle; it is not for the hot path.
     *
     * @return whether the port is up afterwards.
     */
    public boolean check()
    {
        final long now = clock.nanos();
        if (!checkNow && now < nextCheck)
        {
            return up;
        }
        checkNow = false;
        nextCheck = now + checkIntervalNanos;
        final int index = Interfaces.index(name);
        countRingDrops();
        if (fd >= 0)
        {
            final int err = socketError();
            if (err == LinuxNative.ENETDOWN && member)
            {
                // the link went down: the kernel unlinked every member of the group, and links the open ones again
                // (in creation order) when the link returns
                unlinked = true;
                options.fanoutSteering.linkFlapped();
            }
            if (err != 0 && up)
            {
                markDown(index, index == 0 ? LinuxNative.ENODEV : err);
                return false;
            }
        }
        int flags;
        try
        {
            flags = index == 0 ? Interfaces.NO_SUCH_INTERFACE : Interfaces.flags(name);
        }
        catch (final NativeException e)
        {
            flags = Interfaces.NO_SUCH_INTERFACE;
        }
        final int upAndRunning = LinuxNative.IFF_UP | LinuxNative.IFF_RUNNING;
        final boolean linkUp = flags != Interfaces.NO_SUCH_INTERFACE && (flags & upAndRunning) == upAndRunning;
        if (up && (!linkUp || index != ifindex))
        {
            markDown(index, index == 0 ? LinuxNative.ENODEV : LinuxNative.ENETDOWN);
        }
        else if (!up && linkUp && fd >= 0 && index == ifindex)
        {
            // a member kept its socket while the link was down: the kernel has linked it again
            unlinked = false;
            up = true;
            readMtu();
            counters.linkUp();
            LOG.log(System.Logger.Level.INFO, "link {0} up (index {1}): port {2} receives and sends again (its fanout "
                + "socket kept)", name, ifindex, id);
        }
        else if (!up && linkUp)
        {
            if (fd >= 0)
            {
                // the kept socket's link was made again with another index
                options.fanoutSteering.linkGone();
                closeSocket();
            }
            try
            {
                openSocket();
                up = true;
                counters.linkUp();
                LOG.log(System.Logger.Level.INFO, "link {0} up (index {1}): port {2} receives and sends again", name,
                    ifindex, id);
            }
            catch (final NativeException e)
            {
                closeSocket();
            }
        }
        else if (up)
        {
            readMtu();
        }
        else if (fd >= 0 && index != ifindex)
        {
            // the kept socket's link went away: the kernel unlinked the group's members for good
            options.fanoutSteering.linkGone();
            closeSocket();
        }
        return up;
    }

    /** Follows an MTU change on the link: TCP superframes are cut to fit it. */
    private void readMtu()
    {
        try
        {
            mtu = Interfaces.mtu(name);
        }
        catch (final NativeException e)
        {
            // the link went away between the checks; the next check takes the port down
        }
    }

    @Override
    public void maintain()
    {
        check();
    }

    private int socketError()
    {
        try (Arena a = Arena.ofConfined())
        {
            final MemorySegment v = a.allocate(ValueLayout.JAVA_INT);
            final MemorySegment len = a.allocateFrom(ValueLayout.JAVA_INT, 4);
            if (LinuxNative.getsockopt(state, fd, LinuxNative.SOL_SOCKET, LinuxNative.SO_ERROR, v, len) < 0)
            {
                return LinuxNative.errno(state);
            }
            return v.get(ValueLayout.JAVA_INT, 0);
        }
    }

    private void markDown(final int index, final int errno)
    {
        if (!up)
        {
            return;
        }
        up = false;
        counters.linkDown();
        LOG.log(System.Logger.Level.WARNING, "link {0} down: {1} (errno {2}); port {3} drops until it returns", name,
            LinuxNative.strerror(errno), errno, id);
        final boolean sameLink = index != 0 && index == ifindex;
        if (member && sameLink && errno == LinuxNative.ENETDOWN)
        {
            // a steered group's member keeps its socket while the link is there: the kernel links it again when the
            // link comes back, in the order the model knows (a socket made again would join last, reordering the
            // group behind the model's back if the kernel had linked the old one again first)
            return;
        }
        if (member && !sameLink)
        {
            options.fanoutSteering.linkGone();
        }
        // the ring and socket of a link that went away are useless; a fresh pair is made when it returns
        closeSocket();
    }


    /** Drops anything queued, closes the socket and unmaps the ring. */
    @Override
    public void close()
    {
        if (closed)
        {
            return;
        }
        closed = true;
        // frames still queued never reach the wire: count them, as the README promises and TapPort does
        final int unsent = pendingCount + deferredCount - deferredHead;
        if (unsent > 0)
        {
            counters.txDropped(unsent);
        }
        for (int i = 0; i < pendingCount; i++)
        {
            pool.free(pending[i]);
        }
        pendingCount = 0;
        for (int i = deferredHead; i < deferredCount; i++)
        {
            pool.free(deferred[i]);
        }
        deferredHead = 0;
        deferredCount = 0;
        closeSocket();
        arena.close();
    }
}
