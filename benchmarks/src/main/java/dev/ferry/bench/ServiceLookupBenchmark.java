package dev.ferry.bench;

import dev.ferry.conntrack.ConntrackConfig;
import dev.ferry.conntrack.ConntrackTable;
import dev.ferry.core.Counters;
import dev.ferry.core.ManualClock;
import dev.ferry.core.PacketPool;
import dev.ferry.core.Ports;
import dev.ferry.core.header.Ip4Header;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.route.Ip4Prefix;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.tables.ServiceInfo;
import dev.ferry.core.tables.TablesPublisher;
import dev.ferry.nat.Nat;
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

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * The Service frontend lookup of {@code nat44-new} ({@link Nat.Frontends}, what each new flow pays) with 10,
 * 1,000 and 10,000 ClusterIP Services, compiled by the NAT's own part compiler from {@code NodeTables}. Scores
 * are nanoseconds per lookup, over batches of 256 independent lookups.
 *
 * <p>{@code hit}: {@code (TCP, ClusterIP, 80)} of a Service drawn uniformly at random (64K precomputed draws,
 * read sequentially), the worst case for the cache since real traffic favours a few Services. {@code miss}: a
 * destination that is no Service (pod to the outside: nat44-new looks up the frontend, then whether the address
 * is a ClusterIP). Each Service has two frontends in the map (its port, and the ClusterIP marker), so the map
 * holds 20, 2,000 and 20,000 keys. The trial set-up counts the probes per lookup of both query sets; the fork
 * prints them after the run ({@link #probesPerHit()}, {@link #probesPerMiss()}).
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 5, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 3, jvmArgsAppend = {Jvm.NATIVE_ACCESS, Jvm.UNSAFE_ALLOW, Jvm.AGRONA_EXPORTS, Jvm.HEAP_MIN,
    Jvm.HEAP_MAX})
@State(Scope.Thread)
public class ServiceLookupBenchmark
{
    /** Lookups per invocation. */
    static final int BATCH = 256;
    private static final int QUERIES = 1 << 16;
    private static final int TCP = Ip4Header.PROTO_TCP;
    private static final int PORT = 80;

    /** ClusterIP Services in the table. */
    @Param({"10", "1000", "10000"})
    public int services;

    private PacketPool pool;
    private Counters counters;
    private ConntrackTable conntrack;
    private Nat.Frontends frontends;
    private final int[] hitIp = new int[QUERIES];
    private final int[] missIp = new int[QUERIES];
    private int cursor;
    private double probesPerHit;
    private double probesPerMiss;

    /** Compiles the Services and draws the queries. */
    @Setup(Level.Trial)
    public void setUp()
    {
        final Ports ports = new Ports();
        ports.add("uplink", Ports.Kind.UPLINK, Ip4.parseMac("02:00:c0:a8:01:0a"));
        final TablesPublisher publisher = new TablesPublisher(ports, false);
        final ManualClock clock = new ManualClock(1_700_000_000_000_000_000L);
        pool = new PacketPool(16);
        counters = Counters.inMemory(256);
        conntrack = new ConntrackTable(ConntrackConfig.builder().capacity(16).build(), clock);
        final Nat nat = Nat.create(pool, publisher, clock, counters, Nat.Options.defaults(1), conntrack);
        publisher.publish(tables(services));
        frontends = nat.frontends(publisher.current());
        final SplittableRandom random = new SplittableRandom(42);
        long hitProbes = 0;
        long missProbes = 0;
        for (int i = 0; i < QUERIES; i++)
        {
            hitIp[i] = clusterIp(random.nextInt(services));
            final long r = frontends.lookup(TCP, hitIp[i], PORT);
            if (Nat.Frontends.frontend(r) < 0)
            {
                throw new IllegalStateException("no frontend for " + Ip4.format(hitIp[i]));
            }
            hitProbes += Nat.Frontends.probes(r);
            // outside the cluster and the Service CIDR (198.18.0.0/15, the benchmarking range)
            missIp[i] = 0xC612_0000 | random.nextInt(1 << 17);
            final long m = frontends.lookup(TCP, missIp[i], PORT);
            final long c = frontends.lookup(0, missIp[i], 0);
            if (Nat.Frontends.frontend(m) != Nat.Frontends.NONE || Nat.Frontends.frontend(c) != Nat.Frontends.NONE)
            {
                throw new IllegalStateException(Ip4.format(missIp[i]) + " found");
            }
            missProbes += Nat.Frontends.probes(m) + Nat.Frontends.probes(c);
        }
        probesPerHit = (double)hitProbes / QUERIES;
        probesPerMiss = missProbes / (2.0 * QUERIES);
    }

    /** Prints the probes per lookup and the map size, then frees the NAT's resources. */
    @TearDown(Level.Trial)
    public void tearDown()
    {
        System.out.print(String.format(Locale.ROOT, "%nfrontend map, %d Services: %d slots, %.3f probes per hit,"
            + " %.3f probes per miss lookup%n", services, frontends.slots(), probesPerHit, probesPerMiss));
        conntrack.close();
        counters.close();
        pool.close();
    }

    /**
     * @param s Service index.
     * @return its ClusterIP, in 10.96.0.0/12 from 10.96.0.10.
     */
    static int clusterIp(final int s)
    {
        return 0x0A60_0000 + 10 + s;
    }

    private static NodeTables tables(final int count)
    {
        final Ip4Prefix podCidr = Ip4Prefix.parse("10.244.1.0/24");
        final NodeTables.NodeInfo node = new NodeTables.NodeInfo("bench-node", List.of(Ip4.parse("192.168.1.10")),
            podCidr, podCidr.host(1), Ip4.parseMac("0a:58:0a:f4:01:01"), Ip4.parseMac("02:00:c0:a8:01:0a"),
            Ip4.parseMac("9e:00:00:00:01:01"), Ip4.parse("192.168.1.10"), 0, Ip4Prefix.parse("192.168.1.0/24"),
            1550);
        final List<ServiceInfo> list = new ArrayList<>(count);
        for (int s = 0; s < count; s++)
        {
            final List<ServiceInfo.Endpoint> eps = List.of(
                new ServiceInfo.Endpoint(0x0AF4_0200 + (s % 200) + 10, 8080, true, true, false, "node-2", "", false),
                new ServiceInfo.Endpoint(0x0AF4_0300 + (s % 200) + 10, 8080, true, true, false, "node-3", "", false));
            list.add(new ServiceInfo("bench", "svc-" + s, "ClusterIP", null, List.of(clusterIp(s)), List.of(),
                List.of(), false, ServiceInfo.DEFAULT_AFFINITY_TIMEOUT, false, false,
                List.of(new ServiceInfo.ServicePort("http", TCP, PORT, 0, eps))));
        }
        return new NodeTables(1, node, NodeTables.ClusterSettings.defaults(), List.of(), List.of(), list,
            java.util.Map.of());
    }

    /**
     * 256 lookups of Service frontends.
     *
     * @return the sum of the results.
     */
    @Benchmark
    @OperationsPerInvocation(BATCH)
    public long hit()
    {
        final Nat.Frontends frontends = this.frontends;
        final int[] ips = hitIp;
        final int base = cursor;
        long sum = 0;
        for (int i = 0; i < BATCH; i++)
        {
            sum += frontends.lookup(TCP, ips[(base + i) & (QUERIES - 1)], PORT);
        }
        cursor = (base + BATCH) & (QUERIES - 1);
        return sum;
    }

    /**
     * 256 lookups of destinations that are no Service, each checked as nat44-new does (frontend, then ClusterIP
     * marker): scores are per lookup, two per destination.
     *
     * @return the sum of the results.
     */
    @Benchmark
    @OperationsPerInvocation(2 * BATCH)
    public long miss()
    {
        final Nat.Frontends frontends = this.frontends;
        final int[] ips = missIp;
        final int base = cursor;
        long sum = 0;
        for (int i = 0; i < BATCH; i++)
        {
            final int ip = ips[(base + i) & (QUERIES - 1)];
            sum += frontends.lookup(TCP, ip, PORT) + frontends.lookup(0, ip, 0);
        }
        cursor = (base + BATCH) & (QUERIES - 1);
        return sum;
    }

    /** @return probes per hit lookup over the query set. */
    double probesPerHit()
    {
        return probesPerHit;
    }

    /** @return probes per miss lookup over the query set. */
    double probesPerMiss()
    {
        return probesPerMiss;
    }

    /** @return the frontend view (tests). */
    Nat.Frontends frontends()
    {
        return frontends;
    }
}
