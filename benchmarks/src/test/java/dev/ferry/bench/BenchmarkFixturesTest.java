package dev.ferry.bench;

import dev.ferry.core.PacketVector;
import dev.ferry.core.route.Ip4Lpm;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;
import org.openjdk.jmh.infra.Control;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The benchmarks measure what they claim: forwarding (not drops), routed lookups, valid checksums. */
class BenchmarkFixturesTest
{
    @ParameterizedTest
    @ValueSource(ints = {64, 1500})
    void shouldForwardEveryFrameToTheDestinationPodsPort(final int frameSize)
    {
        try (PodToPodNode node = new PodToPodNode(frameSize))
        {
            node.forward();
            node.forward();

            assertThat(node.sink().transmitted()).as("two vectors transmitted").isEqualTo(2L * PacketVector.CAPACITY);
            for (int port = 0; port < PodToPodNode.PODS; port++)
            {
                long expected = 0;
                for (int i = 0; i < PacketVector.CAPACITY; i++)
                {
                    expected += node.expectedTxPort(i) == port ? 2 : 0;
                }
                assertThat(node.sink().transmittedOn(port)).as("frames out of pod-%d", port).isEqualTo(expected);
            }
            node.verify();
            assertThat(node.pool().available()).as("no leaked buffer").isEqualTo(node.pool().capacity());
        }
    }

    @Test
    void shouldRefuseAFrameSizeThatThePodMtuWouldTurnIntoIcmpErrors()
    {
        assertThatThrownBy(() -> new PodToPodNode(1515)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new PodToPodNode(41)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void shouldReturnEveryBufferWhenOnlyReArming()
    {
        try (PodToPodNode node = new PodToPodNode(64))
        {
            node.rearmAndFree();
            assertThat(node.pool().available()).isEqualTo(node.pool().capacity());
        }
    }

    @Test
    void shouldClassifyTheWholeVectorAsValidIp4()
    {
        final ParseClassifyBenchmark b = new ParseClassifyBenchmark();
        b.setUp();
        assertThat(b.ethernetThenIp4()).isEqualTo(PacketVector.CAPACITY);
        assertThat(b.ethernetThenIp4()).as("the frames are unchanged, so again").isEqualTo(PacketVector.CAPACITY);
        b.tearDown();
    }

    @Test
    void shouldRouteEveryPrecomputedAddress()
    {
        final LpmBenchmark b = new LpmBenchmark();
        b.routes = 1000;
        b.setUp();
        for (final int addr : b.addresses())
        {
            assertThat(b.lpm().lookup(addr)).isNotEqualTo(Ip4Lpm.NO_ROUTE);
        }
        assertThat(b.lpm().size()).isBetween(990, 1000);
    }

    @Test
    void shouldSumAValidHeaderToZero()
    {
        final ChecksumBenchmark b = new ChecksumBenchmark();
        b.setUp();
        assertThat(b.ip4Header()).as("a header with its checksum sums to zero").isZero();
        assertThat(b.payload1500()).isBetween(0, 0xffff);
        b.tearDown();
    }

    @Test
    void shouldSplitTheSuperframeIntoFortySevenSegmentsWithoutAllocating()
    {
        final SegmentBenchmark b = new SegmentBenchmark();
        b.mss = 1398;
        b.setUp();
        assertThat(b.split64k()).as("65,483 payload bytes at 1,398 per segment").isEqualTo(47);
        assertThat(b.pool().available()).as("segments freed, the superframe kept").isEqualTo(b.pool().capacity() - 1);
        final java.lang.management.ThreadMXBean generic = java.lang.management.ManagementFactory.getThreadMXBean();
        if (generic instanceof com.sun.management.ThreadMXBean threads && threads.isThreadAllocatedMemorySupported())
        {
            threads.setThreadAllocatedMemoryEnabled(true);
            for (int i = 0; i < 20_000; i++)
            {
                b.split64k();
            }
            final long before = threads.getCurrentThreadAllocatedBytes();
            for (int i = 0; i < 2_000; i++)
            {
                b.split64k();
            }
            final long allocated = threads.getCurrentThreadAllocatedBytes() - before;
            // ThreadMXBean's own bookkeeping may cost a few bytes: less than one per superframe is none per split
            assertThat(allocated).as("bytes allocated over 2,000 warm splits").isLessThan(2_000);
        }
        b.tearDown();
    }

    @Test
    void shouldCoalesceFortyFiveSegmentsIntoOneSuperframeWithoutAllocating()
    {
        final CoalesceBenchmark b = new CoalesceBenchmark();
        b.mss = 1448;
        b.setUp();
        assertThat(b.gather64k()).as("14 + 20 + 32 + 45 x 1448").isEqualTo(65226);
        assertThat(b.coalescer().frameSegments(0)).as("one superframe of all 45").isEqualTo(45);
        assertThat(b.coalescer().refusedChecksums()).isZero();
        assertThat(b.copy64k()).isEqualTo(65226);
        assertThat(b.fusedSumCopy64k()).as("the fused loop sums what the plain sum does").isEqualTo(b.sum64k());
        final java.lang.management.ThreadMXBean generic = java.lang.management.ManagementFactory.getThreadMXBean();
        if (generic instanceof com.sun.management.ThreadMXBean threads && threads.isThreadAllocatedMemorySupported())
        {
            threads.setThreadAllocatedMemoryEnabled(true);
            for (int i = 0; i < 20_000; i++)
            {
                b.gather64k();
                b.copy64k();
            }
            final long before = threads.getCurrentThreadAllocatedBytes();
            for (int i = 0; i < 2_000; i++)
            {
                b.gather64k();
                b.copy64k();
                b.sum64k();
                b.fusedSumCopy64k();
            }
            final long allocated = threads.getCurrentThreadAllocatedBytes() - before;
            assertThat(allocated).as("bytes allocated over 2,000 warm coalesces of each kind").isLessThan(2_000);
        }
        b.tearDown();
    }

    @ParameterizedTest
    @ValueSource(strings = {"jctools", "agrona"})
    void shouldCarryEveryBatchAroundTheRingsWithoutLosingOne(final String ring)
    {
        final RingHopBenchmark b = new RingHopBenchmark();
        final RingHopBenchmark.Rings rings = new RingHopBenchmark.Rings();
        rings.ring = ring;
        rings.setUp();
        final RingHopBenchmark.Producer producer = new RingHopBenchmark.Producer();
        final RingHopBenchmark.Consumer consumer = new RingHopBenchmark.Consumer();
        final Control control = new Control();
        long sum = 0;
        final int rounds = 3 * RingHopBenchmark.BATCHES;
        for (int r = 0; r < rounds; r++)
        {
            b.produce(rings, producer, control);
            sum += b.consume(rings, consumer, control);
        }
        final long n = (long)rounds * PacketVector.CAPACITY;
        assertThat(sum).as("every handle 0..n-1 seen once").isEqualTo(n * (n - 1) / 2);
        assertThat(rings.free.size()).as("every batch back in the free ring").isEqualTo(RingHopBenchmark.BATCHES);
    }
}
