package dev.ferry.node.metrics;

import dev.ferry.core.Counters;
import dev.ferry.nodeapi.MetricsServer;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/** The node collector over dataplane counters, checked against the Prometheus text exposition format. */
class NodeMetricsTest
{
    // text format 0.0.4: # HELP / # TYPE lines, then samples name{label="value",...} value
    private static final Pattern HELP = Pattern.compile("# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) \\S.*");
    private static final Pattern TYPE = Pattern.compile(
        "# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)");
    private static final String LABEL = "[a-zA-Z_][a-zA-Z0-9_]*=\"(?:[^\"\\\\\\n]|\\\\[\\\\\"n])*\"";
    private static final Pattern SAMPLE = Pattern.compile("([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{(" + LABEL + "(?:," + LABEL
        + ")*)?\\})? (-?[0-9.eE+-]+|NaN|[+-]Inf)");
    private static final Pattern LABEL_NAME = Pattern.compile("([a-zA-Z_][a-zA-Z0-9_]*)=\"");

    private static final Pattern JVM_OR_PROCESS = Pattern.compile("^(# (HELP|TYPE) )?(jvm|process)_");

    private final HttpClient http = HttpClient.newHttpClient();

    private String scrape(final Counters counters, final long generation) throws Exception
    {
        final PrometheusRegistry registry = new PrometheusRegistry();
        final NodeMetrics metrics = new NodeMetrics(counters, () -> generation);
        metrics.applied(0.0042);
        metrics.refused();
        registry.register(metrics);
        try (MetricsServer server = MetricsServer.start(0, registry, () -> null))
        {
            final HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://"
                + MetricsServer.LOOPBACK + ":" + server.port() + "/metrics")).build(),
                HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).isEqualTo(200);
            assertThat(r.headers().firstValue("Content-Type")).hasValueSatisfying(v -> assertThat(v)
                .startsWith("text/plain; version=0.0.4"));
            return r.body();
        }
    }

    private static Counters dataplane()
    {
        final Counters counters = Counters.inMemory(64);
        counters.add(counters.register("stage/ip4-input/packets"), 1000);
        counters.add(counters.register("stage/ip4-input/drop/bad-checksum"), 3);
        counters.add(counters.register("stage/ip4-input/calls"), 10);
        counters.add(counters.register("stage/ip4-input/ns"), 12345);
        counters.add(counters.register("stage/ip4-input/next/ip4-lookup"), 997);
        counters.add(counters.register("graph/drop/next-not-wired"), 1);
        counters.add(counters.register("stage/test-stage/drop/made-up"), 6);
        counters.add(counters.register("node/drop/port-down"), 2);
        counters.add(counters.register("graph/transmit"), 990);
        counters.add(counters.register("port/tap0af40102/rx-packets"), 1000);
        counters.add(counters.register("port/tap0af40102/rx-bytes"), 64000);
        counters.add(counters.register("port/eth9/tx-packets"), 990);
        counters.add(counters.register("port/eth9/tx-bytes"), 63360);
        counters.add(counters.register("port/tap0af40102/rx-no-buffer"), 11);
        counters.add(counters.register("port/tap0af40102/rx-errors"), 8);
        counters.add(counters.register("port/eth9/tx-dropped"), 6);
        counters.add(counters.register("port/eth9/tx-errors"), 13);
        counters.add(counters.register("port/eth9/link-down"), 1);
        counters.add(counters.register("port/tap0af40102/tx-coalesced-frames"), 20);
        counters.add(counters.register("port/tap0af40102/tx-coalesced-segments"), 900);
        counters.add(counters.register("port/tap0af40102/tx-coalesce-bad-checksum"), 2);
        counters.add(counters.register("port/eth9/tx-gso-frames"), 21);
        counters.add(counters.register("port/eth9/tx-gso-segments"), 880);
        counters.add(counters.register("port/eth9/rx-gso-frames"), 3);
        counters.add(counters.register("port/eth9/rx-gso-segments"), 111);
        counters.add(counters.register("port/eth9/rx-gro-frames"), 2);
        counters.add(counters.register("port/eth9/rx-outgoing"), 5);
        counters.add(counters.register("port/eth9/rx-gro-segments"), 90);
        counters.add(counters.register("port/eth9/tx-gso-refused"), 4);
        counters.set(counters.register(NodeMetrics.POOL_IN_USE), 12);
        counters.set(counters.register(NodeMetrics.POOL_BUFFERS), 8192);
        counters.set(counters.register(NodeMetrics.POOL_ALLOCATION_FAILURES), 0);
        counters.set(counters.register(NodeMetrics.CONNTRACK_ENTRIES), 17);
        counters.set(counters.register(NodeMetrics.CONNTRACK_CAPACITY), 262144);
        counters.add(counters.register("conntrack/early-drop"), 4);
        counters.add(counters.register("nat/masquerade-ports-exhausted"), 5);
        counters.add(counters.register("worker/poll/cycles"), 500);
        counters.add(counters.register("handoff/sent"), 40);
        counters.add(counters.register("handoff/received"), 38);
        counters.add(counters.register("worker/poll/ready-probes"), 480);
        counters.add(counters.register("vxlan/some-internal"), 9);
        return counters;
    }

    @Test
    void shouldExposeNodeCountersWithStageAndReasonLabels() throws Exception
    {
        try (Counters counters = dataplane())
        {
            final String text = scrape(counters, 7);

            assertThat(text).contains("ferry_stage_packets_total{stage=\"ip4-input\"} 1000.0")
                .contains("ferry_stage_drops_total{reason=\"bad-checksum\",reason_id=\"19\",stage=\"ip4-input\"} 3.0")
                .contains("ferry_stage_drops_total{reason=\"next-not-wired\",reason_id=\"1\",stage=\"graph\"} 1.0")
                .contains("ferry_stage_drops_total{reason=\"port-down\",reason_id=\"300\",stage=\"node\"} 2.0")
                .contains("ferry_stage_drops_total{reason=\"made-up\",stage=\"test-stage\"} 6.0")
                .contains("ferry_drop_reason_info{reason=\"bad-checksum\",reason_id=\"19\","
                    + "sentence=\"bad IPv4 header checksum\",stage=\"ip4-input\"} 1")
                .contains("ferry_drop_reason_info{reason=\"no-service\",reason_id=\"108\",sentence=\"destination in "
                    + "a Service CIDR but no Service has that address\",stage=\"nat44-new\"} 1")
                .contains("ferry_transmitted_packets_total 990.0")
                .contains("ferry_port_rx_packets_total{port=\"tap0af40102\"} 1000.0")
                .contains("ferry_port_rx_bytes_total{port=\"tap0af40102\"} 64000.0")
                .contains("ferry_port_tx_packets_total{port=\"eth9\"} 990.0")
                .contains("ferry_port_tx_bytes_total{port=\"eth9\"} 63360.0")
                .contains("ferry_port_rx_dropped_total{port=\"tap0af40102\"} 11.0")
                .contains("ferry_port_rx_errors_total{port=\"tap0af40102\"} 8.0")
                .contains("ferry_port_tx_dropped_total{port=\"eth9\"} 6.0")
                .contains("ferry_port_tx_errors_total{port=\"eth9\"} 13.0")
                .contains("ferry_port_tx_coalesced_frames_total{port=\"tap0af40102\"} 20.0")
                .contains("ferry_port_tx_coalesced_segments_total{port=\"tap0af40102\"} 900.0")
                .contains("ferry_port_tx_coalesce_bad_checksum_total{port=\"tap0af40102\"} 2.0")
                .contains("ferry_port_tx_gso_frames_total{port=\"eth9\"} 21.0")
                .contains("ferry_port_tx_gso_segments_total{port=\"eth9\"} 880.0")
                .contains("ferry_port_rx_gso_frames_total{port=\"eth9\"} 3.0")
                .contains("ferry_port_rx_gso_segments_total{port=\"eth9\"} 111.0")
                .contains("ferry_port_rx_gro_frames_total{port=\"eth9\"} 2.0")
                .contains("ferry_port_rx_outgoing_total{port=\"eth9\"} 5.0")
                .contains("ferry_port_rx_gro_segments_total{port=\"eth9\"} 90.0")
                .contains("ferry_port_tx_gso_refused_total{port=\"eth9\"} 4.0")
                .contains("ferry_worker_poll_total{event=\"cycles\"} 500.0")
                .contains("ferry_worker_poll_total{event=\"ready-probes\"} 480.0")
                .contains("ferry_handoff_frames_total{event=\"sent\"} 40.0")
                .contains("ferry_handoff_frames_total{event=\"received\"} 38.0")
                .contains("ferry_pool_buffers_in_use 12.0")
                .contains("ferry_pool_buffers 8192.0")
                .contains("ferry_pool_allocation_failures_total 0.0")
                .contains("ferry_conntrack_entries 17.0")
                .contains("ferry_conntrack_capacity 262144.0")
                .contains("ferry_conntrack_events_total{event=\"early-drop\"} 4.0")
                .contains("ferry_nat_events_total{event=\"masquerade-ports-exhausted\"} 5.0")
                .contains("ferry_tables_generation 7.0")
                .contains("ferry_node_apply_tables_duration_seconds_bucket{le=\"0.0064\"} 1")
                .contains("ferry_node_apply_tables_duration_seconds_count 1")
                .contains("ferry_node_table_pushes_total{result=\"applied\"} 1.0")
                .contains("ferry_node_table_pushes_total{result=\"refused\"} 1.0");
            // internal counters stay out of ferry's families; the JVM and process collectors' numbers (memory pool
            // sizes, uptimes) vary from run to run and may contain any digits, so they are left out of this check
            final String ours = text.lines().filter(l -> !JVM_OR_PROCESS.matcher(l).find())
                .collect(java.util.stream.Collectors.joining("\n"));
            assertThat(ours).doesNotContain("calls").doesNotContain("12345").doesNotContain("997")
                .doesNotContain("some-internal");
        }
    }

    @Test
    void shouldFollowTheTextFormatWithFerryNamesAndKnownLabels() throws Exception
    {
        try (Counters counters = dataplane())
        {
            final String text = scrape(counters, 3);

            final Map<String, String> types = new HashMap<>();
            final Set<String> series = new HashSet<>();
            final Set<String> helped = new HashSet<>();
            int samples = 0;
            for (final String line : text.split("\n"))
            {
                final Matcher help = HELP.matcher(line);
                final Matcher type = TYPE.matcher(line);
                final Matcher sample = SAMPLE.matcher(line);
                if (help.matches())
                {
                    assertThat(helped.add(help.group(1))).as("one HELP per family: %s", line).isTrue();
                }
                else if (type.matches())
                {
                    assertThat(types.put(type.group(1), type.group(2))).as("one TYPE per family: %s", line).isNull();
                    assertThat(type.group(1)).as("family name: ferry's, or the client's JVM and process collectors")
                        .matches("(ferry|jvm|process)_[a-z0-9_]+");
                }
                else
                {
                    assertThat(sample.matches()).as("sample line in text format: '%s'", line).isTrue();
                    samples++;
                    final String name = sample.group(1);
                    assertThat(series.add(name + sample.group(2))).as("duplicate series %s", line).isTrue();
                    final String family = family(name, types);
                    assertThat(family).as("sample %s follows the TYPE of its family", name).isNotNull();
                    if ("counter".equals(types.get(family)))
                    {
                        assertThat(name).as("counters end in _total").endsWith("_total");
                    }
                    if (sample.group(3) != null && name.startsWith("ferry_"))
                    {
                        final Matcher labels = LABEL_NAME.matcher(sample.group(3));
                        while (labels.find())
                        {
                            assertThat(labels.group(1)).as("label of %s", name)
                                .isIn("stage", "reason", "reason_id", "sentence", "port", "event", "result", "le");
                        }
                    }
                }
            }
            assertThat(samples).as("samples").isGreaterThan(20);
            assertThat(types).containsEntry("ferry_stage_packets_total", "counter")
                .containsEntry("ferry_stage_drops_total", "counter")
                .containsEntry("ferry_drop_reason_info", "gauge")
                .containsEntry("ferry_tables_generation", "gauge")
                .containsEntry("ferry_conntrack_entries", "gauge")
                .containsEntry("ferry_pool_buffers_in_use", "gauge")
                .containsEntry("ferry_node_apply_tables_duration_seconds", "histogram");
        }
    }

    private static String family(final String sample, final Map<String, String> types)
    {
        for (final String suffix : new String[] {"", "_total", "_bucket", "_count", "_sum", "_created"})
        {
            if (sample.endsWith(suffix))
            {
                final String f = sample.substring(0, sample.length() - suffix.length());
                if (types.containsKey(f))
                {
                    return f;
                }
            }
        }
        return null;
    }
}
