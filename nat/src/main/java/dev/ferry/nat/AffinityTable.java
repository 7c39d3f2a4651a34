package dev.ferry.nat;

/**
 * {@code sessionAffinity: ClientIP}: remembers, per (Service port, client address), the endpoint that the
 * client's last new connection went to, like the iptables {@code recent} match that kube-proxy writes
 * ({@code --rcheck --seconds T --reap}, then {@code --set} in the endpoint chain).
 *
 * <p>Endpoints are remembered by address and port, not by index, so an entry survives a table swap; the
 * caller checks that the endpoint is still usable. An 8-way set-associative table of fixed size: no
 * allocation and bounded work; a full set replaces its least recently used entry.
 *
 * <p>Used by the worker thread only.
 */
final class AffinityTable
{
    /** Lookup result: no live entry. */
    static final long NONE = -1;

    private static final int WAYS = 8;

    private final long[] keys;
    private final long[] endpoints;
    private final long[] lastUsed;
    private final int setMask;

    /**
     * @param capacity entries, rounded up to a power of two.
     */
    AffinityTable(final int capacity)
    {
        int sets = 1;
        while (sets * WAYS < capacity)
        {
            sets <<= 1;
        }
        keys = new long[sets * WAYS];
        endpoints = new long[sets * WAYS];
        lastUsed = new long[sets * WAYS];
        setMask = sets - 1;
    }

    /**
     * @param servicePort stable key of the Service port.
     * @param client      client address.
     * @param now         clock, nanoseconds.
     * @param timeout     affinity timeout, nanoseconds.
     * @return the endpoint as {@code ip << 16 | port}, or {@link #NONE}.
     */
    long lookup(final int servicePort, final int client, final long now, final long timeout)
    {
        final long k = key(servicePort, client);
        final int base = set(k);
        for (int i = base; i < base + WAYS; i++)
        {
            if (keys[i] == k)
            {
                return now - lastUsed[i] <= timeout ? endpoints[i] : NONE;
            }
        }
        return NONE;
    }

    /**
     * Records (or refreshes) the endpoint a client was sent to.
     *
     * @param servicePort stable key of the Service port.
     * @param client      client address.
     * @param endpoint    {@code ip << 16 | port}.
     * @param now         clock, nanoseconds.
     */
    void record(final int servicePort, final int client, final long endpoint, final long now)
    {
        final long k = key(servicePort, client);
        final int base = set(k);
        int victim = base;
        for (int i = base; i < base + WAYS; i++)
        {
            if (keys[i] == k || keys[i] == 0)
            {
                victim = i;
                break;
            }
            if (lastUsed[i] < lastUsed[victim])
            {
                victim = i;
            }
        }
        keys[victim] = k;
        endpoints[victim] = endpoint;
        lastUsed[victim] = now;
    }

    private int set(final long k)
    {
        return (ServiceTable.mix(k) & setMask) * WAYS;
    }

    private static long key(final int servicePort, final int client)
    {
        return ((long)servicePort << 32) | (client & 0xffffffffL) | (servicePort == 0 && client == 0 ? 1L << 63 : 0);
    }
}
