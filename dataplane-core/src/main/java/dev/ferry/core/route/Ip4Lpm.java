package dev.ferry.core.route;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * An immutable IPv4 longest-prefix-match table in DIR-16-8-8 form: at most three array reads per lookup.
 *
 * <pre>
 *   addr: [ 16 bits ][ 8 bits ][ 8 bits ]
 *            │           │         │
 *   tbl16[65536] ──► chunk (256) ──► chunk (256)      entry &gt;= 0: value + 1 (0 = no route)
 *                                                      entry &lt;  0: pointer to the next chunk
 * </pre>
 *
 * <p>Built once from a list of prefixes (shorter prefixes painted first, longer ones over them), then
 * read without locks by any number of threads. Values are small non-negative ints (adjacency indices).
 */
public final class Ip4Lpm
{
    /** Returned by {@link #lookup(int)} when no prefix matches. */
    public static final int NO_ROUTE = -1;
    private static final int POINTER = 0x8000_0000;

    private final int[] tbl16;
    private final int[] chunks;
    private final int routeCount;

    private Ip4Lpm(final int[] tbl16, final int[] chunks, final int routeCount)
    {
        this.tbl16 = tbl16;
        this.chunks = chunks;
        this.routeCount = routeCount;
    }

    /**
     * Finds the value of the longest prefix containing the address.
     *
     * @param addr the address.
     * @return the value, or {@link #NO_ROUTE}.
     */
    public int lookup(final int addr)
    {
        int e = tbl16[addr >>> 16];
        if (e < 0)
        {
            e = chunks[((e & ~POINTER) << 8) | (addr >>> 8 & 0xff)];
            if (e < 0)
            {
                e = chunks[((e & ~POINTER) << 8) | (addr & 0xff)];
            }
        }
        return e - 1;
    }

    /** @return distinct prefixes in the table. */
    public int size()
    {
        return routeCount;
    }

    /** @return bytes of the lookup arrays. */
    public long memoryBytes()
    {
        return 4L * (tbl16.length + chunks.length);
    }

    /** @return a builder. */
    public static Builder builder()
    {
        return new Builder();
    }

    /** Collects prefixes; a later {@link #add} of the same prefix replaces its value. */
    public static final class Builder
    {
        private final Map<Ip4Prefix, Integer> routes = new HashMap<>();

        /**
         * @param prefix the prefix.
         * @param value  non-negative value returned on a match.
         * @return this.
         */
        public Builder add(final Ip4Prefix prefix, final int value)
        {
            if (value < 0 || value >= Integer.MAX_VALUE - 1)
            {
                throw new IllegalArgumentException("LPM value out of range: " + value);
            }
            routes.put(prefix, value);
            return this;
        }

        /** @return the table. */
        public Ip4Lpm build()
        {
            final List<Map.Entry<Ip4Prefix, Integer>> sorted = new ArrayList<>(routes.entrySet());
            sorted.sort(Comparator.comparingInt(e -> e.getKey().length()));
            final int[] tbl16 = new int[65536];
            final ChunkStore chunks = new ChunkStore();
            for (final Map.Entry<Ip4Prefix, Integer> r : sorted)
            {
                paint(tbl16, chunks, r.getKey(), r.getValue() + 1);
            }
            return new Ip4Lpm(tbl16, chunks.toArray(), routes.size());
        }

        private static void paint(final int[] tbl16, final ChunkStore chunks, final Ip4Prefix p, final int entry)
        {
            final int addr = p.address();
            final int len = p.length();
            if (len <= 16)
            {
                final int first = addr >>> 16;
                final int count = 1 << (16 - len);
                for (int i = first; i < first + count; i++)
                {
                    // shorter prefixes are painted first, so no chunk exists under this range yet
                    tbl16[i] = entry;
                }
                return;
            }
            final int i16 = addr >>> 16;
            int c2 = tbl16[i16];
            if (c2 >= 0)
            {
                c2 = POINTER | chunks.allocate(c2);
                tbl16[i16] = c2;
            }
            final int base2 = (c2 & ~POINTER) << 8;
            if (len <= 24)
            {
                final int first = addr >>> 8 & 0xff;
                final int count = 1 << (24 - len);
                for (int i = first; i < first + count; i++)
                {
                    chunks.set(base2 + i, entry);
                }
                return;
            }
            final int i8 = addr >>> 8 & 0xff;
            int c3 = chunks.get(base2 + i8);
            if (c3 >= 0)
            {
                c3 = POINTER | chunks.allocate(c3);
                chunks.set(base2 + i8, c3);
            }
            final int base3 = (c3 & ~POINTER) << 8;
            final int first = addr & 0xff;
            final int count = 1 << (32 - len);
            for (int i = first; i < first + count; i++)
            {
                chunks.set(base3 + i, entry);
            }
        }
    }

    /** Growable storage of 256-entry chunks. */
    private static final class ChunkStore
    {
        private int[] data = new int[256 * 16];
        private int chunkCount;

        int allocate(final int fill)
        {
            if ((chunkCount + 1) * 256 > data.length)
            {
                data = java.util.Arrays.copyOf(data, data.length * 2);
            }
            final int c = chunkCount++;
            java.util.Arrays.fill(data, c * 256, c * 256 + 256, fill);
            return c;
        }

        int get(final int i)
        {
            return data[i];
        }

        void set(final int i, final int v)
        {
            data[i] = v;
        }

        int[] toArray()
        {
            return java.util.Arrays.copyOf(data, Math.max(256, chunkCount * 256));
        }
    }
}
