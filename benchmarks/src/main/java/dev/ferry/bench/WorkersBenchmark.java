package dev.ferry.bench;

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
import org.openjdk.jmh.infra.IterationParams;
import org.openjdk.jmh.infra.ThreadParams;
import org.openjdk.jmh.runner.IterationType;

import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * Scaling over workers (issue 17): the whole graph of {@link ClusterIpToRemoteBenchmark} (pod to ClusterIP to
 * remote node, 64-byte frames, 1K or 100K flows) on 1, 2 and 4 worker threads, each with its own pool, graph
 * and conntrack shard, joined by handoff rings ({@link WorkerMesh}). Half of what each worker receives belongs
 * to another worker and crosses a ring.
 *
 * <p>Each JMH group is one worker count: {@code workers1}, {@code workers2}, {@code workers4}, one thread per
 * worker. The score is the group's total throughput in packets per microsecond (Mpps), each thread's
 * operations summed. A thread's operation is a duty cycle over 256 received packets: the ownership rule, a
 * local graph input or a ring write, a drain of its inbound rings, the graph run. The ratio
 * {@code workers2 / workers1} is issue 17's scaling figure (target 1.7 or more); on a 2-core machine
 * {@code workers4} is oversubscribed (threads share cores) and is reported as measured.
 *
 * <p>A full ring makes the sending worker wait (draining its own rings meanwhile) rather than drop, so that the
 * score counts forwarded packets only; see {@link WorkerMesh.Lane#forward}. Run alone on a quiet machine: every
 * thread is busy all the time, so anything else running takes from the figure. The trial tear-down prints the
 * handoff totals (handoff-full drops included) and fails on a lost packet, a new flow (a handed-over packet that
 * missed its owner's shard) or a leak.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 5, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 3, jvmArgsAppend = {Jvm.NATIVE_ACCESS, Jvm.UNSAFE_ALLOW, Jvm.AGRONA_EXPORTS, Jvm.HEAP_MIN,
    Jvm.HEAP_MAX})
public class WorkersBenchmark
{
    /**
     * {@code -Dferry.bench.pinWorkers=true} (through {@code -jvmArgsAppend}): each worker thread pins itself to CPU
     * (its index modulo the CPU count), as a node with one core per worker would. Off by default: an A/B knob
     * (on the 2-vCPU VM, loaded, it measured worse than leaving placement to the kernel: README, session 8).
     */
    static final boolean PIN_WORKERS = Boolean.getBoolean("ferry.bench.pinWorkers");

    /** The workers of one group, shared by its threads. */
    @State(Scope.Group)
    public static class Mesh
    {
        /** Active (established) flows, spread over the workers. */
        @Param({"1000", "100000"})
        public int flows;

        /**
         * Percentage of the flows a worker receives that another worker owns, so that their packets cross a ring
         * (issue 17's mix: 50). {@code -p handedOverPercent=0} runs the same workers with no handoff: the baseline,
         * measured in the same minutes, against which {@code workers2}'s handoff cost reads.
         */
        @Param({"50"})
        public int handedOverPercent;

        /** Bytes of each handoff ring (a node's default is 256 KiB). */
        @Param({"1048576"})
        public int ringBytes;

        /**
         * {@code shared}: the workers' pools are views of one pool and a ring carries handles (a node's way);
         * {@code copied}: a pool each, a ring carries copies of the frames (before session 10), for A/B runs.
         */
        @Param({"shared"})
        public String buffers;

        WorkerMesh mesh;

        /**
         * Builds one worker per thread of the group, warms each one's flows, and runs the tear-down's checks once.
         *
         * @param threads JMH's view of the group.
         */
        @Setup(Level.Trial)
        public void setUp(final ThreadParams threads)
        {
            if (!"shared".equals(buffers) && !"copied".equals(buffers))
            {
                throw new IllegalArgumentException("buffers must be shared or copied: " + buffers);
            }
            mesh = new WorkerMesh(threads.getGroupThreadCount(), 64, flows, handedOverPercent, ringBytes,
                "shared".equals(buffers));
            // JMH counts the trial tear-down in the last measurement iteration: run its code once here, so that
            // its first-use costs (class loading, string building) stay out of gc.alloc.rate.norm
            mesh.drainAll();
            mesh.verify();
            mesh.lanesReport();
            ThreadCpu.current();
        }

