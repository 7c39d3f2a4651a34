package dev.ferry.node;

import dev.ferry.core.packet.FrameBuilder;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.tables.ServiceInfo;
import dev.ferry.tapio.MemoryPort;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static dev.ferry.node.NodeFixture.POD_A;
import static dev.ferry.node.NodeFixture.POD_B;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The metrics endpoint of a running node (memory ports, Services wired in): {@code /healthz} turns 200 with the
 * first tables, {@code /metrics} shows the generation, the pushes, the stage counters and drops after traffic, the
 * ports, the pool and conntrack, whose table is sized by the first tables' cluster settings.
 */
class NodeMetricsEndpointTest
{
    private static final int CLUSTER_IP = Ip4.parse("10.96.0.10");
    private static final int FRAMES = 200;

    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @TempDir
    Path dir;

    private HttpResponse<String> get(final NodeFixture node, final String path) throws Exception
    {
        return get("127.0.0.1", node.daemon.metricsPort(), path);
    }

    private HttpResponse<String> get(final String address, final int port, final String path) throws Exception
    {
        return http.send(HttpRequest.newBuilder(URI.create("http://" + address + ":" + port + path))
            .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
    }

    /** @return the value of an unlabelled sample in a scrape. */
    private static double sample(final String text, final String name)
    {
        final Matcher m = Pattern.compile("(?m)^" + Pattern.quote(name) + " (\\S+)$").matcher(text);
        assertThat(m.find()).as(name + " in the scrape").isTrue();
        return Double.parseDouble(m.group(1));
    }

    @Test
    void shouldServeTheLastSyncTimeTheChangeCounterAndJvmMetrics() throws Exception
    {
        try (NodeFixture node = new NodeFixture(dir, ThreadingMode.SHARED, null, 0))
        {
            final String idle = metrics(node);
            assertThat(sample(idle, "ferry_tables_applied_last_timestamp_seconds")).as("before the first push")
                .isZero();
            assertThat(sample(idle, "ferry_sync_tables_total")).isZero();

            final double before = System.currentTimeMillis() / 1e3;
            assertThat(node.daemon.push(withService(1, Map.of())).get()).isEqualTo(1L);
            final double first = sample(metrics(node), "ferry_tables_applied_last_timestamp_seconds");
            assertThat(first).as("unix time of the applied push").isBetween(before, System.currentTimeMillis() / 1e3);
            Thread.sleep(20);
            assertThat(node.daemon.push(withService(2, Map.of())).get()).isEqualTo(2L);
            assertThatThrownBy(() -> node.daemon.push(withService(2, Map.of())).get())
                .isInstanceOf(ExecutionException.class);

            final String text = metrics(node);
            assertThat(sample(text, "ferry_tables_applied_last_timestamp_seconds")).as("moves with each applied push")
                .isGreaterThan(first);
            assertThat(sample(text, "ferry_sync_tables_total")).as("a refused push changes nothing").isEqualTo(2);
            assertThat(sample(text, "process_cpu_seconds_total")).isPositive();
            assertThat(sample(text, "jvm_threads_current")).isPositive();
            assertThat(sample(text, "process_start_time_seconds")).isBetween(1.0e9, before);
            assertThat(text).contains("jvm_memory_used_bytes{area=\"heap\"}").contains("jvm_gc_collection_seconds")
                .contains("jvm_runtime_info{");
        }
    }

    @Test
    void shouldListenOnTheConfiguredBindAddressOnly() throws Exception
    {
        final NodeConfig config = NodeConfig.defaults(NodeFixture.NODE, dir.resolve("api/ferry.sock"), "eth9")
            .withMetricsPort(0).withMetricsBindAddress("127.0.0.2")
            .withWorkers(NodeFixture.workers());
        try (NodeFixture node = new NodeFixture(config, NodeFixture.basic(1)))
        {
            final int port = node.daemon.metricsPort();
            assertThat(get("127.0.0.2", port, "/healthz").statusCode()).isEqualTo(200);
            assertThat(get("127.0.0.2", port, "/metrics").body()).contains("ferry_sync_tables_total 1.0");
            assertThatThrownBy(() -> get("127.0.0.1", port, "/healthz")).as("not on 127.0.0.1")
                .isInstanceOf(ConnectException.class);
        }
    }

    private String metrics(final NodeFixture node) throws Exception
    {
        final HttpResponse<String> r = get(node, "/metrics");
        assertThat(r.statusCode()).as("GET /metrics").isEqualTo(200);
        return r.body();
    }

    /** node-a's tables with a UDP ClusterIP Service (10.96.0.10:53 → pod B:5353) and a conntrack capacity. */
    private static NodeTables withService(final long generation, final Map<String, Long> conntrack)
    {
        final NodeTables t = NodeFixture.basic(generation);
        final NodeTables.ClusterSettings d = NodeTables.ClusterSettings.defaults();
        final NodeTables.ClusterSettings cluster = new NodeTables.ClusterSettings(d.clusterCidr(), d.serviceCidrs(),
            d.vni(), d.vxlanPort(), d.nodePortMin(), d.nodePortMax(), d.nodePortAddresses(), d.masqueradeAll(),
            d.nonMasqueradeCidrs(), d.masqueradePortMin(), d.masqueradePortMax(), conntrack);
        final ServiceInfo dns = new ServiceInfo("kube-system", "dns", "ClusterIP", null, List.of(CLUSTER_IP),
            List.of(), List.of(), false, ServiceInfo.DEFAULT_AFFINITY_TIMEOUT, false, false,
            List.of(new ServiceInfo.ServicePort("dns", 17, 53, 0, List.of(new ServiceInfo.Endpoint(POD_B, 5353, true,
                true, false, NodeFixture.NODE, "", true)))));
        return new NodeTables(generation, t.node(), cluster, t.pods(), t.remoteNodes(), List.of(dns), t.neighbours());
    }

    private static byte[] toService(final int seq)
    {
        return new FrameBuilder().eth(Ip4.podMac(POD_A), NodeFixture.GATEWAY_MAC).ip4(POD_A, CLUSTER_IP)
            .id(seq & 0xffff).udp(40000, 53).payload(new byte[] {(byte)seq, 1, 2, 3}).build();
    }

    @ParameterizedTest
    @EnumSource(ThreadingMode.class)
    void shouldServeHealthAndCountersOfARunningNode(final ThreadingMode mode) throws Exception
    {
        try (NodeFixture node = new NodeFixture(dir, mode, null, 0))
        {
            assertThat(node.daemon.metricsPort()).as("bound port").isPositive();
            final HttpResponse<String> before = get(node, "/healthz");
            assertThat(before.statusCode()).as("healthz before the first push").isEqualTo(503);
            assertThat(before.body()).isEqualTo("no tables applied yet (waiting for the first push)\n");
            assertThat(metrics(node)).contains("ferry_tables_generation 0.0")
                .contains("ferry_pool_buffers " + 8192 * NodeFixture.workers() + ".0");

            assertThat(node.daemon.push(withService(7, Map.of("max", 4096L))).get()).isEqualTo(7L);
            final HttpResponse<String> after = get(node, "/healthz");
            assertThat(after.statusCode()).as("healthz after the first push").isEqualTo(200);
            assertThat(after.body()).isEqualTo("ok\n");
            assertThatThrownBy(() -> node.daemon.push(withService(5, Map.of())).get())
                .isInstanceOf(ExecutionException.class).hasMessageContaining("not newer");

            node.daemon.attach(NodeFixture.attachRequest("ca", POD_A)).get();
            node.daemon.attach(NodeFixture.attachRequest("cb", POD_B)).get();
            final MemoryPortView a = node.ports.port("tap0af40102");
            final MemoryPortView b = node.ports.port("tap0af40103");
            for (int seq = 0; seq < FRAMES; seq++)
            {
                a.enqueue(toService(seq));
            }
            final byte[] bad = toService(FRAMES);
            bad[14 + 10] ^= 0x5a;
            a.enqueue(bad);
            NodeFixture.await("frames through the Service", () -> b.txPackets() == FRAMES,
                Duration.ofSeconds(30));
            // the conntrack gauges follow every 64 duty cycles, of each worker (its shard's entries and capacity)
            NodeFixture.await("conntrack gauge", () -> scrape(node).contains("ferry_conntrack_entries 1.0")
                && scrape(node).contains("ferry_conntrack_capacity 4096.0"), Duration.ofSeconds(30));

            final String text = metrics(node);
            assertThat(text)
                .contains("ferry_tables_generation 7.0")
                .contains("ferry_node_table_pushes_total{result=\"applied\"} 1.0")
                .contains("ferry_node_table_pushes_total{result=\"refused\"} 1.0")
                .contains("ferry_node_apply_tables_duration_seconds_count 1")
                .contains("ferry_stage_packets_total{stage=\"ip4-input\"} " + (FRAMES + 1) + ".0")
                .contains("ferry_stage_packets_total{stage=\"nat44-in\"} " + FRAMES + ".0")
                .contains("ferry_stage_drops_total{reason=\"bad-checksum\",reason_id=\"19\",stage=\"ip4-input\"} 1.0")
                .contains("ferry_stage_drops_total{reason=\"next-not-wired\",reason_id=\"1\",stage=\"graph\"} 0.0")
                .contains("ferry_transmitted_packets_total " + FRAMES + ".0")
                .contains("ferry_port_rx_packets_total{port=\"tap0af40102\"} " + (FRAMES + 1) + ".0")
                .contains("ferry_port_tx_packets_total{port=\"tap0af40103\"} " + FRAMES + ".0")
                .contains("ferry_port_tx_packets_total{port=\"eth9\"} 0.0")
                .contains("ferry_pool_buffers_in_use 0.0")
                .contains("ferry_conntrack_capacity 4096.0")
                .contains("ferry_conntrack_events_total{event=\"inserted\"} 1.0")
                .contains("ferry_nat_events_total{event=\"sessions-created\"} 1.0")
                .doesNotContain("stage_calls");
        }
    }

    private String scrape(final NodeFixture node)
    {
        try
        {
            return metrics(node);
        }
        catch (final Exception e)
        {
            throw new AssertionError(e);
        }
    }

    @Test
    void shouldKeepTheConntrackTableOfTheFirstTablesAndRefuseBadSettings() throws Exception
    {
        try (NodeFixture node = new NodeFixture(dir, ThreadingMode.SHARED, withService(1, Map.of("max", 2048L)), 0))
        {
            assertThat(get(node, "/healthz").statusCode()).as("initial tables count as applied").isEqualTo(200);
            assertThat(node.daemon.push(withService(2, Map.of("max", 8192L))).get())
                .as("a capacity change is applied in every other respect").isEqualTo(2L);
            assertThatThrownBy(() -> node.daemon.push(withService(3, Map.of("maxEntries", 1L))).get())
                .hasMessageContaining("tables.cluster.conntrack: unknown conntrack setting 'maxEntries'");
            NodeFixture.await("conntrack gauge", () -> scrape(node).contains("ferry_conntrack_capacity 2048.0"),
                Duration.ofSeconds(30));
            assertThat(metrics(node)).contains("ferry_tables_generation 2.0")
                .contains("ferry_node_table_pushes_total{result=\"applied\"} 2.0")
                .contains("ferry_node_table_pushes_total{result=\"refused\"} 1.0");
        }
    }

    @Test
    void shouldServeNothingWhenOffAndCloseThePortAtStop() throws Exception
    {
        try (NodeFixture off = new NodeFixture(dir.resolve("off"), ThreadingMode.SHARED, NodeFixture.basic(1)))
        {
            assertThat(off.daemon.metricsPort()).as("metricsPort -1 serves nothing").isEqualTo(-1);
            assertThat(off.daemon.health()).as("health still answers in-process").isNull();
        }
        final NodeFixture node = new NodeFixture(dir.resolve("on"), ThreadingMode.DEDICATED, NodeFixture.basic(1), 0);
        final int port = node.daemon.metricsPort();
        assertThat(get(node, "/healthz").statusCode()).isEqualTo(200);
        assertThat(get(node, "/nope").statusCode()).isEqualTo(404);
        node.close();
        assertThat(node.daemon.health()).isEqualTo("the node is not running");
        assertThatThrownBy(() -> http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port
            + "/healthz")).build(), HttpResponse.BodyHandlers.ofString())).isInstanceOf(ConnectException.class);
    }
}
