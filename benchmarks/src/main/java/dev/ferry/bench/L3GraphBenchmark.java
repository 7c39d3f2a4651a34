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
 * Pod to pod on one node through the node's whole graph ({@code graph=node}) or the L3 stages alone
 * ({@code graph=l3}, no Service or tunnel stages), over vectors of 256 frames of 64 or 1500 bytes. Scores are
 * nanoseconds per packet; 1000 / score is Mpps on one core.
 *
 * <p>{@code forward}: re-arm a vector (allocate 256 buffers, copy the templates in, as an RX port would) and
 * run ethernet-input, ip4-input, ip4-lookup, ip4-rewrite and interface-output over it; the sink frees each
 * buffer. {@code rearmOnly}: the harness part alone (allocate, copy, free), to subtract. After each trial the
 * fork prints the graph's per-stage figures over its measurement iterations (calls, packets, ns per packet,
 * as {@code show runtime} does) and the node checks that every packet was transmitted, so a misconfigured
 * table fails the run instead of measuring drops.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 5, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 5, jvmArgsAppend = {Jvm.NATIVE_ACCESS, Jvm.UNSAFE_ALLOW, Jvm.AGRONA_EXPORTS, Jvm.HEAP_MIN,
    Jvm.HEAP_MAX})
@State(Scope.Thread)
public class L3GraphBenchmark
{
    /** Ethernet frame length in bytes, without FCS. */
    @Param({"64", "1500"})
    public int frameSize;

    /**
     * Which graph: {@code node}, the node's own graph from {@code NodeGraph} (what {@code ferry node} and
     * {@code ferry replay} run: pod-to-pod also passes vxlan-bypass, nat44-in and nat44-new), or {@code l3}, the
     * L3 stages alone from the same assembly (the figure the README quoted before the one-graph change).
     */
    @Param({"node", "l3"})
    public String graph;

    private PodToPodNode node;
    private boolean marked;

    /** Builds the node. */
    @Setup(Level.Trial)
    public void setUp()
    {
        node = new PodToPodNode(frameSize, "node".equals(graph));
    }

    /**
     * Marks the per-stage figures when the first measurement iteration starts, so the report leaves the
     * warm-up out.
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

    /** Prints the per-stage runtime of this fork, then fails the trial if a packet was dropped or leaked. */
    @TearDown(Level.Trial)
    public void tearDown()
    {
        try
        {
            final String runtime = node.runtimeReport();
            if (!runtime.isEmpty())
            {
                // JMH shows a fork's output; one nanoTime pair per stage call (VPP show runtime style)
                System.out.print(System.lineSeparator() + "show runtime (measurement), frameSize " + frameSize
                    + ":"
                    + System.lineSeparator() + runtime);
            }
            node.verify();
        }
        finally
        {
            node.close();
        }
    }

    /**
     * One vector through the whole graph.
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
