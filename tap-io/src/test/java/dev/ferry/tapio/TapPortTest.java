package dev.ferry.tapio;

import dev.ferry.core.Counters;
import dev.ferry.core.ManualClock;
import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;
import dev.ferry.core.header.Checksum;
import dev.ferry.core.header.Wire;
import dev.ferry.core.packet.FrameBuilder;
import dev.ferry.core.route.Ip4;

import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

@Tag("netns")
class TapPortTest
{
    static final String NS = "ferry-tio-a";
    static final String TAP = "ferry-tio0";
    static final long POD_MAC = Ip4.parseMac("02:fe:00:00:00:01");
    static final long OUR_MAC = Ip4.parseMac("02:fe:00:00:00:02");
    static final int POD_IP = Ip4.parse("10.199.0.1");
    static final int OUR_IP = Ip4.parse("10.199.0.2");

    private final PacketPool pool = new PacketPool(512);
    private final Counters counters = Counters.inMemory(128);
    private final ManualClock clock = new ManualClock(1_000L);
    private final PacketVector v = new PacketVector();

    @BeforeEach
    void root()
    {
        Netns.assumeRoot();
    }

    @AfterEach
    void poolIsFullAgain()
    {
        assertThat(pool.available()).as("buffers leaked").isEqualTo(pool.capacity());
        pool.close();
        counters.close();
    }

    /** Moves the TAP into the namespace and gives the pod side an address and a static neighbour for us. */
    static void plumb(final String ns, final String tap, final String podCidr, final String ourIp)
    {
        Netns.must("ip", "link", "set", tap, "netns", ns);
        Netns.must("ip", "-n", ns, "addr", "add", podCidr, "dev", tap);
        Netns.must("ip", "-n", ns, "link", "set", tap, "up");
        Netns.must("ip", "-n", ns, "neigh", "replace", ourIp, "lladdr", "02:fe:00:00:00:02", "dev", tap);
    }

    @ParameterizedTest(name = "virtio header {0}")
    @ValueSource(ints = {0, TapPort.VNET_HDR, TapPort.VNET_HDR_MRG})
    void shouldExchangeFramesWithTheKernelInAPodNamespace(final int vnetHeader) throws Exception
    {
        Netns.create(NS);
        try (TapPort tap = TapPort.open(TAP, 4, pool, counters, clock,
            new TapPort.Options().mac(POD_MAC).vnetHeader(vnetHeader)))
        {
            plumb(NS, TAP, "10.199.0.1/24", "10.199.0.2");

            // kernel -> ferry: a UDP datagram sent by a process in the pod
            Netns.inNs(NS, "bash", "-c", "printf hello-ferry > /dev/udp/10.199.0.2/9999");
            final byte[] udp = awaitFrame(tap, 17, 9999);
            assertThat(udp).as("UDP frame from the pod").isNotNull();
            final MemorySegment u = MemorySegment.ofArray(udp);
            assertThat(Wire.u48(u, 0)).as("dst MAC").isEqualTo(OUR_MAC);
            assertThat(Wire.u48(u, 6)).as("src MAC is the one we set").isEqualTo(POD_MAC);
            assertThat(Wire.u32(u, 26)).isEqualTo(POD_IP);
            assertThat(Wire.u32(u, 30)).isEqualTo(OUR_IP);
            assertThat(new String(udp, 42, udp.length - 42, StandardCharsets.US_ASCII)).isEqualTo("hello-ferry");
            assertThat(Checksum.fold(Checksum.sum(u, 34, udp.length - 34)
                + Checksum.pseudoHeader(POD_IP, OUR_IP, 17, udp.length - 34))).as("UDP checksum").isEqualTo(0xffff);
            assertThat(counters.get("port/" + TAP + "/rx-packets")).isGreaterThanOrEqualTo(1);

            // ferry -> kernel: an echo request; the pod's kernel answers it, so it accepted our bytes
            final byte[] payload = "ferry-ping-payload".getBytes(StandardCharsets.US_ASCII);
            send(tap, new FrameBuilder().eth(OUR_MAC, POD_MAC).ip4(OUR_IP, POD_IP).icmp(8, 0, 0x1234_0001)
                .payload(payload).build());
            final byte[] reply = awaitFrame(tap, 1, -1);
            assertThat(reply).as("echo reply from the pod").isNotNull();
            final byte[] expected = new FrameBuilder().eth(POD_MAC, OUR_MAC).ip4(POD_IP, OUR_IP).icmp(0, 0, 0x1234_0001)
                .payload(payload).build();
            // the kernel picks its own IP id; compare everything else byte for byte
            assertThat(Arrays.copyOfRange(reply, 34, reply.length)).isEqualTo(Arrays.copyOfRange(expected, 34,
                expected.length));
            assertThat(Arrays.copyOfRange(reply, 0, 18)).isEqualTo(Arrays.copyOfRange(expected, 0, 18));
            assertThat(counters.get("port/" + TAP + "/tx-packets")).isEqualTo(1);

            // and the other way round: ping from the pod, answered by us
            final Process ping = Netns.startInNs(NS, "ping", "-c", "1", "-W", "5", "10.199.0.2");
            final byte[] request = awaitFrame(tap, 1, -1);
            assertThat(request).as("echo request from ping").isNotNull();
            assertThat(request[34]).as("ICMP type").isEqualTo((byte)8);
            final byte[] built = new FrameBuilder().eth(OUR_MAC, POD_MAC).ip4(OUR_IP, POD_IP)
                .icmp(0, 0, Wire.u32(MemorySegment.ofArray(request), 38))
                .payload(Arrays.copyOfRange(request, 42, request.length)).build();
            send(tap, built);
            assertThat(ping.waitFor(10, TimeUnit.SECONDS)).isTrue();
            assertThat(ping.exitValue()).as("ping got our reply: " + new String(ping.getInputStream().readAllBytes(),
                StandardCharsets.UTF_8)).isZero();
        }
        finally
        {
            Netns.delete(NS);
            Netns.deleteLink(TAP);
        }
    }

