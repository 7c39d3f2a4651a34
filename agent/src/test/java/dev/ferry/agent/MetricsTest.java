package dev.ferry.agent;

import dev.ferry.core.tables.NodeTables;
import dev.ferry.nodeapi.MetricsServer;
import org.junit.jupiter.api.Test;

import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The agent's metrics endpoint (node-api's MetricsServer): its address, the JVM collectors, healthz. */
class MetricsTest
{
    private final HttpClient http = HttpClient.newHttpClient();

    private HttpResponse<String> get(final int port, final String path) throws Exception
    {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).build(),
            HttpResponse.BodyHandlers.ofString());
    }

    /** A source that never syncs, and a node that is never asked: enough to start an agent's endpoint. */
    private static Agent idleAgent(final String bindAddress)
    {
        final ClusterSource source = new ClusterSource()
        {
            @Override
            public void start(final ChangeListener listener)
            {
            }

            @Override
            public boolean synced()
            {
                return false;
            }

            @Override
            public ClusterState snapshot()
            {
                throw new UnsupportedOperationException("not synced");
            }

            @Override
            public String describe()
            {
                return "nothing";
            }

            @Override
            public void close()
            {
            }
        };
        final NodeClient node = new NodeClient()
        {
            @Override
            public long push(final NodeTables tables)
            {
                return tables.generation();
            }

            @Override
            public long generation()
            {
                return 0;
            }

            @Override
            public void close()
            {
            }
        };
        return Agent.builder().nodeName("node-a").source(source).node(node).metricsPort(0)
            .metricsBindAddress(bindAddress).build();
    }

    @Test
    void shouldServeOnTheConfiguredAddressWithJvmAndProcessMetrics() throws Exception
    {
        try (Agent agent = idleAgent("127.0.0.2"))
        {
            agent.start();
            final int port = agent.metricsPort();
            final HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.2:" + port
                + "/metrics")).build(), HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).isEqualTo(200);
            assertThat(r.body()).contains("ferry_tables_generation").contains("jvm_threads_current ")
                .contains("jvm_memory_used_bytes{area=\"heap\"}").contains("process_cpu_seconds_total ")
                .contains("process_start_time_seconds ");
            assertThatThrownBy(() -> get(port, "/metrics")).as("not on 127.0.0.1").isInstanceOf(ConnectException.class);
        }
        assertThatThrownBy(() -> Agent.builder().metricsBindAddress("metrics.local"))
            .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("is not an IP address");
    }

    @Test
    void shouldServeAgentMetricsAndHealthOnLoopback() throws Exception
    {
        final AgentMetrics metrics = AgentMetrics.create();
        metrics.syncDuration(0.004);
        metrics.programmingLatency(0.25);
        metrics.generation(42);
        metrics.error(AgentMetrics.ERROR_PUSH);
        final AtomicReference<String> health = new AtomicReference<>("source not synced: manifests /x");
        try (MetricsServer server = MetricsServer.start(0, metrics.registry(), health::get))
        {
            final String text = get(server.port(), "/metrics").body();
            assertThat(text).contains("ferry_sync_tables_duration_seconds_bucket{le=\"0.004\"} 1")
                .contains("ferry_sync_tables_duration_seconds_count 1")
                .contains("ferry_network_programming_duration_seconds_sum 0.25")
                .contains("ferry_tables_generation 42.0")
                .contains("ferry_sync_errors_total{stage=\"push\"} 1.0")
                .contains("ferry_sync_errors_total{stage=\"refused\"} 0.0");
            final HttpResponse<String> sick = get(server.port(), "/healthz");
            assertThat(sick.statusCode()).isEqualTo(503);
            assertThat(sick.body()).isEqualTo("source not synced: manifests /x\n");
            health.set(null);
            final HttpResponse<String> ok = get(server.port(), "/healthz");
            assertThat(ok.statusCode()).isEqualTo(200);
            assertThat(ok.body()).isEqualTo("ok\n");
            assertThat(get(server.port(), "/nope").statusCode()).isEqualTo(404);
        }
    }

    @Test
    void shouldStampEverySuccessfulSyncUnchangedOnesToo()
    {
        // kube-proxy sets sync_proxy_rules_last_timestamp_seconds at the end of every successful sync, so a quiet
        // cluster (periodic resyncs, nothing to push) does not look like a stuck proxy
        final AgentMetrics metrics = AgentMetrics.create();
        final double before = System.currentTimeMillis() / 1e3;
        assertThat(lastSync(metrics)).as("before any sync").isZero();

        metrics.sync(false);

        assertThat(lastSync(metrics)).as("an unchanged resync counts").isBetween(before,
            System.currentTimeMillis() / 1e3);
    }

    private static double lastSync(final AgentMetrics metrics)
    {
        return metrics.registry().scrape().stream()
            .filter(m -> m.getMetadata().getName().equals("ferry_sync_tables_last_timestamp_seconds")).findFirst()
            .map(m -> ((io.prometheus.metrics.model.snapshots.GaugeSnapshot)m).getDataPoints().getFirst().getValue())
            .orElseThrow();
    }
}
