package dev.ferry.agent;

import dev.ferry.core.Counters;
import io.prometheus.metrics.model.registry.MultiCollector;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;

import java.util.List;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * The node's Prometheus metrics, read from the dataplane's own off-heap {@link Counters} at scrape time: the
 * hot path keeps incrementing its counters and never sees the Prometheus client.
 *
 * <pre>
 * stage/NAME/packets          → ferry_stage_packets_total{stage="NAME"}
 * stage/NAME/drop/REASON      → ferry_stage_drops_total{stage="NAME",reason="REASON"}
 * graph/drop/REASON           → ferry_stage_drops_total{stage="graph",reason="REASON"}
 * graph/transmit              → ferry_transmitted_packets_total
 * conntrack/entries           → ferry_conntrack_entries (gauge)
 * conntrack/EVENT             → ferry_conntrack_events_total{event="EVENT"} (inserts, expiries, early drops ...)
 * generation supplier         → ferry_tables_generation (gauge)
 * </pre>
 *
 * <p>The node engineer registers it with {@code registry.register(new NodeMetrics(counters, gen))} and serves
 * the registry with {@link MetricsServer}.
 */
public final class NodeMetrics implements MultiCollector
{
    private static final String STAGE = "stage/";
    private static final String GRAPH_DROP = "graph/drop/";
    private static final String CONNTRACK = "conntrack/";
    private static final String CONNTRACK_ENTRIES = "conntrack/entries";

    private final Counters counters;
    private final LongSupplier generation;

    /**
     * @param counters   the dataplane's counters.
     * @param generation the generation of the tables the worker reads.
     */
    public NodeMetrics(final Counters counters, final LongSupplier generation)
    {
        this.counters = counters;
        this.generation = generation;
    }

    @Override
    public MetricSnapshots collect()
    {
        final CounterSnapshot.Builder packets = CounterSnapshot.builder().name("ferry_stage_packets")
            .help("Packets processed by each graph stage");
        final CounterSnapshot.Builder drops = CounterSnapshot.builder().name("ferry_stage_drops")
            .help("Packets dropped, by stage and reason");
        final CounterSnapshot.Builder conntrackEvents = CounterSnapshot.builder().name("ferry_conntrack_events")
            .help("Connection-tracking events (inserts, expiries, flushes, early drops, ...)");
        final GaugeSnapshot.Builder conntrackEntries = GaugeSnapshot.builder().name("ferry_conntrack_entries")
            .help("Connection-tracking entries in use");
        final CounterSnapshot.Builder transmitted = CounterSnapshot.builder().name("ferry_transmitted_packets")
            .help("Packets handed to a port for transmission");
        boolean anyConntrack = false;
        for (final Map.Entry<String, Long> e : counters.snapshot().entrySet())
        {
            final String name = e.getKey();
            final double value = e.getValue();
            if (name.startsWith(STAGE))
            {
                final int slash = name.indexOf('/', STAGE.length());
                if (slash < 0)
                {
                    continue;
                }
                final String stage = name.substring(STAGE.length(), slash);
                final String rest = name.substring(slash + 1);
                if ("packets".equals(rest))
                {
                    packets.dataPoint(counter(Labels.of("stage", stage), value));
                }
                else if (rest.startsWith("drop/"))
                {
                    drops.dataPoint(counter(Labels.of("stage", stage, "reason", rest.substring(5)), value));
                }
            }
            else if (name.startsWith(GRAPH_DROP))
            {
                drops.dataPoint(counter(Labels.of("stage", "graph", "reason", name.substring(GRAPH_DROP.length())),
                    value));
            }
            else if ("graph/transmit".equals(name))
            {
                transmitted.dataPoint(counter(Labels.EMPTY, value));
            }
            else if (CONNTRACK_ENTRIES.equals(name))
            {
                anyConntrack = true;
                conntrackEntries.dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder().value(value).build());
            }
            else if (name.startsWith(CONNTRACK))
            {
                conntrackEvents.dataPoint(counter(Labels.of("event", name.substring(CONNTRACK.length())), value));
            }
        }
        final GaugeSnapshot gen = GaugeSnapshot.builder().name("ferry_tables_generation")
            .help("Generation of the tables the dataplane forwards with")
            .dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder().value(generation.getAsLong()).build()).build();
        final List<io.prometheus.metrics.model.snapshots.MetricSnapshot> out = new java.util.ArrayList<>(List.of(
            packets.build(), drops.build(), transmitted.build(), conntrackEvents.build(), gen));
        if (anyConntrack)
        {
            out.add(conntrackEntries.build());
        }
        return new MetricSnapshots(out);
    }

    private static CounterSnapshot.CounterDataPointSnapshot counter(final Labels labels, final double value)
    {
        return CounterSnapshot.CounterDataPointSnapshot.builder().labels(labels).value(value).build();
    }
}
