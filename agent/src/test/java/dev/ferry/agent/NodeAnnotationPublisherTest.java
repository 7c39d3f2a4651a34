package dev.ferry.agent;

import dev.ferry.core.Clock;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.tables.NodeTables;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The agent publishes its own Node's flannel annotations (fabric8's mock API server in CRUD mode, a node that
 * acknowledges every push): a Node with none gets flannel's four, a restarted agent patches nothing, and a
 * mixed cluster (one kernel flannel node) routes both ways.
 */
class NodeAnnotationPublisherTest
{
    private static final Duration WAIT = Duration.ofSeconds(10);

    private final NodeStatusKeepsMetadata dispatcher = new NodeStatusKeepsMetadata();
    private KubernetesMockServer server;
    private KubernetesClient client;

    @BeforeEach
    void startServer()
    {
        server = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(),
            dispatcher, false);
        server.init(InetAddress.getLoopbackAddress(), 0);
        client = server.createClient();
    }

    @AfterEach
    void stopServer()
    {
        client.close();
        server.destroy();
    }

    /** A node as the kubelet and the node IPAM controller leave it: pod CIDR and address, no annotations. */
    private static Node bare(final String name, final int index)
    {
        return new NodeBuilder().withNewMetadata().withName(name).endMetadata()
            .withNewSpec().withPodCIDR("10.244." + index + ".0/24").addToPodCIDRs("10.244." + index + ".0/24")
            .endSpec()
            .withNewStatus().addNewAddress().withType("InternalIP").withAddress("192.168.50." + (10 + index))
            .endAddress().addNewAddress().withType("Hostname").withAddress(name).endAddress().endStatus().build();
    }

    /** A node on which kernel flanneld ran: the annotations exactly as its kube subnet manager writes them. */
    private static Node kernelFlannel(final String name, final int index)
    {
        final Node n = bare(name, index);
        n.getMetadata().setAnnotations(Map.of(
            "flannel.alpha.coreos.com/backend-data", "{\"VNI\":1,\"VtepMAC\":\"8a:5e:11:0c:2d:0" + index + "\"}",
            "flannel.alpha.coreos.com/backend-type", "vxlan",
            "flannel.alpha.coreos.com/kube-subnet-manager", "true",
            "flannel.alpha.coreos.com/public-ip", "192.168.50." + (10 + index)));
        return n;
    }

    private record Running(Agent agent, NodeAnnotationPublisher publisher, AgentMetrics metrics)
    {
    }

    private Running agent(final String nodeName)
    {
        final AgentMetrics metrics = AgentMetrics.create();
        final NodeAnnotationPublisher publisher = new NodeAnnotationPublisher(
            NodeAnnotationPublisher.statusPatcher(client), nodeName, metrics, Duration.ofMillis(50));
        final Agent agent = Agent.builder().nodeName(nodeName)
            .source(new InformerSource(server.createClient(), nodeName, Duration.ofMinutes(10), Clock.system()))
            .node(new AckingNodeClient()).minSyncPeriod(Duration.ofMillis(50)).retryPeriod(Duration.ofMillis(50))
            .metrics(metrics).annotations(publisher).build();
        return new Running(agent, publisher, metrics);
    }

    private Map<String, String> annotationsOf(final String name)
    {
        final Map<String, String> a = client.nodes().withName(name).get().getMetadata().getAnnotations();
        return a == null ? Map.of() : a;
    }

    @Test
    void shouldPublishFlannelAnnotationsOnANodeWithNone() throws Exception
    {
        client.nodes().resource(bare("node-a", 1)).create();
        final Running r = agent("node-a");
        try (Agent agent = r.agent())
        {
            agent.start();
            K8s.await("node-a annotated", () -> annotationsOf("node-a").containsKey(NodeAnnotationPublisher.PUBLIC_IP),
                WAIT);
            assertThat(annotationsOf("node-a")).containsExactlyInAnyOrderEntriesOf(Map.of(
                "flannel.alpha.coreos.com/backend-data", "{\"VNI\":1,\"VtepMAC\":\"0e:58:c0:a8:32:0b\"}",
                "flannel.alpha.coreos.com/backend-type", "vxlan",
                "flannel.alpha.coreos.com/kube-subnet-manager", "true",
                "flannel.alpha.coreos.com/public-ip", "192.168.50.11"));
            assertThat(r.metrics().annotationPatches(AgentMetrics.PATCH_OK)).isEqualTo(1);
            assertThat(dispatcher.statusPatches()).as("patched through nodes/status, as flanneld").isEqualTo(1);
            // the node's tables use the VTEP MAC and address it published
            K8s.awaitSyncAfterNow(agent);
            assertThat(Ip4.formatMac(agent.acknowledged().node().vtepMac())).isEqualTo("0e:58:c0:a8:32:0b");
            assertThat(Ip4.format(agent.acknowledged().node().publicIp())).isEqualTo("192.168.50.11");
        }
    }

    @Test
    void shouldNotPatchAgainWhenTheNodeAlreadyCarriesTheValues() throws Exception
    {
        client.nodes().resource(bare("node-a", 1)).create();
        final Running first = agent("node-a");
        try (Agent agent = first.agent())
        {
            agent.start();
            K8s.await("first run patched", () -> first.metrics().annotationPatches(AgentMetrics.PATCH_OK) == 1
                && first.publisher().idle(), WAIT);
        }
        final String version = client.nodes().withName("node-a").get().getMetadata().getResourceVersion();

        final Running second = agent("node-a");
        try (Agent agent = second.agent())
        {
            agent.start();
            K8s.awaitSyncAfterNow(agent);
            K8s.await("no patch pending", () -> second.publisher().idle(), WAIT);
            assertThat(second.metrics().annotationPatches(AgentMetrics.PATCH_OK)).isZero();
            assertThat(client.nodes().withName("node-a").get().getMetadata().getResourceVersion())
                .as("the Node was not written again").isEqualTo(version);
        }
    }

    @Test
    void shouldRouteBothWaysInAMixedCluster() throws Exception
    {
        client.nodes().resource(kernelFlannel("node-k", 2)).create();
        client.nodes().resource(bare("node-a", 1)).create();
        final Running r = agent("node-a");
        try (Agent agent = r.agent())
        {
            agent.start();
            K8s.await("node-a annotated", () -> annotationsOf("node-a").containsKey(NodeAnnotationPublisher.PUBLIC_IP),
                WAIT);
            K8s.awaitSyncAfterNow(agent);
            final NodeTables ferrySide = agent.acknowledged();

            // ferry → kernel: node-a's tables route node-k's pod CIDR to its flannel VTEP
            assertThat(ferrySide.remoteNodes()).singleElement().satisfies(rn ->
            {
                assertThat(rn.podCidr().toString()).isEqualTo("10.244.2.0/24");
                assertThat(Ip4.format(rn.publicIp())).isEqualTo("192.168.50.12");
                assertThat(Ip4.formatMac(rn.vtepMac())).isEqualTo("8a:5e:11:0c:2d:02");
            });

            // kernel → ferry: what flanneld on node-k reads of node-a (it skips nodes without
            // kube-subnet-manager=true) names the VTEP MAC and address node-a's dataplane answers on
            final Map<String, String> published = annotationsOf("node-a");
            assertThat(published).containsEntry("flannel.alpha.coreos.com/kube-subnet-manager", "true")
                .containsEntry("flannel.alpha.coreos.com/backend-type", "vxlan")
                .containsEntry("flannel.alpha.coreos.com/public-ip", Ip4.format(ferrySide.node().publicIp()))
                .containsEntry("flannel.alpha.coreos.com/backend-data", "{\"VNI\":1,\"VtepMAC\":\""
                    + Ip4.formatMac(ferrySide.node().vtepMac()) + "\"}");
            // and the same Nodes compiled for node-k route node-a's pod CIDR to that VTEP
            final ClusterState.Builder b = ClusterState.builder();
            client.nodes().list().getItems().forEach(n -> b.add(n, "api"));
            final NodeTables kernelSide = NodeTablesCompiler.compile(b.build(), "node-k", 0);
            assertThat(kernelSide.remoteNodes()).singleElement().satisfies(rn ->
            {
                assertThat(rn.podCidr().toString()).isEqualTo("10.244.1.0/24");
                assertThat(rn.publicIp()).isEqualTo(ferrySide.node().publicIp());
                assertThat(rn.vtepMac()).isEqualTo(ferrySide.node().vtepMac());
            });
            assertThat(annotationsOf("node-k")).as("the kernel node's annotations are not touched")
                .isEqualTo(kernelFlannel("node-k", 2).getMetadata().getAnnotations());
        }
    }

    @Test
    void shouldKeepAnExistingVtepMacAndHonourPublicIpOverwrite()
    {
        final Node n = kernelFlannel("node-k", 2);
        n.getMetadata().setAnnotations(new java.util.HashMap<>(n.getMetadata().getAnnotations()));
        n.getMetadata().getAnnotations().put(NodeAnnotationPublisher.PUBLIC_IP_OVERWRITE, "203.0.113.7");
        final ClusterState state = ClusterState.builder().add(n, "api").build();
        final Map<String, String> desired = NodeAnnotationPublisher.desired(n,
            NodeTablesCompiler.compile(state, "node-k", 0));
        assertThat(desired).containsEntry(NodeAnnotationPublisher.PUBLIC_IP, "203.0.113.7")
            .containsEntry(NodeAnnotationPublisher.BACKEND_DATA, "{\"VNI\":1,\"VtepMAC\":\"8a:5e:11:0c:2d:02\"}");
        assertThat(NodeAnnotationPublisher.changes(n, desired)).containsOnlyKeys(NodeAnnotationPublisher.PUBLIC_IP);
    }

    @Test
    void shouldCountFailuresAndRetryWithBackoff() throws Exception
    {
        final AtomicInteger calls = new AtomicInteger();
        final List<Map<String, String>> written = new ArrayList<>();
        final AgentMetrics metrics = AgentMetrics.create();
        final Node n = bare("node-a", 1);
        final ClusterState state = ClusterState.builder().add(n, "api").build();
        try (NodeAnnotationPublisher p = new NodeAnnotationPublisher((name, ann) ->
        {
            if (calls.incrementAndGet() <= 2)
            {
                throw new KubernetesClientException("Forbidden: nodes \"node-a\" is forbidden");
            }
            written.add(ann);
        }, "node-a", metrics, Duration.ofMillis(10)))
        {
            p.offer(state, NodeTablesCompiler.compile(state, "node-a", 0));
            K8s.await("patched after two failures", p::idle, WAIT);
            assertThat(metrics.annotationPatches(AgentMetrics.PATCH_ERROR)).isEqualTo(2);
            assertThat(metrics.annotationPatches(AgentMetrics.PATCH_OK)).isEqualTo(1);
            assertThat(written).singleElement().satisfies(a -> assertThat(a).hasSize(4));
            assertThat(p.lastError()).isNull();
            // the informer has not seen the patch yet: the same values are not sent twice
            p.offer(state, NodeTablesCompiler.compile(state, "node-a", 0));
            assertThat(p.idle()).isTrue();
            assertThat(calls).hasValue(3);
        }
    }
}
