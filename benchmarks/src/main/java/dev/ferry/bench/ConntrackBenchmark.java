package dev.ferry.bench;

import dev.ferry.conntrack.ConntrackConfig;
import dev.ferry.conntrack.ConntrackTable;
import dev.ferry.core.ManualClock;
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
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * The connection-tracking table ({@link ConntrackTable}) holding 1K, 100K or 1M flows: lookup of a present
 * tuple (hit; hitBatch as nat44-in batches them), of an absent one (miss), and insert of a new flow plus removal
 * of the oldest (steady size).
 * Scores are nanoseconds per operation, over batches of 256 independent operations (what nat44-in does over a
 * vector).
 *
 * <p>Each flow is a DNAT flow as nat44-new makes it: original {@code pod:sport → ClusterIP:80}, reply
 * {@code endpoint:8080 → pod:sport}, so the table holds two slots per flow. The table's capacity is the flow
 * count rounded up to a power of two (the slot array is then at most half full: the longest probes the table
 * allows). The tuples to look up are a random permutation of the flows, stored in visiting order, so that the
 * harness reads its arrays sequentially and only the table is accessed at random (the cache-hostile case).
 * {@code insertRemove} cycles through flows that are not in the table, inserting one and removing the oldest per
 * operation; the entry indices live in a FIFO ring. When an insert finds no free slot within the probe limit
 * the table evicts a non-assured entry of that range (early drop, as netfilter does); the removal listener empties
 * that flow's ring slot, so the size dips by one until the ring comes round, and the tear-down prints the count.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 5, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 3, jvmArgsAppend = {Jvm.NATIVE_ACCESS, Jvm.UNSAFE_ALLOW, Jvm.AGRONA_EXPORTS, Jvm.HEAP_MIN,
    Jvm.HEAP_MAX})
@State(Scope.Thread)
public class ConntrackBenchmark
{
    /** Operations per invocation. */
    static final int BATCH = 256;
    /** Protocol of every flow. */
    static final int TCP = ConntrackTable.TCP;
    /** Tuples hashed and prefetched together in {@link #hitBatch}, as nat44-in's {@code PREFETCH_BATCH}. */
    static final int PREFETCH_BATCH = 64;
    private static final int CLUSTER_IP = 0x0A60_0000;
    private static final int ENDPOINTS = 0x0AF4_6400;
    private static final int PODS = 0x0AF4_0000;

    /** Flows in the table. */
    @Param({"1000", "100000", "1000000"})
    public int flows;

    /** Which memory the table asks for ({@link ConntrackConfig.HugePages}); {@code -p hugePages=OFF} compares. */
    @Param({"TRANSPARENT"})
    public String hugePages = "TRANSPARENT";

    private ConntrackTable table;
    private int[] hitSrc;
    private int[] hitDst;
    private int[] hitPorts;
    private int[] missSrc;
    private int[] missDst;
    private int[] missPorts;
    private final long[] hashes = new long[PREFETCH_BATCH];
    private int[] ring;
    private int[] ringSlotOf;
    private long earlyDrops;
    private int cursor;
    private int ringHead;
    private long next;

