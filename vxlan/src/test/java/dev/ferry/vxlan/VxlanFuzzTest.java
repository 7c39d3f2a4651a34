package dev.ferry.vxlan;

import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AfterProperty;
import net.jqwik.api.lifecycle.BeforeProperty;

import java.util.Arrays;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** Random truncation and corruption of real VXLAN frames: never an exception, always a counted outcome. */
class VxlanFuzzTest
{
    private VxlanNode n1;
    private VxlanNode n2;
    private byte[] real;

    @BeforeProperty
    void setUp()
    {
        n1 = VxlanNode.node1(VxlanSettings.defaults());
        n2 = VxlanNode.node2(VxlanSettings.defaults());
        n1.receive(n1.podPort, Frames.podToPod(40000, 53, 120, false));
        real = n1.sent.get(0).bytes();
    }

    @AfterProperty
    void tearDown()
    {
        assertThat(n1.pool.available()).isEqualTo(n1.pool.capacity());
        assertThat(n2.pool.available()).as("no leaked buffer").isEqualTo(n2.pool.capacity());
        n1.close();
        n2.close();
    }

    @Provide
    Arbitrary<List<Integer>> edits()
    {
        // pairs (offset, xor value); the offsets concentrate on the 50 + 34 header bytes
        return Arbitraries.integers().between(0, 1 << 20).list().ofMinSize(0).ofMaxSize(8);
    }

    @Property(tries = 2000)
    void corruptedOrTruncatedFramesEndCounted(@ForAll("edits") final List<Integer> edits,
        @ForAll final boolean reseal, @ForAll final int cutSeed)
    {
        byte[] f = real.clone();
        for (final int e : edits)
        {
            final int off = (e >>> 8) % Math.min(f.length, (e & 1) == 0 ? 90 : f.length);
            f[off] ^= (byte)(e | 1);
        }
        if (reseal && f.length > 42)
        {
            Frames.reseal(f);
        }
        if ((cutSeed & 3) == 0)
        {
            f = Arrays.copyOf(f, Math.floorMod(cutSeed >> 2, f.length + 1));
        }
        final long before = n2.outcomes();
        n2.sent.clear();
        n2.receive(n2.uplink, f);
        assertThat(n2.outcomes() - before).as("exactly one outcome: a transmit or a counted drop").isEqualTo(1);
        for (final VxlanNode.Tx tx : n2.sent)
        {
            if (tx.port() == n2.podPort)
            {
                final byte[] d = tx.bytes();
                assertThat(Frames.ipChecksumOk(d, 14)).as("a delivered frame has a valid IP header").isTrue();
            }
        }
    }

    @Property(tries = 500)
    void socketDatagramsOfAnySizeEndCounted(@ForAll("edits") final List<Integer> edits, @ForAll final int cutSeed)
    {
        byte[] f = Arrays.copyOfRange(real, 42, real.length);
        for (final int e : edits)
        {
            f[(e >>> 8) % f.length] ^= (byte)(e | 1);
        }
        f = Arrays.copyOf(f, Math.floorMod(cutSeed, f.length + 1));
        final long before = n2.outcomes();
        final int h = n2.pool.allocate();
        n2.pool.write(h, f, 0, f.length);
        n2.pool.rxPort(h, n2.tunnel);
        n2.pool.l3Offset(h, VxlanDecap.SOCKET_DATAGRAM);
        n2.pool.aux(h, VxlanNode.NODE1);
        n2.graph.input(n2.graph.indexOf(VxlanDecap.NAME), h);
        n2.graph.run();
        assertThat(n2.outcomes() - before).isEqualTo(1);
    }
}
