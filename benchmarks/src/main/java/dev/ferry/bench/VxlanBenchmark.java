package dev.ferry.bench;

import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;
import dev.ferry.core.header.EthernetHeader;
import dev.ferry.core.header.Ip4Header;
import dev.ferry.core.header.TcpHeader;
import dev.ferry.core.packet.FrameBuilder;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.tables.Fib;
import dev.ferry.vxlan.VxlanDecap;
import dev.ferry.vxlan.VxlanEncap;
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

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.TimeUnit;

/**
 * {@code vxlan-encap} and {@code vxlan-decap} called directly over vectors of 256 inner frames of 64 or 1500
 * bytes (TCP between local pods and pods on 4 remote nodes), with the node's default settings (flannel's:
 * outer UDP checksum on, frames out of the uplink). Scores are nanoseconds per packet.
 *
 * <p>{@code encap}: each invocation re-arms 256 buffers (allocate, copy the inner template in, set the
 * adjacency that ip4-lookup would have set), encapsulates them (TTL, MTU check, inner MAC rewrite, 50 bytes
 * prepended from the VTEP template, outer length, id, checksums) and frees them. {@code decap}: the same with
 * whole VXLAN frames from the remote nodes to this one (outer IPv4 and UDP checks, the UDP checksum verified
 * over the whole datagram, VNI and VTEP checks, inner frame exposed). {@code rearmInner} and {@code rearmOuter}
 * measure the re-arm parts alone (allocate, copy, free), to subtract from {@code encap} and {@code decap}.
 *
 * <p>The decap frames are encap's own output with the outer and inner addresses, ports and MACs swapped, which
 * keeps every checksum valid. Any packet that leaves on another edge, or is dropped, fails the trial.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 5, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 3, jvmArgsAppend = {Jvm.NATIVE_ACCESS, Jvm.UNSAFE_ALLOW, Jvm.AGRONA_EXPORTS, Jvm.HEAP_MIN,
    Jvm.HEAP_MAX})
@State(Scope.Thread)
public class VxlanBenchmark
{
    private static final int VECTOR = PacketVector.CAPACITY;
    private static final int OVERHEAD = 50;

    /** Inner Ethernet frame length, without FCS. */
    @Param({"64", "1500"})
    public int frameSize;

    private ClusterIpNode node;
    private VxlanEncap encap;
    private VxlanDecap decap;
    private Arena arena;
    private MemorySegment inner;
    private MemorySegment outer;
    private final int[] adjacency = new int[VECTOR];
    private final int[] rxPort = new int[VECTOR];
    private final PacketVector in = new PacketVector();
    private final EdgeCounter encapOut = new EdgeCounter();
    private final EdgeCounter decapOut = new EdgeCounter();
    private final int[] scratch = new int[VECTOR];

    /** Builds the node, the two stages, the inner templates and, through encap, the outer templates. */
    @Setup(Level.Trial)
    public void setUp()
    {
        node = new ClusterIpNode(frameSize, 1);
        encap = new VxlanEncap(node.pool(), node.tablesRef(), node.vtepSlot(), node.vxlanSettings(),
            node.tunnelPort());
        decap = new VxlanDecap(node.pool(), node.tablesRef(), node.vtepSlot(), node.tunnelPort());
        final Fib fib = node.snapshot().fib();
        arena = Arena.ofShared();
        inner = arena.allocate((long)VECTOR * frameSize, 64);
        outer = arena.allocate((long)VECTOR * (frameSize + OVERHEAD), 64);
        for (int i = 0; i < VECTOR; i++)
        {
            final int pod = i % ClusterIpNode.PODS;
            final int src = ClusterIpNode.podIp(pod);
            final int dst = ClusterIpNode.endpointIp(i % ClusterIpNode.SERVICES, i / ClusterIpNode.SERVICES
                % ClusterIpNode.ENDPOINTS);
            final byte[] frame = new FrameBuilder()
                .eth(Ip4.podMac(src), ClusterIpNode.GATEWAY_MAC)
                .ip4(src, dst)
                .ttl(64)
                .df(true)
                .tcp(10000 + i, ClusterIpNode.TARGET_PORT, TcpHeader.PSH | TcpHeader.ACK, 1000, 2000)
                .payload(new byte[frameSize - ClusterIpNode.HEADERS])
                .build();
            MemorySegment.copy(frame, 0, inner, ValueLayout.JAVA_BYTE, (long)i * frameSize, frameSize);
            final int adj = fib.lookup(dst);
            if (adj < 0 || fib.kind(adj) != Fib.REMOTE_POD)
            {
                throw new IllegalStateException(Ip4.format(dst) + " does not route to a remote node");
            }
            adjacency[i] = adj;
            rxPort[i] = node.ports().idOf("pod-" + pod);
        }
        // the outer templates: encap's own output, turned around so that it comes from the remote nodes
        rearmInner();
        encapOut.vector.clear();
        encap.process(in, encapOut);
        encapOut.requireOnly(encap.name(), VxlanEncap.NEXT_OUTPUT);
        final PacketPool pool = node.pool();
        for (int i = 0; i < VECTOR; i++)
        {
            final int h = encapOut.vector.get(i);
            if (pool.length(h) != frameSize + OVERHEAD)
            {
                throw new IllegalStateException("encapsulated length " + pool.length(h));
            }
            final long t = (long)i * (frameSize + OVERHEAD);
            MemorySegment.copy(pool.memory(), pool.frameOffset(h), outer, t, frameSize + OVERHEAD);
            turnAround(outer, t);
            pool.free(h);
        }
    }

    /**
     * Swaps source and destination of the outer Ethernet and IPv4 headers and of the inner Ethernet, IPv4 and
     * TCP headers. Each swapped field is 16-bit aligned in the UDP payload and the sums are commutative, so the
     * IPv4, TCP and outer UDP checksums stay valid.
     */
    private static void turnAround(final MemorySegment frame, final long at)
    {
        swap(frame, at, at + 6, 6);
        swap(frame, at + EthernetHeader.LENGTH + Ip4Header.SRC_OFFSET, at + EthernetHeader.LENGTH
            + Ip4Header.DST_OFFSET, 4);
        final long in = at + OVERHEAD;
        swap(frame, in, in + 6, 6);
        swap(frame, in + EthernetHeader.LENGTH + Ip4Header.SRC_OFFSET, in + EthernetHeader.LENGTH
            + Ip4Header.DST_OFFSET, 4);
        final long tcp = in + EthernetHeader.LENGTH + Ip4Header.MIN_LENGTH;
        swap(frame, tcp, tcp + 2, 2);
    }

    private static void swap(final MemorySegment m, final long a, final long b, final int len)
    {
        for (int i = 0; i < len; i++)
        {
            final byte x = m.get(ValueLayout.JAVA_BYTE, a + i);
            m.set(ValueLayout.JAVA_BYTE, a + i, m.get(ValueLayout.JAVA_BYTE, b + i));
            m.set(ValueLayout.JAVA_BYTE, b + i, x);
        }
    }

    /** Fails the trial on any drop or other edge, then checks for leaks. */
    @TearDown(Level.Trial)
    public void tearDown()
    {
        try
        {
            encapOut.requireOnly(encap.name(), VxlanEncap.NEXT_OUTPUT);
            decapOut.requireOnly(decap.name(), VxlanDecap.NEXT_ETHERNET);
            node.verify();
        }
        finally
        {
            arena.close();
            node.close();
        }
    }

    /** Re-arms {@link #in} with the 256 inner frames, as ip4-lookup leaves them for vxlan-encap. */
    private void rearmInner()
    {
        final PacketPool pool = node.pool();
        final MemorySegment mem = pool.memory();
        final MemorySegment inner = this.inner;
        final PacketVector in = this.in;
        final int size = frameSize;
        in.clear();
        for (int i = 0; i < VECTOR; i++)
        {
            final int h = pool.allocate();
            MemorySegment.copy(inner, (long)i * size, mem, pool.frameOffset(h), size);
            pool.length(h, size);
            pool.rxPort(h, rxPort[i]);
            pool.l3Offset(h, EthernetHeader.LENGTH);
            pool.aux(h, adjacency[i]);
            in.add(h);
        }
    }

    /** Re-arms {@link #in} with the 256 VXLAN frames, as ethernet-input and vxlan-bypass leave them. */
    private void rearmOuter()
    {
        final PacketPool pool = node.pool();
        final MemorySegment mem = pool.memory();
        final MemorySegment outer = this.outer;
        final PacketVector in = this.in;
        final int size = frameSize + OVERHEAD;
        final int uplink = node.uplinkPort();
        in.clear();
        for (int i = 0; i < VECTOR; i++)
        {
            final int h = pool.allocate();
            MemorySegment.copy(outer, (long)i * size, mem, pool.frameOffset(h), size);
            pool.length(h, size);
            pool.rxPort(h, uplink);
            pool.l3Offset(h, EthernetHeader.LENGTH);
            in.add(h);
        }
    }

    private int freeAll(final PacketVector v)
    {
        final PacketPool pool = node.pool();
        final int n = v.count();
        final int first = n == 0 ? -1 : v.get(0);
        for (int i = 0; i < n; i++)
        {
            pool.free(v.get(i));
        }
        return first;
    }

    /**
     * Encapsulates one vector.
     *
     * @return a handle.
     */
    @Benchmark
    @OperationsPerInvocation(256)
    public int encap()
    {
        rearmInner();
        encapOut.vector.clear();
        encap.process(in, encapOut);
        return freeAll(encapOut.vector);
    }

    /**
     * Decapsulates one vector.
     *
     * @return a handle.
     */
    @Benchmark
    @OperationsPerInvocation(256)
    public int decap()
    {
        rearmOuter();
        decapOut.vector.clear();
        decap.process(in, decapOut);
        return freeAll(decapOut.vector);
    }

    /**
     * The re-arm of {@code encap} alone.
     *
     * @return a handle.
     */
    @Benchmark
    @OperationsPerInvocation(256)
    public int rearmInnerOnly()
    {
        rearmInner();
        return freeAll(in);
    }

    /**
     * The re-arm of {@code decap} alone.
     *
     * @return a handle.
     */
    @Benchmark
    @OperationsPerInvocation(256)
    public int rearmOuterOnly()
    {
        rearmOuter();
        return freeAll(in);
    }

    /** @return encap's edges so far (tests). */
    EdgeCounter encapOut()
    {
        return encapOut;
    }

    /** @return decap's edges so far (tests). */
    EdgeCounter decapOut()
    {
        return decapOut;
    }

    /** @return the node (tests). */
    ClusterIpNode node()
    {
        return node;
    }
}
