package dev.ferry.nat;

import dev.ferry.core.workers.FlowOwner;

/**
 * Masquerade source ports, allocated per (protocol, destination address, destination port): the translated
 * port only has to be unique toward that one destination (endpoint-dependent mapping, RFC 4787).
 *
 * <p>A search starts at a hash of the flow and the destination and probes the range linearly, skipping
 * ports whose reply tuple the flow table already holds ({@link FlowTable#tupleInUse}) and ports in
 * quarantine. A TCP port enters quarantine for {@link #QUARANTINE_NANOS} (2 × MSL) when its entry leaves
 * the table, so a new connection never reuses a 4-tuple that the server may still hold in TIME_WAIT; this
 * is what the kernel's {@code --random-fully} masquerade gets wrong under bursts of short connections.
 *
 * <p>The search is bounded: at most {@value #MAX_PROBES} ports are tried per new flow, as Linux's
 * {@code nf_nat_l4proto_unique_tuple} bounds its tries at 128 ({@code NF_NAT_MAX_ATTEMPTS}). A range of
 * {@value #MAX_PROBES} ports or fewer is scanned whole. A larger one is searched in rounds of 64, 32, 16 and 16
 * ports, each from a new offset (Linux halves its window from a fresh random offset too, but allows
 * 128 + 64 + 32 + 16 tries; ferry stops at 128 in all). When the bound is hit the flow gets no port and is
 * dropped as exhausted, so a destination whose ports are all in use costs at most 128 tuple checks per new
 * flow instead of a scan of the whole range.
 *
 * <p>The quarantine is an 8-way set-associative table of fixed size: no allocation, bounded work. When a
 * set is full of live entries the one that expires first is evicted (counted).
 *
 * <p>Used by the worker thread only.
 */
final class PortAllocator
{
    /** How long a freed TCP port stays out of use toward the same destination. */
    static final long QUARANTINE_NANOS = 120_000_000_000L;
    /** Returned when the range toward a destination is exhausted. */
    static final int EXHAUSTED = -1;

    private static final int WAYS = 8;
    /** Most ports tried for one new flow (Linux: {@code NF_NAT_MAX_ATTEMPTS}). */
    static final int MAX_PROBES = 128;
    /** Ports tried from each new offset when the range is larger than {@link #MAX_PROBES}. */
    private static final int[] ROUNDS = {64, 32, 16, 16};

    private final FlowTable flows;
    private final long secret;
    private final long[] qAddr;
    private final long[] qPorts;
    private final long[] qUntil;
    private final int setMask;
    private long evictions;
    private long lastProbes;
    private boolean lastHitLimit;

    /**
     * @param flows              the flow table, for tuple checks.
     * @param secret             hash secret (from the worker seed).
     * @param quarantineCapacity quarantine slots, rounded up to a power of two.
     */
    PortAllocator(final FlowTable flows, final long secret, final int quarantineCapacity)
    {
        this.flows = flows;
        this.secret = secret;
        int sets = 1;
        while (sets * WAYS < quarantineCapacity)
        {
            sets <<= 1;
        }
        qAddr = new long[sets * WAYS];
        qPorts = new long[sets * WAYS];
        qUntil = new long[sets * WAYS];
        setMask = sets - 1;
    }

    /**
     * Picks a source port for a flow toward {@code dst:dport} translated to {@code snat}.
     *
     * @param proto  IP protocol.
     * @param src    original source address.
     * @param sport  original source port (or ICMP identifier).
     * @param dst    destination address after DNAT.
     * @param dport  destination port after DNAT.
     * @param snat   the SNAT address.
     * @param min    lowest port.
     * @param max    highest port.
     * @param now    clock, nanoseconds.
     * @param roles  with several workers, the Services' frontends and backends: a port that is one on the SNAT
     *               address is skipped (its replies would look translatable to the ownership rule); null: none.
     * @return the port, or {@link #EXHAUSTED}.
     */
    int allocate(final int proto, final int src, final int sport, final int dst, final int dport, final int snat,
        final int min, final int max, final long now, final FlowOwner.Roles roles)
    {
        final int range = max - min + 1;
        if (range < 1)
        {
            // a worker's partition of a range smaller than the worker count
            lastHitLimit = false;
            lastProbes = 0;
            return EXHAUSTED;
        }
        final long key = ((src & 0xffffffffL) << 16 | sport) * 31 + secret;
        int start = (int)(Integer.toUnsignedLong(ServiceTable.mix(key)) % range);
        lastHitLimit = false;
        if (range <= MAX_PROBES)
        {
            final int port = scan(proto, dst, dport, snat, min, range, start, range, now, 0, roles);
            lastProbes = port == EXHAUSTED ? range : lastProbes;
            return port;
        }
        int used = 0;
        for (int round = 0; round < ROUNDS.length; round++)
        {
            if (round > 0)
            {
                start = (int)(Integer.toUnsignedLong(ServiceTable.mix(key + round * 0x9e3779b97f4a7c15L
                    ^ dst)) % range);
            }
            final int port = scan(proto, dst, dport, snat, min, range, start, ROUNDS[round], now, used, roles);
            if (port != EXHAUSTED)
            {
                return port;
            }
            used += ROUNDS[round];
        }
        lastProbes = used;
        lastHitLimit = true;
        return EXHAUSTED;
    }