        /** Drains the rings, prints the handoff totals, and fails the trial on a loss, a new flow or a leak. */
        @TearDown(Level.Trial)
        public void tearDown()
        {
            try
            {
                mesh.drainAll();
                System.out.print(System.lineSeparator() + mesh.verify() + System.lineSeparator());
                System.out.print(mesh.lanesReport());
            }
            finally
            {
                mesh.close();
            }
        }
    }

    /** One thread's worker. */
    @State(Scope.Thread)
    public static class Worker
    {
        WorkerMesh.Lane lane;
        final StopFlag stop = new StopFlag();
        private boolean marked;

        /**
         * Takes the lane of this thread's index in its group.
         *
         * @param mesh    the group's workers.
         * @param threads JMH's view of the thread.
         */
        @Setup(Level.Trial)
        public void join(final Mesh mesh, final ThreadParams threads)
        {
            final int w = threads.getGroupThreadIndex();
            lane = mesh.mesh.lane(w);
            if (PIN_WORKERS)
            {
                final int cpu = w % Runtime.getRuntime().availableProcessors();
                System.out.print(System.lineSeparator() + "worker " + w + " pinned to CPU " + cpu + ": "
                    + ThreadCpu.pin(cpu) + System.lineSeparator());
            }
        }

        /**
         * Marks the worker's per-stage figures when the first measurement iteration starts (printed per worker in
         * the tear-down).
         *
         * @param iteration JMH's description of the coming iteration.
         */
        @Setup(Level.Iteration)
        public void markMeasurement(final IterationParams iteration)
        {
            if (iteration.getType() == IterationType.MEASUREMENT && !marked)
            {
                lane.markRuntime();
                marked = true;
            }
        }

        /**
         * Records the CPU this thread ended each measurement iteration on (printed per worker in the tear-down).
         *
         * @param iteration JMH's description of the iteration that ended.
         */
        @TearDown(Level.Iteration)
        public void recordCpu(final IterationParams iteration)
        {
            if (iteration.getType() == IterationType.MEASUREMENT)
            {
                lane.recordCpu();
            }
        }
    }

    /**
     * One worker: the baseline, no handoff.
     *
     * @param worker  this thread's worker.
     * @param control JMH's stop flag.
     * @return packets transmitted so far.
     */
    @Benchmark
    @Group("workers1")
    @GroupThreads(1)
    @OperationsPerInvocation(256)
    public long workers1(final Worker worker, final Control control)
    {
        worker.stop.control = control;
        return worker.lane.forward(worker.stop);
    }

    /**
     * Two workers, half of each one's packets handed to the other.
     *
     * @param worker  this thread's worker.
     * @param control JMH's stop flag.
     * @return packets transmitted so far.
     */
    @Benchmark
    @Group("workers2")
    @GroupThreads(2)
    @OperationsPerInvocation(256)
    public long workers2(final Worker worker, final Control control)
    {
        worker.stop.control = control;
        return worker.lane.forward(worker.stop);
    }

    /**
     * Four workers (oversubscribed on 2 cores), half of each one's packets handed to the next.
     *
     * @param worker  this thread's worker.
     * @param control JMH's stop flag.
     * @return packets transmitted so far.
     */
    @Benchmark
    @Group("workers4")
    @GroupThreads(4)
    @OperationsPerInvocation(256)
    public long workers4(final Worker worker, final Control control)
    {
        worker.stop.control = control;
        return worker.lane.forward(worker.stop);
    }

    /** JMH's stop flag as the lane reads it; the benchmark method hands it the running iteration's control. */
    static final class StopFlag implements BooleanSupplier
    {
        Control control;

        @Override
        public boolean getAsBoolean()
        {
            return control != null && control.stopMeasurement;
        }
    }
}
