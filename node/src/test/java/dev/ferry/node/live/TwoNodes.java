package dev.ferry.node.live;

import com.fasterxml.jackson.databind.JsonNode;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.route.Ip4Prefix;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.tables.ServiceInfo;
import dev.ferry.nodeapi.AttachRequest;
import dev.ferry.nodeapi.NodeApiClient;
import dev.ferry.nodeapi.NodeTablesJson;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Tables and configuration for a two-node cluster on one underlay subnet 192.168.77.0/24: node-a (.1, pods
 * 10.244.1.0/24) and node-b (.2, pods 10.244.2.0/24), VXLAN VNI 1 on port 8472.
 */
final class TwoNodes
{
    static final String UNDERLAY = "192.168.77.0/24";

    private TwoNodes()
    {
    }

    static String nodeIp(final int n)
    {
        return "192.168.77." + n;
    }

    static String podIp(final int n, final int host)
    {
        return "10.244." + n + "." + host;
    }

    static String gateway(final int n)
    {
        return podIp(n, 1);
    }

    static long vtepMac(final int n)
    {
        return Ip4.parseMac("aa:aa:aa:00:00:0" + n);
    }

    /**
     * @param self    1 or 2.
     * @param macs    the underlay MACs of node 1 and node 2 (0 = unknown: resolve by ARP).
     * @param gateway the underlay gateway, or 0.
     * @return node {@code self}'s tables.
     */
    static NodeTables tables(final int self, final long[] macs, final int gateway)
    {
        return tables(self, macs, gateway, List.of());
    }

    /**
     * @param self     1 or 2.
     * @param macs     the underlay MACs of node 1 and node 2 (0 = unknown: resolve by ARP).
     * @param gateway  the underlay gateway, or 0.
     * @param services the cluster's Services.
     * @return node {@code self}'s tables.
     */
    static NodeTables tables(final int self, final long[] macs, final int gateway, final List<ServiceInfo> services)
    {
        final int other = 3 - self;
        final int gw = Ip4.parse(gateway(self));
        final NodeTables.NodeInfo node = new NodeTables.NodeInfo("node-" + self, List.of(Ip4.parse(nodeIp(self))),
            Ip4Prefix.parse("10.244." + self + ".0/24"), gw, Ip4.podMac(gw), macs[self - 1], vtepMac(self),
            Ip4.parse(nodeIp(self)), gateway, Ip4Prefix.parse(UNDERLAY), 1500);
        final NodeTables.RemoteNode remote = new NodeTables.RemoteNode("node-" + other,
            Ip4Prefix.parse("10.244." + other + ".0/24"), Ip4.parse(nodeIp(other)), vtepMac(other), macs[other - 1],
            List.of(Ip4.parse(nodeIp(other))));
        return new NodeTables(1, node, NodeTables.ClusterSettings.defaults(), List.of(), List.of(remote), services,
            Map.of());
    }

    /**
     * Two node namespaces joined by a veth ({@code uplinks[i]} in {@code nodes[i]}), each with its node IP on its
     * NIC (the operator's starting point: packet mode moves it to ferry0), and one pod namespace per node.
     */
    static void packetTopology(final String[] nodes, final String[] pods, final String[] uplinks)
    {
        Netns.assumeRoot();
        Netns.createAll(nodes);
        Netns.createAll(pods);
        Netns.must("ip", "link", "add", uplinks[0], "netns", nodes[0], "type", "veth", "peer", "name", uplinks[1],
            "netns", nodes[1]);
        for (int i = 0; i < 2; i++)
        {
            Netns.must(Netns.inNs(nodes[i], "ip", "addr", "add", nodeIp(i + 1) + "/24", "dev", uplinks[i]));
            Netns.must(Netns.inNs(nodes[i], "ip", "link", "set", uplinks[i], "up"));
        }
    }

    /** Deletes the pod namespaces, then the node namespaces (with the veth). */
    static void deleteTopology(final String[] nodes, final String[] pods)
    {
        Netns.deleteAll(pods);
        Netns.deleteAll(nodes);
    }

    /**
     * Starts node {@code n} (1 or 2) of {@link #packetTopology} in packet mode on its uplink, with its config under
     * {@code dir/nodeN}, and attaches and plumbs its pod {@code podIp(n, 2)}.
     */
    static NodeProcess startPacketNodeWithPod(final Path dir, final int n, final String nodeNs, final String uplink,
        final String podNs) throws Exception
    {
        return startPacketNodeWithPod(dir, n, nodeNs, uplink, podNs, List.of());
    }

    /** {@link #startPacketNodeWithPod(Path, int, String, String, String)} with these Services in its tables. */
    static NodeProcess startPacketNodeWithPod(final Path dir, final int n, final String nodeNs, final String uplink,
        final String podNs, final List<ServiceInfo> services) throws Exception
    {
        final Path d = Files.createDirectories(dir.resolve("node" + n));
        final Path config = config(d, tables(n, new long[] {0, 0}, 0, services), uplink, "packet");
        final NodeProcess node = NodeProcess.start(nodeNs, config, d.resolve("run/ferry.sock"), d.resolve("node.log"));
        try (NodeApiClient api = node.client())
        {
            final JsonNode a = api.attach(new AttachRequest("c" + n, "eth0", "/run/netns/" + podNs, "default",
                "pod-" + n, Ip4.parse(podIp(n, 2)), -1));
            Netns.plumbPod(nodeNs, a.path("tap").asText(), podNs, podIp(n, 2), gateway(n));
        }
        catch (final Exception e)
        {
            node.close();
            throw e;
        }
        return node;
    }

    /** Writes a node's node.yaml (named after its tables) and cluster dir under {@code dir}; returns the node.yaml. */
    static Path config(final Path dir, final NodeTables tables, final String uplink, final String underlay)
        throws Exception
    {
        final Path cluster = Files.createDirectories(dir.resolve("cluster"));
        Files.writeString(cluster.resolve("tables.json"), NodeTablesJson.encode(tables).toString());
        final Path config = dir.resolve("node.yaml");
        Files.writeString(config, String.join("\n",
            "nodeName: " + tables.node().name(),
            "apiSocket: " + dir.resolve("run/ferry.sock"),
            "clusterDir: " + cluster,
            "uplink: " + uplink,
            "underlay: " + underlay,
            "hostTap: fn-host",
            "podTapPrefix: fn",
            // kube-proxy's 10256 stays free: these tests are about forwarding, and may share a namespace
            "healthzBindAddress: \"\"",
            // -Dferry.test.workers=2 runs these nodes with two workers (multi-queue TAPs, fanout, reuseport)
            System.getProperty("ferry.test.workers") == null ? ""
                : "workers: " + Integer.parseInt(System.getProperty("ferry.test.workers")),
            // UplinkSteeringTest reads the handoff counters from /metrics (on the node namespace's loopback)
            System.getProperty("ferry.test.metricsPort") == null ? ""
                : "metricsPort: " + Integer.parseInt(System.getProperty("ferry.test.metricsPort")),
            // LatencyTest sets the busy-poll window it guards (the default, 0, blocks at once)
            System.getProperty("ferry.test.busyPollMicros") == null ? ""
                : "busyPollMicros: " + Long.parseLong(System.getProperty("ferry.test.busyPollMicros")),
            ""));
        return config;
    }
}
