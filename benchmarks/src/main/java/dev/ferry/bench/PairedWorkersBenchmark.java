package dev.ferry.bench;

import org.openjdk.jmh.annotations.AuxCounters;
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
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Control;
import org.openjdk.jmh.infra.ThreadParams;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * Issue 17's scaling ratio with the host's drift taken out: {@link WorkersBenchmark} measures one worker and two
 * workers in different forks, minutes apart, and on a shared VM the host's speed changes more between them (up to
 * a fifth) than the figure it is after. Here one fork holds both: one worker ({@link WorkerMesh} of 1) and two
 * workers with half of what each receives handed over ({@link WorkerMesh} of 2, the same flows, rings and graph),
 * and its iterations alternate between them, one second each, so that each second of two workers sits next to a
 * second of one worker.
 *
 * <p>A JMH group of two threads. In a one-worker iteration thread 0 runs the single worker and thread 1 parks
 * (the other core idles, as in {@code workers1}); in a two-worker iteration each thread runs its worker. The
 * scores are two counters, in packets transmitted per microsecond: {@code oneWorker} and {@code twoWorkers}. Each
 * counts only in its own iterations and reads 0 in the others, so JMH's mean of each is half its rate, and
 * <b>their ratio is the scaling figure</b>; each iteration's pair is in the JSON's {@code rawData} (iterations
 * alternate, the one-worker iteration first: run an even number of warm-up iterations). The primary score (calls
 * of either thread) means nothing. The trial tear-down checks both meshes as {@link WorkersBenchmark}'s does.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 6, time = 1)
@Measurement(iterations = 10, time = 1)
@Fork(value = 2, jvmArgsAppend = {Jvm.NATIVE_ACCESS, Jvm.UNSAFE_ALLOW, Jvm.AGRONA_EXPORTS, Jvm.HEAP_MIN,
    Jvm.HEAP_MAX})
public class PairedWorkersBenchmark
{
    /** Both meshes and the phase of the running iteration, shared by the group's two threads. */
    @State(Scope.Group)
    public static class Meshes
    {
        /** Active (established) flows, spread over the workers. */
        @Param({"100000"})
        public int flows;

        /** Percentage of a worker's received flows that the other worker owns (issue 17's mix: 50). */
        @Param({"50"})
        public int handedOverPercent;

        WorkerMesh one;
        WorkerMesh two;
        /** Whether the running iteration runs the two workers (odd iterations, warm-up ones counted). */
        volatile boolean twoWorkers;
        private int iteration;

        /**
         * Builds one worker and two workers, warmed, and runs the tear-down's checks once (their first-use costs out
         * of the measurement).
         *
         * @param threads JMH's view of the group.
         */
        @Setup(Level.Trial)
        public void setUp(final ThreadParams threads)
        {
            if (threads.getGroupThreadCount() != 2)
            {
                throw new IllegalStateException("the paired benchmark runs two threads per group, not "
                    + threads.getGroupThreadCount());
            }
            one = new WorkerMesh(1, 64, flows, 0, WorkerMesh.RING_BYTES);
            two = new WorkerMesh(2, 64, flows, handedOverPercent, WorkerMesh.RING_BYTES);
            for (final WorkerMesh m : new WorkerMesh[] {one, two})
            {
                m.drainAll();
                m.verify();
            }
        }

        /** Alternates the meshes: even iterations one worker, odd ones two. */
        @Setup(Level.Iteration)
        public void nextIteration()
        {
            twoWorkers = (iteration++ & 1) == 1;
        }

        /** Drains the rings, prints both meshes' totals, and fails the trial on a loss, a new flow or a leak. */
        @TearDown(Level.Trial)
        public void tearDown()
        {
            try
            {
                for (final WorkerMesh m : new WorkerMesh[] {one, two})
                {
                    m.drainAll();
                    System.out.print(System.lineSeparator() + m.verify() + System.lineSeparator());
                }
            }
            finally
            {
                one.close();
                two.close();
            }
        }
    }

    /** One thread: its lane in each mesh (thread 1 has none in the one-worker mesh). */
    @State(Scope.Thread)
    public static class Lanes
    {
        WorkerMesh.Lane single;
        WorkerMesh.Lane paired;
        final WorkersBenchmark.StopFlag stop = new WorkersBenchmark.StopFlag();
        long singleSent;
        long pairedSent;

        /**
         * Takes this thread's lanes.
         *
         * @param meshes  both meshes.
         * @param threads JMH's view of the thread.
         */
        @Setup(Level.Trial)
        public void join(final Meshes meshes, final ThreadParams threads)
        {
            final int w = threads.getGroupThreadIndex();
            single = w == 0 ? meshes.one.lane(0) : null;
            paired = meshes.two.lane(w);
        }
    }

    /** Packets transmitted, per mesh: JMH reports each as a rate, summed over the group's threads. */
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    @State(Scope.Thread)
    public static class Packets
    {
        /** Packets the single worker transmitted (one-worker iterations only). */
        public long oneWorker;
        /** Packets this thread's worker of the two transmitted (two-worker iterations only). */
        public long twoWorkers;

        /** Starts each iteration's counts at 0. */
        @Setup(Level.Iteration)
        public void clear()
        {
            oneWorker = 0;
            twoWorkers = 0;
        }
    }

    /**
     * One duty cycle of this thread's worker in the running iteration's mesh; in a one-worker iteration thread 1
     * parks for 0.1 ms instead.
     *
     * @param meshes  both meshes.
     * @param lanes   this thread's lanes.
     * @param packets the counters.
     * @param control JMH's stop flag.
     * @return packets this thread's worker transmitted so far.
     */
    @Benchmark
    @Group("paired")
    @GroupThreads(2)
    public long paired(final Meshes meshes, final Lanes lanes, final Packets packets, final Control control)
    {
        lanes.stop.control = control;
        if (meshes.twoWorkers)
        {
            final long sent = lanes.paired.forward(lanes.stop);
            packets.twoWorkers += sent - lanes.pairedSent;
            lanes.pairedSent = sent;
            return sent;
        }
        if (lanes.single == null)
        {
            LockSupport.parkNanos(100_000);
            return 0;
        }
        final long sent = lanes.single.forward(lanes.stop);
        packets.oneWorker += sent - lanes.singleSent;
        lanes.singleSent = sent;
        return sent;
    }
}
