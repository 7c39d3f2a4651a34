package dev.ferry.bench;

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
import org.openjdk.jmh.infra.IterationParams;
import org.openjdk.jmh.runner.IterationType;

import java.util.concurrent.TimeUnit;

/**
 * The whole graph from a pod through a ClusterIP to a remote node (issue 7's end-to-end target): DNAT then
 * VXLAN encap, over vectors of 256 established TCP packets of 64 or 1500 bytes, with 1K or 100K active flows.
 * Scores are nanoseconds per packet; 1000 / score is Mpps on one core.
 *
 * <p>The graph is {@code ferry replay}'s: ethernet-input, ip4-input, vxlan-bypass, nat44-in, [nat44-new],
 * ip4-lookup, vxlan-encap, [vxlan-decap], interface-output ({@link ClusterIpNode}). Every flow is opened in the
 * trial set-up (SYN through the graph, handshake fed to conntrack), so the measured packets all take the fast
 * path: one conntrack hit per packet, the DNAT rewrite with incremental checksums, the LPM lookup of the
 * endpoint, 50 bytes of outer headers prepended from the VTEP template, the outer UDP checksum. The trial fails
 * if a packet was dropped, left on another port, created a flow, or leaked a buffer.
 *
 * <p>{@code forward} includes re-arming the vector (allocate 256 buffers, copy each flow's headers and the
 * payload in, free on transmit); {@code rearmOnly} measures that part alone, to subtract. After each trial the
 * fork prints the per-stage figures of its measurement iterations, as {@code show runtime} does, and the CPU
 * that each measurement iteration ended on ({@link ThreadCpu}).
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 5, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 3, jvmArgsAppend = {Jvm.NATIVE_ACCESS, Jvm.UNSAFE_ALLOW, Jvm.AGRONA_EXPORTS, Jvm.HEAP_MIN,
    Jvm.HEAP_MAX})
@State(Scope.Thread)
public class ClusterIpToRemoteBenchmark
{
    /** Ethernet frame length of the pod's packets, without FCS. */
    @Param({"64", "1500"})
    public int frameSize;

    /** Active (established) flows the vectors cycle through. */
    @Param({"1000", "100000"})
    public int flows;

    private ClusterIpNode node;
    private boolean marked;
    private final ThreadCpu cpus = new ThreadCpu(64);

    /**
     * Builds the node and opens every flow, then runs the tear-down's report and checks once: JMH counts the
     * trial tear-down in the last measurement iteration, so its first-use costs (class loading, formatter and
     * lambda linkage, hundreds of KB) would otherwise show up in {@code gc.alloc.rate.norm}.
     */
    @Setup(Level.Trial)
    public void setUp()
    {
        node = new ClusterIpNode(frameSize, flows);
        node.warm();
        node.verify();
        if (node.runtimeReport().isEmpty())
        {
            throw new IllegalStateException("no packet went through the graph while warming");
        }
        // links the sched_getcpu downcall and the report's formatting now, not inside a measured iteration
        new ThreadCpu(1).record();
        cpus.report();
    }

    /**
     * Marks the per-stage figures when the first measurement iteration starts.
     *
     * @param iteration JMH's description of the coming iteration.
     */
    @Setup(Level.Iteration)
    public void markMeasurement(final IterationParams iteration)
    {
        if (iteration.getType() == IterationType.MEASUREMENT && !marked)
        {
            node.markRuntime();
            marked = true;
        }
    }

    /**
     * Records the CPU the benchmark thread ended each measurement iteration on: on a VM whose vCPUs run at
     * different speeds the fork's figure depends on it.
     *
     * @param iteration JMH's description of the iteration that ended.
     */
    @TearDown(Level.Iteration)
    public void recordCpu(final IterationParams iteration)
    {
        if (iteration.getType() == IterationType.MEASUREMENT)
        {
            cpus.record();
        }
    }

    /** Prints the per-stage runtime of this fork, then fails the trial on a drop, a new flow or a leak. */
    @TearDown(Level.Trial)
    public void tearDown()
    {
        try
        {
            final String runtime = node.runtimeReport();
            if (!runtime.isEmpty())
            {
                System.out.print(System.lineSeparator() + "show runtime (measurement), frameSize " + frameSize
                    + ", flows " + flows + ":" + System.lineSeparator() + runtime);
            }
            // separate prints, no string concatenation: a concatenation site links on first use (allocates)
            System.out.print("benchmark thread's CPU at the end of each measurement iteration: ");
            System.out.print(cpus.report());
            System.out.println();
            node.verify();
        }
        finally
        {
            node.close();
        }
    }

    /**
     * One vector of established packets through the whole graph: DNAT, then encap toward the remote node.
     *
     * @return packets transmitted so far.
     */
    @Benchmark
    @OperationsPerInvocation(256)
    public long forward()
    {
        return node.forward();
    }

    /**
     * The re-arm alone: what {@code forward} spends outside the graph.
     *
     * @return a handle.
     */
    @Benchmark
    @OperationsPerInvocation(256)
    public int rearmOnly()
    {
        return node.rearmAndFree();
    }
}
