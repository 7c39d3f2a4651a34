package dev.ferry.node;

import dev.ferry.core.PacketPool;
import dev.ferry.core.Ports;
import dev.ferry.core.TxSink;
import dev.ferry.core.header.ArpHeader;
import dev.ferry.core.header.EthernetHeader;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.tables.Snapshot;
import dev.ferry.core.tables.TablesRef;

import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.function.Consumer;

/**
 * Underlay neighbour resolution in packet mode: ferry, not the kernel, owns the NIC, so it asks for the MACs of
 * its next hops with ARP and learns them from what arrives on the uplink.
 *
 * <pre>
 *   ip4-rewrite / vxlan VTEP compile ── unknown neighbour ──► want(addr)      (lock-free set, any thread)
 *   worker duty cycle ── tick(): for each wanted address ── ARP who-has, once a second, 3 tries ──► uplink
 *   uplink ─► neighbour-learn ── ARP (request or reply) from the underlay subnet ──► learn(ip, mac)
 *   worker ── learned something new ──► control thread: tables republished with the learned neighbours
 *                                      (static neighbours of the push win), so FIB and VTEP templates use them
 * </pre>
 *
 * <p>The packet that found its neighbour unknown is dropped and counted (ip4-rewrite's neighbour-unresolved,
 * vxlan-encap's underlay-unresolved); the next one after the answer goes through, as with the kernel's first
 * packet to an unresolved neighbour when its queue is full. Counters: {@code neighbour/arp-requests},
 * {@code neighbour/learned}, {@code neighbour/gave-up}.
 */
final class Neighbours
{
    static final int WANT_SLOTS = 256;
    private static final int TABLE = 1024;
    private static final int TRIES = 3;
    private static final long RETRY_NANOS = 1_000_000_000L;

    private final AtomicIntegerArray wanted = new AtomicIntegerArray(WANT_SLOTS);
    private final long[] lastAsked = new long[WANT_SLOTS];
    private final int[] tries = new int[WANT_SLOTS];
    private final int[] keys = new int[TABLE];
    private final long[] macs = new long[TABLE];
    private final boolean[] used = new boolean[TABLE];
    private final EthernetHeader eth = new EthernetHeader();
    private final ArpHeader arp = new ArpHeader();
    private int size;
    private boolean changed;
    private long nextTick;
    private PacketPool pool;
    private Ports ports;
    private TablesRef<Snapshot> tables;
    private TxSink sink;
    private Consumer<Map<Integer, Long>> onLearned;
    private dev.ferry.core.Counters counters;
    private int requestsCounter;
    private int learnedCounter;
    private int gaveUpCounter;

    /** Wires the worker's side (before the worker runs). */
    void bind(final PacketPool p, final Ports portTable, final TablesRef<Snapshot> ref, final TxSink tx,
        final dev.ferry.core.Counters c, final Consumer<Map<Integer, Long>> learned)
    {
        this.pool = p;
        this.ports = portTable;
        this.tables = ref;
        this.sink = tx;
        this.counters = c;
        this.onLearned = learned;
        requestsCounter = c.register("neighbour/arp-requests");
        learnedCounter = c.register("neighbour/learned");
        gaveUpCounter = c.register("neighbour/gave-up");
    }

    /**
     * Asks for an address to be resolved (any thread; lock-free; a full set drops the wish).
     *
     * @param addr the IPv4 address.
     */
    void want(final int addr)
    {
        if (addr == 0)
        {
            return;
        }
        int i = (addr * 0x9E3779B9 >>> 24) & (WANT_SLOTS - 1);
        for (int probe = 0; probe < WANT_SLOTS; probe++)
        {
            final int v = wanted.get(i);
            if (v == addr)
            {
                return;
            }
            if (v == 0 && wanted.compareAndSet(i, 0, addr))
            {
                return;
            }
            if (wanted.get(i) == addr)
            {
                return;
            }
            i = (i + 1) & (WANT_SLOTS - 1);
        }
    }

