package dev.ferry.cli.replay;

import java.util.Arrays;

/**
 * A fixed-size map from a long key (a pod IP, a MAC, a node address) to a small non-negative int (a port id, a
 * node's index), by open addressing over primitive arrays: a lookup neither boxes nor allocates, so replay can
 * look up every frame's source and destination.
 */
final class LongIndex
{
    /** What {@link #get} returns for a key that was never put. */
    static final int NONE = -1;

    private final long[] keys;
    private final int[] values;
    private final int mask;

    /**
     * @param entries how many keys will be put, at most (the table keeps a load factor under a half).
     */
    LongIndex(final int entries)
    {
        final int slots = Integer.highestOneBit(Math.max(8, entries * 4 - 1)) << 1;
        this.mask = slots - 1;
        this.keys = new long[slots];
        this.values = new int[slots];
        Arrays.fill(values, NONE);
    }

    /**
     * Maps a key to a value unless the key is mapped already (the first put wins).
     *
     * @param key   the key.
     * @param value a value, at least 0.
     */
    void putIfAbsent(final long key, final int value)
    {
        int i = slot(key);
        while (values[i] != NONE)
        {
            if (keys[i] == key)
            {
                return;
            }
            i = (i + 1) & mask;
        }
        keys[i] = key;
        values[i] = value;
    }

    /**
     * @param key the key.
     * @return its value, or {@link #NONE}.
     */
    int get(final long key)
    {
        for (int i = slot(key); values[i] != NONE; i = (i + 1) & mask)
        {
            if (keys[i] == key)
            {
                return values[i];
            }
        }
        return NONE;
    }

    private int slot(final long key)
    {
        return (Long.hashCode(key) * 0x9e3779b9 >>> 16) & mask;
    }
}
