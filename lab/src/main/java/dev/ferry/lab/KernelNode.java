package dev.ferry.lab;

/**
 * Node 2 as a Linux kernel flannel-style node, for interop with a ferry node 1: what flannel's vxlan backend
 * and the bridge CNI plugin leave on a node, built by hand.
 *
 * <pre>
 *   fl-n2 192.168.50.12/24 (underlay; tx checksum offload off, so frames leave with complete checksums)
 *   fl-flannel.1  vxlan id 1, local 192.168.50.12, dstport 8472, nolearning, MAC = node2's VtepMAC,
 *                 10.244.2.0/32, MTU 1450
 *     fdb:   node1 VtepMAC dst 192.168.50.11         (flannel writes it from node1's annotations)
 *     neigh: 10.244.1.0 lladdr node1 VtepMAC         (permanent)
 *     route: 10.244.1.0/24 via 10.244.1.0 onlink
 *   fl-cni0 bridge 10.244.2.1/24, MTU 1450; one veth per pod (fl-PODNAME), eth0 in the pod
 * </pre>
 */
final class KernelNode
{
    static final String VXLAN_DEV = "flannel.1";
    static final String BRIDGE_DEV = "cni0";

    private KernelNode()
    {
    }

    static void build(final LabSpec spec)
    {
        final String ns = spec.nodeNs("node2");
        final LabSpec.Node self = spec.node2();
        final LabSpec.Node peer = spec.node1();
        final String l = spec.linkPrefix();
        final String vx = l + VXLAN_DEV;
        final String br = l + BRIDGE_DEV;
        final int podMtu = LabSpec.UNDERLAY_MTU - 50;
        Shell.must("ip", "-n", ns, "addr", "add", self.ip() + "/24", "dev", self.uplink());
        // a NIC puts complete checksums on the wire; a veth passes the kernel's partial ones (checksum offload)
        // on, and for VXLAN frames those cover the inner header, which the far end cannot tell from the outer
        // ones. Checksumming in software here makes the underlay carry what a wire would.
        Shell.inNetns(20_000, ns, "ethtool", "-K", self.uplink(), "tx", "off").check();
        Shell.inNetns(20_000, ns, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward").check();
        Shell.must("ip", "-n", ns, "link", "add", vx, "address", self.vtepMac(), "mtu", String.valueOf(podMtu),
            "type", "vxlan", "id", String.valueOf(LabSpec.VNI), "local", self.ip(), "dev", self.uplink(),
            "dstport", String.valueOf(LabSpec.VXLAN_PORT), "nolearning");
        Shell.must("ip", "-n", ns, "addr", "add", network(self.podCidr()) + "/32", "dev", vx);
        Shell.must("ip", "-n", ns, "link", "set", vx, "up");
        Shell.must("bridge", "-n", ns, "fdb", "append", peer.vtepMac(), "dev", vx, "dst", peer.ip());
        Shell.must("ip", "-n", ns, "neigh", "replace", network(peer.podCidr()), "lladdr", peer.vtepMac(), "dev", vx,
            "nud", "permanent");
        Shell.must("ip", "-n", ns, "route", "add", peer.podCidr(), "via", network(peer.podCidr()), "dev", vx,
            "onlink");
        Shell.must("ip", "-n", ns, "link", "add", br, "mtu", String.valueOf(podMtu), "type", "bridge");
        Shell.must("ip", "-n", ns, "addr", "add", self.gateway() + "/24", "dev", br);
        Shell.must("ip", "-n", ns, "link", "set", br, "up");
    }

    static void addPod(final LabSpec spec, final LabSpec.Pod p)
    {
        final String node = spec.nodeNs(p.node());
        final String pod = spec.podNs(p.name());
        final String host = spec.linkPrefix() + p.name();
        final LabSpec.Node n = spec.node(p.node());
        final int podMtu = LabSpec.UNDERLAY_MTU - 50;
        Shell.must("ip", "netns", "add", pod);
        Shell.must("ip", "-n", pod, "link", "set", "lo", "up");
        Shell.must("ip", "link", "add", host, "netns", node, "mtu", String.valueOf(podMtu), "type", "veth", "peer",
            "name", "eth0", "netns", pod, "mtu", String.valueOf(podMtu));
        Shell.must("ip", "-n", node, "link", "set", host, "master", spec.linkPrefix() + BRIDGE_DEV);
        Shell.must("ip", "-n", node, "link", "set", host, "up");
        Shell.must("ip", "-n", pod, "link", "set", "eth0", "address", podMac(p.ip()));
        Shell.must("ip", "-n", pod, "addr", "add", p.ip() + "/24", "dev", "eth0");
        Shell.must("ip", "-n", pod, "link", "set", "eth0", "up");
        Shell.must("ip", "-n", pod, "route", "add", "default", "via", n.gateway());
    }

    private static String network(final String cidr)
    {
        return cidr.substring(0, cidr.indexOf('/'));
    }

    private static String podMac(final String ip)
    {
        final String[] o = ip.split("\\.");
        return String.format(java.util.Locale.ROOT, "0a:58:%02x:%02x:%02x:%02x", Integer.parseInt(o[0]),
            Integer.parseInt(o[1]), Integer.parseInt(o[2]), Integer.parseInt(o[3]));
    }
}
