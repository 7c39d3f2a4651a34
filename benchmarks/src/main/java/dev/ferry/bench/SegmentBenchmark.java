package dev.ferry.bench;

import dev.ferry.core.PacketPool;
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
 * Software TCP segmentation ({@link TcpSegmenter}) of one 64 KB superframe, as a pod's TSO hands it over, into
 * MSS-sized segments with complete IPv4 and TCP checksums: nanoseconds per superframe (the cost ferry pays per
 * 64 KB before the VXLAN tunnel or the uplink, where the kernel would segment). The superframe's buffer becomes
 * segment 0, so each invocation first puts its 66 header bytes back, and frees the other segments after the split;
 * run with {@code -prof gc} for the 0 B/op claim.
 *
 * <p>{@code mss} 1398 is a flannel pod (MTU 1450) with TCP timestamps, 1448 a 1500-byte MTU.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 5, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 3, jvmArgsAppend = {Jvm.NATIVE_ACCESS, Jvm.UNSAFE_ALLOW, Jvm.AGRONA_EXPORTS, Jvm.HEAP_MIN,
    Jvm.HEAP_MAX})
@State(Scope.Thread)
public class SegmentBenchmark
{
    /** TCP payload of the superframe: what fits a 65,535-byte IPv4 datagram with 32 bytes of TCP header. */
    static final int PAYLOAD = 65535 - 20 - 32;

    /** Payload bytes per segment. */
    @Param({"1398", "1448"})
    public int mss;

    private PacketPool pool;
    private TcpSegmenter segmenter;
    private int superframe;
    /** The superframe's headers: a split turns its buffer into segment 0, the benchmark puts them back. */
    private final byte[] headers = new byte[14 + 20 + 32];
    private int frameLength;

    /** Builds one superframe with random payload and a partial (pseudo-header) TCP checksum. */
    @Setup(Level.Trial)
    public void setUp()
    {
        pool = new PacketPool(128, PacketPool.DEFAULT_BUFFER_SIZE, PacketPool.DEFAULT_HEADROOM, 1);
        segmenter = new TcpSegmenter(pool);
        superframe = pool.allocateLarge();
        final int src = Ip4.parse("10.244.1.2");
        final int dst = Ip4.parse("10.244.2.2");
        final byte[] f = new byte[14 + 20 + 32 + PAYLOAD];
        new SplittableRandom(12).nextBytes(f);
        final MemorySegment m = MemorySegment.ofArray(f);
        Wire.u16(m, 12, 0x0800);
        Wire.u8(m, 14, 0x45);
        Wire.u8(m, 15, 0);
        Wire.u16(m, 16, 20 + 32 + PAYLOAD);
        Wire.u16(m, 20, 0x4000);
        Wire.u8(m, 22, 64);
        Wire.u8(m, 23, 6);
        Wire.u32(m, 26, src);
        Wire.u32(m, 30, dst);
        Wire.u16(m, 24, 0);
        Wire.u16(m, 24, Checksum.compute(m, 14, 20));
        Wire.u8(m, 46, 8 << 4);
        Wire.u8(m, 47, 0x18);
        Wire.u16(m, 50, Checksum.fold(Checksum.pseudoHeader(src, dst, 6, 32 + PAYLOAD)));
        pool.write(superframe, f, 0, f.length);
        System.arraycopy(f, 0, headers, 0, headers.length);
        frameLength = f.length;
        pool.l3Offset(superframe, 14);
        rearm();
    }

    /** Puts the superframe back: its headers (the payload is never touched), length and offload metadata. */
    private void rearm()
    {
        MemorySegment.copy(headers, 0, pool.memory(), ValueLayout.JAVA_BYTE, pool.frameOffset(superframe),
            headers.length);
        pool.length(superframe, frameLength);
        pool.gso(superframe, PacketPool.GSO_TCPV4, mss);
        pool.checksumPartial(superframe, 34, 16);
    }

    /** Frees the pool. */
    @TearDown(Level.Trial)
    public void tearDown()
    {
        pool.close();
    }

    /**
     * Re-arms the superframe (66 header bytes), splits it and frees the segments it added.
     *
     * @return segments made (47 at an MSS of 1398).
     */
    @Benchmark
    public int split64k()
    {
        rearm();
        final int n = segmenter.segment(superframe);
        for (int i = 1; i < n; i++)
        {
            pool.free(segmenter.get(i));
        }
        return n;
    }

    /** @return the pool (fixture test). */
    PacketPool pool()
    {
        return pool;
    }
}
