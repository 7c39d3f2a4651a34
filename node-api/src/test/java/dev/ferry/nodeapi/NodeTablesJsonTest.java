package dev.ferry.nodeapi;

import dev.ferry.core.route.Ip4;
import dev.ferry.core.route.Ip4Prefix;
import dev.ferry.core.tables.InvalidTablesException;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.tables.ServiceInfo;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class NodeTablesJsonTest
{
    @Test
    void shouldRoundTripEveryField()
    {
        final NodeTables base = TablesFixture.basic(7);
        final ServiceInfo web = new ServiceInfo("default", "web", "NodePort", null, List.of(Ip4.parse("10.96.0.10")),
            List.of(Ip4.parse("203.0.113.7")), List.of(), true, 600, true, false, List.of(
                new ServiceInfo.ServicePort("http", 6, 80, 30080, List.of(new ServiceInfo.Endpoint(
                    TablesFixture.POD_A, 8080, true, true, false, "node-a", "z1", true))),
                new ServiceInfo.ServicePort("gre", 47, 1, 0, List.of())), 32000,
            List.of(Ip4Prefix.parse("198.51.100.0/24"), Ip4Prefix.parse("192.0.2.0/28")));
        final ServiceInfo headless = new ServiceInfo("default", "db", "ClusterIP", "headless", List.of(), List.of(),
            List.of(), false, ServiceInfo.DEFAULT_AFFINITY_TIMEOUT, false, false, List.of());
        final NodeTables t = new NodeTables(7, base.node(), new NodeTables.ClusterSettings(
            Ip4Prefix.parse("10.244.0.0/16"), List.of(Ip4Prefix.parse("10.96.0.0/12")), 42, 4789, 30000, 32767,
            List.of(Ip4Prefix.parse("192.168.50.0/24")), true, List.of(Ip4Prefix.parse("10.0.0.0/8")), 2000, 60000,
            Map.of("tcpEstablished", 86400L)), base.pods(), base.remoteNodes(), List.of(web, headless),
            Map.of(Ip4.parse("192.168.50.1"), Ip4.parseMac("02:00:00:00:00:01")));

        final NodeTables back = NodeTablesJson.parse(NodeTablesJson.encode(t).toString());

        assertThat(back).isEqualTo(t);
    }

    @Property(tries = 200)
    void shouldRoundTripAnyPodSet(@ForAll @IntRange(min = 0, max = 60) final int count,
        @ForAll @IntRange(min = 2, max = 190) final int first)
    {
        final List<Integer> pods = new ArrayList<>();
        for (int i = 0; i < count; i++)
        {
            pods.add(Ip4.parse("10.244.1.0") + first + i);
        }
        final NodeTables t = TablesFixture.tables(3, pods, List.of("10.244.2.0/24", "10.244.128.0/17"));

        assertThat(NodeTablesJson.parse(NodeTablesJson.encode(t).toString())).isEqualTo(t);
    }

    @Test
    void shouldFillDefaultsForOptionalFields()
    {
        final NodeTables t = NodeTablesJson.parse("""
            {"generation": 1,
             "node": {"name": "n", "podCidr": "10.244.1.0/24", "uplinkMac": "02:00:00:00:00:01",
                      "vtepMac": "02:00:00:00:00:02", "addresses": ["192.168.50.11"]},
             "pods": [{"namespace": "default", "name": "p", "ip": "10.244.1.9", "port": "tap0af40109"}]}
            """);

        assertThat(t.cluster()).isEqualTo(NodeTables.ClusterSettings.defaults());
        assertThat(t.node().gatewayIp()).isEqualTo(Ip4.parse("10.244.1.1"));
        assertThat(t.node().gatewayMac()).isEqualTo(Ip4.podMac(Ip4.parse("10.244.1.1")));
        assertThat(t.node().publicIp()).isEqualTo(Ip4.parse("192.168.50.11"));
        assertThat(t.node().underlayMtu()).isEqualTo(1500);
        assertThat(t.pods().get(0).mac()).isEqualTo(Ip4.podMac(Ip4.parse("10.244.1.9")));
    }

    @Test
    void shouldRefuseWithTheFieldPath()
    {
        assertThatThrownBy(() -> NodeTablesJson.parse("{\"generation\": 1"))
            .isInstanceOf(InvalidTablesException.class).hasMessageStartingWith("tables: not valid JSON");
        assertThatThrownBy(() -> NodeTablesJson.parse("{\"generation\": 0, \"node\": {}}"))
            .hasMessage("tables.generation: 0 is out of range 1..9223372036854775807");
        assertThatThrownBy(() -> NodeTablesJson.parse("""
            {"generation": 1, "node": {"name": "n", "podCidr": "10.244.1.7/24", "uplinkMac": "02:00:00:00:00:01",
             "vtepMac": "02:00:00:00:00:02"}}
            """)).hasMessage("tables.node.podCidr: '10.244.1.7/24' has host bits set (did you mean 10.244.1.0/24?)");
        assertThatThrownBy(() -> NodeTablesJson.parse("""
            {"generation": 1, "node": {"name": "n", "podCidr": "10.244.1.0/24", "uplinkMac": "02:00:00:00:01",
             "vtepMac": "02:00:00:00:00:02"}}
            """)).hasMessage("tables.node.uplinkMac: not a MAC address: '02:00:00:00:01'");
        assertThatThrownBy(() -> NodeTablesJson.parse("""
            {"generation": 1, "node": {"name": "n", "podCidr": "10.244.1.0/24", "uplinkMac": "02:00:00:00:00:01",
             "vtepMac": "02:00:00:00:00:02"}, "neighbours": {"192.168.50.1": 7}}
            """)).hasMessage("tables.neighbours.192.168.50.1: expected a MAC as text");
    }
}
