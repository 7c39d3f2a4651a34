package dev.ferry.bench;

import dev.ferry.core.Counters;
import dev.ferry.core.PacketPool;
import dev.ferry.core.workers.Handoff;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Group;
import org.openjdk.jmh.annotations.GroupThreads;
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
import org.openjdk.jmh.infra.Control;

import java.util.concurrent.TimeUnit;

/**
 * The cost of one worker handoff ({@code ch} in the scaling model of the README): one thread writes frames of its
 * pool into a {@link Handoff} ring (copy of 40 bytes of metadata and the frame, free), the other drains them
 * into its own pool (allocate, copy out, free, standing in for the graph), 256 frames per operation.
 *
 * <p>A JMH group of two threads, {@code hop:send} and {@code hop:drain}; scores are nanoseconds per frame on
 * each side at the ring's sustained rate. A side that finds the ring full (or empty) spins, then yields, and gives
 * up when JMH ends the iteration; so, like {@link RingHopBenchmark}, it needs both cores of a quiet machine.
 * Compare with {@code RingHopBenchmark} (handles only, no copy) for what passing bytes instead of handles costs.
 *
 * <p>{@code oneThread} does both sides on one thread (256 frames written, then drained): the instructions of a
 * handoff without the ring's lines crossing cores, so that {@code hop} less {@code oneThread} is what the
 * crossing costs.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 5, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 3, jvmArgsAppend = {Jvm.NATIVE_ACCESS, Jvm.UNSAFE_ALLOW, Jvm.AGRONA_EXPORTS, Jvm.HEAP_MIN,
    Jvm.HEAP_MAX})
public class HandoffBenchmark
{
    private static final int VECTOR = 256;

    /** The ring and both workers' pools and endpoints. */
    @State(Scope.Group)
    public static class Pair
    {
        /** Ethernet frame length, without FCS. */
        @Param({"64", "1500"})
        public int frameSize;

        /**
         * {@code shared}: both pools are views of one pool and a record is a handle with its metadata (a node's
         * way since session 10); {@code copied}: a pool each, a record carries a copy of the frame.
         */
        @Param({"shared", "copied"})
        public String buffers;

        Handoff handoff;
        PacketPool senderPool;
        PacketPool receiverPool;
        Counters senderCounters;
        Counters receiverCounters;
        Handoff.Endpoint sender;
        Handoff.Endpoint receiver;

        /** Creates a 1 MiB ring between two pools of 1024 buffers. */
        @Setup(Level.Trial)
        public void setUp()
        {
            handoff = new Handoff(2, WorkerMesh.RING_BYTES);
            if ("shared".equals(buffers))
            {
                final PacketPool[] views = PacketPool.shared(2, 4 * VECTOR, PacketPool.DEFAULT_BUFFER_SIZE,
                    PacketPool.DEFAULT_HEADROOM, 0);
                senderPool = views[0];
                receiverPool = views[1];
            }
            else if ("copied".equals(buffers))
            {
                senderPool = new PacketPool(4 * VECTOR);
                receiverPool = new PacketPool(4 * VECTOR);
            }
            else
            {
                throw new IllegalArgumentException("buffers must be shared or copied: " + buffers);
            }
            senderCounters = Counters.inMemory(16);
            receiverCounters = Counters.inMemory(16);
            sender = handoff.endpoint(0, senderPool, senderCounters, h -> { });
            final PacketPool pool = receiverPool;
            receiver = handoff.endpoint(1, receiverPool, receiverCounters, pool::free);
        }

        /** Frees everything. */
        @TearDown(Level.Trial)
        public void tearDown()
        {
            handoff.close();
            senderPool.close();
            receiverPool.close();
            senderCounters.close();
            receiverCounters.close();
        }
    }

    /** Both sides on one thread: the ring, pools and endpoints of a {@link Pair}, used by one thread only. */
    @State(Scope.Thread)
    public static class Alone extends Pair
    {
    }

    /**
     * Writes 256 frames into the ring, then drains them into the receiver's pool, on this one thread.
     *
     * @param alone the ring and pools.
     * @return frames taken.
     */
    @Benchmark
    @OperationsPerInvocation(VECTOR)
    public int oneThread(final Alone alone)
    {
        final PacketPool pool = alone.senderPool;
        final Handoff.Endpoint sender = alone.sender;
        final int size = alone.frameSize;
        for (int i = 0; i < VECTOR; i++)
        {
            final int h = pool.allocate();
            pool.length(h, size);
            sender.offer(1, h);
        }
        sender.publish();
        final int n = alone.receiver.drain(VECTOR);
        alone.receiverPool.publishReturns();
        return n;
    }

    /** A side's wait count. */
    @State(Scope.Thread)
    public static class Side
    {
        int idle;
    }

    /**
     * Writes 256 frames into the ring, waiting while it is full.
     *
     * @param pair    the ring and pools.
     * @param side    this thread's wait count.
     * @param control JMH's stop flag.
     * @return frames written.
     */
    @Benchmark
    @Group("hop")
    @GroupThreads(1)
    @OperationsPerInvocation(VECTOR)
    public int send(final Pair pair, final Side side, final Control control)
    {
        final PacketPool pool = pair.senderPool;
        final Handoff.Endpoint sender = pair.sender;
        final int size = pair.frameSize;
        for (int i = 0; i < VECTOR; i++)
        {
            int h = pool.allocate();
            while (h == PacketPool.NO_BUFFER)
            {
                // shared: every buffer of this side's share is with the receiver, or on its way home
                if (control.stopMeasurement)
                {
                    sender.publish();
                    return i;
                }
                side.idle = RingHopBenchmark.idle(side.idle);
                h = pool.allocate();
            }
            pool.length(h, size);
            while (!sender.offer(1, h))
            {
                if (control.stopMeasurement)
                {
                    pool.free(h);
                    sender.publish();
                    return i;
                }
                side.idle = RingHopBenchmark.idle(side.idle);
            }
            side.idle = 0;
        }
        sender.publish();
        return VECTOR;
    }

    /**
     * Takes 256 frames out of the ring into the receiver's pool (and frees them), waiting while it is empty.
     *
     * @param pair    the ring and pools.
     * @param side    this thread's wait count.
     * @param control JMH's stop flag.
     * @return frames taken.
     */
    @Benchmark
    @Group("hop")
    @GroupThreads(1)
    @OperationsPerInvocation(VECTOR)
    public int drain(final Pair pair, final Side side, final Control control)
    {
        final Handoff.Endpoint receiver = pair.receiver;
        int taken = 0;
        while (taken < VECTOR)
        {
            final int n = receiver.drain(VECTOR - taken);
            if (n == 0)
            {
                pair.receiverPool.publishReturns();
                if (control.stopMeasurement)
                {
                    return taken;
                }
                side.idle = RingHopBenchmark.idle(side.idle);
            }
            else
            {
                side.idle = 0;
                taken += n;
            }
        }
        pair.receiverPool.publishReturns();
        return taken;
    }
}