    /**
     * Records a neighbour (worker thread).
     *
     * @param ip  its address.
     * @param mac its MAC.
     */
    void learn(final int ip, final long mac)
    {
        int i = (ip * 0x9E3779B9 >>> 22) & (TABLE - 1);
        for (int probe = 0; probe < TABLE; probe++)
        {
            if (!used[i])
            {
                if (size >= TABLE - TABLE / 4)
                {
                    return;
                }
                used[i] = true;
                keys[i] = ip;
                macs[i] = mac;
                size++;
                changed = true;
                return;
            }
            if (keys[i] == ip)
            {
                if (macs[i] != mac)
                {
                    macs[i] = mac;
                    changed = true;
                }
                return;
            }
            i = (i + 1) & (TABLE - 1);
        }
    }

    private boolean known(final int ip)
    {
        int i = (ip * 0x9E3779B9 >>> 22) & (TABLE - 1);
        for (int probe = 0; probe < TABLE && used[i]; probe++)
        {
            if (keys[i] == ip)
            {
                return true;
            }
            i = (i + 1) & (TABLE - 1);
        }
        return false;
    }

    /**
     * Worker duty cycle: sends due ARP requests and hands new neighbours to the control thread. Cheap when
     * nothing is due (one clock read).
     *
     * @param now the clock, in nanoseconds.
     */
    void tick(final long now)
    {
        if (now < nextTick)
        {
            return;
        }
        nextTick = now + RETRY_NANOS / 10;
        if (changed)
        {
            changed = false;
            counters.increment(learnedCounter);
            final Map<Integer, Long> copy = new HashMap<>();
            for (int i = 0; i < TABLE; i++)
            {
                if (used[i])
                {
                    copy.put(keys[i], macs[i]);
                }
            }
            onLearned.accept(copy);
        }
        final Snapshot s = tables.lvCurrent();
        final int uplink = ports.uplink();
        if (s == null || uplink < 0)
        {
            return;
        }
        final NodeTables.NodeInfo node = s.tables().node();
        if (node.underlayGateway() != 0 && !known(node.underlayGateway()))
        {
            want(node.underlayGateway());
        }
        boolean sent = false;
        for (int i = 0; i < WANT_SLOTS; i++)
        {
            final int addr = wanted.get(i);
            if (addr == 0)
            {
                continue;
            }
            if (known(addr) || tries[i] >= TRIES)
            {
                if (!known(addr))
                {
                    counters.increment(gaveUpCounter);
                }
                tries[i] = 0;
                lastAsked[i] = 0;
                wanted.compareAndSet(i, addr, 0);
                continue;
            }
            if (lastAsked[i] != 0 && now - lastAsked[i] < RETRY_NANOS)
            {
                continue;
            }
            if (request(uplink, node.publicIp(), addr))
            {
                lastAsked[i] = now;
                tries[i]++;
                sent = true;
            }
        }
        if (sent)
        {
            sink.flush();
        }
    }

    private boolean request(final int uplink, final int senderIp, final int target)
    {
        final int h = pool.allocate();
        if (h == PacketPool.NO_BUFFER)
        {
            return false;
        }
        final MemorySegment mem = pool.memory();
        final long base = pool.frameOffset(h);
        final long mac = ports.mac(uplink);
        pool.length(h, 60);
        mem.asSlice(base, 60).fill((byte)0);
        eth.wrap(mem, base).dst(EthernetHeader.BROADCAST).src(mac).etherType(EthernetHeader.TYPE_ARP);
        arp.wrap(mem, base + EthernetHeader.LENGTH).ethernetIp4().operation(ArpHeader.OP_REQUEST)
            .senderMac(mac).senderIp(senderIp).targetMac(0).targetIp(target);
        pool.txPort(h, uplink);
        counters.increment(requestsCounter);
        sink.transmit(h);
        return true;
    }

    /** @return the stage that learns from the uplink's ARP traffic. */
    NeighbourLearn learnStage()
    {
        return new NeighbourLearn(this);
    }

    PacketPool pool()
    {
        return pool;
    }

    TablesRef<Snapshot> tables()
    {
        return tables;
    }
}
