package dev.ferry.nat;

import dev.ferry.core.Clock;
import dev.ferry.core.Counters;
import dev.ferry.core.header.Ip4Header;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * The worker's mutable NAT state, shared by {@code nat44-in} and {@code nat44-new} and never by two
 * threads: the flow table, the affinity table, the port allocator, the seeded random source, the counters,
 * the Service table last in force (for the UDP flush), and the record of port exhaustion for the log.
 */
final class NatState implements FlowTable.RemovalListener
{
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

    final FlowTable flows;
    /** This NAT's worker and the node's workers: masquerade ports come from the worker's partition. */
    final int worker;
    final int workers;
    final AffinityTable affinity;
    final PortAllocator ports;
    final SplittableRandom random;
    final Clock clock;
    final Counters counters;
    final int sessionsCreated;
    final int portsExhausted;
    final int portProbes;
    final int portProbeLimit;
    final int affinityHits;
    final int rejects;
    final int frontendProbes;
    final int frontendLookups;
    final int udpFlushed;
    final FragmentTable frags;
    final int fragContexts;
    final int fragHeld;
    final int fragTimeouts;

    // the Service table the stages last worked with, and scratch space for the bindings it lost
    private ServiceTable seen;
    private long[] lostFrontends = new long[64];
    private long[] lostEndpoints = new long[64];

    // exhaustion log: a single-writer ring read by the control side
    private final long[] logDst = new long[64];
    private final long[] logTime = new long[64];
    private final long[] lastLogged = new long[256];
    private final long[] lastLoggedKey = new long[256];
    @SuppressWarnings("unused")
    private long logWrite;
    private volatile long logRead;

    NatState(final FlowTable flows, final Clock clock, final Counters counters, final long seed,
        final AffinityTable affinity, final int quarantineCapacity, final Nat.FragmentLimits fragmentLimits,
        final long hashSecret, final int buffers, final int handles, final int worker, final int workers)
    {
        this.flows = flows;
        this.worker = worker;
        this.workers = workers;
        this.clock = clock;
        this.counters = counters;
        this.affinity = affinity;
        this.ports = new PortAllocator(flows, seed * 0x9e3779b97f4a7c15L, quarantineCapacity);
        this.random = new SplittableRandom(seed);
        sessionsCreated = counters.register(Nat.COUNTER_SESSIONS_CREATED);
        portsExhausted = counters.register(Nat.COUNTER_PORTS_EXHAUSTED);
        portProbes = counters.register(Nat.COUNTER_PORT_PROBES);
        portProbeLimit = counters.register(Nat.COUNTER_PORT_PROBE_LIMIT);
        affinityHits = counters.register(Nat.COUNTER_AFFINITY_HITS);
        rejects = counters.register(Nat.COUNTER_REJECTS);
        frontendProbes = counters.register(Nat.COUNTER_FRONTEND_PROBES);
        frontendLookups = counters.register(Nat.COUNTER_FRONTEND_LOOKUPS);
        udpFlushed = counters.register(Nat.COUNTER_UDP_FLUSHED);
        this.frags = new FragmentTable(fragmentLimits.maxDatagrams(), fragmentLimits.maxFragments(),
            Math.min(fragmentLimits.maxHeld(), buffers / 4), fragmentLimits.timeoutMillis() * 1_000_000L,
            hashSecret, handles);
        fragContexts = counters.register(Nat.COUNTER_FRAGMENT_CONTEXTS);
        fragHeld = counters.register(Nat.COUNTER_FRAGMENTS_HELD);
        fragTimeouts = counters.register(Nat.COUNTER_FRAGMENT_TIMEOUTS);
        flows.removalListener(this);
    }

    /**
     * Moves the stages to the Service table of the snapshot in force (worker thread, once per vector, before any
     * packet of the vector is looked at). When the table changed, the UDP flows bound to a (frontend, endpoint)
     * pair that the new table no longer has are flushed, kube-proxy's {@code conntrack -D} for stale UDP
     * endpoints: an endpoint that left a Service loses that Service's UDP flows even if another Service keeps it.
     * Tying the flush to the table the worker actually uses (instead of a command sent after the publish) means
     * no flow can be created to a removed endpoint after its flush, and no packet of a flushed flow is sent
     * under the new table.
     *
     * @param current the Service table of the snapshot in force.
     */
    void adopt(final ServiceTable current)
    {
        final ServiceTable previous = seen;
        if (current == previous)
        {
            return;
        }
        seen = current;
        if (previous == null || current == null)
        {
            return;
        }
        final long[] pf = previous.udpFrontends;
        final long[] pe = previous.udpEndpoints;
        final long[] cf = current.udpFrontends;
        final long[] ce = current.udpEndpoints;
        int lost = 0;
        int j = 0;
        for (int i = 0; i < pf.length; i++)
        {
            while (j < cf.length && (cf[j] < pf[i] || cf[j] == pf[i] && ce[j] < pe[i]))
            {
                j++;
            }
            if (j < cf.length && cf[j] == pf[i] && ce[j] == pe[i])
            {
                continue;
            }
            if (lost == lostFrontends.length)
            {
                // swap rate, not packet rate
                lostFrontends = Arrays.copyOf(lostFrontends, lost * 2);
                lostEndpoints = Arrays.copyOf(lostEndpoints, lost * 2);
            }
            lostFrontends[lost] = pf[i];
            lostEndpoints[lost] = pe[i];
            lost++;
        }
        if (lost > 0)
        {
            counters.add(udpFlushed, flows.flushUdpBindings(lostFrontends, lostEndpoints, lost));
        }
    }

    /** Sets the reassembly gauges (contexts in use, fragments held) after a stage changed them. */
    void fragmentGauges()
    {
        counters.set(fragContexts, frags.inUse());
        counters.set(fragHeld, frags.held());
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
