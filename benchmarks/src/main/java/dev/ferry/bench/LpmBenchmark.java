package dev.ferry.bench;

import dev.ferry.core.route.Ip4Lpm;
import dev.ferry.core.route.Ip4Prefix;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * Longest-prefix match ({@link Ip4Lpm}, DIR-16-8-8) with 1K and 100K random prefixes. Scores are nanoseconds
 * per lookup, over batches of 256 independent lookups (what ip4-lookup does over a vector).
 *
 * <p>Prefix lengths follow a routing-table-like mix (mostly /24, some /16 to /23, a few /25 to /32), spread
 * uniformly over the address space, which is the cache-hostile case. The 64K addresses are precomputed with
 * a fixed seed; each falls inside one of the prefixes, so every lookup walks as deep as its prefix needs.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 5, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 3, jvmArgsAppend = {Jvm.NATIVE_ACCESS, Jvm.UNSAFE_ALLOW, Jvm.AGRONA_EXPORTS, Jvm.HEAP_MIN,
    Jvm.HEAP_MAX})
@State(Scope.Thread)
public class LpmBenchmark
{
    /** Lookups per invocation. */
    static final int BATCH = 256;
    private static final int ADDRESSES = 1 << 16;
    /** Prefix lengths and their weights out of 100: a rough shape of a full routing table. */
    private static final int[][] LENGTH_MIX = {
        {8, 1}, {12, 1}, {16, 4}, {18, 2}, {19, 3}, {20, 5}, {21, 4}, {22, 10}, {23, 8}, {24, 56}, {26, 2},
        {28, 2}, {32, 2}};

    /** Number of prefixes in the table. */
    @Param({"1000", "100000"})
    public int routes;

    private Ip4Lpm lpm;
    private final int[] addresses = new int[ADDRESSES];
    private int cursor;

    /** Builds the table and the addresses. */
    @Setup(Level.Trial)
    public void setUp()
    {
        final SplittableRandom random = new SplittableRandom(42);
        final Ip4Lpm.Builder b = Ip4Lpm.builder();
        final List<Ip4Prefix> prefixes = new ArrayList<>(routes);
        for (int i = 0; i < routes; i++)
        {
            final Ip4Prefix p = new Ip4Prefix(random.nextInt(), randomLength(random));
            prefixes.add(p);
            b.add(p, i & 0xffff);
        }
        lpm = b.build();
        for (int i = 0; i < ADDRESSES; i++)
        {
            final Ip4Prefix p = prefixes.get(random.nextInt(prefixes.size()));
            addresses[i] = p.address() | (random.nextInt() & ~Ip4Prefix.mask(p.length()));
        }
    }

    static int randomLength(final SplittableRandom random)
    {
        int roll = random.nextInt(100);
        for (final int[] lw : LENGTH_MIX)
        {
            roll -= lw[1];
            if (roll < 0)
            {
                return lw[0];
            }
        }
        return 24;
    }

    /**
     * 256 lookups of precomputed addresses.
     *
     * @return the sum of the values found.
     */
    @Benchmark
    @OperationsPerInvocation(BATCH)
    public int lookup()
    {
        final Ip4Lpm lpm = this.lpm;
        final int[] addresses = this.addresses;
        final int base = cursor;
        int sum = 0;
        for (int i = 0; i < BATCH; i++)
        {
            sum += lpm.lookup(addresses[(base + i) & (ADDRESSES - 1)]);
        }
        cursor = (base + BATCH) & (ADDRESSES - 1);
        return sum;
    }

    /** @return the table (tests). */
    Ip4Lpm lpm()
    {
        return lpm;
    }

    /** @return the addresses (tests). */
    int[] addresses()
    {
        return addresses;
    }
}
