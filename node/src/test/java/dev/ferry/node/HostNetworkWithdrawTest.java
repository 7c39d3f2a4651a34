package dev.ferry.node;

import dev.ferry.core.Ports;
import dev.ferry.core.route.Ip4Prefix;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.tables.TablesPublisher;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The host's routes and addresses follow the tables both ways: what a later snapshot no longer names is withdrawn
 * (a guessed Service CIDR that shrank, a node address that left), and a route that only changed its gateway is
 * replaced in place, not withdrawn. The host is a fake that records the commands.
 */
class HostNetworkWithdrawTest
{
    private final List<String> ran = new ArrayList<>();
    private final HostNetwork host = new HostNetwork(NodeConfig.defaults("node-a", Path.of("x.sock"), "eth9"),
        c -> ran.add(String.join(" ", c)));
    private final TablesPublisher publisher = new TablesPublisher(new Ports(), false);

    @Test
    void shouldWithdrawARouteWhoseServiceCidrShrankAndAnAddressThatLeft()
    {
        apply(tables(1, List.of("10.96.0.0/12"), true));
        assertThat(ran).contains("ip route replace 10.96.0.0/12 via " + gateway() + " dev ferry0 onlink");
        ran.clear();

        apply(tables(2, List.of("10.96.0.0/16"), false));

        assertThat(ran).contains("ip route replace 10.96.0.0/16 via " + gateway() + " dev ferry0 onlink",
            "ip route del 10.96.0.0/12 dev ferry0", "ip addr del 192.0.2.99/32 dev ferry0");
        assertThat(ran).as("the node's own address stays").noneMatch(c -> c.startsWith("ip addr del")
            && !c.contains("192.0.2.99"));
        ran.clear();

        apply(tables(3, List.of("10.96.0.0/16"), false));
        assertThat(ran).as("nothing changed, nothing run").isEmpty();
    }

    @Test
    void shouldReplaceARouteWhoseGatewayChangedWithoutWithdrawingIt()
    {
        final List<String> before = List.of("ip route replace 10.96.0.0/12 via 10.244.1.1 dev ferry0 onlink",
            "ip route replace default via 10.244.1.1 dev ferry0 onlink", "ip addr replace 192.0.2.10/32 dev ferry0",
            "ip link set dev ferry0 mtu 1450 up");
        final List<String> after = List.of("ip route replace 10.96.0.0/12 via 10.244.1.254 dev ferry0 onlink",
            "ip addr replace 192.0.2.10/32 dev ferry0", "ip link set dev ferry0 mtu 1400 up");
        assertThat(HostNetwork.withdrawals(before, after)).containsExactly("ip route del default dev ferry0");
        assertThat(HostNetwork.withdrawals(after, after)).isEmpty();
    }

    private void apply(final NodeTables t)
    {
        publisher.publish(t);
        host.apply(publisher.ref().lvCurrent());
    }

    private static String gateway()
    {
        return dev.ferry.core.route.Ip4.format(NodeFixture.basic(1).node().gatewayIp());
    }

    /** node-a's tables with these Service CIDRs, and with or without a second node address. */
    private static NodeTables tables(final long generation, final List<String> serviceCidrs, final boolean extraAddress)
    {
        final NodeTables t = NodeFixture.basic(generation);
        final NodeTables.ClusterSettings d = NodeTables.ClusterSettings.defaults();
        final NodeTables.ClusterSettings cluster = new NodeTables.ClusterSettings(d.clusterCidr(),
            serviceCidrs.stream().map(Ip4Prefix::parse).toList(), d.vni(), d.vxlanPort(), d.nodePortMin(),
            d.nodePortMax(), d.nodePortAddresses(), d.masqueradeAll(), d.nonMasqueradeCidrs(), d.masqueradePortMin(),
            d.masqueradePortMax(), d.conntrack());
        final NodeTables.NodeInfo n = t.node();
        final List<Integer> addresses = new ArrayList<>(n.addresses());
        if (extraAddress)
        {
            addresses.add(dev.ferry.core.route.Ip4.parse("192.0.2.99"));
        }
        final NodeTables.NodeInfo node = new NodeTables.NodeInfo(n.name(), addresses, n.podCidr(), n.gatewayIp(),
            n.gatewayMac(), n.uplinkMac(), n.vtepMac(), n.publicIp(), n.underlayGateway(), n.underlayPrefix(),
            n.underlayMtu(), n.eligible());
        return new NodeTables(generation, node, cluster, t.pods(), t.remoteNodes(), t.services(), t.neighbours());
    }
}
