package dev.ferry.agent;

import dev.ferry.core.route.Ip4;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.tables.ServiceInfo;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Topology-aware routing in the agent's per-node compile, case by case against kube-proxy's
 * {@code pkg/proxy/topology.go} ({@code topologyModeFromHints}, {@code availableForTopology},
 * {@code CategorizeEndpoints}).
 */
class TopologyTest
{
    private static EndpointGroup.Member ep(final boolean ready, final Set<String> zones, final Set<String> nodes)
    {
        return new EndpointGroup.Member(Ip4.parse("10.244.9.9"), ready, ready, false, "node-x", "", zones, nodes);
    }

    @Test
    void shouldPreferTheZoneOnlyWhenEveryReadyEndpointHasAZoneHintAndOneNamesTheNodesZone()
    {
        assertThat(Topology.mode(List.of(ep(true, Set.of("z1"), Set.of()), ep(true, Set.of("z2"), Set.of())),
            "node-a", "z1")).as("topologyModeFromHints: all hinted, one for z1").isEqualTo(Topology.Mode.PREFER_SAME_ZONE);
        assertThat(Topology.mode(List.of(ep(true, Set.of("z1"), Set.of()), ep(true, Set.of(), Set.of())),
            "node-a", "z1")).as("one ready endpoint without a zone hint: hints ignored").isEqualTo(Topology.Mode.NONE);
        assertThat(Topology.mode(List.of(ep(true, Set.of("z1"), Set.of()), ep(false, Set.of(), Set.of())),
            "node-a", "z1")).as("not-ready endpoints are not looked at").isEqualTo(Topology.Mode.PREFER_SAME_ZONE);
        assertThat(Topology.mode(List.of(ep(true, Set.of("z2"), Set.of())), "node-a", "z1"))
            .as("no hint for this zone: ignore topology rather than black-hole").isEqualTo(Topology.Mode.NONE);
        assertThat(Topology.mode(List.of(ep(true, Set.of("z1"), Set.of())), "node-a", ""))
            .as("node without topology.kubernetes.io/zone").isEqualTo(Topology.Mode.NONE);
        assertThat(Topology.mode(List.of(ep(false, Set.of("z1"), Set.of())), "node-a", "z1"))
            .as("no ready endpoints: no hints to consider").isEqualTo(Topology.Mode.NONE);
    }

    @Test
    void shouldPreferTheNodeBeforeTheZoneWhenEveryReadyEndpointHasANodeHint()
    {
        assertThat(Topology.mode(List.of(ep(true, Set.of("z1"), Set.of("node-a")), ep(true, Set.of("z1"),
            Set.of("node-b"))), "node-a", "z1")).isEqualTo(Topology.Mode.PREFER_SAME_NODE);
        assertThat(Topology.mode(List.of(ep(true, Set.of("z1"), Set.of("node-b")), ep(true, Set.of("z1"),
            Set.of("node-c"))), "node-a", "z1")).as("no node hint for node-a: falls to the zone")
            .isEqualTo(Topology.Mode.PREFER_SAME_ZONE);
        assertThat(Topology.available(ep(true, Set.of("z1"), Set.of("node-b")), Topology.Mode.PREFER_SAME_NODE,
            "node-a", "z1")).as("availableForTopology: same node only").isFalse();
    }

    private static final String CLUSTER = """
        {apiVersion: v1, kind: Node, metadata: {name: node-a, labels: {topology.kubernetes.io/zone: z1}},
         spec: {podCIDR: 10.244.1.0/24}}
        ---
        {apiVersion: v1, kind: Node, metadata: {name: node-b, labels: {topology.kubernetes.io/zone: z2}},
         spec: {podCIDR: 10.244.2.0/24}}
        ---
        {apiVersion: v1, kind: Service, metadata: {name: web, namespace: x},
         spec: {clusterIP: 10.96.0.20, trafficDistribution: PreferClose, externalTrafficPolicy: %s,
                type: NodePort, ports: [{name: http, port: 80, nodePort: 30080, targetPort: 8080}]}}
        ---
        apiVersion: discovery.k8s.io/v1
        kind: EndpointSlice
        metadata: {name: web-1, namespace: x, labels: {kubernetes.io/service-name: web}}
        addressType: IPv4
        ports: [{name: http, port: 8080, protocol: TCP}]
        endpoints:
        - {addresses: [10.244.1.5], nodeName: node-a, zone: z1, conditions: {ready: true}, hints: {forZones: [{name: %s}]}}
        - {addresses: [10.244.2.5], nodeName: node-b, zone: z2, conditions: {ready: true}, hints: {forZones: [{name: z2}]}}
        - {addresses: [10.244.2.6], nodeName: node-b, zone: z2, conditions: {ready: true}, hints: {forZones: [{name: z1}]}}
        """;

    private static Set<String> inTopology(final String policy, final String localHint, final String node)
    {
        final ClusterState.Builder b = ClusterState.builder();
        ManifestLoader.parse("cluster.yaml", CLUSTER.formatted(policy, localHint), b, note -> { });
        final NodeTables t = NodeTablesCompiler.compile(b.build(), node, 1);
        final ServiceInfo web = t.services().getFirst();
        return web.ports().getFirst().endpoints().stream().filter(ServiceInfo.Endpoint::inTopology)
            .map(e -> Ip4.format(e.ip())).collect(Collectors.toSet());
    }

    @Test
    void shouldMarkOnlyTheEndpointsHintedForTheNodesZoneInTheCompiledTables()
    {
        assertThat(inTopology("Cluster", "z1", "node-a")).as("node-a in z1")
            .containsExactlyInAnyOrder("10.244.1.5", "10.244.2.6");
        assertThat(inTopology("Cluster", "z1", "node-b")).as("node-b in z2").containsExactly("10.244.2.5");
        assertThat(inTopology("Cluster", "", "node-a").size()).as("one endpoint without a hint: all usable")
            .isEqualTo(3);
    }

    @Test
    void shouldKeepALocalEndpointHintedElsewhereForLocalPolicyTraffic()
    {
        final ClusterState.Builder b = ClusterState.builder();
        ManifestLoader.parse("cluster.yaml", CLUSTER.formatted("Local", "z2"), b, note -> { });
        final ServiceInfo web = NodeTablesCompiler.compile(b.build(), "node-a", 1).services().getFirst();
        final ServiceInfo.Endpoint local = web.ports().getFirst().endpoints().stream()
            .filter(e -> e.ip() == Ip4.parse("10.244.1.5")).findFirst().orElseThrow();

        assertThat(local.local()).isTrue();
        assertThat(local.inTopology()).as("hinted for z2: not for node-a's Cluster-policy traffic").isFalse();
        assertThat(local.ready()).as("still ready: CategorizeEndpoints' localEndpoints ignore hints").isTrue();
        assertThat(TablesText.render(NodeTablesCompiler.compile(b.build(), "node-a", 1)))
            .contains("10.244.1.5:8080").contains("hinted-elsewhere");
    }
}
