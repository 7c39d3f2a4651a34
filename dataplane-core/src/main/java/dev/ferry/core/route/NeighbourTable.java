package dev.ferry.core.route;

import java.util.Arrays;
import java.util.Map;

/**
 * An immutable IPv4 → MAC table (open addressing, linear probing), read without locks on the hot path.
 */
public final class NeighbourTable
{
    /** Returned by {@link #lookup(int)} for an unknown address. */
    public static final long UNKNOWN = -1L;
    private static final NeighbourTable EMPTY = of(Map.of());

    private final int[] keys;
    private final long[] macs;
    private final boolean[] used;
    private final int mask;
    private final int size;

    private NeighbourTable(final int[] keys, final long[] macs, final boolean[] used, final int size)
    {
        this.keys = keys;
        this.macs = macs;
        this.used = used;
        this.mask = keys.length - 1;
        this.size = size;
    }

    /** @return a table with no entries. */
    public static NeighbourTable empty()
    {
        return EMPTY;
    }

    /**
     * @param entries address to MAC.
     * @return the table.
     */
    public static NeighbourTable of(final Map<Integer, Long> entries)
    {
        int cap = 16;
        while (cap < entries.size() * 2)
        {
            cap <<= 1;
        }
        final int[] keys = new int[cap];
        final long[] macs = new long[cap];
        final boolean[] used = new boolean[cap];
        Arrays.fill(macs, UNKNOWN);
        for (final Map.Entry<Integer, Long> e : entries.entrySet())
        {
            int i = hash(e.getKey()) & (cap - 1);
            while (used[i] && keys[i] != e.getKey())
            {
                i = (i + 1) & (cap - 1);
            }
            used[i] = true;
            keys[i] = e.getKey();
            macs[i] = e.getValue();
        }
        return new NeighbourTable(keys, macs, used, entries.size());
    }

    private static int hash(final int k)
    {
        final int h = k * 0x9E3779B9;
        return h ^ (h >>> 16);
    }

    /**
     * @param addr IPv4 address.
     * @return its MAC, or {@link #UNKNOWN}.
     */
    public long lookup(final int addr)
    {
        int i = hash(addr) & mask;
        while (used[i])
        {
            if (keys[i] == addr)
            {
                return macs[i];
            }
            i = (i + 1) & mask;
        }
        return UNKNOWN;
    }

    /** @return number of entries. */
    public int size()
    {
        return size;
    }

    /**
     * @return every entry, address to MAC (control side).
     */
    public Map<Integer, Long> toMap()
    {
        final Map<Integer, Long> m = new java.util.TreeMap<>(Integer::compareUnsigned);
        for (int i = 0; i < keys.length; i++)
        {
            if (used[i])
            {
                m.put(keys[i], macs[i]);
            }
        }
        return m;
    }
}
