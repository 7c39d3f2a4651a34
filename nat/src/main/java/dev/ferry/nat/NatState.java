package dev.ferry.nat;

import dev.ferry.core.Clock;
import dev.ferry.core.Counters;
import dev.ferry.core.header.Ip4Header;
import org.jctools.queues.atomic.SpscAtomicArrayQueue;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.SplittableRandom;

/**
 * The worker's mutable NAT state, shared by {@code nat44-in} and {@code nat44-new} and never by two
 * threads: the flow table, the affinity table, the port allocator, the seeded random source, the counters,
 * the command queue from the control side, and the record of port exhaustion for the log.
 */
final class NatState implements FlowTable.RemovalListener
{
    /** Commands drained per vector at most (Aeron's COMMAND_DRAIN_LIMIT). */
    static final int COMMAND_DRAIN_LIMIT = 64;
    /** Flow entries examined for expiry per vector. */
    static final int EXPIRE_BUDGET = 64;

    /** Flows inserted by nat44-new since the worker started; compared with {@link #insertMark}. */
    long inserts;
    /** {@link #inserts} when nat44-in began its last vector: nat44-new looks a miss up again only if a flow
     *  was created since then (a SYN and its SYN-ACK in one vector), not for every untracked packet. */
    long insertMark;
    /** Minimum time between two log lines about the same exhausted destination. */
    static final long EXHAUSTION_LOG_INTERVAL = 60_000_000_000L;

    private static final VarHandle LOG_WRITE;

    static
    {
        try
        {
            LOG_WRITE = MethodHandles.lookup().findVarHandle(NatState.class, "logWrite", long.class);
        }
        catch (final ReflectiveOperationException e)
        {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** A command from the control side to the worker. */
    sealed interface Command permits FlushUdp
    {
    }

    /**
     * Flush the UDP flows bound to an endpoint that left its Service.
     *
     * @param ip   endpoint address.
     * @param port endpoint port.
     */
    record FlushUdp(int ip, int port) implements Command
    {
    }

    final FlowTable flows;
    final AffinityTable affinity;
    final PortAllocator ports;
    final SplittableRandom random;
    final Clock clock;
    final Counters counters;
    final int sessionsCreated;
    final int portsExhausted;
    final int affinityHits;
    final int rejects;
    final int frontendProbes;
    final int frontendLookups;
    final int udpFlushed;
    final int commandsDropped;
    final SpscAtomicArrayQueue<Command> commands = new SpscAtomicArrayQueue<>(4096);

    // exhaustion log: a single-writer ring read by the control side
    private final long[] logDst = new long[64];
    private final long[] logTime = new long[64];
    private final long[] lastLogged = new long[256];
    private final long[] lastLoggedKey = new long[256];
    @SuppressWarnings("unused")
    private long logWrite;
    private volatile long logRead;

    NatState(final FlowTable flows, final Clock clock, final Counters counters, final long seed,
        final int affinityCapacity, final int quarantineCapacity)
    {
        this.flows = flows;
        this.clock = clock;
        this.counters = counters;
        this.affinity = new AffinityTable(affinityCapacity);
        this.ports = new PortAllocator(flows, seed * 0x9e3779b97f4a7c15L, quarantineCapacity);
        this.random = new SplittableRandom(seed);
        sessionsCreated = counters.register(Nat.COUNTER_SESSIONS_CREATED);
        portsExhausted = counters.register(Nat.COUNTER_PORTS_EXHAUSTED);
        affinityHits = counters.register(Nat.COUNTER_AFFINITY_HITS);
        rejects = counters.register(Nat.COUNTER_REJECTS);
        frontendProbes = counters.register(Nat.COUNTER_FRONTEND_PROBES);
        frontendLookups = counters.register(Nat.COUNTER_FRONTEND_LOOKUPS);
        udpFlushed = counters.register(Nat.COUNTER_UDP_FLUSHED);
        commandsDropped = counters.register(Nat.COUNTER_COMMANDS_DROPPED);
        flows.removalListener(this);
    }

    /** Runs the commands waiting in the queue, up to the drain limit (worker thread). */
    void drainCommands()
    {
        for (int i = 0; i < COMMAND_DRAIN_LIMIT; i++)
        {
            final Command c = commands.relaxedPoll();
            if (c == null)
            {
                return;
            }
            if (c instanceof FlushUdp f)
            {
                counters.add(udpFlushed, flows.flushUdpEndpoint(f.ip(), f.port()));
            }
        }
    }

    /**
     * Queues a command for the worker (control thread).
     *
     * @param c the command.
     * @return whether it was queued.
     */
    boolean offer(final Command c)
    {
        return commands.offer(c);
    }

    @Override
    public void removed(final FlowTable t, final int e)
    {
        if (t.protocol(e) != Ip4Header.PROTO_TCP)
        {
            return;
        }
        final int snat = t.replyDst(e);
        final int port = t.replyDstPort(e);
        if ((snat != t.origSrc(e) || port != t.origSrcPort(e)) && !t.servedTimeWait(e))
        {
            ports.quarantine(Ip4Header.PROTO_TCP, t.replySrc(e), t.replySrcPort(e), snat, port,
                clock.nanos() + PortAllocator.QUARANTINE_NANOS);
        }
    }

    /**
     * Counts an exhausted destination and records it for the log, once per destination per interval.
     *
     * @param proto IP protocol.
     * @param dst   destination address.
     * @param dport destination port.
     * @param now   clock.
     */
    void exhausted(final int proto, final int dst, final int dport, final long now)
    {
        counters.increment(portsExhausted);
        final long key = ((long)proto << 48) | ((long)dport << 32) | (dst & 0xffffffffL);
        final int slot = ServiceTable.mix(key) & (lastLogged.length - 1);
        if (lastLoggedKey[slot] == key && now - lastLogged[slot] < EXHAUSTION_LOG_INTERVAL)
        {
            return;
        }
        lastLoggedKey[slot] = key;
        lastLogged[slot] = now;
        final long w = (long)LOG_WRITE.getAcquire(this);
        if (w - logRead >= logDst.length)
        {
            return;
        }
        logDst[(int)(w & (logDst.length - 1))] = key;
        logTime[(int)(w & (logDst.length - 1))] = now;
        LOG_WRITE.setRelease(this, w + 1);
    }

    /**
     * Takes the next exhaustion record (control side).
     *
     * @return {@code [key, time]}, or null when none is waiting.
     */
    synchronized long[] pollExhaustion()
    {
        final long w = (long)LOG_WRITE.getAcquire(this);
        if (logRead == w)
        {
            return null;
        }
        final int i = (int)(logRead & (logDst.length - 1));
        final long[] out = {logDst[i], logTime[i]};
        logRead++;
        return out;
    }
}
