package dev.ferry.node;

import dev.ferry.core.Counters;
import dev.ferry.core.Graph;
import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;
import dev.ferry.core.gso.TcpSegmenter;
import dev.ferry.tapio.Epoll;
import dev.ferry.tapio.Port;
import dev.ferry.tapio.PortCounters;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The worker's attached ports (Aeron's {@code Receiver} over its channel endpoints): receives a vector from each
 * into the graph at the port's entry stage, hands transmitted packets to the port their tx port names, and
 * flushes them once per graph run. Counting and timestamping belong to the ports; the poller only moves handles.
 *
 * <pre>
 *   attach(id, port, entry) ──► byId[id] ──┐     active[0..count): dense, polled in order
 *   poll():     active[i].port.receive(rx) ──► graph.input(active[i].entry, h)
 *               (first cycle after a wake by port descriptors only: just those ports)
 *               with 2+ watched ports whose receive is a syscall (TAPs): one readiness probe
 *               (epoll_wait, timeout 0) ──► read the ready TAPs once each, then every other port
 *               (uplink ring, memory, a TAP not in the epoll set yet) as before
 *   transmit(h): byId[txPort(h)].port.transmit(h), or node/drop/port-down
 *                a superframe for a port without offloads: segmented first (TcpSegmenter); when that
 *                fails (no buffers), the port's tx-errors
 * </pre>
 *
 * <p>Why the probe: a TAP's receive is a {@code read()} that mostly answers EAGAIN, and a busy or busy-polling
 * worker looked at every TAP every cycle (100 pods: 100 syscalls a cycle). One {@code epoll_wait(0)} on the set the
 * worker blocks on when idle says which TAPs have frames. The set is level-triggered, so a TAP that still holds
 * frames (it filled the vector, or the pool ran dry) is reported again by the next probe, and with more ready
 * descriptors than one probe returns the kernel reports the rest first next time (it moves reported ones to the
 * end of its ready list): nothing starves. A port whose receive looks at memory (the uplink's TPACKET ring) is
 * read every cycle as before: that costs no syscall. Counted in {@code worker/poll/cycles} (polls),
 * {@code worker/poll/ready-probes} (probes) and {@code worker/poll/syscall-reads} (receive calls on TAPs, each at
 * least one {@code read()}), summed over workers in {@code ferry_worker_poll_total}.
 *
 * <p>Worker thread only.
 */
final class PortPoller
{
    /** A port attached under an id, with the graph stage its frames enter. */
    static final class Attached
    {
        final int id;
        final Port port;
        final int entry;
        final boolean wakes;
        /** Its receive is a syscall (a TAP): read by readiness while the probe is on. */
        final boolean syscall;
        /** The probe cycle that last read it, so that no port is read twice in one cycle. */
        long readIn;

        Attached(final int id, final Port port, final int entry, final boolean wakes)
        {
            this.id = id;
            this.port = port;
            this.entry = entry;
            this.wakes = wakes;
            this.syscall = port.receiveIsSyscall();
        }
    }

    /**
     * Which port descriptors are readable now, without blocking: the worker's epoll set
     * ({@link EpollIdleStrategy}).
     */
    interface Readiness
    {
        /**
         * Asks the kernel once, timeout 0.
         *
         * @param tokens where the ready descriptors' tokens go: port ids, or {@link Epoll#WAKE_TOKEN}.
         * @return how many, at most {@code tokens.length}.
         */
        int readyNow(long[] tokens);

        /**
         * @param id a port's id.
         * @param fd its descriptor now.
         * @return whether that descriptor is in the set under that id, so that {@link #readyNow} reports it.
         */
        boolean watches(int id, int fd);
    }

    /**
     * The probe pays once there are this many watched TAPs ({@code -Dferry.worker.readinessMinPorts}): with one, a
     * direct read costs one syscall like the probe, and one fewer when the TAP has frames.
     */
    static final int READINESS_MIN_PORTS = Integer.getInteger("ferry.worker.readinessMinPorts", 2);
    static final String SYSCALL_READS = "worker/poll/syscall-reads";
    static final String READY_PROBES = "worker/poll/ready-probes";
    static final String CYCLES = "worker/poll/cycles";

    private final PacketPool pool;
    private final Counters counters;
    private final int portDown;
    private final TcpSegmenter segmenter;
    private Attached[] byId = new Attached[16];
    private Attached[] active = new Attached[16];
    private int activeCount;
    private long version;
    private final Runnable wake;
    // the ports whose descriptors ended the last epoll wait, read alone by the next poll when readyOnly
    private final int[] ready = new int[EpollIdleStrategy.EPOLL_EVENTS];
    private int readyCount;
    private boolean readyOnly;
    private int portsRead;
    private Readiness readiness;
    private final long[] probed = new long[EpollIdleStrategy.EPOLL_EVENTS];
    private long probeCycle;
    // attached ports whose receive is a syscall
    private int syscallPorts;
    private final int syscallReads;
    private final int readyProbes;
    private final int cycles;

    PortPoller(final PacketPool pool, final Counters counters, final Runnable wake)
    {
        this.wake = wake;
        this.pool = pool;
        this.counters = counters;
        this.portDown = counters.register("node/drop/" + NodeDrop.PORT_DOWN.counterName());
        this.segmenter = new TcpSegmenter(pool);
        this.syscallReads = counters.register(SYSCALL_READS);
        this.readyProbes = counters.register(READY_PROBES);
        this.cycles = counters.register(CYCLES);
    }

    /**
     * Sets where busy cycles learn which TAPs are readable (the idle strategy's epoll set); null reads every port.
     *
     * @param readiness the probe, or null.
     */
    void readiness(final Readiness readiness)
    {
        this.readiness = readiness;
    }

    /**
     * Receives one vector from every attached port into the graph (not run yet), or, on the first duty cycle after
     * an epoll wait that only ports ended ({@link #woken}), from those ports alone: the others had nothing when the
     * worker blocked, and the cycles that follow read every port again.
     *
     * @param rx    scratch vector.
     * @param graph the graph.
     * @return frames received.
     */
    int poll(final PacketVector rx, final Graph graph)
    {
        counters.increment(cycles);
        int received = 0;
        int syscalls = 0;
        if (readyOnly)
        {
            readyOnly = false;
            final Attached[] byId = this.byId;
            for (int i = 0; i < readyCount; i++)
            {
                final int id = ready[i];
                final Attached a = id < byId.length ? byId[id] : null;
                if (a != null)
                {
                    received += receive(a, rx, graph);
                    syscalls += a.syscall ? 1 : 0;
                }
            }
            portsRead = readyCount;
        }
        else if (readiness != null && syscallPorts >= READINESS_MIN_PORTS)
        {
            return probeAndPoll(rx, graph);
        }
        else
        {
            final Attached[] active = this.active;
            final int count = activeCount;
            for (int i = 0; i < count; i++)
            {
                received += receive(active[i], rx, graph);
                syscalls += active[i].syscall ? 1 : 0;
            }
            portsRead = count;
        }
        counters.add(syscallReads, syscalls);
        rx.clear();
        return received;
    }

    /** A busy cycle with the probe: the ready TAPs once each, then the ports the probe does not cover. */
    private int probeAndPoll(final PacketVector rx, final Graph graph)
    {
        final long cycle = ++probeCycle;
        final Readiness readiness = this.readiness;
        final long[] tokens = probed;
        final int n = readiness.readyNow(tokens);
        counters.increment(readyProbes);
        final Attached[] byId = this.byId;
        int received = 0;
        int read = 0;
        int syscalls = 0;
        for (int i = 0; i < n; i++)
        {
            final long token = tokens[i];
            // the eventfd (a command, another thread's frame) needs nothing here: commands were drained and ports
            // without a descriptor are read below anyway; a ready uplink ring is read below like every cycle
            final Attached a = token >= 0 && token < byId.length ? byId[(int)token] : null;
            if (a != null && a.syscall && a.readIn != cycle)
            {
                a.readIn = cycle;
                received += receive(a, rx, graph);
                read++;
                syscalls++;
            }
        }
        final Attached[] active = this.active;
        final int count = activeCount;
        for (int i = 0; i < count; i++)
        {
            final Attached a = active[i];
            // a TAP in the set was either reported above or has nothing; one not in it yet is read directly
            if (a.readIn == cycle || a.syscall && readiness.watches(a.id, a.port.fd()))
            {
                continue;
            }
            received += receive(a, rx, graph);
            read++;
            syscalls += a.syscall ? 1 : 0;
        }
        portsRead = read;
        counters.add(syscallReads, syscalls);
        rx.clear();
        return received;
    }

    private static int receive(final Attached a, final PacketVector rx, final Graph graph)
    {
        rx.clear();
        final int n = a.port.receive(rx);
        final int entry = a.entry;
        for (int k = 0; k < n; k++)
        {
            graph.input(entry, rx.get(k));
        }
        return n;
    }

    /**
     * Takes what ended an epoll wait (worker thread, right after {@code await}): when every ready descriptor is a
     * port's, the next {@link #poll} reads only those; the worker's eventfd ({@link Epoll#WAKE_TOKEN}: a command,
     * a frame another thread queued for a port without a descriptor, the shared API) or a timeout means every port.
     *
     * @param tokens the ready descriptors' tokens (port ids) from {@link Epoll#token}.
     * @param n      how many, as {@code await} returned.
     */
    void woken(final long[] tokens, final int n)
    {
        readyOnly = false;
        if (n <= 0 || n > ready.length)
        {
            return;
        }
        for (int i = 0; i < n; i++)
        {
            final long token = tokens[i];
            if (token < 0 || token >= byId.length)
            {
                return;
            }
            ready[i] = (int)token;
        }
        readyCount = n;
        readyOnly = true;
    }

    /** @return how many ports the last {@link #poll} read. */
    int portsRead()
    {
        return portsRead;
    }

    /**
     * Hands a packet to the port its tx port names; a packet for a port that is not attached is freed and counted.
     *
     * @param handle the packet.
     */
    void transmit(final int handle)
    {
        final int id = pool.txPort(handle);
        final Attached a = id >= 0 && id < byId.length ? byId[id] : null;
        if (a == null)
        {
            counters.increment(portDown);
            pool.free(handle);
            return;
        }
        if ((pool.gsoSize(handle) != 0 || pool.checksumPartial(handle)) && !a.port.acceptsOffload())
        {
            // the host TAP, a TAP without TSO, an uplink without the virtio header: segments with complete
            // checksums, never the superframe (an uplink with it takes the superframe and cuts it itself if refused)
            final int n = segmenter.segment(handle);
            if (n < 0)
            {
                // not IPv4 TCP (the TAP let only TCPv4 superframes in), or no buffers: a link error of that port
                pool.free(handle);
                a.port.counters().txErrors(1);
                return;
            }
            for (int k = 0; k < n; k++)
            {
                a.port.transmit(segmenter.get(k));
            }
            return;
        }
        a.port.transmit(handle);
    }

    /** Flushes every port's batch. */
    void flush()
    {
        for (int i = 0; i < activeCount; i++)
        {
            active[i].port.flush();
        }
    }

    /** Gives every port its idle-time upkeep (link checks). */
    void maintain()
    {
        for (int i = 0; i < activeCount; i++)
        {
            active[i].port.maintain();
        }
    }

    /**
     * Attaches a port, replacing (and closing) one attached under the same id.
     *
     * @param id    the port's id.
     * @param port  the port.
     * @param entry the graph stage its frames enter.
     */
    void attach(final int id, final Port port, final int entry)
    {
        if (id >= byId.length)
        {
            byId = Arrays.copyOf(byId, Math.max(id + 1, byId.length * 2));
        }
        if (byId[id] != null)
        {
            detach(id, false);
        }
        if (activeCount == active.length)
        {
            active = Arrays.copyOf(active, active.length * 2);
        }
        final Attached a = new Attached(id, port, entry, port.wakeOnInput(wake));
        byId[id] = a;
        active[activeCount++] = a;
        syscallPorts += a.syscall ? 1 : 0;
        version++;
    }

    /**
     * Detaches a port and closes it (or removes it for good). Idempotent.
     *
     * @param id     the port's id.
     * @param remove delete the device rather than keep a persistent one.
     * @return whether a port was attached.
     */
    boolean detach(final int id, final boolean remove)
    {
        if (id < 0 || id >= byId.length || byId[id] == null)
        {
            return false;
        }
        final Attached a = byId[id];
        byId[id] = null;
        syscallPorts -= a.syscall ? 1 : 0;
        for (int i = 0; i < activeCount; i++)
        {
            if (active[i] == a)
            {
                active[i] = active[--activeCount];
                active[activeCount] = null;
                break;
            }
        }
        version++;
        if (remove)
        {
            a.port.remove();
        }
        else
        {
            a.port.close();
        }
        return true;
    }

    /** Detaches and closes every port (worker stop). */
    void closeAll()
    {
        while (activeCount > 0)
        {
            detach(active[activeCount - 1].id, false);
        }
    }

    /** @return how many port ids there is room for (ids below this may be attached). */
    int slots()
    {
        return byId.length;
    }

    /**
     * @param id a port id below {@link #slots()}.
     * @return whether a port is attached under it.
     */
    boolean attached(final int id)
    {
        return byId[id] != null;
    }

    /**
     * @param id a port id below {@link #slots()}.
     * @return the descriptor to wait on for that port, or -1.
     */
    int fd(final int id)
    {
        final Attached a = byId[id];
        return a == null ? -1 : a.port.fd();
    }

    /**
     * @param id a port id below {@link #slots()}.
     * @return the port's {@link Port#fdGeneration()}, 0 without a port: a new descriptor under the same number.
     */
    long fdGeneration(final int id)
    {
        final Attached a = byId[id];
        return a == null ? 0 : a.port.fdGeneration();
    }

    /**
     * @param id a port id below {@link #slots()}.
     * @return whether a port is attached under it that wakes the worker when another thread queues its input.
     */
    boolean wakes(final int id)
    {
        final Attached a = byId[id];
        return a != null && a.wakes;
    }

    /** @return whether some port without a descriptor has input queued by another thread. */
    boolean inputQueued()
    {
        for (int i = 0; i < activeCount; i++)
        {
            if (active[i].port.inputQueued())
            {
                return true;
            }
        }
        return false;
    }

    /** @return a number that changes whenever a port is attached or detached. */
    long version()
    {
        return version;
    }

    /** @return the attached ports' counters, by id. */
    List<WorkerStats.PortRow> rows()
    {
        final List<WorkerStats.PortRow> rows = new ArrayList<>();
        for (final Attached a : byId)
        {
            if (a != null)
            {
                final PortCounters c = a.port.counters();
                rows.add(new WorkerStats.PortRow(a.id, a.port.name(), c.rxPackets(), c.rxBytes(),
                    // a full receive ring (the kernel's drops on an uplink's AF_PACKET ring) is a receive loss too
                    c.rxNoBufferCount() + c.rxErrorCount() + c.counters().get("port/" + c.name() + "/rx-ring-full"),
                    c.txPackets(), c.txBytes(),
                    c.txErrorCount() + c.txDroppedCount()));
            }
        }
        return rows;
    }
}
