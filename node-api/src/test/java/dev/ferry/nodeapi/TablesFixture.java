package dev.ferry.nodeapi;

import dev.ferry.core.route.Ip4;
import dev.ferry.core.route.Ip4Prefix;
import dev.ferry.core.tables.NodeTables;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Tables for node-a (pod CIDR 10.244.1.0/24) with pods and remote nodes as given: what the codec tests encode. */
final class TablesFixture
{
    static final int POD_A = Ip4.parse("10.244.1.2");
    static final int POD_B = Ip4.parse("10.244.1.3");
    static final int GATEWAY = Ip4.parse("10.244.1.1");
    static final int NODE_IP = Ip4.parse("192.168.50.11");
    static final int NODE_B_IP = Ip4.parse("192.168.50.12");

    private TablesFixture()
    {
    }

    /** Pods named by the agent's convention, one remote node per CIDR. */
    static NodeTables tables(final long generation, final List<Integer> pods, final List<String> remoteCidrs)
    {
        final NodeTables.NodeInfo node = new NodeTables.NodeInfo("node-a", List.of(NODE_IP),
            Ip4Prefix.parse("10.244.1.0/24"), GATEWAY, Ip4.podMac(GATEWAY), Ip4.parseMac("02:fe:00:00:00:01"),
            Ip4.parseMac("aa:aa:aa:00:00:01"), NODE_IP, 0, Ip4Prefix.parse("192.168.50.0/24"), 1500);
        final List<NodeTables.PodInfo> podInfos = new ArrayList<>();
        for (final int ip : pods)
        {
            podInfos.add(new NodeTables.PodInfo("default", "pod-" + (ip & 0xff), ip, Ip4.podMac(ip),
                "tap" + String.format("%08x", ip)));
        }
        final List<NodeTables.RemoteNode> remotes = new ArrayList<>();
        int n = 0;
        for (final String cidr : remoteCidrs)
        {
            final int addr = NODE_B_IP + n++;
            remotes.add(new NodeTables.RemoteNode("node-" + (char)('b' + n - 1), Ip4Prefix.parse(cidr), addr,
                Ip4.parseMac("aa:aa:aa:00:00:0" + (n + 1)), Ip4.podMac(addr), List.of(addr)));
        }
        return new NodeTables(generation, node, NodeTables.ClusterSettings.defaults(), podInfos, remotes, List.of(),
            Map.of());
    }

    static NodeTables basic(final long generation)
    {
        return tables(generation, List.of(POD_A, POD_B), List.of("10.244.2.0/24"));
    }
}
