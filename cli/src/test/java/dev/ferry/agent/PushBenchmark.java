package dev.ferry.agent;

import dev.ferry.core.Clock;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.nodeapi.NodeTablesJson;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;

import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Locale;

/**
 * Not a test: measures compile, encode and push+apply (over the real node's Unix socket) for 100, 1,000 and
 * 10,000 Services with 10 endpoints each, then the network-programming latency on the mock API server.
 * Run with cli's test classpath: {@code java -cp ... dev.ferry.agent.PushBenchmark}.
 */
public final class PushBenchmark
{
    private PushBenchmark()
    {
    }

    static ClusterState cluster(final int services)
    {
        final ClusterState.Builder b = ClusterState.builder();
        b.add(K8s.node("node-a", 1), "bench");
        b.add(K8s.node("node-b", 2), "bench");
        for (int i = 0; i < services; i++)
        {
            b.add(K8s.service("ns" + (i % 50), "svc-" + i, i), "bench");
            final var slice = K8s.slice("ns" + (i % 50), "svc-" + i, 2, 10, 10);
            slice.getEndpoints().forEach(e -> e.setAddresses(java.util.List.of(
                "10.244.2." + (10 + slice.getEndpoints().indexOf(e)))));
            b.add(slice, "bench");
        }
        return b.build();
    }

    public static void main(final String[] args) throws Exception
    {
        final Path dir = Files.createTempDirectory("ferry-ag-bench");
        try (TestNode node = new TestNode(dir, "node-a"); UnixSocketNodeClient client = new UnixSocketNodeClient(
            node.socket))
        {
            long generation = 0;
            for (final int n : new int[] {100, 1_000, 10_000})
            {
                final ClusterState state = cluster(n);
                final int runs = n == 10_000 ? 5 : 10;
                final double[] compile = new double[runs];
                final double[] encode = new double[runs];
                final double[] push = new double[runs];
                int bytes = 0;
                for (int r = -2; r < runs; r++)
                {
                    final long t0 = System.nanoTime();
                    final NodeTables t = NodeTablesCompiler.compile(state, "node-a", ++generation);
                    final long t1 = System.nanoTime();
                    bytes = NodeTablesJson.encode(t).toString().length();
                    final long t2 = System.nanoTime();
                    client.push(t);
                    final long t3 = System.nanoTime();
                    if (r >= 0)
                    {
                        compile[r] = (t1 - t0) / 1e6;
                        encode[r] = (t2 - t1) / 1e6;
                        push[r] = (t3 - t2) / 1e6;
                    }
                }
                System.out.printf(Locale.ROOT, "%6d Services x 10 endpoints: compile %8.1f ms, encode %8.1f ms, "
                    + "push+decode+apply+ack %8.1f ms (medians of %d), %,d bytes of JSON%n", n, median(compile),
                    median(encode), median(push), runs, bytes);
            }
        }
        latency(dir);
    }

    private static void latency(final Path dir) throws Exception
    {
        final KubernetesMockServer server = new KubernetesMockServer(new Context(), new MockWebServer(),
            new HashMap<>(), new KubernetesCrudDispatcher(), false);
        server.init(InetAddress.getLoopbackAddress(), 0);
        try (KubernetesClient writer = server.createClient(); TestNode node = new TestNode(dir.resolve("lat"),
            "node-a"); Agent agent = Agent.builder().nodeName("node-a")
                .source(new InformerSource(server.createClient(), "node-a", Duration.ofMinutes(10), Clock.system()))
                .node(new UnixSocketNodeClient(node.socket)).minSyncPeriod(Duration.ofMillis(100)).burst(2).build())
        {
            writer.nodes().resource(K8s.node("node-a", 1)).create();
            agent.start();
            K8s.await("initial", () -> node.generation() >= 1, Duration.ofSeconds(10));
            final int changes = 40;
            final double[] ms = new double[changes];
            for (int i = 0; i < changes; i++)
            {
                final long before = node.generation();
                Thread.sleep(120); // pacing: past the 100 ms minimum sync period, so each change is timed alone
                final long t0 = System.nanoTime();
                writer.services().resource(K8s.service("default", "s" + i, i)).create();
                K8s.await("change " + i, () -> node.generation() > before, Duration.ofSeconds(5));
                ms[i] = (System.nanoTime() - t0) / 1e6;
            }
            System.out.printf(Locale.ROOT, "network programming latency on the mock server (create Service -> node "
                + "ack, min sync period 100 ms, one change every 120 ms): median %.1f ms, max %.1f ms over %d "
                + "changes; agent histogram mean %.1f ms%n", median(ms), Arrays.stream(ms).max().orElse(0), changes,
                1000 * agent.metrics().programmingLatencySum() / agent.metrics().programmingLatencyCount());
        }
        finally
        {
            server.destroy();
        }
    }

    private static double median(final double[] v)
    {
        final double[] s = v.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }
}
