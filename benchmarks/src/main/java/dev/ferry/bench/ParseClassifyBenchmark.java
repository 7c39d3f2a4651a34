package dev.ferry.bench;

import dev.ferry.core.DropReason;
import dev.ferry.core.PacketVector;
import dev.ferry.core.Stage;
import dev.ferry.core.stage.EthernetInput;
import dev.ferry.core.stage.Ip4Input;
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
 * Parse and classify: ethernet-input then ip4-input (header validation and checksum) over a vector of 256
 * 64-byte pod-to-pod frames, called directly, without the graph runner. Scores are nanoseconds per packet.
 *
 * <p>Neither stage changes the frames (the frames are exact, so nothing is trimmed), so the same vector is
 * classified again at every invocation without re-arming. A drop or a short output fails the trial.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 5, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 3, jvmArgsAppend = {Jvm.NATIVE_ACCESS, Jvm.UNSAFE_ALLOW, Jvm.AGRONA_EXPORTS, Jvm.HEAP_MIN,
    Jvm.HEAP_MAX})
@State(Scope.Thread)
public class ParseClassifyBenchmark
{
    private PodToPodNode node;
    private EthernetInput ethernetInput;
    private Ip4Input ip4Input;
    private final PacketVector frames = new PacketVector();
    private final Collect afterEthernet = new Collect();
    private final Collect afterIp4 = new Collect();

    /** Loads 256 frames into pool buffers. */
    @Setup(Level.Trial)
    public void setUp()
    {
        node = new PodToPodNode(64);
        ethernetInput = new EthernetInput(node.pool(), node.ports());
        ip4Input = new Ip4Input(node.pool());
        for (int i = 0; i < PacketVector.CAPACITY; i++)
        {
            frames.add(node.load(i));
        }
    }

    /** Fails the trial on any drop, then frees the frames. */
    @TearDown(Level.Trial)
    public void tearDown()
    {
        try
        {
            if (afterEthernet.drops + afterIp4.drops != 0 || afterIp4.vector.count() != PacketVector.CAPACITY)
            {
                throw new IllegalStateException("parse/classify dropped " + (afterEthernet.drops + afterIp4.drops)
                    + " packets; last vector out " + afterIp4.vector.count());
            }
            for (int i = 0; i < frames.count(); i++)
            {
                node.pool().free(frames.get(i));
            }
        }
        finally
        {
            node.close();
        }
    }

    /**
     * One vector through ethernet-input and ip4-input.
     *
     * @return packets classified as valid IPv4.
     */
    @Benchmark
    @OperationsPerInvocation(256)
    public int ethernetThenIp4()
    {
        afterEthernet.vector.clear();
        afterIp4.vector.clear();
        ethernetInput.process(frames, afterEthernet);
        ip4Input.process(afterEthernet.vector, afterIp4);
        return afterIp4.vector.count();
    }

    /** A next-edge sink that collects packets into a vector and counts drops, without freeing anything. */
    static final class Collect implements Stage.Next
    {
        final PacketVector vector = new PacketVector();
        long drops;

        @Override
        public void next(final int handle, final int nextIndex)
        {
            vector.add(handle);
        }

        @Override
        public void drop(final int handle, final DropReason reason)
        {
            drops++;
        }

        @Override
        public void traceDetail(final int handle, final long a, final long b)
        {
        }

        @Override
        public void transmit(final int handle)
        {
            drops++;
        }

        @Override
        public void inject(final int handle, final int nextIndex)
        {
            drops++;
        }
    }
}