    @Test
    void shouldKeepAPersistentDeviceAcrossCloseAndAttachAgainInsideThePodNamespace() throws Exception
    {
        final String ns = "ferry-tio-b";
        final String name = "ferry-tio1";
        Netns.create(ns);
        try
        {
            try (TapPort tap = TapPort.open(name, 0, pool, counters, clock,
                new TapPort.Options().mac(POD_MAC).mtu(1400).persistent(true).up(true).txQueueLength(3000)))
            {
                assertThat(tap.name()).isEqualTo(name);
                assertThat(Interfaces.mtu(name)).isEqualTo(1400);
                assertThat(Interfaces.mac(name)).isEqualTo(POD_MAC);
                assertThat(Interfaces.flags(name) & LinuxNative.IFF_UP).isNotZero();
                plumb(ns, name, "10.199.1.1/24", "10.199.1.2");
            }
            // the dataplane is gone; the pod keeps its interface and address
            assertThat(Netns.must("ip", "-n", ns, "addr", "show", "dev", name)).contains("10.199.1.1/24")
                .contains("02:fe:00:00:00:01").contains("mtu 1400").contains("qlen 3000");

            try (TapPort again = TapPort.open(name, 0, pool, counters, clock,
                new TapPort.Options().namespace(Netns.path(ns)).txQueueLength(4096)))
            {
                // set inside the pod's namespace too: a restart raises the queue of a device an older ferry made
                assertThat(Netns.must("ip", "-n", ns, "link", "show", name)).contains("qlen 4096");
                assertThat(Interfaces.index(name)).as("still not in our namespace").isZero();
                Netns.inNs(ns, "bash", "-c", "printf back > /dev/udp/10.199.1.2/7777");
                final byte[] f = awaitFrame(again, 17, 7777);
                assertThat(f).as("frame through the reattached descriptor").isNotNull();
                assertThat(new String(f, 42, f.length - 42, StandardCharsets.US_ASCII)).isEqualTo("back");
                again.persistent(false);
            }
            assertThat(Netns.run("ip", "-n", ns, "link", "show", name).code()).as("device gone").isNotZero();
        }
        finally
        {
            Netns.delete(ns);
            Netns.deleteLink(name);
        }
    }

    @Test
    void shouldNameTheCallAndErrnoWhenOpeningFails()
    {
        assertThatThrownBy(() -> TapPort.open("ferry-tio-this-is-too-long", 0, pool, counters, clock,
            new TapPort.Options())).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("1 to 15");
        final TapPort.Options wrong = new TapPort.Options().vnetHeader(TapPort.VNET_HDR).persistent(true);
        try (TapPort plain = TapPort.open("ferry-tio2", 0, pool, counters, clock,
            new TapPort.Options().persistent(true)))
        {
            // a single-queue device already attached to a descriptor refuses a second one
            assertThatThrownBy(() -> TapPort.open("ferry-tio2", 0, pool, counters, clock, wrong))
                .isInstanceOf(NativeException.class)
                .hasMessage("ioctl(TUNSETIFF, ferry-tio2): Device or resource busy (errno 16)")
                .extracting(e -> ((NativeException)e).errno()).isEqualTo(16);
            plain.persistent(false);
        }
        catch (final NativeException e)
        {
            throw new AssertionError(e);
        }
        finally
        {
            Netns.deleteLink("ferry-tio2");
        }
        assertThat(Interfaces.index("ferry-tio2")).isZero();
    }

    private void send(final TapPort tap, final byte[] frame)
    {
        final int h = pool.allocate();
        pool.write(h, frame, 0, frame.length);
        pool.txPort(h, tap.id());
        tap.transmit(h);
    }

    /**
     * Receives until a frame of the given IP protocol (and UDP destination port, when not -1) arrives; frees
     * every buffer; gives up after 5 seconds.
     */
    private byte[] awaitFrame(final TapPort tap, final int protocol, final int udpPort)
    {
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        byte[] found = null;
        while (found == null && System.nanoTime() < deadline)
        {
            tap.awaitReadable(100);
            tap.receive(v);
            for (int i = 0; i < v.count(); i++)
            {
                final int h = v.get(i);
                final byte[] f = pool.toArray(h);
                assertThat(pool.rxPort(h)).isEqualTo(tap.id());
                pool.free(h);
                if (found == null && matches(f, protocol, udpPort))
                {
                    found = f;
                }
            }
            v.clear();
        }
        return found;
    }

    static boolean matches(final byte[] f, final int protocol, final int udpPort)
    {
        final MemorySegment s = MemorySegment.ofArray(f);
        return f.length >= 42 && Wire.u16(s, 12) == 0x0800 && Wire.u8(s, 23) == protocol
            && (udpPort < 0 || Wire.u16(s, 36) == udpPort);
    }
}
