package dev.ferry.agent;

import dev.ferry.core.Clock;
import dev.ferry.core.tables.NodeTables;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code ferry agent --manifests DIR} against a real node daemon (memory ports, real Unix socket): the node
 * converges within 1 s of each file change, a malformed file keeps the last good tables, a burst of writes is
 * debounced into one reload, and a restarted agent goes on above the node's generation.
 */
class ManifestAgentTest
{
    private static final Duration CONVERGE = Duration.ofSeconds(1);

    @TempDir
    Path tmp;

    private Path cluster() throws Exception
    {
        final Path dir = Files.createDirectories(tmp.resolve("cluster"));
        try (Stream<Path> files = Files.list(Path.of("../agent/src/test/resources/two-node")))
        {
            for (final Path f : files.toList())
            {
                Files.copy(f, dir.resolve(f.getFileName()));
            }
        }
        return dir;
    }

    private static Agent agent(final Path dir, final TestNode node, final List<Long> acks)
    {
        return Agent.builder().nodeName("node-a")
            .source(new ManifestDirectorySource(dir, Duration.ofMillis(50), Clock.system()))
            .node(new UnixSocketNodeClient(node.socket)).minSyncPeriod(Duration.ofMillis(100)).burst(2)
            .resyncPeriod(Duration.ofMinutes(5)).retryPeriod(Duration.ofMillis(100))
            .onAcknowledged((g, t) -> acks.add(g)).build();
    }

    private static String expected(final Path dir) throws Exception
    {
        return TablesText.render(NodeTablesCompiler.compile(ManifestLoader.load(dir, n -> { }), "node-a", 0));
    }

    private static String text(final NodeTables t)
    {
        return t == null ? "" : TablesText.render(t.withGeneration(0));
    }

    @Test
    void shouldConvergeOnEachFileChangeAndKeepTheLastGoodTablesOnAMalformedFile() throws Exception
    {
        final Path dir = cluster();
        final List<Long> acks = new CopyOnWriteArrayList<>();
        try (TestNode node = new TestNode(tmp, "node-a"); Agent agent = agent(dir, node, acks))
        {
            agent.start();
            K8s.await("initial tables on the node", () -> node.generation() == 1, Duration.ofSeconds(5));
            assertThat(text(agent.acknowledged())).isEqualTo(expected(dir));
            assertThat(node.routes()).as("route to node-b's pods through its VTEP")
                .anyMatch(l -> l.contains("10.244.2.0/24"));

            // add a Service: the node has it within 1 s
            Files.writeString(dir.resolve("extra.yaml"), """
                apiVersion: v1
                kind: Service
                metadata: {name: extra, namespace: default}
                spec:
                  clusterIP: 10.96.0.99
                  ports: [{name: dns, port: 53, protocol: UDP}]
                """);
            K8s.await("node has the new Service", () -> node.generation() == 2, CONVERGE);
            assertThat(text(agent.acknowledged())).contains("default/extra").isEqualTo(expected(dir));

            // a malformed file: nothing is pushed, the node keeps generation 2, the agent says why
            Files.writeString(dir.resolve("broken.yaml"), "kind: Service\nmetadata: {name: [oops\n");
            K8s.await("the agent reports the bad file", () -> agent.health() != null
                && agent.health().contains("broken.yaml"), Duration.ofSeconds(2));
            assertThat(agent.health()).contains("keeping the last good state");
            // a sync that starts after the report compiles what the agent now holds: it must push nothing
            K8s.awaitSyncAfterNow(agent);
            assertThat(node.generation()).as("last good tables kept").isEqualTo(2);
            assertThat(acks).containsExactly(1L, 2L);

            // fixed, and the Service deleted: both in one reload
            Files.delete(dir.resolve("broken.yaml"));
            Files.delete(dir.resolve("extra.yaml"));
            K8s.await("node lost the Service", () -> node.generation() == 3, CONVERGE);
            K8s.await("acknowledged", () -> acks.size() == 3, Duration.ofSeconds(1));
            assertThat(text(agent.acknowledged())).doesNotContain("default/extra").isEqualTo(expected(dir));
            K8s.await("healthy again", () -> agent.health() == null, Duration.ofSeconds(1));
            assertThat(acks).as("acknowledged generations, each once, in order").containsExactly(1L, 2L, 3L);
            assertThat(agent.metrics().programmingLatencyCount()).as("latency recorded per changed object")
                .isGreaterThanOrEqualTo(3);
        }
    }