    /** Fills the table and the tuple arrays. */
    @Setup(Level.Trial)
    public void setUp()
    {
        table = new ConntrackTable(ConntrackConfig.builder().capacity(flows)
            .hugePages(ConntrackConfig.HugePages.valueOf(hugePages)).build(),
            new ManualClock(1_700_000_000_000_000_000L));
        ring = new int[flows];
        ringSlotOf = new int[table.capacity()];
        // every removal empties its ring slot: also an early drop (a full probe range evicts an entry, as
        // netfilter does), which the ring would otherwise not know about
        table.removalListener((t, e) -> ring[ringSlotOf[e]] = -1);
        for (int k = 0; k < flows; k++)
        {
            final int e = insert(k);
            if (e < 0)
            {
                throw new IllegalStateException("insert of flow " + k + " failed: " + table.stats());
            }
            ring[k] = e;
            ringSlotOf[e] = k;
        }
        next = flows;
        final SplittableRandom random = new SplittableRandom(42);
        final int[] order = new int[flows];
        for (int i = 0; i < flows; i++)
        {
            order[i] = i;
        }
        for (int i = flows - 1; i > 0; i--)
        {
            final int j = random.nextInt(i + 1);
            final int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        hitSrc = new int[flows];
        hitDst = new int[flows];
        hitPorts = new int[flows];
        missSrc = new int[flows];
        missDst = new int[flows];
        missPorts = new int[flows];
        for (int i = 0; i < flows; i++)
        {
            final int k = order[i];
            hitSrc[i] = src(k);
            hitDst[i] = dst(k);
            hitPorts[i] = sport(k) << 16 | 80;
            // a client the table has never seen, to a ClusterIP it has
            missSrc[i] = 0x0AF5_0000 + random.nextInt(1 << 16);
            missDst[i] = dst(k);
            missPorts[i] = (1024 + random.nextInt(60000)) << 16 | 80;
        }
    }

    /**
     * Checks that every flow the ring holds is in the table and nothing else is (early drops leave holes in the
     * ring until their turn comes), prints the early drops of {@code insertRemove}, then frees the table.
     */
    @TearDown(Level.Trial)
    public void tearDown()
    {
        try
        {
            int held = 0;
            for (final int e : ring)
            {
                held += e >= 0 ? 1 : 0;
            }
            if (table.size() != held)
            {
                throw new IllegalStateException("table size " + table.size() + " != " + held + " flows in the ring");
            }
            System.out.println(System.lineSeparator() + "conntrack, " + flows + " flows: memory " + table.memory());
            earlyDrops = table.stats().earlyDrop();
            if (earlyDrops > 0)
            {
                System.out.println(System.lineSeparator() + "conntrack, " + flows + " flows: " + earlyDrops
                    + " early drops (no free slot within " + ConntrackTable.PROBE_LIMIT + " probes)");
            }
        }
        finally
        {
            table.close();
        }
    }

    /**
     * @param k flow number (any non-negative long below 2^30 · 16384 is distinct from its 2^30 neighbours).
     * @return the pod address of flow {@code k}: 16384 flows per pod.
     */
    static int src(final long k)
    {
        return PODS + (int)((k >>> 14) & 0xffff);
    }

    static int sport(final long k)
    {
        return 16384 + (int)(k & 0x3fff);
    }

    static int dst(final long k)
    {
        return CLUSTER_IP + (int)(k % 251);
    }

    static int endpoint(final long k)
    {
        return ENDPOINTS + (int)(k % 200);
    }

    private int insert(final long k)
    {
        final int src = src(k);
        final int sport = sport(k);
        return table.insert(0, TCP, src, dst(k), sport, 80, endpoint(k), src, 8080, sport);
    }

    /**
     * 256 lookups of present tuples, in random table order.
     *
     * @return the sum of the results.
     */
    @Benchmark
    @OperationsPerInvocation(BATCH)
    public long hit()
    {
        final ConntrackTable table = this.table;
        final int[] src = hitSrc;
        final int[] dst = hitDst;
        final int[] ports = hitPorts;
        final int n = flows;
        int c = cursor;
        long sum = 0;
        for (int i = 0; i < BATCH; i++)
        {
            final int p = ports[c];
            sum += table.lookup(0, TCP, src[c], dst[c], p >>> 16, p & 0xffff);
            c = c + 1 == n ? 0 : c + 1;
        }
        cursor = c;
        return sum;
    }

    /**
     * The same 256 lookups as {@link #hit}, batched as nat44-in does them: per 64 tuples, hash them all, let the
     * table pull their slot lines in together ({@link ConntrackTable#prefetch}; a hit needs no other line), then look
     * each one up with its hash.
     *
     * @return the sum of the results.
     */
    @Benchmark
    @OperationsPerInvocation(BATCH)
    public long hitBatch()
    {
        final ConntrackTable table = this.table;
        final int[] src = hitSrc;
        final int[] dst = hitDst;
        final int[] ports = hitPorts;
        final long[] hashes = this.hashes;
        final int n = flows;
        int c = cursor;
        long sum = 0;
        for (int chunk = 0; chunk < BATCH; chunk += PREFETCH_BATCH)
        {
            int d = c;
            for (int i = 0; i < PREFETCH_BATCH; i++)
            {
                final int p = ports[d];
                hashes[i] = table.hash(0, TCP, src[d], dst[d], p >>> 16, p & 0xffff);
                d = d + 1 == n ? 0 : d + 1;
            }
            table.prefetch(hashes, PREFETCH_BATCH);
            for (int i = 0; i < PREFETCH_BATCH; i++)
            {
                final int p = ports[c];
                sum += table.lookup(hashes[i], 0, TCP, src[c], dst[c], p >>> 16, p & 0xffff);
                c = c + 1 == n ? 0 : c + 1;
            }
        }
        cursor = c;
        return sum;
    }

    /**
     * 256 lookups of absent tuples (a new client of a known ClusterIP): each probes until an empty slot.
     *
     * @return the sum of the results.
     */
    @Benchmark
    @OperationsPerInvocation(BATCH)
    public long miss()
    {
        final ConntrackTable table = this.table;
        final int[] src = missSrc;
        final int[] dst = missDst;
        final int[] ports = missPorts;
        final int n = flows;
        int c = cursor;
        long sum = 0;
        for (int i = 0; i < BATCH; i++)
        {
            final int p = ports[c];
            sum += table.lookup(0, TCP, src[c], dst[c], p >>> 16, p & 0xffff);
            c = c + 1 == n ? 0 : c + 1;
        }
        cursor = c;
        return sum;
    }

    /**
     * 256 times: insert a new flow (both tuples) and remove the oldest one, so the table keeps its size.
     *
     * @return the sum of the new entry indices.
     */
    @Benchmark
    @OperationsPerInvocation(BATCH)
    public long insertRemove()
    {
        final ConntrackTable table = this.table;
        final int[] ring = this.ring;
        final int n = flows;
        int head = ringHead;
        long k = next;
        long sum = 0;
        final int[] ringSlotOf = this.ringSlotOf;
        for (int i = 0; i < BATCH; i++)
        {
            final int e = insert(k++);
            final int old = ring[head];
            if (old >= 0)
            {
                table.remove(old);
            }
            if (e >= 0)
            {
                ring[head] = e;
                ringSlotOf[e] = head;
            }
            head = head + 1 == n ? 0 : head + 1;
            sum += e;
        }
        ringHead = head;
        next = k;
        return sum;
    }

    /** @return the table (tests). */
    ConntrackTable table()
    {
        return table;
    }
}
