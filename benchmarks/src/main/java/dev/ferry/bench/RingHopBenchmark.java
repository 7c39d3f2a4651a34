package dev.ferry.bench;

import dev.ferry.core.PacketVector;
import org.agrona.concurrent.OneToOneConcurrentArrayQueue;
import org.jctools.queues.SpscArrayQueue;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Group;
import org.openjdk.jmh.annotations.GroupThreads;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Control;

import java.util.Queue;
import java.util.concurrent.TimeUnit;

/**
 * One ring hop between two threads, carrying batches: an I/O thread hands full {@link PacketVector}s of 256
 * handles to a worker through a single-producer single-consumer ring, and the worker hands the emptied
 * vectors back through a second ring, so nothing is allocated (the shape of the I/O-to-worker link).
 *
 * <pre>
 *   producer ──full ring (16)──► consumer (reads every handle)
 *      ▲                              │
 *      └──────── free ring (16) ◄─────┘
 * </pre>
 *
 * <p>A JMH group of two threads: {@code hop:produce} and {@code hop:consume}. Each operation moves one batch,
 * waiting for room or data (spin, then yield: {@link #idle(int)}), and gives up when JMH ends the iteration
 * ({@link Control#stopMeasurement}), so the score is nanoseconds per batch at the ring's sustained rate;
 * divide by 256 for nanoseconds per packet. Both threads spin before they yield, so on a 2-core machine the
 * figure is only meaningful when nothing else runs. {@code ring} picks the implementation: JCTools
 * {@code SpscArrayQueue} or Agrona {@code OneToOneConcurrentArrayQueue}.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 5, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 3, jvmArgsAppend = {Jvm.NATIVE_ACCESS, Jvm.UNSAFE_ALLOW, Jvm.AGRONA_EXPORTS, Jvm.HEAP_MIN,
    Jvm.HEAP_MAX})
public class RingHopBenchmark
{
    /** Batches in circulation (and the capacity of both rings). */
    static final int BATCHES = 16;
    /** Busy spins before a waiting side starts yielding its core. */
    static final int SPINS = 128;

    /** The two rings, shared by the group's two threads. */
    @State(Scope.Group)
    public static class Rings
    {
        /** Ring implementation: "jctools" or "agrona". */
        @Param({"jctools", "agrona"})
        public String ring;

        Queue<PacketVector> full;
        Queue<PacketVector> free;

        /** Creates the rings and puts every batch in the free ring. */
        @Setup(Level.Trial)
        public void setUp()
        {
            full = create(ring);
            free = create(ring);
            for (int i = 0; i < BATCHES; i++)
            {
                free.offer(new PacketVector());
            }
        }

        static Queue<PacketVector> create(final String kind)
        {
            return switch (kind)
            {
                case "jctools" -> new SpscArrayQueue<>(BATCHES);
                case "agrona" -> new OneToOneConcurrentArrayQueue<>(BATCHES);
                default -> throw new IllegalArgumentException("unknown ring: " + kind);
            };
        }
    }

    /** The producer's batch in hand, kept across an interrupted operation. */
    @State(Scope.Thread)
    public static class Producer
    {
        PacketVector pending;
        int nextHandle;
        int idle;
    }

    /** The consumer's idle count. */
    @State(Scope.Thread)
    public static class Consumer
    {
        int idle;
    }

    /**
     * Backs off like Agrona's {@code BackoffIdleStrategy} without parking: spins first, then yields, so that
     * the two threads still make progress when they share one core with other work.
     *
     * @param idleCount waits so far in this operation.
     * @return the new count.
     */
    static int idle(final int idleCount)
    {
        if (idleCount < SPINS)
        {
            Thread.onSpinWait();
        }
        else
        {
            Thread.yield();
        }
        return idleCount + 1;
    }

    /**
     * Fills a batch with 256 handles and offers it to the full ring.
     *
     * @param rings    the rings.
     * @param producer the producer's state.
     * @param control  JMH's stop flag.
     */
    @Benchmark
    @Group("hop")
    @GroupThreads(1)
    public void produce(final Rings rings, final Producer producer, final Control control)
    {
        PacketVector v = producer.pending;
        if (v == null)
        {
            while ((v = rings.free.poll()) == null)
            {
                if (control.stopMeasurement)
                {
                    return;
                }
                producer.idle = idle(producer.idle);
            }
            int h = producer.nextHandle;
            for (int i = 0; i < PacketVector.CAPACITY; i++)
            {
                v.add(h++ & 0xffff);
            }
            producer.nextHandle = h;
            producer.pending = v;
        }
        while (!rings.full.offer(v))
        {
            if (control.stopMeasurement)
            {
                return;
            }
            producer.idle = idle(producer.idle);
        }
        producer.idle = 0;
        producer.pending = null;
    }

    /**
     * Takes a batch from the full ring, reads every handle, and returns the batch to the free ring.
     *
     * @param rings    the rings.
     * @param consumer the consumer's state.
     * @param control  JMH's stop flag.
     * @return the sum of the handles.
     */
    @Benchmark
    @Group("hop")
    @GroupThreads(1)
    public long consume(final Rings rings, final Consumer consumer, final Control control)
    {
        PacketVector v;
        while ((v = rings.full.poll()) == null)
        {
            if (control.stopMeasurement)
            {
                return 0;
            }
            consumer.idle = idle(consumer.idle);
        }
        consumer.idle = 0;
        final int[] handles = v.handles();
        final int n = v.count();
        long sum = 0;
        for (int i = 0; i < n; i++)
        {
            sum += handles[i];
        }
        v.clear();
        // never fails: the free ring can hold every batch in circulation
        rings.free.offer(v);
        return sum;
    }
}
