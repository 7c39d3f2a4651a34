package dev.ferry.node;

import dev.ferry.core.tables.NodeTables;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.ExecutionException;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * kube-proxy's /healthz and /livez on a running node (memory ports): status codes, headers and body as
 * {@code pkg/proxy/healthcheck/proxy_health.go} writes them.
 */
class HealthzEndpointTest
{
    private static final String BODY = "\\{\"lastUpdated\": \"\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d(\\.\\d+)? \\+0000 UTC\","
        + "\"currentTime\": \"\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d(\\.\\d+)? \\+0000 UTC\"";

    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @TempDir
    Path dir;

    private HttpResponse<String> get(final NodeDaemon node, final String path) throws Exception
    {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + node.healthzPort() + path))
            .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
    }

    private NodeDaemon start(final long healthTimeoutMillis) throws Exception
    {
        final NodeConfig config = NodeConfig.defaults(NodeFixture.NODE, dir.resolve("api/ferry.sock"), "eth9")
            .withHealthzBindAddress("127.0.0.1:0").withWorkers(NodeFixture.workers());
        final NodeDaemon d = NodeDaemon.builder(config).portFactory(new MemoryPortFactory())
            .healthTimeoutMillis(healthTimeoutMillis).build();
        d.start();
        return d;
    }

    @Test
    void shouldAnswerLikeKubeProxyWhileTheFirstTablesAreNotLate() throws Exception
    {
        try (NodeDaemon node = start(60_000))
        {
            final HttpResponse<String> healthz = get(node, "/healthz");
            assertThat(healthz.statusCode()).as("starting: the first tables are pending, not late").isEqualTo(200);
            assertThat(healthz.headers().firstValue("Content-Type")).hasValue("application/json");
            assertThat(healthz.headers().firstValue("X-Content-Type-Options")).hasValue("nosniff");
            assertThat(healthz.body()).matches(BODY + ", \"nodeEligible\": true}");

            final HttpResponse<String> livez = get(node, "/livez");
            assertThat(livez.statusCode()).isEqualTo(200);
            assertThat(livez.body()).matches(BODY + "}");

            assertThat(get(node, "/metrics").statusCode()).isEqualTo(404);
        }
    }

    @Test
    void shouldAnswer503WhenNoTablesArriveInTimeAnd200OnceApplied() throws Exception
    {
        try (NodeDaemon node = start(1))
        {
            NodeFixture.await("the pending first tables to be late", () -> node.healthzPort() > 0
                && status(node, "/healthz") == 503, Duration.ofSeconds(5));
            assertThat(get(node, "/livez").statusCode()).isEqualTo(503);
            assertThat(get(node, "/healthz").body()).as("never updated since start: lastUpdated is the start")
                .matches(BODY + ", \"nodeEligible\": true}");

            assertThat(node.push(NodeFixture.basic(1)).get()).isEqualTo(1L);
            assertThat(get(node, "/healthz").statusCode()).as("applied tables").isEqualTo(200);
            assertThat(get(node, "/livez").statusCode()).isEqualTo(200);

            assertThatThrownBy(() -> node.push(NodeFixture.basic(1)).get()).isInstanceOf(ExecutionException.class);
            NodeFixture.await("a refused push to be late", () -> status(node, "/healthz") == 503,
                Duration.ofSeconds(5));
            assertThat(node.push(NodeFixture.basic(2)).get()).isEqualTo(2L);
            assertThat(get(node, "/healthz").statusCode()).isEqualTo(200);
        }
    }

    @Test
    void shouldAnswer503WhileTheNodeIsNotEligibleAsKubeProxyDoes() throws Exception
    {
        try (NodeDaemon node = start(60_000))
        {
            assertThat(node.push(NodeFixture.basic(1)).get()).isEqualTo(1L);
            assertThat(get(node, "/healthz").statusCode()).isEqualTo(200);

            // the agent saw the Node tainted ToBeDeletedByClusterAutoscaler (or being deleted)
            final NodeTables t = NodeFixture.basic(2);
            final NodeTables.NodeInfo n = t.node();
            final NodeTables draining = new NodeTables(2, new NodeTables.NodeInfo(n.name(), n.addresses(), n.podCidr(),
                n.gatewayIp(), n.gatewayMac(), n.uplinkMac(), n.vtepMac(), n.publicIp(), n.underlayGateway(),
                n.underlayPrefix(), n.underlayMtu(), false), t.cluster(), t.pods(), t.remoteNodes(), t.services(),
                t.neighbours());
            assertThat(node.push(draining).get()).isEqualTo(2L);
            final HttpResponse<String> healthz = get(node, "/healthz");
            assertThat(healthz.statusCode()).as("in sync but not eligible").isEqualTo(503);
            assertThat(healthz.body()).matches(BODY + ", \"nodeEligible\": false}");
            assertThat(get(node, "/livez").statusCode()).as("/livez ignores eligibility, as kube-proxy's").isEqualTo(200);

            assertThat(node.push(NodeFixture.basic(3)).get()).isEqualTo(3L);
            assertThat(get(node, "/healthz").statusCode()).as("the taint is gone").isEqualTo(200);
            assertThat(get(node, "/healthz").body()).endsWith("\"nodeEligible\": true}");
        }
    }

    @Test
    void shouldServeNothingWhenOff() throws Exception
    {
        final NodeConfig config = NodeConfig.defaults(NodeFixture.NODE, dir.resolve("api/ferry.sock"), "eth9")
            .withWorkers(NodeFixture.workers());
        try (NodeDaemon node = NodeDaemon.builder(config).portFactory(new MemoryPortFactory()).build())
        {
            node.start();
            assertThat(node.healthzPort()).isEqualTo(-1);
        }
    }

    private int status(final NodeDaemon node, final String path)
    {
        try
        {
            return get(node, path).statusCode();
        }
        catch (final Exception e)
        {
            throw new IllegalStateException(e);
        }
    }
}