    @Test
    void shouldDebounceABurstOfWritesIntoOneReload() throws Exception
    {
        final Path dir = cluster();
        final List<Long> acks = new CopyOnWriteArrayList<>();
        final ManifestDirectorySource source = new ManifestDirectorySource(dir, Duration.ofMillis(300),
            Clock.system());
        try (TestNode node = new TestNode(tmp, "node-a");
            Agent agent = Agent.builder().nodeName("node-a").source(source)
                .node(new UnixSocketNodeClient(node.socket)).minSyncPeriod(Duration.ofMillis(10))
                .onAcknowledged((g, t) -> acks.add(g)).build())
        {
            agent.start();
            K8s.await("initial tables", () -> node.generation() == 1, Duration.ofSeconds(5));
            final long reloads = source.reloads();
            for (int i = 0; i < 5; i++)
            {
                Files.writeString(dir.resolve("svc-" + i + ".yaml"), "apiVersion: v1\nkind: Service\nmetadata: {name: s"
                    + i + ", namespace: default}\nspec: {clusterIP: 10.96.1." + (i + 1)
                    + ", ports: [{port: 80}]}\n");
                Thread.sleep(30); // pacing: the writes are 30 ms apart, well inside the 300 ms debounce
            }
            K8s.await("the burst applied", () -> acks.size() == 2, Duration.ofSeconds(3));
            assertThat(agent.acknowledged().services()).extracting(s -> s.name())
                .contains("s0", "s1", "s2", "s3", "s4");
            // a later write is the marker: once the node has it, any reload the burst caused has happened too
            Files.writeString(dir.resolve("marker.yaml"), "apiVersion: v1\nkind: Service\nmetadata: {name: marker, "
                + "namespace: default}\nspec: {clusterIP: 10.96.1.99, ports: [{port: 80}]}\n");
            K8s.await("the marker applied", () -> agent.acknowledged().services().stream()
                .anyMatch(s -> s.name().equals("marker")), Duration.ofSeconds(3));
            assertThat(source.reloads() - reloads).as("five writes, one reload; the marker, one more").isEqualTo(2);
            assertThat(acks).containsExactly(1L, 2L, 3L);
        }
    }

    @Test
    void shouldGoAboveTheNodesGenerationAfterAnAgentRestart() throws Exception
    {
        final Path dir = cluster();
        try (TestNode node = new TestNode(tmp, "node-a"))
        {
            try (Agent first = agent(dir, node, new CopyOnWriteArrayList<>()))
            {
                first.start();
                K8s.await("first agent's tables", () -> node.generation() == 1, Duration.ofSeconds(5));
            }
            Files.writeString(dir.resolve("extra.yaml"), "apiVersion: v1\nkind: Service\nmetadata: {name: x, "
                + "namespace: default}\nspec: {clusterIP: 10.96.0.77, ports: [{port: 80}]}\n");
            final List<Long> acks = new CopyOnWriteArrayList<>();
            try (Agent second = agent(dir, node, acks))
            {
                second.start();
                K8s.await("second agent's tables acknowledged", () -> !acks.isEmpty(), Duration.ofSeconds(5));
                assertThat(node.generation()).isEqualTo(2);
                assertThat(acks).as("a new agent continues the node's sequence").containsExactly(2L);
                assertThat(text(second.acknowledged())).contains("default/x");
            }
        }
    }

    @Test
    void shouldRepushWhenTheNodeRestartsWithoutTables() throws Exception
    {
        final Path dir = cluster();
        final List<Long> acks = new CopyOnWriteArrayList<>();
        final Path nodeDir = tmp.resolve("n");
        final Agent agent;
        try (TestNode node = new TestNode(nodeDir, "node-a"))
        {
            agent = Agent.builder().nodeName("node-a")
                .source(new ManifestDirectorySource(dir, Duration.ofMillis(50), Clock.system()))
                .node(new UnixSocketNodeClient(node.socket)).minSyncPeriod(Duration.ofMillis(50))
                .resyncPeriod(Duration.ofMillis(300)).retryPeriod(Duration.ofMillis(50))
                .onAcknowledged((g, t) -> acks.add(g)).build();
            agent.start();
            K8s.await("tables", () -> node.generation() == 1, Duration.ofSeconds(5));
        }
        try (agent; TestNode restarted = new TestNode(nodeDir, "node-a"))
        {
            K8s.await("restarted node gets the tables again at the next resync", () -> restarted.generation() >= 1,
                Duration.ofSeconds(3));
            assertThat(agent.metrics().errors(AgentMetrics.ERROR_REFUSED)).isZero();
        }
    }
}
