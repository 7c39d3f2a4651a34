package dev.ferry.agent;

import dev.ferry.core.Clock;
import dev.ferry.lab.LabManifests;
import dev.ferry.lab.LabSpec;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The lab's cluster with no flannel annotation on its Nodes, served by an API server (fabric8's mock, CRUD mode):
 * the two agents publish them, and each node's tables are then the ones the lab's pre-written annotations give,
 * except for the VTEP MACs, which are ferry's own {@code 0e:58:<public IP>}.
 *
 * <p>{@code ferry lab} itself has no API server (its nodes start from a manifest directory, and its agents, in
 * {@code AgentUnderTrafficTest}, watch one), so there the annotations stay pre-written: an agent cannot publish
 * into files. This test is the lab's cluster as an API server would hold it.
 */
class LabWithoutAnnotationsTest
{
    private static final Duration WAIT = Duration.ofSeconds(20);
    private static final LabSpec SPEC = LabSpec.standard();

    @TempDir
    Path tmp;

    private KubernetesMockServer server;
    private KubernetesClient client;
    private final List<Agent> agents = new ArrayList<>();

    @BeforeEach
    void startServer()
    {
        server = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(),
            new NodeStatusKeepsMetadata(), false);
        server.init(InetAddress.getLoopbackAddress(), 0);
        client = server.createClient();
    }

    @AfterEach
    void stop()
    {
        agents.forEach(Agent::close);
        client.close();
        server.destroy();
    }

    private Agent start(final String node) throws Exception
    {
        final AgentMetrics metrics = AgentMetrics.create();
        final Agent agent = Agent.builder().nodeName(node)
            .source(new InformerSource(server.createClient(), node, Duration.ofMinutes(10), Clock.system()))
            .node(new AckingNodeClient()).minSyncPeriod(Duration.ofMillis(50)).retryPeriod(Duration.ofMillis(50))
            .metrics(metrics).annotations(new NodeAnnotationPublisher(NodeAnnotationPublisher.statusPatcher(client),
                node, metrics, Duration.ofMillis(50))).build();
        agents.add(agent);
        agent.start();
        return agent;
    }

    private static String withFerryVteps(final String text)
    {
        return text.replace(SPEC.node1().vtepMac(), "0e:58:c0:a8:32:0b")
            .replace(SPEC.node2().vtepMac(), "0e:58:c0:a8:32:0c");
    }

    @Test
    void shouldRouteBetweenTheLabsNodesOnceTheAgentsPublishTheirAnnotations() throws Exception
    {
        final Path dir = tmp.resolve("cluster");
        LabManifests.write(SPEC, dir, LabManifests.servers(SPEC), LabManifests.servers(SPEC));
        final ClusterState prewritten = ManifestLoader.load(dir, note -> { });
        final List<HasMetadata> objects = new ArrayList<>();
        for (final Node n : prewritten.nodes())
        {
            final Node bare = new io.fabric8.kubernetes.api.model.NodeBuilder(n).build();
            bare.getMetadata().getAnnotations().keySet().removeIf(k -> k.startsWith(NodeAnnotationPublisher.PREFIX));
            objects.add(bare);
        }
        // the mock server answers the Pod informer's spec.nodeName field selector with nothing, so Pods are left
        // out of both sides: the routes between the nodes are what this test is about
        final ClusterState.Builder expected = ClusterState.builder();
        prewritten.nodes().forEach(n -> expected.add(n, "prewritten"));
        objects.addAll(prewritten.services());
        objects.addAll(prewritten.endpointSlices());
        objects.addAll(prewritten.configMaps());
        objects.addAll(prewritten.serviceCidrs());
        for (final HasMetadata o : objects)
        {
            client.resource(o).create();
            if (!(o instanceof Node))
            {
                expected.add(o, "prewritten");
            }
        }
        final ClusterState withAnnotations = expected.build();

        final Map<String, Agent> bySide = Map.of("node1", start("node1"), "node2", start("node2"));
        for (final String node : bySide.keySet())
        {
            K8s.await(node + " annotated", () -> client.nodes().withName(node).get().getMetadata().getAnnotations()
                .containsKey(NodeAnnotationPublisher.PUBLIC_IP), WAIT);
        }
        for (final Map.Entry<String, Agent> e : bySide.entrySet())
        {
            final Agent agent = e.getValue();
            K8s.await(e.getKey() + " routes to the other node", () -> agent.acknowledged() != null
                && agent.acknowledged().remoteNodes().size() == 1, WAIT);
            K8s.awaitSyncAfterNow(agent);
            assertThat(TablesText.render(agent.acknowledged().withGeneration(0))).as(e.getKey())
                .isEqualTo(withFerryVteps(TablesText.render(NodeTablesCompiler.compile(withAnnotations, e.getKey(), 0))));
        }
    }
}
