package dev.ferry.node;

import dev.ferry.core.route.Ip4;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.tables.ServiceInfo;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.ConnectException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static dev.ferry.node.NodeFixture.POD_A;
import static dev.ferry.node.NodeFixture.POD_B;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A Service's healthCheckNodePort on a running node, as kube-proxy's {@code service_health.go} answers it: 200 with
 * the local endpoint count when this node has local ready endpoints, 503 without, the port closed once the Service
 * is gone.
 */
class HealthCheckNodePortTest
{
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @TempDir
    Path dir;

    private HttpResponse<String> get(final int port) throws Exception
    {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/")).timeout(
            Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
    }

    private static int freePort() throws Exception
    {
        try (ServerSocket s = new ServerSocket(0))
        {
            return s.getLocalPort();
        }
    }

    /** node-a's tables with a LoadBalancer Service, externalTrafficPolicy Local, and the given endpoints. */
    private static NodeTables withLocalService(final long generation, final int hcPort,
        final ServiceInfo.Endpoint... endpoints)
    {
        final NodeTables t = NodeFixture.basic(generation);
        final ServiceInfo web = new ServiceInfo("shop", "web", "LoadBalancer", null, List.of(Ip4.parse("10.96.0.30")),
            List.of(), List.of(Ip4.parse("198.51.100.30")), false, ServiceInfo.DEFAULT_AFFINITY_TIMEOUT, true, false,
            List.of(new ServiceInfo.ServicePort("http", 6, 80, 30080, List.of(endpoints))), hcPort);
        return new NodeTables(generation, t.node(), t.cluster(), t.pods(), t.remoteNodes(), List.of(web),
            t.neighbours());
    }

    private static ServiceInfo.Endpoint endpoint(final int ip, final boolean local, final boolean ready)
    {
        return new ServiceInfo.Endpoint(ip, 8080, ready, ready, false, local ? NodeFixture.NODE : "node-b", "", local);
    }

    @Test
    void shouldAnswer200WithTheLocalCountThen503WithoutLocalEndpointsThenClose() throws Exception
    {
        final int port = freePort();
        try (NodeFixture node = new NodeFixture(dir, ThreadingMode.SHARED, null))
        {
            assertThat(node.daemon.push(withLocalService(1, port, endpoint(POD_A, true, true),
                endpoint(Ip4.parse("10.244.2.9"), false, true), endpoint(POD_B, true, false))).get()).isEqualTo(1L);
            final HttpResponse<String> one = get(port);
            assertThat(one.statusCode()).as("one local ready endpoint").isEqualTo(200);
            assertThat(one.headers().firstValue("X-Load-Balancing-Endpoint-Weight")).hasValue("1");
            assertThat(one.headers().firstValue("Content-Type")).hasValue("application/json");
            assertThat(one.body()).isEqualTo("{\n\t\"service\": {\n\t\t\"namespace\": \"shop\",\n\t\t\"name\": \"web\"\n"
                + "\t},\n\t\"localEndpoints\": 1,\n\t\"serviceProxyHealthy\": true\n}");

            assertThat(node.daemon.push(withLocalService(2, port, endpoint(Ip4.parse("10.244.2.9"), false, true)))
                .get()).isEqualTo(2L);
            final HttpResponse<String> none = get(port);
            assertThat(none.statusCode()).as("only a remote endpoint").isEqualTo(503);
            assertThat(none.headers().firstValue("X-Load-Balancing-Endpoint-Weight")).hasValue("0");
            assertThat(none.body()).contains("\"localEndpoints\": 0,");

            assertThat(node.daemon.push(NodeFixture.basic(3)).get()).isEqualTo(3L);
            assertThat(node.daemon.healthCheckNodePorts()).as("Service removed").isEmpty();
            assertThatThrownBy(() -> get(port)).as("the port is closed").isInstanceOf(ConnectException.class);
        }
    }

    @Test
    void shouldCountDistinctLocalReadyAddressesOverAllPorts()
    {
        final NodeTables t = withLocalService(1, 31000, endpoint(POD_A, true, true), endpoint(POD_B, true, true));
        final ServiceInfo s = t.services().getFirst();
        final ServiceInfo twoPorts = new ServiceInfo(s.namespace(), s.name(), s.type(), null, s.clusterIps(),
            s.externalIps(), s.loadBalancerIps(), false, s.affinityTimeoutSeconds(), true, false,
            List.of(s.ports().getFirst(), new ServiceInfo.ServicePort("https", 6, 443, 30443,
                List.of(new ServiceInfo.Endpoint(POD_A, 8443, true, true, false, NodeFixture.NODE, "", true)))),
            31000);
        final NodeTables both = new NodeTables(1, t.node(), t.cluster(), t.pods(), t.remoteNodes(),
            List.of(twoPorts), t.neighbours());

        assertThat(ServiceHealthServers.wanted(both)).containsEntry(31000,
            new ServiceHealthServers.Entry("shop", "web", 2));
    }
}
