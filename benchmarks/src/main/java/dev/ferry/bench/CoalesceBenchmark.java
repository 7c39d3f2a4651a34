package dev.ferry.bench;

import dev.ferry.core.PacketPool;
import dev.ferry.core.gso.TcpCoalescer;
import dev.ferry.core.gso.TcpSegmenter;
import dev.ferry.core.header.Checksum;
import dev.ferry.core.header.Wire;
import dev.ferry.core.route.Ip4;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * Software TCP GRO ({@link TcpCoalescer}) of a TX batch of 45 segments of 1448 bytes (64 KB), as they arrive from
 * VXLAN for one pod: nanoseconds per 64 KB. Two ways to hand the superframe to the TAP are compared:
 * <ul>
 *   <li>{@link #gather64k}: plan (header rules, IPv4 and TCP checksums verified: one read pass over the payload)
 *       and rewrite the first segment's headers; the TAP then writes a gather list ({@code writev}), so ferry
 *       copies no payload. What {@code TapPort} does.</li>
 *   <li>{@link #copy64k}: the same, then the payloads copied behind the first segment's headers into a large
 *       buffer, for one contiguous {@code write}: the copy variant's extra cost (a fused sum-and-copy loop would
 *       read the payload once instead of twice, but still writes 64 KB more than the gather list).</li>
 * </ul>
 * {@link #sum64k} and {@link #fusedSumCopy64k} isolate the payload pass of each: a checksum sum alone, or sum and
 * copy fused in one loop (the best a copy variant could do).
 * The segments come from {@link TcpSegmenter} and each invocation puts the first segment's 66 header bytes back;
 * run with {@code -prof gc} for the 0 B/op claim. The syscall is not in either figure.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 5, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 3, jvmArgsAppend = {Jvm.NATIVE_ACCESS, Jvm.UNSAFE_ALLOW, Jvm.AGRONA_EXPORTS, Jvm.HEAP_MIN,
    Jvm.HEAP_MAX})
@State(Scope.Thread)
public class CoalesceBenchmark
{
    /** Segments in the batch: 45 × 1448 = 65,160 payload bytes, the most a 64 KB IPv4 datagram holds. */
    static final int SEGMENTS = 45;
    /** Where a segment's payload starts: Ethernet, IPv4 without options, TCP with 12 bytes of options. */
    static final int PAYLOAD_AT = 14 + 20 + 32;
    private static final ValueLayout.OfLong LE64 =
        ValueLayout.JAVA_LONG_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);

    /** Payload bytes per segment. */
    @Param({"1448"})
    public int mss;

    private PacketPool pool;
    private TcpCoalescer coalescer;
    private final int[] batch = new int[SEGMENTS];
    private int large;
    /** The first segment's headers: coalescing rewrites them, the benchmark puts them back. */
    private final byte[] headers = new byte[14 + 20 + 32];

    /** Builds the superframe, splits it into the batch with valid checksums. */
    @Setup(Level.Trial)
    public void setUp()
    {
        pool = new PacketPool(128, PacketPool.DEFAULT_BUFFER_SIZE, PacketPool.DEFAULT_HEADROOM, 2);
        coalescer = new TcpCoalescer(pool);
        final int payload = SEGMENTS * mss;
        final int src = Ip4.parse("10.244.1.2");
        final int dst = Ip4.parse("10.244.2.2");
        final byte[] f = new byte[14 + 20 + 32 + payload];
        new SplittableRandom(12).nextBytes(f);
        final MemorySegment m = MemorySegment.ofArray(f);
        Wire.u16(m, 12, 0x0800);
        Wire.u8(m, 14, 0x45);
        Wire.u8(m, 15, 0);
        Wire.u16(m, 16, 20 + 32 + payload);
        Wire.u16(m, 20, 0x4000);
        Wire.u8(m, 22, 64);
        Wire.u8(m, 23, 6);
        Wire.u32(m, 26, src);
        Wire.u32(m, 30, dst);
        Wire.u16(m, 24, 0);
        Wire.u16(m, 24, Checksum.compute(m, 14, 20));
        Wire.u8(m, 46, 8 << 4);
        Wire.u8(m, 47, 0x10);
        // TCP options: NOP NOP timestamp, equal in every segment
        Wire.u32(m, 54, 0x0101080a);
        Wire.u16(m, 50, Checksum.fold(Checksum.pseudoHeader(src, dst, 6, 32 + payload)));
        final int h = pool.allocateLarge();
        pool.write(h, f, 0, f.length);
        pool.l3Offset(h, 14);
        pool.gso(h, PacketPool.GSO_TCPV4, mss);
        pool.checksumPartial(h, 34, 16);
        final TcpSegmenter segmenter = new TcpSegmenter(pool);
        if (segmenter.segment(h) != SEGMENTS)
        {
            throw new IllegalStateException("segmenter did not make " + SEGMENTS + " segments");
        }
        for (int i = 0; i < SEGMENTS; i++)
        {
            batch[i] = segmenter.get(i);
        }
        MemorySegment.copy(pool.memory(), ValueLayout.JAVA_BYTE, pool.frameOffset(batch[0]), headers, 0,
            headers.length);
        large = pool.allocateLarge();
    }

    /** Frees the pool. */
    @TearDown(Level.Trial)
    public void tearDown()
    {
        pool.close();
    }

    private void rearm()
    {
        MemorySegment.copy(headers, 0, pool.memory(), ValueLayout.JAVA_BYTE, pool.frameOffset(batch[0]),
            headers.length);
        pool.clearOffload(batch[0]);
    }

    /**
     * Plans the batch and rewrites the superframe's headers: what the TAP's gather write needs.
     *
     * @return the superframe's length (65,226 bytes).
     */
    @Benchmark
    public int gather64k()
    {
        rearm();
        final TcpCoalescer c = coalescer;
        c.plan(batch, SEGMENTS);
        return c.coalesce(0);
    }

    /**
     * The same, then the superframe made contiguous in a large buffer (headers and every payload copied).
     *
     * @return the superframe's length.
     */
    @Benchmark
    public int copy64k()
    {
        rearm();
        final TcpCoalescer c = coalescer;
        c.plan(batch, SEGMENTS);
        final int len = c.coalesce(0);
        final PacketPool pool = this.pool;
        final MemorySegment mem = pool.memory();
        final int at = c.payloadOffset(0);
        long to = pool.frameOffset(large);
        MemorySegment.copy(mem, pool.frameOffset(c.handle(0, 0)), mem, to, at + c.payloadLength(0, 0));
        to += at + c.payloadLength(0, 0);
        final int n = c.frameSegments(0);
        for (int k = 1; k < n; k++)
        {
            final int p = c.payloadLength(0, k);
            MemorySegment.copy(mem, pool.frameOffset(c.handle(0, k)) + at, mem, to, p);
            to += p;
        }
        return len;
    }

    /**
     * The payload pass of the gather list alone: one checksum sum over each of the 45 payloads (what verifying
     * costs, the bulk of {@link #gather64k}).
     *
     * @return the folded sum (kept live).
     */
    @Benchmark
    public int sum64k()
    {
        final PacketPool pool = this.pool;
        final MemorySegment mem = pool.memory();
        long sum = 0;
        for (int k = 0; k < SEGMENTS; k++)
        {
            sum += Checksum.sum(mem, pool.frameOffset(batch[k]) + PAYLOAD_AT, mss);
        }
        return Checksum.fold(sum);
    }

    /**
     * The copy variant's payload pass at its best: sum and copy fused in one loop (64-bit loads, each stored to
     * the large buffer and added as two 32-bit halves), over the 45 payloads. Against {@link #sum64k}: what making
     * the superframe contiguous adds even when the copy rides on the checksum's loads.
     *
     * @return the folded sum (kept live).
     */
    @Benchmark
    public int fusedSumCopy64k()
    {
        final PacketPool pool = this.pool;
        final MemorySegment mem = pool.memory();
        long to = pool.frameOffset(large) + PAYLOAD_AT;
        long swapped = 0;
        for (int k = 0; k < SEGMENTS; k++)
        {
            final long from = pool.frameOffset(batch[k]) + PAYLOAD_AT;
            int i = 0;
            for (; i + 8 <= mss; i += 8)
            {
                final long x = mem.get(LE64, from + i);
                mem.set(LE64, to + i, x);
                swapped += (x & 0xffffffffL) + (x >>> 32);
            }
            for (; i < mss; i++)
            {
                // 1448 is a multiple of 8: the tail runs only for other sizes; bytes are copied, not summed
                mem.set(ValueLayout.JAVA_BYTE, to + i, mem.get(ValueLayout.JAVA_BYTE, from + i));
            }
            to += mss;
        }
        // the little-endian loads summed byte-swapped words: swap the folded sum back (as Checksum.sum does)
        final int f = Checksum.fold(swapped);
        return (f & 0xff) << 8 | f >>> 8;
    }

    /** @return the coalescer (fixture test). */
    TcpCoalescer coalescer()
    {
        return coalescer;
    }
}
