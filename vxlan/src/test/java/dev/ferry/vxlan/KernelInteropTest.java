package dev.ferry.vxlan;

import dev.ferry.core.header.IcmpHeader;
import dev.ferry.core.packet.FrameBuilder;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.route.Ip4Prefix;
import dev.ferry.core.tables.NodeTables;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static dev.ferry.vxlan.Frames.ip;
import static dev.ferry.vxlan.Frames.mac;
import static dev.ferry.vxlan.Frames.u16;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Byte compatibility with a Linux vxlan device built the way flannel builds one, in two network namespaces:
 *
 * <pre>
 *  ferry-vx-f (ferry's uplink side)              ferry-vx-k (a kernel flannel node)
 *  ferry-vx1 192.168.77.1  ◄──── veth ────►  ferry-vx0 192.168.77.2
 *  AF_PACKET inject / tcpdump                   ferry-vx-fl1: vxlan id 1 dstport 4789 nolearning, 10.244.2.0/32
 *                                               route 10.244.1.0/24 via 10.244.1.0 onlink, static neigh + FDB
 * </pre>
 */
@Tag("netns")
class KernelInteropTest
{
    private static final String NS_K = "ferry-vx-k";
    private static final String NS_F = "ferry-vx-f";
    private static final String VXDEV = "ferry-vx-fl1";
    private static final int FERRY_IP = Ip4.parse("192.168.77.1");
    private static final int KERNEL_IP = Ip4.parse("192.168.77.2");
    private static final int KERNEL_VTEP_IP = Ip4.parse("10.244.2.0");
    private static final long UPLINK_F = VxlanNode.UPLINK1;
    private static final long UPLINK_K = VxlanNode.UPLINK2;

    private Path dir;
    private VxlanNode ferry;

    @BeforeEach
    void setUp() throws Exception
    {
        Assumptions.assumeTrue(Shell.isRoot(), "needs root for network namespaces");
        Assumptions.assumeTrue(Shell.has("tcpdump") && Shell.has("python3") && Shell.has("ethtool"),
            "needs tcpdump, ethtool and python3");
        dir = Files.createTempDirectory("ferry-vx");
        cleanup();
        Shell.sh(String.join("\n",
            "ip netns add " + NS_K,
            "ip netns add " + NS_F,
            // no IPv6: the kernel would flood DAD/MLD/RS frames through the tunnel's all-zero FDB entry
            "ip netns exec " + NS_K + " sysctl -qw net.ipv6.conf.all.disable_ipv6=1",
            "ip netns exec " + NS_K + " sysctl -qw net.ipv6.conf.default.disable_ipv6=1",
            "ip netns exec " + NS_F + " sysctl -qw net.ipv6.conf.all.disable_ipv6=1",
            "ip netns exec " + NS_F + " sysctl -qw net.ipv6.conf.default.disable_ipv6=1",
            "ip link add ferry-vx0 netns " + NS_K + " address " + Ip4.formatMac(UPLINK_K)
                + " type veth peer name ferry-vx1 netns " + NS_F + " address " + Ip4.formatMac(UPLINK_F),
            "ip -n " + NS_K + " link set lo up",
            "ip -n " + NS_K + " addr add 192.168.77.2/24 dev ferry-vx0",
            "ip -n " + NS_K + " link set ferry-vx0 up",
            // veth leaves the outer UDP checksum partial for a NIC that is not there: have the kernel finish it
            // in software, as it does before any real NIC without offload
            "ip netns exec " + NS_K + " ethtool -K ferry-vx0 tx off >/dev/null",
            "ip -n " + NS_F + " addr add 192.168.77.1/24 dev ferry-vx1",
            "ip -n " + NS_F + " link set ferry-vx1 up",
            // flannel's device: vxlan id 1, local = public-ip, nolearning, MTU = underlay - 50
            "ip -n " + NS_K + " link add " + VXDEV + " address " + Ip4.formatMac(VxlanNode.VTEP2)
                + " type vxlan id 1 local 192.168.77.2 dev ferry-vx0 dstport 4789 nolearning",
            "ip -n " + NS_K + " link set " + VXDEV + " mtu 1450 up",
            "ip -n " + NS_K + " addr add 10.244.2.0/32 dev " + VXDEV,
            // what flannel programs per remote node: route via its .0, neighbour entry, FDB entry
            "ip -n " + NS_K + " route add 10.244.1.0/24 via 10.244.1.0 dev " + VXDEV + " onlink",
            "ip -n " + NS_K + " neigh add 10.244.1.0 lladdr " + Ip4.formatMac(VxlanNode.VTEP1) + " dev " + VXDEV
                + " nud permanent",
            "bridge -n " + NS_K + " fdb append 00:00:00:00:00:00 dev " + VXDEV + " dst 192.168.77.1 self permanent",
            "bridge -n " + NS_K + " fdb append " + Ip4.formatMac(VxlanNode.VTEP1) + " dev " + VXDEV
                + " dst 192.168.77.1 self permanent",
            "ip -n " + NS_K + " neigh add 192.168.77.1 lladdr " + Ip4.formatMac(UPLINK_F)
                + " dev ferry-vx0 nud permanent"));
        ferry = VxlanNode.of(ferryTables(), VxlanSettings.defaults());
    }

    @AfterEach
    void tearDown()
    {
        cleanup();
        if (ferry != null)
        {
            assertThat(ferry.pool.available()).as("no leaked buffer").isEqualTo(ferry.pool.capacity());
            ferry.close();
        }
    }

    private static void cleanup()
    {
        Shell.quiet("ip", "netns", "del", NS_K);
        Shell.quiet("ip", "netns", "del", NS_F);
    }

    /** Ferry is node 1 (10.244.1.0/24, 192.168.77.1); the kernel node is its one remote VTEP. */
    private static NodeTables ferryTables()
    {
        final Ip4Prefix cidr = Ip4Prefix.parse("10.244.1.0/24");
        final NodeTables.NodeInfo node = new NodeTables.NodeInfo("ferry", List.of(FERRY_IP), cidr, cidr.host(1),
            Ip4.podMac(cidr.host(1)), UPLINK_F, VxlanNode.VTEP1, FERRY_IP, 0, Ip4Prefix.parse("192.168.77.0/24"),
            1500);
        final NodeTables.ClusterSettings d = NodeTables.ClusterSettings.defaults();
        final NodeTables.ClusterSettings cluster = new NodeTables.ClusterSettings(d.clusterCidr(), d.serviceCidrs(),
            1, 4789, d.nodePortMin(), d.nodePortMax(), List.of(), false, List.of(), 1024, 65535, Map.of());
        final NodeTables.PodInfo pod = new NodeTables.PodInfo("default", "a", VxlanNode.POD_A,
            Ip4.podMac(VxlanNode.POD_A), "pod-a");
        final NodeTables.RemoteNode kernel = new NodeTables.RemoteNode("kernel", Ip4Prefix.parse("10.244.2.0/24"),
            KERNEL_IP, VxlanNode.VTEP2, UPLINK_K, List.of(KERNEL_IP));
        return new NodeTables(1, node, cluster, List.of(pod), List.of(kernel), List.of(), Map.of());
    }

    private Process capture(final String ns, final String dev, final Path out, final int count,
        final String filter) throws Exception
    {
        final Process p = Shell.start(List.of("timeout", "15", "ip", "netns", "exec", ns, "tcpdump", "-n", "-U",
            "-i", dev, "-Q", "in", "-c", Integer.toString(count), "-w", out.toString(), filter));
        // tcpdump prints "listening on" once the capture is armed
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        final StringBuilder seen = new StringBuilder();
        while (System.nanoTime() < deadline && !seen.toString().contains("listening"))
        {
            final int c = p.getInputStream().read();
            if (c < 0)
            {
                break;
            }
            seen.append((char)c);
        }
        return p;
    }

    private static void inject(final Path frame) throws Exception
    {
        Shell.run("ip", "netns", "exec", NS_F, "python3", "-c",
            "import socket,sys\n"
                + "s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW)\n"
                + "s.bind(('ferry-vx1',0))\n"
                + "s.send(open(sys.argv[1],'rb').read())\n", frame.toString());
    }

    @Test
    void kernelFramesAreDecapsulatedByFerry() throws Exception
    {
        final Path pcap = dir.resolve("kernel-tx.pcap");
        final Process tcpdump = capture(NS_F, "ferry-vx1", pcap, 3, "udp port 4789");
        // nothing answers on ferry's side: ping's exit status is not the point, the frames it makes are
        Shell.quiet("ip", "netns", "exec", NS_K, "ping", "-c", "3", "-i", "0.2", "-W", "1", "-s", "200",
            Ip4.format(VxlanNode.POD_A));
        assertThat(tcpdump.waitFor(20, TimeUnit.SECONDS)).isTrue();
        final List<byte[]> frames = Pcap.read(pcap);
        assertThat(frames).as("three VXLAN frames from the kernel").hasSize(3);
        for (final byte[] f : frames)
        {
            assertThat(mac(f, 0)).isEqualTo(UPLINK_F);
            assertThat(ip(f, 14).ttl()).as("kernel outer TTL").isEqualTo(64);
            assertThat(ip(f, 14).dontFragment()).as("kernel outer DF").isFalse();
            assertThat(u16(f, 34)).as("kernel source port range").isBetween(32768, 60999);
            assertThat(u16(f, 40)).as("kernel computes the outer UDP checksum by default").isNotZero();
            assertThat(Frames.udpChecksumOk(f, 14)).isTrue();
            assertThat(mac(f, 50)).as("inner dst = our VtepMAC").isEqualTo(VxlanNode.VTEP1);
            ferry.receive(ferry.uplink, f);
        }
        assertThat(ferry.counter("stage/vxlan-decap/next/ethernet-input")).isEqualTo(3);
        assertThat(ferry.sent).hasSize(3);
        for (final VxlanNode.Tx tx : ferry.sent)
        {
            assertThat(tx.port()).as("delivered to pod a").isEqualTo(ferry.podPort);
            final byte[] d = tx.bytes();
            assertThat(ip(d, 14).src()).isEqualTo(KERNEL_VTEP_IP);
            assertThat(ip(d, 14).ttl()).as("kernel routed once, ferry once").isEqualTo(63);
            assertThat(Frames.u8(d, 34)).isEqualTo(IcmpHeader.TYPE_ECHO_REQUEST);
            assertThat(ip(d, 14).totalLength()).isEqualTo(228);
        }
    }

    @Test
    void ferryFramesComeOutOfTheKernelVxlanDevice() throws Exception
    {
        final byte[] echo = new FrameBuilder().eth(Ip4.podMac(VxlanNode.POD_A), Ip4.podMac(Ip4.parse("10.244.1.1")))
            .ip4(VxlanNode.POD_A, KERNEL_VTEP_IP).ttl(64).id(7).icmp(IcmpHeader.TYPE_ECHO_REQUEST, 0, 0x12340001)
            .payload("ferry-to-kernel".getBytes(java.nio.charset.StandardCharsets.US_ASCII)).build();
        ferry.receive(ferry.podPort, echo);
        assertThat(ferry.sent).hasSize(1);
        final byte[] vxlan = ferry.sent.get(0).bytes();
        ferry.sent.clear();
        final Path frame = dir.resolve("ferry-tx.bin");
        Files.write(frame, vxlan);
        Pcap.write(dir.resolve("ferry-tx.pcap"), List.of(vxlan));

        final Path inner = dir.resolve("kernel-vxlan-rx.pcap");
        final Path reply = dir.resolve("kernel-reply.pcap");
        final Process onVxlan = capture(NS_K, VXDEV, inner, 1, "icmp");
        final Process onUplink = capture(NS_F, "ferry-vx1", reply, 1, "udp port 4789");
        inject(frame);
        assertThat(onVxlan.waitFor(20, TimeUnit.SECONDS)).isTrue();
        assertThat(onUplink.waitFor(20, TimeUnit.SECONDS)).isTrue();

        final List<byte[]> got = Pcap.read(inner);
        assertThat(got).as("the kernel vxlan device received our frame").hasSize(1);
        assertThat(got.get(0)).as("exactly the inner frame ferry encapsulated")
            .isEqualTo(Arrays.copyOfRange(vxlan, 50, vxlan.length));

        // the kernel answered through its tunnel: ferry decapsulates the reply to the pod
        final List<byte[]> replies = Pcap.read(reply);
        assertThat(replies).hasSize(1);
        ferry.receive(ferry.uplink, replies.get(0));
        assertThat(ferry.sent).hasSize(1);
        assertThat(ferry.sent.get(0).port()).isEqualTo(ferry.podPort);
        assertThat(Frames.u8(ferry.sent.get(0).bytes(), 34)).isEqualTo(IcmpHeader.TYPE_ECHO_REPLY);
    }
}