    private int scan(final int proto, final int dst, final int dport, final int snat, final int min, final int range,
        final int start, final int tries, final long now, final int before, final FlowOwner.Roles roles)
    {
        for (int i = 0; i < tries; i++)
        {
            final int port = min + (start + i) % range;
            if (quarantined(proto, dst, dport, snat, port, now))
            {
                continue;
            }
            if (roles != null && (roles.frontend(proto, snat, port) || roles.backend(proto, snat, port)))
            {
                continue;
            }
            if (!flows.tupleInUse(0, proto, dst, snat, dport, port))
            {
                lastProbes = before + i + 1;
                return port;
            }
        }
        return EXHAUSTED;
    }

    /** @return whether the last allocation gave up at {@link #MAX_PROBES} with ports of the range untried. */
    boolean lastHitLimit()
    {
        return lastHitLimit;
    }

    /** @return tuple probes used by the last allocation. */
    long lastProbes()
    {
        return lastProbes;
    }

    /**
     * Keeps a port out of use toward one destination until {@code until}.
     *
     * @param proto IP protocol.
     * @param dst   the destination (the reply's source).
     * @param dport the destination port.
     * @param snat  the SNAT address.
     * @param port  the translated port.
     * @param until clock value when the port may be used again.
     */
    void quarantine(final int proto, final int dst, final int dport, final int snat, final int port,
        final long until)
    {
        final long a = addrKey(dst, snat);
        final long p = portKey(proto, dport, port);
        final int base = set(a, p);
        int victim = base;
        for (int i = base; i < base + WAYS; i++)
        {
            if (qUntil[i] == 0 || (qAddr[i] == a && qPorts[i] == p))
            {
                victim = i;
                break;
            }
            if (qUntil[i] < qUntil[victim])
            {
                victim = i;
            }
        }
        if (qUntil[victim] != 0 && !(qAddr[victim] == a && qPorts[victim] == p) && qUntil[victim] > until
            - QUARANTINE_NANOS)
        {
            evictions++;
        }
        qAddr[victim] = a;
        qPorts[victim] = p;
        qUntil[victim] = until;
    }

    /**
     * @param proto IP protocol.
     * @param dst   destination.
     * @param dport destination port.
     * @param snat  SNAT address.
     * @param port  translated port.
     * @param now   clock.
     * @return whether the port is in quarantine toward that destination.
     */
    boolean quarantined(final int proto, final int dst, final int dport, final int snat, final int port,
        final long now)
    {
        final long a = addrKey(dst, snat);
        final long p = portKey(proto, dport, port);
        final int base = set(a, p);
        for (int i = base; i < base + WAYS; i++)
        {
            if (qAddr[i] == a && qPorts[i] == p)
            {
                return qUntil[i] > now;
            }
        }
        return false;
    }

    /** @return live quarantine entries evicted early because their set was full. */
    long evictions()
    {
        return evictions;
    }

    private int set(final long a, final long p)
    {
        return (ServiceTable.mix(a * 0x9e3779b97f4a7c15L ^ p) & setMask) * WAYS;
    }

    private static long addrKey(final int dst, final int snat)
    {
        return ((dst & 0xffffffffL) << 32) | (snat & 0xffffffffL);
    }

    private static long portKey(final int proto, final int dport, final int port)
    {
        return 1L << 48 | ((long)proto << 32) | ((long)dport << 16) | port;
    }
}
