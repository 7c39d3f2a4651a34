package dev.ferry.tapio;

import dev.ferry.core.Counters;
import dev.ferry.core.ManualClock;
import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;
import dev.ferry.core.header.Wire;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Receive-side coalescing into a pod TAP ({@link TapPort#flush()}): pod A sends plain 1448-byte segments (its TSO
 * and GSO off, as segments arrive from VXLAN), a wire in a test thread hands each batch read from A to B's TAP,
 * and B's TAP writes runs of them as superframes. B's kernel delivers the 4 MB intact (SHA-256). A segment whose
 * payload the wire corrupts inside a run is refused by the coalescer and written alone, so B's kernel drops it
 * (its TcpInCsumErrors counts it) and TCP retransmits: the transfer still arrives intact.
 */
@Tag("netns")
class TapCoalesceTest
{
    static final String NS_A = "ferry-tio-ca";
    static final String NS_B = "ferry-tio-cb";
    static final String TAP_A = "ferry-tio-ca0";
    static final String TAP_B = "ferry-tio-cb0";

    @TempDir
    Path dir;

    @BeforeEach
    void root()
    {
        Netns.assumeRoot();
    }

    /** Sends 4 MB from A to B over TCP and compares SHA-256. */
    private void transfer(final String what) throws Exception
    {
        final Path src = dir.resolve("src.bin");
        Netns.must("sh", "-c", "head -c 4000000 /dev/urandom > " + src);
        final Path sum = dir.resolve("sum");
        Files.deleteIfExists(sum);
        final Process server = Netns.startInNs(NS_B, "sh", "-c",
            "socat -u TCP4-LISTEN:5001,reuseaddr - | sha256sum > " + sum);
        Netns.must("sh", "-c", "for i in $(seq 50); do ip netns exec " + NS_B
            + " ss -ltn | grep -q :5001 && exit 0; sleep 0.1; done; exit 1");
        Netns.inNs(NS_A, "sh", "-c", "socat -u OPEN:" + src + " TCP4:10.197.0.2:5001");
        assertThat(server.waitFor(20, TimeUnit.SECONDS)).isTrue();
        final String want = Netns.must("sha256sum", src.toString()).split(" ")[0];
        assertThat(Files.readString(sum).split(" ")[0]).as(what).isEqualTo(want);
    }

    private static long inCsumErrors()
    {
        final String out = Netns.inNs(NS_B, "nstat", "-asz", "TcpInCsumErrors");
        for (final String line : out.split("\n"))
        {
            final String[] f = line.trim().split("\\s+");
            if (f.length >= 2 && "TcpInCsumErrors".equals(f[0]))
            {
                return Long.parseLong(f[1]);
            }
        }
        return 0;
    }

    @Test
    void shouldDeliverCoalescedSegmentsAndDropACorruptedOne() throws Exception
    {
        final PacketPool pool = new PacketPool(1024, PacketPool.DEFAULT_BUFFER_SIZE, PacketPool.DEFAULT_HEADROOM, 64);
        final Counters counters = Counters.inMemory(128);
        final ManualClock clock = new ManualClock(1L);
        Netns.create(NS_A);
        Netns.create(NS_B);
        final AtomicBoolean stop = new AtomicBoolean();
        // how many more segments the wire should corrupt (one in the middle of a batch of data segments)
        final AtomicInteger corrupt = new AtomicInteger();
        final AtomicInteger corrupted = new AtomicInteger();
        try (TapPort a = TapPort.open(TAP_A, 1, pool, counters, clock, new TapPort.Options()
                .mac(0x02fe00000b01L).vnetHeader(TapPort.VNET_HDR).offloads(true));
            TapPort b = TapPort.open(TAP_B, 2, pool, counters, clock, new TapPort.Options()
                .mac(0x02fe00000b02L).vnetHeader(TapPort.VNET_HDR).offloads(true)))
        {
            assertThat(b.acceptsOffload()).as("the kernel took TSO: offloads 0x" + Integer.toHexString(b.offloads()))
                .isTrue();
            TapPortTest.plumb(NS_A, TAP_A, "10.197.0.1/24", "10.197.0.2");
            TapPortTest.plumb(NS_B, TAP_B, "10.197.0.2/24", "10.197.0.1");
            Netns.must("ip", "-n", NS_A, "neigh", "replace", "10.197.0.2", "lladdr", "02:fe:00:00:0b:02", "dev", TAP_A);
            Netns.must("ip", "-n", NS_B, "neigh", "replace", "10.197.0.1", "lladdr", "02:fe:00:00:0b:01", "dev", TAP_B);
            // A sends MTU-sized segments, as they come out of VXLAN decap
            Netns.inNs(NS_A, "ethtool", "-K", TAP_A, "tso", "off", "gso", "off");

            final Thread wire = Thread.ofPlatform().name("ferry-tio-cwire").start(() ->
            {
                final PacketVector v = new PacketVector();
                while (!stop.get())
                {
                    boolean any = false;
                    for (final TapPort[] pair : new TapPort[][] {{a, b}, {b, a}})
                    {
                        v.clear();
                        final int n = pair[0].receive(v);
                        for (int i = 0; i < n; i++)
                        {
                            final int h = v.get(i);
                            pool.l3Offset(h, 14);
                            if (pair[0] == a && i == 1 && n >= 3 && corrupt.get() > 0 && pool.length(h) > 1000
                                && pool.length(v.get(0)) > 1000 && pool.length(v.get(2)) > 1000)
                            {
                                // flip a payload bit, checksum left as it was: what a hostile underlay can do
                                final long last = pool.frameOffset(h) + pool.length(h) - 1;
                                Wire.u8(pool.memory(), last, Wire.u8(pool.memory(), last) ^ 0x01);
                                corrupt.decrementAndGet();
                                corrupted.incrementAndGet();
                            }
                            pair[1].transmit(h);
                        }
                        pair[1].flush();
                        any |= n > 0;
                    }
                    if (!any)
                    {
                        a.awaitReadable(1);
                    }
                }
            });
            try
            {
                transfer("the 4 MB arrived intact through coalesced writes");
                final String port = "port/" + TAP_B + "/";
                final long frames = counters.get(port + "tx-coalesced-frames");
                final long segments = counters.get(port + "tx-coalesced-segments");
                System.out.printf("TapCoalesceTest: %d superframes of %d segments, %d tx-packets%n", frames, segments,
                    counters.get(port + "tx-packets"));
                assertThat(frames).as("runs went out as superframes").isPositive();
                assertThat(segments).as("each of at least two segments").isGreaterThanOrEqualTo(2 * frames);
                assertThat(counters.get(port + "tx-coalesce-bad-checksum")).as("nothing refused yet").isZero();

                final long errorsBefore = inCsumErrors();
                corrupt.set(1);
                transfer("the 4 MB arrived intact around a corrupted segment");
                assertThat(corrupted.get()).as("the wire corrupted one segment").isEqualTo(1);
                assertThat(counters.get(port + "tx-coalesce-bad-checksum")).as("the coalescer refused it")
                    .isEqualTo(1);
                assertThat(inCsumErrors() - errorsBefore).as("B's kernel dropped it for its checksum").isEqualTo(1);
            }
            finally
            {
                stop.set(true);
                wire.join(5000);
            }
            assertThat(counters.get("port/" + TAP_B + "/tx-errors")).as("no tx errors").isZero();
        }
        finally
        {
            Netns.delete(NS_A);
            Netns.delete(NS_B);
            Netns.deleteLink(TAP_A);
            Netns.deleteLink(TAP_B);
            assertThat(pool.available()).as("buffers leaked").isEqualTo(pool.capacity());
            pool.close();
            counters.close();
        }
    }
}
