package dev.ferry.bench;

import dev.ferry.core.header.Checksum;
import dev.ferry.core.header.Ip4Header;
import dev.ferry.core.route.Ip4;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * The Internet checksum ({@link Checksum}) in the three shapes the dataplane uses, in nanoseconds per
 * checksum.
 *
 * <ul>
 *   <li>{@code ip4Header}: the full sum over a 20-byte IPv4 header (ip4-input verifies every packet).</li>
 *   <li>{@code payload1500}: the full sum over 1500 bytes (what an L4 checksum over a full-size segment
 *       costs when no offload vouches for it).</li>
 *   <li>{@code incremental}: the RFC 1624 update for a changed 32-bit address (DNAT, SNAT), 256 independent
 *       updates per invocation, as a NAT stage does over a vector.</li>
 * </ul>
 *
 * <p>The data lives off-heap, like packet buffers, and is random with a fixed seed.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 5, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 3, jvmArgsAppend = {Jvm.NATIVE_ACCESS, Jvm.UNSAFE_ALLOW, Jvm.AGRONA_EXPORTS, Jvm.HEAP_MIN,
    Jvm.HEAP_MAX})
@State(Scope.Thread)
public class ChecksumBenchmark
{
    /** Updates per invocation of {@code incremental}. */
    static final int BATCH = 256;
    private static final int PAYLOAD = 1500;

    private Arena arena;
    private MemorySegment memory;
    private final int[] checksums = new int[BATCH];
    private final int[] oldAddresses = new int[BATCH];
    private final int[] newAddresses = new int[BATCH];

    /** Fills a header and a payload with random bytes and a valid header checksum. */
    @Setup(Level.Trial)
    public void setUp()
    {
        final SplittableRandom random = new SplittableRandom(7);
        arena = Arena.ofShared();
        memory = arena.allocate(Ip4Header.MIN_LENGTH + PAYLOAD, 64);
        for (long i = 0; i < memory.byteSize(); i++)
        {
            memory.set(ValueLayout.JAVA_BYTE, i, (byte)random.nextInt(256));
        }
        new Ip4Header().wrap(memory, 0).versionAndHeaderLength(Ip4Header.MIN_LENGTH).totalLength(1500)
            .src(Ip4.parse("10.244.1.10")).dst(Ip4.parse("10.96.0.10")).updateChecksum();
        for (int i = 0; i < BATCH; i++)
        {
            checksums[i] = random.nextInt(0x10000);
            oldAddresses[i] = random.nextInt();
            newAddresses[i] = random.nextInt();
        }
    }

    /** Frees the off-heap memory. */
    @TearDown(Level.Trial)
    public void tearDown()
    {
        arena.close();
    }

    /**
     * Full checksum of a 20-byte IPv4 header.
     *
     * @return the checksum.
     */
    @Benchmark
    public int ip4Header()
    {
        return Checksum.compute(memory, 0, Ip4Header.MIN_LENGTH);
    }

    /**
     * Full checksum of 1500 bytes.
     *
     * @return the checksum.
     */
    @Benchmark
    public int payload1500()
    {
        return Checksum.compute(memory, Ip4Header.MIN_LENGTH, PAYLOAD);
    }

    /**
     * 256 RFC 1624 updates for an address change.
     *
     * @return the sum of the new checksums.
     */
    @Benchmark
    @OperationsPerInvocation(BATCH)
    public int incremental()
    {
        final int[] checksums = this.checksums;
        final int[] olds = this.oldAddresses;
        final int[] news = this.newAddresses;
        int sum = 0;
        for (int i = 0; i < BATCH; i++)
        {
            sum += Checksum.update32(checksums[i], olds[i], news[i]);
        }
        return sum;
    }
}
