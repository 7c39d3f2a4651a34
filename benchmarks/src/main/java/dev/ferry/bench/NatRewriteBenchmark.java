package dev.ferry.bench;

import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;
import dev.ferry.core.Stage;
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

import java.util.concurrent.TimeUnit;

/**
 * The NAT fast path: {@code nat44-in} called directly over a vector of 256 established TCP packets (64 B) of
 * 1,000 flows, pod to ClusterIP. Per packet: parse the L4 ports, one conntrack hit, the TCP state update, and the
 * DNAT rewrite (ClusterIP:80 to endpoint:8080) with RFC 1624 updates of the IP and TCP checksums. Scores are
 * nanoseconds per packet.
 *
 * <p>The flows come from {@link ClusterIpNode} (opened through nat44-new in the trial set-up, so the entries are
 * the ones the NAT makes). Each invocation first restores the 54 header bytes of the next 256 flows into the same
 * 256 buffers (the rewrite changed them); {@code restoreOnly} measures that part alone, to subtract. Every packet
 * must leave on the ip4-lookup edge: a miss (nat44-new edge) or a drop fails the trial.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 5, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 3, jvmArgsAppend = {Jvm.NATIVE_ACCESS, Jvm.UNSAFE_ALLOW, Jvm.AGRONA_EXPORTS, Jvm.HEAP_MIN,
    Jvm.HEAP_MAX})
@State(Scope.Thread)
public class NatRewriteBenchmark
{
    /** Flows the vectors cycle through. */
    static final int FLOWS = 1000;
    /** nat44-in's next edge toward ip4-lookup (its first declared edge). */
    static final int NEXT_LOOKUP = 0;

    private static final int VECTOR = PacketVector.CAPACITY;

    private ClusterIpNode node;
    private Stage nat44In;
    private final PacketVector in = new PacketVector();
    private final EdgeCounter out = new EdgeCounter();
    private final int[] buffers = new int[VECTOR];
    private int cursor;

    /** Builds the node, opens the flows and takes 256 buffers. */
    @Setup(Level.Trial)
    public void setUp()
    {
        node = new ClusterIpNode(64, FLOWS);
        node.warm();
        nat44In = node.nat().stages().get(0);
        for (int i = 0; i < VECTOR; i++)
        {
            buffers[i] = node.load(i);
        }
    }

    /** Fails the trial unless every packet was a tracked hit, then frees the buffers. */
    @TearDown(Level.Trial)
    public void tearDown()
    {
        try
        {
            out.requireOnly(nat44In.name(), NEXT_LOOKUP);
            final PacketPool pool = node.pool();
            for (int i = 0; i < VECTOR; i++)
            {
                pool.free(buffers[i]);
            }
            node.verify();
        }
        finally
        {
            node.close();
        }
    }

    /**
     * Restores 256 packets and runs nat44-in over them.
     *
     * @return packets passed to ip4-lookup in this vector.
     */
    @Benchmark
    @OperationsPerInvocation(256)
    public int dnatHit()
    {
        restore();
        out.vector.clear();
        nat44In.process(in, out);
        return out.vector.count();
    }

    /**
     * The restore alone: what {@code dnatHit} spends outside nat44-in.
     *
     * @return the vector's size.
     */
    @Benchmark
    @OperationsPerInvocation(256)
    public int restoreOnly()
    {
        restore();
        return in.count();
    }

    private void restore()
    {
        final ClusterIpNode node = this.node;
        final int[] buffers = this.buffers;
        final PacketVector in = this.in;
        final int flows = FLOWS;
        int c = cursor;
        in.clear();
        for (int i = 0; i < VECTOR; i++)
        {
            final int h = buffers[i];
            node.restoreHeaders(h, c);
            in.add(h);
            c = c + 1 == flows ? 0 : c + 1;
        }
        cursor = c;
    }

    /** @return the node (tests). */
    ClusterIpNode node()
    {
        return node;
    }

    /** @return the next edges seen so far (tests). */
    EdgeCounter out()
    {
        return out;
    }
}
