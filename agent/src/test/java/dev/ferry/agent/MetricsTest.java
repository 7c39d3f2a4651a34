package dev.ferry.agent;

import dev.ferry.nodeapi.MetricsServer;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;

/** The agent's metrics endpoint on loopback (the node's MetricsServer, imported from module node) and healthz. */
class MetricsTest
{
    private final HttpClient http = HttpClient.newHttpClient();

    private HttpResponse<String> get(final int port, final String path) throws Exception
    {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).build(),
            HttpResponse.BodyHandlers.ofString());
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
}
