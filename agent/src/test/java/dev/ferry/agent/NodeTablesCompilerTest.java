package dev.ferry.agent;

import dev.ferry.core.Ports;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.tables.Fib;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.tables.ServiceInfo;
import dev.ferry.nodeapi.NodeTablesJson;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Whole-table text diffs (kube-proxy's assertIPTablesRulesEqual style) of the tables compiled from the example
 * clusters, plus the rules that the texts do not show at a glance.
 */
class NodeTablesCompilerTest
{
    private static final String TWO_NODE_A = """
        generation 1
        node node-a
          addresses      192.168.50.11
          pod-cidr       10.244.1.0/24 gateway 10.244.1.1 mac 0a:58:0a:f4:01:01 pod-mtu 1450
          uplink-mac     0a:58:c0:a8:32:0b
          vtep           192.168.50.11 mac 8a:5e:11:0c:2d:0a
          underlay       gateway - cidr - mtu 1500
        cluster
          cluster-cidr   10.244.0.0/16
          service-cidrs  10.96.0.0/12
          vxlan          vni 1 port 8472
          node-ports     1-65535 on all node addresses
          masquerade     all=false except - ports 1024-65535
          conntrack      maxPerCore=32768 min=131072 tcpCloseWaitTimeout=3600 tcpEstablishedTimeout=86400 udpStreamTimeout=120 udpTimeout=30
        remote-nodes
          node-b         10.244.2.0/24      via 192.168.50.12   vtep-mac 8a:5e:11:0c:2d:0b underlay-mac arp addresses 192.168.50.12
        neighbours
        pods
          default/client-1               10.244.1.3      0a:58:0a:f4:01:03 tap0af40103
          default/dns-1                  10.244.1.4      0a:58:0a:f4:01:04 tap0af40104
          default/web-1                  10.244.1.2      0a:58:0a:f4:01:02 tap0af40102
        services
          default/dns ClusterIP affinity=None external=Cluster internal=Cluster
            UDP  10.96.0.53:53                        cluster-ip
              -> 10.244.1.4:53         ready,serving               node=node-a zone=- local
          default/web NodePort affinity=None external=Cluster internal=Cluster
            TCP  10.96.0.10:80                        cluster-ip http
            TCP  *:30080                              node-port http
              -> 10.244.1.2:8080       ready,serving               node=node-a zone=- local
              -> 10.244.2.2:8080       ready,serving               node=node-b zone=-
          default/web-headless ClusterIP not proxied: headless Service
        """;

    private static final String TWO_NODE_B = """
        generation 1
        node node-b
          addresses      192.168.50.12
          pod-cidr       10.244.2.0/24 gateway 10.244.2.1 mac 0a:58:0a:f4:02:01 pod-mtu 1450
          uplink-mac     0a:58:c0:a8:32:0c
          vtep           192.168.50.12 mac 8a:5e:11:0c:2d:0b
          underlay       gateway - cidr - mtu 1500
        cluster
          cluster-cidr   10.244.0.0/16
          service-cidrs  10.96.0.0/12
          vxlan          vni 1 port 8472
          node-ports     1-65535 on all node addresses
          masquerade     all=false except - ports 1024-65535
          conntrack      maxPerCore=32768 min=131072 tcpCloseWaitTimeout=3600 tcpEstablishedTimeout=86400 udpStreamTimeout=120 udpTimeout=30
        remote-nodes
          node-a         10.244.1.0/24      via 192.168.50.11   vtep-mac 8a:5e:11:0c:2d:0a underlay-mac arp addresses 192.168.50.11
        neighbours
        pods
          default/web-2                  10.244.2.2      0a:58:0a:f4:02:02 tap0af40202
        services
          default/dns ClusterIP affinity=None external=Cluster internal=Cluster
            UDP  10.96.0.53:53                        cluster-ip
              -> 10.244.1.4:53         ready,serving               node=node-a zone=-
          default/web NodePort affinity=None external=Cluster internal=Cluster
            TCP  10.96.0.10:80                        cluster-ip http
            TCP  *:30080                              node-port http
              -> 10.244.1.2:8080       ready,serving               node=node-a zone=-
              -> 10.244.2.2:8080       ready,serving               node=node-b zone=- local
          default/web-headless ClusterIP not proxied: headless Service
        """;

    private static final String FULL_A = """
        generation 42
        node node-a
          addresses      192.168.50.11,203.0.113.21
          pod-cidr       10.244.1.0/24 gateway 10.244.1.1 mac 0a:58:0a:f4:01:01 pod-mtu 8950
          uplink-mac     0a:58:c0:a8:32:0b
          vtep           192.168.50.11 mac 8a:5e:11:0c:2d:0a
          underlay       gateway 192.168.50.1 cidr 192.168.50.0/24 mtu 9000
        cluster
          cluster-cidr   10.244.0.0/16
          service-cidrs  10.100.0.0/24,10.96.0.0/16
          vxlan          vni 4096 port 4789
          node-ports     1-65535 on 192.168.50.0/24
          masquerade     all=false except - ports 1024-65535
          conntrack      maxPerCore=65536 min=131072 tcpCloseWaitTimeout=1800 tcpEstablishedTimeout=7200 udpStreamTimeout=120 udpTimeout=45
        remote-nodes
          node-b         10.244.2.0/24      via 192.168.50.12   vtep-mac 8a:5e:11:0c:2d:0b underlay-mac 52:54:00:12:34:0b addresses 192.168.50.12
        neighbours
          192.168.50.12   52:54:00:12:34:0b
        pods
          default/dual-6first            10.244.1.9      0a:58:0a:f4:01:09 tap0af40109
          shop/web-1                     10.244.1.2      0a:58:0a:f4:01:02 tap0af40102
          shop/web-3                     10.244.1.5      02:00:00:00:01:05 tap0af40105
        services
          kube-system/dns ClusterIP affinity=None external=Cluster internal=Cluster
            UDP  10.96.0.53:53                        cluster-ip dns
              -> 10.244.2.2:53         ready,serving               node=- zone=-
            TCP  10.96.0.53:53                        cluster-ip dns-tcp
              -> 10.244.2.2:53         ready,serving               node=- zone=-
          shop/legacy-db ClusterIP affinity=None external=Cluster internal=Cluster
            TCP  10.96.0.20:5432                      cluster-ip
              -> 192.168.60.5:5432     ready,serving               node=- zone=-
              -> 192.168.60.6:5432     not-ready                   node=- zone=-
          shop/search ExternalName not proxied: ExternalName Service
          shop/web ClusterIP affinity=ClientIP/600s external=Cluster internal=Local
            TCP  10.96.0.10:80                        cluster-ip http
              -> 10.244.1.2:8080       ready,serving               node=node-a zone=zone-a local
              -> 10.244.1.5:8080       serving,terminating         node=node-a zone=zone-a local
              -> 10.244.2.2:8080       ready,serving               node=node-b zone=zone-b
              -> 10.244.2.7:8080       terminating                 node=node-b zone=zone-b
              -> 10.244.2.8:8080       not-ready                   node=node-b zone=-
              -> 10.244.2.9:8080       ready,serving               node=- zone=-
            TCP  10.96.0.10:9090                      cluster-ip metrics
              -> 10.244.1.2:9102       ready,serving               node=node-a zone=zone-a local
              -> 10.244.1.5:9102       serving,terminating         node=node-a zone=zone-a local
              -> 10.244.2.2:9102       ready,serving               node=node-b zone=zone-b
              -> 10.244.2.7:9102       terminating                 node=node-b zone=zone-b
              -> 10.244.2.8:9102       not-ready                   node=node-b zone=-
              -> 10.244.2.9:9102       ready,serving               node=- zone=-
          shop/web-ext ClusterIP affinity=None external=Local internal=Cluster
            TCP  10.96.0.13:8000                      cluster-ip http
            TCP  198.51.100.7:8000                    external-ip http
              -> 10.244.1.2:8080       ready,serving               node=node-a zone=- local
          shop/web-headless ClusterIP not proxied: headless Service
          shop/web-lb LoadBalancer affinity=None external=Cluster internal=Cluster
            TCP  10.96.0.12:80                        cluster-ip http
            TCP  203.0.113.10:80                      load-balancer http
            TCP  *:31080                              node-port http
              -> 10.244.2.2:8080       ready,serving               node=node-b zone=-
          shop/web-np NodePort affinity=None external=Local internal=Cluster
            TCP  10.96.0.11:80                        cluster-ip http
            TCP  *:30080                              node-port http
              -> 10.244.1.2:8080       ready,serving               node=node-a zone=zone-a local
              -> 10.244.2.2:8080       ready,serving               node=node-b zone=zone-b
        """;

    private static final String FULL_B = """
        generation 42
        node node-b
          addresses      192.168.50.12
          pod-cidr       10.244.2.0/24 gateway 10.244.2.1 mac 0a:58:0a:f4:02:01 pod-mtu 1450
          uplink-mac     52:54:00:12:34:0b
          vtep           192.168.50.12 mac 8a:5e:11:0c:2d:0b
          underlay       gateway - cidr - mtu 1500
        cluster
          cluster-cidr   10.244.0.0/16
          service-cidrs  10.100.0.0/24,10.96.0.0/16
          vxlan          vni 4096 port 4789
          node-ports     1-65535 on 192.168.50.0/24
          masquerade     all=false except - ports 1024-65535
          conntrack      maxPerCore=65536 min=131072 tcpCloseWaitTimeout=1800 tcpEstablishedTimeout=7200 udpStreamTimeout=120 udpTimeout=45
        remote-nodes
          node-a         10.244.1.0/24      via 192.168.50.11   vtep-mac 8a:5e:11:0c:2d:0a underlay-mac arp addresses 192.168.50.11,203.0.113.21
        neighbours
        pods
          shop/web-2                     10.244.2.2      0a:58:0a:f4:02:02 tap0af40202
        services
          kube-system/dns ClusterIP affinity=None external=Cluster internal=Cluster
            UDP  10.96.0.53:53                        cluster-ip dns
              -> 10.244.2.2:53         ready,serving               node=- zone=- local
            TCP  10.96.0.53:53                        cluster-ip dns-tcp
              -> 10.244.2.2:53         ready,serving               node=- zone=- local
          shop/legacy-db ClusterIP affinity=None external=Cluster internal=Cluster
            TCP  10.96.0.20:5432                      cluster-ip
              -> 192.168.60.5:5432     ready,serving               node=- zone=-
              -> 192.168.60.6:5432     not-ready                   node=- zone=-
          shop/search ExternalName not proxied: ExternalName Service
          shop/web ClusterIP affinity=ClientIP/600s external=Cluster internal=Local
            TCP  10.96.0.10:80                        cluster-ip http
              -> 10.244.1.2:8080       ready,serving               node=node-a zone=zone-a
              -> 10.244.1.5:8080       serving,terminating         node=node-a zone=zone-a
              -> 10.244.2.2:8080       ready,serving               node=node-b zone=zone-b local
              -> 10.244.2.7:8080       terminating                 node=node-b zone=zone-b local
              -> 10.244.2.8:8080       not-ready                   node=node-b zone=- local
              -> 10.244.2.9:8080       ready,serving               node=- zone=- local
            TCP  10.96.0.10:9090                      cluster-ip metrics
              -> 10.244.1.2:9102       ready,serving               node=node-a zone=zone-a
              -> 10.244.1.5:9102       serving,terminating         node=node-a zone=zone-a
              -> 10.244.2.2:9102       ready,serving               node=node-b zone=zone-b local
              -> 10.244.2.7:9102       terminating                 node=node-b zone=zone-b local
              -> 10.244.2.8:9102       not-ready                   node=node-b zone=- local
              -> 10.244.2.9:9102       ready,serving               node=- zone=- local
          shop/web-ext ClusterIP affinity=None external=Local internal=Cluster
            TCP  10.96.0.13:8000                      cluster-ip http
            TCP  198.51.100.7:8000                    external-ip http
              -> 10.244.1.2:8080       ready,serving               node=node-a zone=-
          shop/web-headless ClusterIP not proxied: headless Service
          shop/web-lb LoadBalancer affinity=None external=Cluster internal=Cluster
            TCP  10.96.0.12:80                        cluster-ip http
            TCP  203.0.113.10:80                      load-balancer http
            TCP  *:31080                              node-port http
              -> 10.244.2.2:8080       ready,serving               node=node-b zone=- local
          shop/web-np NodePort affinity=None external=Local internal=Cluster
            TCP  10.96.0.11:80                        cluster-ip http
            TCP  *:30080                              node-port http
              -> 10.244.1.2:8080       ready,serving               node=node-a zone=zone-a
              -> 10.244.2.2:8080       ready,serving               node=node-b zone=zone-b local
        """;

    /** node-a with its pod CIDR: the start of the small manifests below. */
    private static final String NODE_A = """
        apiVersion: v1
        kind: Node
        metadata: {name: node-a}
        spec: {podCIDR: 10.244.1.0/24}
        ---
        """;

    /** Two Running Pods on node-a with one IP (a, then b), as the first items of a List. */
    private static final String TWO_PODS_ONE_IP = NODE_A + """
        kind: List
        apiVersion: v1
        items:
        - {apiVersion: v1, kind: Pod, metadata: {name: a, namespace: default}, spec: {nodeName: node-a},
           status: {phase: Running, podIP: 10.244.1.7}}
        - {apiVersion: v1, kind: Pod, metadata: {name: b, namespace: default}, spec: {nodeName: node-a},
           status: {phase: Running, podIP: 10.244.1.7}}
        """;

    private static ClusterState twoNode;
    private static ClusterState full;

    @BeforeAll
    static void load() throws IOException
    {
        twoNode = ManifestLoader.load(Path.of("src/test/resources/two-node"), note -> { });
        full = ManifestLoader.load(Path.of("src/test/resources/full"), note -> { });
    }

    private static ClusterState state(final String yaml)
    {
        final ClusterState.Builder b = ClusterState.builder();
        ManifestLoader.parse("cluster.yaml", yaml, b, note -> { });
        return b.build();
    }

    @Test
    void shouldCompileTheTwoNodeExampleForNodeA()
    {
        assertThat(TablesText.render(NodeTablesCompiler.compile(twoNode, "node-a", 1))).isEqualTo(TWO_NODE_A);
    }

    @Test
    void shouldCompileTheTwoNodeExampleForNodeB()
    {
        assertThat(TablesText.render(NodeTablesCompiler.compile(twoNode, "node-b", 1))).isEqualTo(TWO_NODE_B);
    }

    @Test
    void shouldCompileEveryServiceShapeForNodeA()
    {
        assertThat(TablesText.render(NodeTablesCompiler.compile(full, "node-a", 42))).isEqualTo(FULL_A);
    }

    @Test
    void shouldCompileEveryServiceShapeForNodeB()
    {
        assertThat(TablesText.render(NodeTablesCompiler.compile(full, "node-b", 42))).isEqualTo(FULL_B);
    }

    @Test
    void shouldGiveTheSameTablesFromTheRepositoryExample() throws IOException
    {
        final Path example = Path.of("../examples/two-node/cluster");
        assumeTrue(Files.isDirectory(example), "runs inside the ferry repository, beside examples/");

        final ClusterState fromExample = ManifestLoader.load(example, note -> { });

        assertThat(NodeTablesCompiler.compile(fromExample, "node-a", 1))
            .isEqualTo(NodeTablesCompiler.compile(twoNode, "node-a", 1));
    }

    @Test
    void shouldFeedTheCoreForwardingTable()
    {
        final NodeTables t = NodeTablesCompiler.compile(twoNode, "node-a", 1);
        final Ports ports = new Ports();
        ports.add("uplink", Ports.Kind.UPLINK, t.node().uplinkMac(), true);
        for (final NodeTables.PodInfo p : t.pods())
        {
            ports.add(p.portName(), Ports.Kind.POD, t.node().gatewayMac());
        }

        assertThat(Fib.compile(t, ports, true).routeLines()).containsExactly(
            "10.244.1.1/32 local local",
            "10.244.1.2/32 local-pod pod default/web-1 on tap0af40102",
            "10.244.1.3/32 local-pod pod default/client-1 on tap0af40103",
            "10.244.1.4/32 local-pod pod default/dns-1 on tap0af40104",
            "192.168.50.11/32 local local",
            "192.168.50.12/32 uplink uplink uplink to node node-b",
            "10.244.1.0/24 unknown-pod no such pod",
            "10.244.2.0/24 remote-pod vxlan to node-b (192.168.50.12)",
            "10.244.0.0/16 blackhole unassigned cluster space",
            "0.0.0.0/0 uplink uplink uplink (direct)");
    }

    @Test
    void shouldMarkTheNodeIneligibleWhileItIsBeingDeletedOrTaintedForDeletionAsKubeProxyDoes()
    {
        assertThat(NodeTablesCompiler.compile(twoNode, "node-a", 1).node().eligible()).isTrue();
        final io.fabric8.kubernetes.api.model.Node plain = K8s.node("node-x", 5);
        assertThat(NodeTablesCompiler.eligible(plain)).isTrue();
        final io.fabric8.kubernetes.api.model.Node otherTaint = new io.fabric8.kubernetes.api.model.NodeBuilder(plain)
            .editSpec().addNewTaint().withKey("node.kubernetes.io/unschedulable").withEffect("NoSchedule").endTaint()
            .endSpec().build();
        assertThat(NodeTablesCompiler.eligible(otherTaint)).as("cordoned is still eligible").isTrue();
        final io.fabric8.kubernetes.api.model.Node autoscaled = new io.fabric8.kubernetes.api.model.NodeBuilder(plain)
            .editSpec().addNewTaint().withKey("ToBeDeletedByClusterAutoscaler").withValue("1700000000")
            .withEffect("NoSchedule").endTaint().endSpec().build();
        assertThat(NodeTablesCompiler.eligible(autoscaled)).isFalse();
        final io.fabric8.kubernetes.api.model.Node deleting = new io.fabric8.kubernetes.api.model.NodeBuilder(plain)
            .editMetadata().withDeletionTimestamp("2026-12-04T22:00:00Z").endMetadata().build();
        assertThat(NodeTablesCompiler.eligible(deleting)).isFalse();

        // the flag travels in the push: tables.node.eligible, written only when false
        final NodeTables t = NodeTablesCompiler.compile(twoNode, "node-a", 1);
        final NodeTables.NodeInfo n = t.node();
        final NodeTables off = new NodeTables(1, new NodeTables.NodeInfo(n.name(), n.addresses(), n.podCidr(),
            n.gatewayIp(), n.gatewayMac(), n.uplinkMac(), n.vtepMac(), n.publicIp(), n.underlayGateway(),
            n.underlayPrefix(), n.underlayMtu(), false), t.cluster(), t.pods(), t.remoteNodes(), t.services(),
            t.neighbours());
        final com.fasterxml.jackson.databind.node.ObjectNode json = NodeTablesJson.encode(off);
        assertThat(json.path("node").path("eligible").asBoolean(true)).isFalse();
        assertThat(NodeTablesJson.decode(json, "tables", 1)).isEqualTo(off);
        assertThat(NodeTablesJson.encode(t).path("node").has("eligible")).isFalse();
    }

    @Test
    void shouldNameAMissingNode()
    {
        assertThatThrownBy(() -> NodeTablesCompiler.compile(twoNode, "node-z", 1))
            .isInstanceOf(ManifestException.class)
            .hasMessage("cluster: Node node-z: no such Node (known: node-a, node-b)");
    }

    @Test
    void shouldGiveANodeWithoutFlannelDataTheFallbackVtepMac()
    {
        final NodeTables t = NodeTablesCompiler.compile(full, "node-c", 1);

        assertThat(Ip4.formatMac(t.node().vtepMac())).isEqualTo("0e:58:c0:a8:32:0d");
        assertThat(t.node().podCidr()).isNull();
        assertThat(t.remoteNodes()).extracting(NodeTables.RemoteNode::name).containsExactly("node-a", "node-b");
    }

    @Test
    void shouldRefuseTwoLivePodsWithOneIp()
    {
        final ClusterState s = state(TWO_PODS_ONE_IP);

        assertThatThrownBy(() -> NodeTablesCompiler.compile(s, "node-a", 1))
            .hasMessage("cluster.yaml: Pod default/b: status.podIP: 10.244.1.7 is also the IP of Pod default/a");
    }

    @Test
    void shouldSkipABadServiceAndADuplicatePodAndCompileTheRest()
    {
        final ClusterState s = state(TWO_PODS_ONE_IP + """
            - {apiVersion: v1, kind: Pod, metadata: {name: c, namespace: default}, spec: {nodeName: node-a},
               status: {phase: Running, podIP: 10.244.1.8}}
            - {apiVersion: v1, kind: Service, metadata: {name: bad, namespace: x},
               spec: {type: NodePort, clusterIP: 10.96.0.8, ports: [{port: 80, nodePort: 20000}]}}
            - {apiVersion: v1, kind: Service, metadata: {name: good, namespace: x},
               spec: {type: NodePort, clusterIP: 10.96.0.9, ports: [{port: 80, nodePort: 30080}]}}
            - {apiVersion: v1, kind: Pod, metadata: {name: kube-apiserver-a, namespace: kube-system,
               labels: {component: kube-apiserver}}, spec: {nodeName: node-a, containers: [{name: kube-apiserver,
               command: [kube-apiserver, --service-node-port-range=30000-32767]}]}}
            """);
        final List<NodeTablesCompiler.Skipped> skipped = new ArrayList<>();

        final NodeTables t = NodeTablesCompiler.compile(s, "node-a", 1, skipped::add);

        assertThat(t.services()).extracting(ServiceInfo::name).containsExactly("good");
        assertThat(t.pods()).extracting(NodeTables.PodInfo::name).containsExactly("a", "c");
        assertThat(skipped).extracting(NodeTablesCompiler.Skipped::kind, NodeTablesCompiler.Skipped::reason,
            NodeTablesCompiler.Skipped::message).containsExactlyInAnyOrder(
                org.assertj.core.groups.Tuple.tuple("Service", NodeTablesCompiler.NODEPORT_OUT_OF_RANGE,
                    "cluster.yaml: Service x/bad: spec.ports[0].nodePort: 20000 is outside the NodePort range "
                        + "30000-32767"),
                org.assertj.core.groups.Tuple.tuple("Pod", NodeTablesCompiler.DUPLICATE_POD_IP,
                    "cluster.yaml: Pod default/b: status.podIP: 10.244.1.7 is also the IP of Pod default/a"));
        final List<NodeTablesCompiler.Skipped> validated = new ArrayList<>();
        ManifestLoader.validate(s, validated::add);
        assertThat(validated).extracting(NodeTablesCompiler.Skipped::kind).containsExactly("Service");
    }

    /**
     * loadBalancerSourceRanges as kube-proxy reads them: trimmed, IPv6 entries ignored, host bits cleared, and an
     * entry that is not a CIDR left out with a warning (counted as a skip) while the rest of the Service compiles.
     */
    @Test
    void shouldCarryLoadBalancerSourceRangesAndSkipOnlyTheBadEntries()
    {
        final ClusterState s = state(NODE_A + """
            {apiVersion: v1, kind: Service, metadata: {name: lb, namespace: x},
             spec: {type: LoadBalancer, clusterIP: 10.96.0.9, ports: [{port: 80, nodePort: 30080}],
                    loadBalancerSourceRanges: [" 203.0.113.0/24", "fd00::/64", "10.1.2.3/16", "not-a-cidr",
                                               "192.0.2.7", "198.51.100.0/33"]},
             status: {loadBalancer: {ingress: [{ip: 198.51.100.60}]}}}
            """);
        final List<NodeTablesCompiler.Skipped> skipped = new ArrayList<>();

        final NodeTables t = NodeTablesCompiler.compile(s, "node-a", 1, skipped::add);

        assertThat(t.services()).hasSize(1);
        assertThat(t.services().get(0).sourceRanges()).extracting(Object::toString)
            .containsExactly("203.0.113.0/24", "10.1.0.0/16");
        assertThat(skipped).extracting(NodeTablesCompiler.Skipped::kind, NodeTablesCompiler.Skipped::reason,
            NodeTablesCompiler.Skipped::message).containsExactly(
                org.assertj.core.groups.Tuple.tuple("Service", NodeTablesCompiler.INVALID_SOURCE_RANGE,
                    "cluster.yaml: Service x/lb: spec.loadBalancerSourceRanges[3]: not a CIDR: 'not-a-cidr'; this "
                        + "entry is ignored, the other ranges apply"),
                org.assertj.core.groups.Tuple.tuple("Service", NodeTablesCompiler.INVALID_SOURCE_RANGE,
                    "cluster.yaml: Service x/lb: spec.loadBalancerSourceRanges[4]: not a CIDR: '192.0.2.7'; this "
                        + "entry is ignored, the other ranges apply"),
                org.assertj.core.groups.Tuple.tuple("Service", NodeTablesCompiler.INVALID_SOURCE_RANGE,
                    "cluster.yaml: Service x/lb: spec.loadBalancerSourceRanges[5]: not a CIDR: '198.51.100.0/33'; "
                        + "this entry is ignored, the other ranges apply"));
        assertThat(TablesText.render(t)).contains("    source-ranges 203.0.113.0/24 10.1.0.0/16\n");
    }

    /** What a worker node's agent sees: its own Pods only (no kube-apiserver Pod), and no ServiceCIDR. */
    private static final String WORKER_VIEW = """
        apiVersion: v1
        kind: Node
        metadata: {name: node-b}
        spec: {podCIDR: 10.244.2.0/24}
        ---
        kind: List
        apiVersion: v1
        items:
        - {apiVersion: v1, kind: Service, metadata: {name: in-default-range, namespace: x},
           spec: {type: NodePort, clusterIP: 10.96.0.8, ports: [{port: 80, nodePort: 31999}]}}
        - {apiVersion: v1, kind: Service, metadata: {name: wide-range, namespace: x},
           spec: {type: NodePort, clusterIP: 10.96.1.9, ports: [{port: 80, nodePort: 40000}]}}
        - {apiVersion: v1, kind: Service, metadata: {name: low-range, namespace: x},
           spec: {type: LoadBalancer, clusterIP: 10.96.0.20, ports: [{port: 80, nodePort: 20000}]}}
        - {apiVersion: v1, kind: Service, metadata: {name: other-cidr, namespace: y},
           spec: {clusterIP: 172.20.0.10, clusterIPs: [172.20.0.10], ports: [{port: 53, protocol: UDP}]}}
        """;

    @Test
    void shouldKeepEveryNodePortAndClusterIpWhenTheWorkerOnlyGuessesTheRanges()
    {
        final List<NodeTablesCompiler.Skipped> skipped = new ArrayList<>();

        final NodeTables t = NodeTablesCompiler.compile(state(WORKER_VIEW), "node-b", 1, skipped::add);

        assertThat(skipped).as("the API server accepted these Services; kube-proxy would program them").isEmpty();
        assertThat(t.services()).extracting(ServiceInfo::name)
            .containsExactlyInAnyOrder("in-default-range", "wide-range", "low-range", "other-cidr");
        assertThat(t.services()).flatExtracting(ServiceInfo::ports).extracting(ServiceInfo.ServicePort::nodePort)
            .containsExactlyInAnyOrder(31999, 40000, 20000, 0);
        assertThat(t.cluster().serviceCidrs()).as("the guess holds every ClusterIP and nothing wider than it needs")
            .extracting(Object::toString).containsExactly("10.96.0.0/23", "172.20.0.10/32");
        // the node decodes what the agent pushes with the same checks: it must take these tables as they are
        final NodeTables decoded = NodeTablesJson.decode(NodeTablesJson.encode(t), "tables", 1);
        assertThat(decoded.services()).hasSize(4);
        assertThat(decoded.cluster()).isEqualTo(t.cluster());
    }

    @Test
    void shouldStillSkipANodePortOutsideARangeThatTheApiServerPodNames()
    {
        final ClusterState s = state(WORKER_VIEW + """
            ---
            apiVersion: v1
            kind: Pod
            metadata: {name: kube-apiserver-cp, namespace: kube-system, labels: {component: kube-apiserver}}
            spec:
              nodeName: node-b
              containers:
              - name: kube-apiserver
                command: [kube-apiserver, --service-node-port-range=30000-32767]
            """);
        final List<NodeTablesCompiler.Skipped> skipped = new ArrayList<>();

        final NodeTables t = NodeTablesCompiler.compile(s, "node-b", 1, skipped::add);

        assertThat(t.services()).extracting(ServiceInfo::name).containsExactlyInAnyOrder("in-default-range",
            "other-cidr");
        assertThat(skipped).extracting(NodeTablesCompiler.Skipped::reason).containsExactly(
            NodeTablesCompiler.NODEPORT_OUT_OF_RANGE, NodeTablesCompiler.NODEPORT_OUT_OF_RANGE);
    }

    @Test
    void shouldGiveEveryUnproxiedServiceItsReason()
    {
        final ClusterState s = state("""
            apiVersion: v1
            kind: Node
            metadata: {name: node-a}
            ---
            {apiVersion: v1, kind: Service, metadata: {name: a-headless, namespace: x},
             spec: {clusterIP: None, ports: [{port: 80}]}}
            ---
            {apiVersion: v1, kind: Service, metadata: {name: b-external, namespace: x},
             spec: {type: ExternalName, externalName: db.example.test}}
            ---
            {apiVersion: v1, kind: Service, metadata: {name: c-no-ip, namespace: x}, spec: {ports: [{port: 80}]}}
            ---
            {apiVersion: v1, kind: Service, metadata: {name: d-ipv6, namespace: x},
             spec: {clusterIP: "fd00:96::10", clusterIPs: ["fd00:96::10"], ports: [{port: 80}]}}
            """);

        assertThat(NodeTablesCompiler.compile(s, "node-a", 1).services())
            .extracting(ServiceInfo::name, ServiceInfo::notProxiedReason)
            .containsExactly(
                org.assertj.core.groups.Tuple.tuple("a-headless", "headless Service"),
                org.assertj.core.groups.Tuple.tuple("b-external", "ExternalName Service"),
                org.assertj.core.groups.Tuple.tuple("c-no-ip", "Service has no cluster IP"),
                org.assertj.core.groups.Tuple.tuple("d-ipv6", "Service has no IPv4 cluster IP"));
    }

    @Test
    void shouldNameAnUnknownProtocolAndABadTargetPort()
    {
        assertThatThrownBy(() -> NodeTablesCompiler.compile(state("""
            {apiVersion: v1, kind: Node, metadata: {name: node-a}}
            ---
            {apiVersion: v1, kind: Service, metadata: {name: web, namespace: x},
             spec: {clusterIP: 10.96.0.9, ports: [{port: 80, protocol: ICMP}]}}
            """), "node-a", 1))
            .hasMessage("cluster.yaml: Service x/web: spec.ports[0].protocol: not a protocol (TCP, UDP or SCTP): "
                + "'ICMP'");
        assertThatThrownBy(() -> NodeTablesCompiler.compile(state("""
            {apiVersion: v1, kind: Node, metadata: {name: node-a}}
            ---
            {apiVersion: v1, kind: Service, metadata: {name: web, namespace: x},
             spec: {clusterIP: 10.96.0.9, ports: [{port: 80, targetPort: 0}]}}
            """), "node-a", 1))
            .hasMessage("cluster.yaml: Service x/web: spec.ports[0].targetPort: not a port number (1-65535): 0");
    }

    @Test
    void shouldPreferSlicesOverHandWrittenEndpoints()
    {
        final ServiceInfo web = NodeTablesCompiler.compile(full, "node-a", 1).services().stream()
            .filter(s -> s.key().equals("shop/web")).findFirst().orElseThrow();

        assertThat(web.ports().getFirst().endpoints()).extracting(e -> Ip4.format(e.ip()))
            .doesNotContain("10.244.9.9")
            .containsExactly("10.244.1.2", "10.244.1.5", "10.244.2.2", "10.244.2.7", "10.244.2.8", "10.244.2.9");
    }

    @Property(tries = 30)
    void shouldNotDependOnTheOrderOfObjects(@ForAll final long seed)
    {
        final Random random = new Random(seed);
        final ClusterState shuffled = new ClusterState(shuffle(full.nodes(), random), shuffle(full.pods(), random),
            shuffle(full.services(), random), shuffle(full.endpointSlices(), random),
            shuffle(full.endpoints(), random), shuffle(full.configMaps(), random),
            shuffle(full.serviceCidrs(), random), full.sources());

        assertThat(NodeTablesCompiler.compile(shuffled, "node-b", 3))
            .isEqualTo(NodeTablesCompiler.compile(full, "node-b", 3));
        assertThat(TablesText.render(NodeTablesCompiler.compile(shuffled, "node-a", 42))).isEqualTo(FULL_A);
    }

    @Property
    void portNamesFitALinuxInterfaceNameAndAreDistinct(@ForAll final int a, @ForAll final int b)
    {
        assertThat(NodeTablesCompiler.portName(a)).matches("tap[0-9a-f]{8}").hasSizeLessThanOrEqualTo(15);
        assertThat(NodeTablesCompiler.portName(a).equals(NodeTablesCompiler.portName(b))).isEqualTo(a == b);
    }

    private static <T> List<T> shuffle(final List<T> list, final Random random)
    {
        final List<T> out = new ArrayList<>(list);
        Collections.shuffle(out, random);
        return out;
    }
}
