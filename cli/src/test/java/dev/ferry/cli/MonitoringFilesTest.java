package dev.ferry.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.ferry.agent.AgentMetrics;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.node.MemoryPortFactory;
import dev.ferry.node.NodeConfig;
import dev.ferry.node.NodeDaemon;
import dev.ferry.nodeapi.ClusterLoader;
import dev.ferry.nodeapi.MetricsServer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.ServiceLoader;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * deploy/monitoring/: the Grafana dashboard is valid JSON and the PrometheusRule valid YAML with the alerts an
 * operator needs, and every metric they name is in the exposition of a running node (memory ports, the two-node
 * example's tables, so Services and conntrack are on) or agent. A renamed metric fails here, not on a dashboard.
 */
class MonitoringFilesTest
{
    private static final Path MONITORING = Path.of("../deploy/monitoring");
    private static final Pattern METRIC = Pattern.compile("\\b((?:ferry|jvm|process)_[a-z0-9_]+)");

    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @TempDir
    Path dir;

    @Test
    void shouldNameOnlyMetricsThatANodeOrTheAgentExposes() throws Exception
    {
        final JsonNode dashboard = new ObjectMapper().readTree(Files.readString(MONITORING.resolve(
            "ferry-dashboard.json")));
        final JsonNode rule = new ObjectMapper(new YAMLFactory()).readTree(Files.readString(MONITORING.resolve(
            "ferry-prometheusrule.yaml")));
        final List<String> exprs = new ArrayList<>();
        dashboard.path("panels").forEach(p -> p.path("targets").forEach(t -> exprs.add(t.path("expr").asText())));
        final List<String> alerts = new ArrayList<>();
        rule.path("spec").path("groups").forEach(g -> g.path("rules").forEach(r ->
        {
            alerts.add(r.path("alert").asText());
            exprs.add(r.path("expr").asText());
        }));
        assertThat(rule.path("kind").asText()).isEqualTo("PrometheusRule");
        assertThat(dashboard.path("panels").size()).isGreaterThanOrEqualTo(10);
        assertThat(alerts).contains("FerryNotSyncing", "FerryConntrackNearlyFull", "FerryDropsRising",
            "FerryPacketPoolExhausted");

        final TreeSet<String> named = new TreeSet<>();
        for (final String e : exprs)
        {
            final Matcher m = METRIC.matcher(e);
            while (m.find())
            {
                named.add(m.group(1));
            }
        }
        final String exposition = nodeExposition() + agentExposition();
        final List<String> missing = named.stream().filter(n -> !Pattern.compile("(?m)^" + Pattern.quote(n)
            + "[{ ]").matcher(exposition).find()).toList();

        assertThat(named).as("metrics the files use").contains("ferry_stage_drops_total", "ferry_conntrack_entries",
            "ferry_sync_tables_last_timestamp_seconds", "ferry_pool_allocation_failures_total");
        assertThat(missing).as("named in deploy/monitoring but not exposed").isEmpty();
    }

    private String nodeExposition() throws Exception
    {
        final NodeTables tables = ClusterLoader.only(ServiceLoader.load(ClusterLoader.class))
            .load(Path.of("../examples/two-node/cluster"), "node-a");
        final NodeConfig config = NodeConfig.defaults("node-a", dir.resolve("ferry.sock"), "eth9").withMetricsPort(0);
        try (NodeDaemon node = NodeDaemon.builder(config).portFactory(new MemoryPortFactory()).initialTables(tables)
            .build())
        {
            node.start();
            return get(node.metricsPort());
        }
    }

    private String agentExposition() throws Exception
    {
        final AgentMetrics metrics = AgentMetrics.create();
        try (MetricsServer server = MetricsServer.start(0, metrics.registry(), () -> null))
        {
            return get(server.port());
        }
    }

    private String get(final int port) throws Exception
    {
        final HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port
            + "/metrics")).timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).isEqualTo(200);
        return r.body();
    }
}
