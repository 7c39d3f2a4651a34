package dev.ferry.agent;

import dev.ferry.core.Clock;
import dev.ferry.core.tables.NodeTables;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.SessionAffinityConfigBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
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
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The agent against fabric8's Kubernetes mock server in CRUD mode and a real node daemon: every create,
 * update and delete of a Node, Service or EndpointSlice reaches the node within 1 s; after the API server
 * restarts (same port, same data, changes made while the agent was cut off) the informers reconnect and list
 * again, and the node converges with no lost and no duplicate push.
 */
class InformerAgentTest
{
    private static final Duration CONVERGE = Duration.ofSeconds(1);

    @TempDir
    Path tmp;

    private final KubernetesCrudDispatcher dispatcher = new KubernetesCrudDispatcher();
    private KubernetesMockServer server;
    private KubernetesClient writer;

    private KubernetesMockServer server(final int port)
    {
        final KubernetesMockServer s = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(),
            dispatcher, false);
        s.init(InetAddress.getLoopbackAddress(), port);
        return s;
    }

    @BeforeEach
    void startServer()
    {
        server = server(0);
        writer = server.createClient();
    }

    @AfterEach
    void stopServer()
    {
        writer.close();
        server.destroy();
    }

    private Agent agent(final TestNode node, final List<Long> acks)
    {
        return Agent.builder().nodeName("node-a")
            .source(new InformerSource(server.createClient(), "node-a", Duration.ofMinutes(10), Clock.system()))
            .node(new UnixSocketNodeClient(node.socket)).minSyncPeriod(Duration.ofMillis(100)).burst(2)
            .retryPeriod(Duration.ofMillis(100)).onAcknowledged((g, t) -> acks.add(g)).build();
    }

    /** What the node must hold: the objects now in the API server, compiled for node-a. */
    private String expected()
    {
        final ClusterState.Builder b = ClusterState.builder();
        writer.nodes().list().getItems().forEach(o -> b.add(o, "api"));
        writer.services().inAnyNamespace().list().getItems().forEach(o -> b.add(o, "api"));
        writer.discovery().v1().endpointSlices().inAnyNamespace().list().getItems().forEach(o -> b.add(o, "api"));
        return TablesText.render(NodeTablesCompiler.compile(b.build(), "node-a", 0));
    }

    private static String text(final NodeTables t)
    {
        return t == null ? "" : TablesText.render(t.withGeneration(0));
    }

    private void converge(final TestNode node, final Agent agent, final long generation, final String what)
        throws InterruptedException
    {
        K8s.await(what + " (generation " + generation + ")", () -> node.generation() == generation
            && agent.acknowledged() != null && agent.acknowledged().generation() == generation, CONVERGE);
        assertThat(text(agent.acknowledged())).as(what).isEqualTo(expected());
    }

    @Test
    void shouldConvergeWithinOneSecondOfEachCreateUpdateAndDelete() throws Exception
    {
        writer.nodes().resource(K8s.node("node-a", 1)).create();
        final List<Long> acks = new CopyOnWriteArrayList<>();
        try (TestNode node = new TestNode(tmp, "node-a"); Agent agent = agent(node, acks))
        {
            agent.start();
            K8s.await("initial list pushed", () -> node.generation() == 1, Duration.ofSeconds(10));
            assertThat(text(agent.acknowledged())).isEqualTo(expected());

            writer.nodes().resource(K8s.node("node-b", 2)).create();
            converge(node, agent, 2, "Node created");
            assertThat(node.routes()).anyMatch(l -> l.contains("10.244.2.0/24"));

            writer.services().resource(K8s.service("default", "web", 1)).create();
            converge(node, agent, 3, "Service created");

            writer.discovery().v1().endpointSlices().resource(K8s.slice("default", "web", 2, 10, 3)).create();
            converge(node, agent, 4, "EndpointSlice created");
            assertThat(text(agent.acknowledged())).contains("10.244.2.10:8080", "10.244.2.12:8080");

            final EndpointSlice fewer = K8s.slice("default", "web", 2, 11, 1);
            writer.discovery().v1().endpointSlices().resource(fewer).update();
            converge(node, agent, 5, "EndpointSlice updated (endpoints removed)");
            assertThat(text(agent.acknowledged())).doesNotContain("10.244.2.10:8080").contains("10.244.2.11:8080");

            final Service web = writer.services().inNamespace("default").withName("web").get();
            web.getSpec().setSessionAffinity("ClientIP");
            writer.services().resource(web).update();
            converge(node, agent, 6, "Service updated");
            assertThat(text(agent.acknowledged())).contains("affinity=ClientIP");

            writer.discovery().v1().endpointSlices().inNamespace("default").withName("web-abc").delete();
            converge(node, agent, 7, "EndpointSlice deleted");
            writer.services().inNamespace("default").withName("web").delete();
            converge(node, agent, 8, "Service deleted");
            writer.nodes().withName("node-b").delete();
            converge(node, agent, 9, "Node deleted");
            assertThat(node.routes()).noneMatch(l -> l.contains("10.244.2.0/24"));

            assertThat(acks).as("one push per change, in order").containsExactly(1L, 2L, 3L, 4L, 5L, 6L, 7L, 8L, 9L);
            assertThat(agent.metrics().programmingLatencyCount()).isGreaterThanOrEqualTo(9);
            assertThat(agent.metrics().errors(AgentMetrics.ERROR_PUSH)).isZero();
        }
    }

    @Test
    void shouldReadServiceCidrsAndPushEverythingButABadService() throws Exception
    {
        writer.nodes().resource(K8s.node("node-a", 1)).create();
        writer.network().v1().serviceCIDRs().resource(new io.fabric8.kubernetes.api.model.networking.v1
            .ServiceCIDRBuilder().withNewMetadata().withName("kubernetes").endMetadata().withNewSpec()
            .addToCidrs("10.100.0.0/16").endSpec().build()).create();
        // a worker node: no kube-apiserver Pod names the NodePort range, so a nodePort the API server admitted
        // outside the default 30000-32767 is programmed, as kube-proxy does
        final Service wide = K8s.service("default", "wide-range", 8);
        wide.getSpec().setType("NodePort");
        wide.getSpec().getPorts().getFirst().setNodePort(20000);
        writer.services().resource(wide).create();
        final Service bad = K8s.service("default", "bad", 7);
        bad.getSpec().setSessionAffinity("ClientIP");
        bad.getSpec().setSessionAffinityConfig(new SessionAffinityConfigBuilder().withNewClientIP()
            .withTimeoutSeconds(0).endClientIP().build());
        writer.services().resource(bad).create();
        writer.services().resource(K8s.service("default", "web", 1)).create();
        final List<Long> acks = new CopyOnWriteArrayList<>();
        try (TestNode node = new TestNode(tmp, "node-a"); Agent agent = agent(node, acks))
        {
            agent.start();
            K8s.await("the tables pushed despite the bad Service", () -> node.generation() == 1,
                Duration.ofSeconds(10));
            assertThat(text(agent.acknowledged())).as("the ServiceCIDR's range")
                .contains("service-cidrs  10.100.0.0/16").contains("default/web").contains("*:20000")
                .doesNotContain("default/bad");
            assertThat(agent.metrics().skipped("Service", NodeTablesCompiler.INVALID_FIELD)).isEqualTo(1);
            assertThat(agent.metrics().skipped("Service", NodeTablesCompiler.NODEPORT_OUT_OF_RANGE)).isZero();
            assertThat(agent.metrics().errors(AgentMetrics.ERROR_COMPILE)).isZero();

            writer.services().inNamespace("default").withName("bad").delete();
            K8s.await("the gauge after the bad Service is gone", () -> agent.metrics().skipped("Service",
                NodeTablesCompiler.INVALID_FIELD) == 0, Duration.ofSeconds(10));
        }
    }

    @Test
    void shouldRelistAfterTheApiServerRestartsAndLoseNoUpdate() throws Exception
    {
        writer.nodes().resource(K8s.node("node-a", 1)).create();
        writer.nodes().resource(K8s.node("node-b", 2)).create();
        writer.services().resource(K8s.service("default", "web", 1)).create();
        writer.discovery().v1().endpointSlices().resource(K8s.slice("default", "web", 2, 10, 2)).create();
        final List<Long> acks = new CopyOnWriteArrayList<>();
        try (TestNode node = new TestNode(tmp, "node-a"); Agent agent = agent(node, acks))
        {
            agent.start();
            K8s.await("initial list pushed", () -> node.generation() == 1, Duration.ofSeconds(10));
            final int port = server.getPort();

            // the API server goes away; the agent keeps the node's tables as they are
            writer.close();
            server.destroy();
            K8s.awaitSyncAfterNow(agent);
            assertThat(node.generation()).as("nothing pushed while the API server is away").isEqualTo(1);

            // it comes back on the same port with the same data, and changes land before the watches return
            server = server(port);
            writer = server.createClient();
            final List<String> changes = new ArrayList<>();
            writer.services().resource(K8s.service("default", "api", 2)).create();
            changes.add("Service default/api created");
            writer.discovery().v1().endpointSlices().resource(K8s.slice("default", "web", 2, 20, 1)).update();
            changes.add("EndpointSlice default/web-abc updated");
            writer.nodes().resource(K8s.node("node-c", 3)).create();
            changes.add("Node node-c created");

            K8s.await("the agent re-lists and pushes what changed (" + changes + ")",
                () -> text(agent.acknowledged()).equals(expected()), Duration.ofSeconds(20));
            final long after = node.generation();
            assertThat(text(agent.acknowledged())).contains("default/api", "10.244.2.20:8080")
                .doesNotContain("10.244.2.10:8080");
            assertThat(node.routes()).anyMatch(l -> l.contains("10.244.3.0/24"));

            // no duplicate: with nothing changed, a sync pushes nothing more
            K8s.awaitSyncAfterNow(agent);
            assertThat(node.generation()).as("no push without a change").isEqualTo(after);
            writer.services().inNamespace("default").withName("api").delete();
            converge(node, agent, after + 1, "Service deleted after the restart");
            assertThat(acks).as("generations acknowledged once each, in order").doesNotHaveDuplicates()
                .isSorted().startsWith(1L).endsWith(after + 1);
        }
    }
}
