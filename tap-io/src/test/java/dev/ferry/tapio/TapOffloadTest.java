package dev.ferry.tapio;

import dev.ferry.core.Counters;
import dev.ferry.core.ManualClock;
import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Two pod TAPs with the virtio header and TSO, joined by a wire in a test thread (read from one, write to the
 * other, metadata as read): the kernel in each namespace hands over and takes 64 KB TCP superframes, and a 4 MB
 * transfer arrives with the same SHA-256. Without the offload metadata on write the receiving kernel would drop
 * every superframe (its checksum field holds only the pseudo-header sum). With offloads switched off in the pods
 * ({@code ethtool -K}, as the lab benchmark does) the same transfer crosses as plain frames.
 */
@Tag("netns")
class TapOffloadTest
{
    static final String NS_A = "ferry-tio-oa";
    static final String NS_B = "ferry-tio-ob";
    static final String TAP_A = "ferry-tio-oa0";
    static final String TAP_B = "ferry-tio-ob0";

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
        Netns.inNs(NS_A, "sh", "-c", "socat -u OPEN:" + src + " TCP4:10.198.0.2:5001");
        assertThat(server.waitFor(20, TimeUnit.SECONDS)).isTrue();
        final String want = Netns.must("sha256sum", src.toString()).split(" ")[0];
        assertThat(Files.readString(sum).split(" ")[0]).as(what).isEqualTo(want);
    }

    @Test
    void shouldCarryTcpSuperframesBetweenTwoPodsWhole() throws Exception
    {
        final PacketPool pool = new PacketPool(1024, PacketPool.DEFAULT_BUFFER_SIZE, PacketPool.DEFAULT_HEADROOM, 256);
        final Counters counters = Counters.inMemory(128);
        final ManualClock clock = new ManualClock(1L);
        Netns.create(NS_A);
        Netns.create(NS_B);
        final AtomicBoolean stop = new AtomicBoolean();
        final AtomicLong superframes = new AtomicLong();
        final AtomicLong largest = new AtomicLong();
        try (TapPort a = TapPort.open(TAP_A, 1, pool, counters, clock, new TapPort.Options()
                .mac(0x02fe00000a01L).vnetHeader(TapPort.VNET_HDR).offloads(true));
            TapPort b = TapPort.open(TAP_B, 2, pool, counters, clock, new TapPort.Options()
                .mac(0x02fe00000a02L).vnetHeader(TapPort.VNET_HDR).offloads(true)))
        {
            assertThat(a.acceptsOffload()).as("the kernel took TSO: offloads 0x" + Integer.toHexString(a.offloads()))
                .isTrue();
            TapPortTest.plumb(NS_A, TAP_A, "10.198.0.1/24", "10.198.0.2");
            TapPortTest.plumb(NS_B, TAP_B, "10.198.0.2/24", "10.198.0.1");
            Netns.must("ip", "-n", NS_A, "neigh", "replace", "10.198.0.2", "lladdr", "02:fe:00:00:0a:02", "dev", TAP_A);
            Netns.must("ip", "-n", NS_B, "neigh", "replace", "10.198.0.1", "lladdr", "02:fe:00:00:0a:01", "dev", TAP_B);
            assertThat(Netns.inNs(NS_A, "ethtool", "-k", TAP_A)).as("the pod sees TSO on its link")
                .contains("tcp-segmentation-offload: on");

            final Thread wire = Thread.ofPlatform().name("ferry-tio-wire").start(() ->
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
                            if (pool.gsoSize(h) != 0)
                            {
                                superframes.incrementAndGet();
                                largest.accumulateAndGet(pool.length(h), Math::max);
                            }
                            // the TAP's frames carry their IPv4 header right after Ethernet
                            pool.l3Offset(h, 14);
                            pair[1].transmit(h);
                        }
                        // the worker flushes once per graph run: a TAP with TSO writes its TX batch there
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
                transfer("the 4 MB arrived intact");
                final long withTso = superframes.get();
                // the lab benchmark's "offloads off": the pods switch them off with ethtool; plain frames only
                for (final String[] nsTap : new String[][] {{NS_A, TAP_A}, {NS_B, TAP_B}})
                {
                    Netns.inNs(nsTap[0], "ethtool", "-K", nsTap[1], "tso", "off", "gso", "off", "gro", "off", "tx",
                        "off");
                }
                transfer("the 4 MB arrived intact with offloads off in the pods");
                assertThat(superframes.get()).as("no superframe with TSO off").isEqualTo(withTso);
            }
            finally
            {
                stop.set(true);
                wire.join(5000);
            }
            System.out.printf("TapOffloadTest: %d superframes, largest %d bytes%n", superframes.get(), largest.get());
            assertThat(superframes.get()).as("TCP crossed as superframes").isPositive();
            assertThat(largest.get()).as("larger than any MTU-sized frame").isGreaterThan(9000);
            assertThat(counters.get("port/" + TAP_A + "/rx-errors") + counters.get("port/" + TAP_B + "/rx-errors")
                + counters.get("port/" + TAP_A + "/tx-errors") + counters.get("port/" + TAP_B + "/tx-errors"))
                .as("no rx/tx errors").isZero();
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
