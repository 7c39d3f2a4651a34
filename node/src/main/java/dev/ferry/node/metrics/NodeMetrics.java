package dev.ferry.node.metrics;

import dev.ferry.core.Counters;
import dev.ferry.node.DropCatalogue;
import dev.ferry.nodeapi.MetricsServer;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.MultiCollector;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.InfoSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * The node's Prometheus metrics. Packet figures are read from the dataplane's own off-heap {@link Counters} at
 * scrape time, with acquire loads ({@link Counters#snapshot()}): the hot path keeps incrementing its counters
 * and never sees the Prometheus client. The control side records table pushes here directly.
 *
 * <pre>
 * counter (dataplane)          metric
 * stage/NAME/packets         → ferry_stage_packets_total{stage="NAME"}
 * stage/NAME/drop/REASON     → ferry_stage_drops_total{stage="NAME",reason="REASON",reason_id="ID"}
 * graph/drop/REASON          → ferry_stage_drops_total{stage="graph",reason="REASON",reason_id="ID"}
 * node/drop/REASON           → ferry_stage_drops_total{stage="node",reason="REASON",reason_id="ID"}
 * worker/drop/REASON         → ferry_stage_drops_total{stage="worker",reason="REASON",reason_id="ID"} (handoff)
 * {@link DropCatalogue}      → ferry_drop_reason_info{reason_id="ID",stage,reason,sentence} 1, every reason
 * graph/transmit             → ferry_transmitted_packets_total
 * port/NAME/rx-packets       → ferry_port_rx_packets_total{port="NAME"}   (and rx-bytes, tx-packets, tx-bytes)
 * port/NAME/rx-no-buffer     → ferry_port_rx_dropped_total{port="NAME"}   (the pool was empty)
 * port/NAME/rx-errors        → ferry_port_rx_errors_total{port="NAME"}
 * port/NAME/tx-dropped       → ferry_port_tx_dropped_total{port="NAME"}   (link down, queue full)
 * port/NAME/tx-errors        → ferry_port_tx_errors_total{port="NAME"}
 * port/NAME/tx-coalesced-frames, tx-coalesced-segments, tx-coalesce-bad-checksum (a pod TAP with TSO)
 *                            → ferry_port_tx_coalesced_frames_total, ferry_port_tx_coalesced_segments_total,
 *                              ferry_port_tx_coalesce_bad_checksum_total {port="NAME"}
 * port/NAME/rx-ring-full     → ferry_port_rx_ring_full_total{port="NAME"}   (the receive ring was full)
 * port/NAME/rx-outgoing      → ferry_port_rx_outgoing_total{port="NAME"}   (frames the host sent, seen and dropped)
 * port/NAME/tx-gso-frames    → ferry_port_tx_gso_frames_total{port="NAME"}   (and tx-gso-segments, rx-gso-frames,
 *                              rx-gso-segments: superframes sent or split, the frames inside them; tx-gso-refused:
 *                              superframes the kernel refused, sent again frame by frame)
 * port/NAME/rx-gro-frames    → ferry_port_rx_gro_frames_total{port="NAME"}   (and rx-gro-segments: VXLAN frames with
 *                              an inner TCP superframe merged from received UDP superframes, the datagrams merged)
 * pool/buffers-in-use        → ferry_pool_buffers_in_use (gauge)
 * pool/buffers               → ferry_pool_buffers (gauge)
 * pool/allocation-failures   → ferry_pool_allocation_failures_total
 * conntrack/entries          → ferry_conntrack_entries (gauge)
 * conntrack/capacity         → ferry_conntrack_capacity (gauge)
 * conntrack/EVENT            → ferry_conntrack_events_total{event="EVENT"} (inserted, deleted, early-drop ...)
 * nat/EVENT                  → ferry_nat_events_total{event="EVENT"} (masquerade-ports-exhausted, rejects ...)
 * worker/poll/EVENT          → ferry_worker_poll_total{event="EVENT"} (cycles, syscall-reads, ready-probes)
 * handoff/EVENT              → ferry_handoff_frames_total{event="EVENT"} (sent, received, held: frames handed to the
 *                              worker that owns their flow; drops are worker/drop/handoff-*)
 * generation supplier        → ferry_tables_generation (gauge)
 * {@link #applied(double)}   → ferry_node_apply_tables_duration_seconds (histogram),
 *                              ferry_node_table_pushes_total{result="applied"},
 *                              ferry_sync_tables_total (tables changed), ferry_tables_applied_last_timestamp_seconds
 * {@link #refused()}         → ferry_node_table_pushes_total{result="refused"}
 * </pre>
 *
 * <p>Each port counts its own frames once ({@code dev.ferry.tapio.PortCounters}); nothing else counts them.
 *
 * <p>A drop's {@code reason_id} is its id in the {@link DropCatalogue} (absent for a counter the catalogue does not
 * know); the sentence is not a label of the counter, so that rewording it does not start a new series. It sits
 * in {@code ferry_drop_reason_info}, one series per catalogued reason, to join on {@code reason_id}, e.g.
 * {@code ferry_stage_drops_total * on(reason_id) group_left(sentence) ferry_drop_reason_info}.
 *
 * <p>{@code ferry_node_apply_tables_duration_seconds} is the node's share of the agent's
 * {@code ferry_sync_tables_duration_seconds}: validating, compiling and swapping in one push.
 *
 * <p>{@code ferry_tables_applied_last_timestamp_seconds} is the unix time of the last applied push (0 before the
 * first). It moves only when the tables change: the agent does not push unchanged tables. The "proxy not syncing"
 * alert uses the agent's {@code ferry_sync_tables_last_timestamp_seconds} (every successful sync, as kube-proxy's
 * {@code sync_proxy_rules_last_timestamp_seconds}) and the node's /healthz (a refused or missing push that stays
 * pending). {@code ferry_sync_tables_total} counts the applied pushes, each a change of the forwarding tables.
 *
 * <p>Register it with {@code registry.register(nodeMetrics)} and serve the registry with {@link MetricsServer};
 * the node daemon does both when {@code metricsPort} is set.
 */
public final class NodeMetrics implements MultiCollector
{
    /** Counter name the worker sets to the pool's buffers in use, once per duty cycle. */
    public static final String POOL_IN_USE = "pool/buffers-in-use";
    /** Counter name holding the pool's size. */
    public static final String POOL_BUFFERS = "pool/buffers";
    /** Counter name the worker sets to the pool's allocation failures, once per duty cycle. */
    public static final String POOL_ALLOCATION_FAILURES = "pool/allocation-failures";
    /** Counter name of the connection-tracking entries in use (a gauge). */
    public static final String CONNTRACK_ENTRIES = "conntrack/entries";
    /** Counter name of the connection-tracking capacity (a gauge). */
    public static final String CONNTRACK_CAPACITY = "conntrack/capacity";

    private static final String STAGE = "stage/";
    private static final String DROP = "drop/";
    private static final String GRAPH_DROP = "graph/drop/";
    private static final String NODE_DROP = "node/drop/";
    private static final String WORKER_DROP = "worker/drop/";
    private static final String PORT = "port/";
    private static final String CONNTRACK = "conntrack/";
    private static final String NAT = "nat/";
    private static final String WORKER_POLL = "worker/poll/";
    private static final String HANDOFF = "handoff/";

    private static final InfoSnapshot REASONS = reasons();

    private final List<Counters> counters;
    private final LongSupplier generation;
    private final Histogram applyDuration;
    private final Counter pushes;
    private final LongSupplier wallMillis;
    private volatile long lastAppliedMillis;

    /**
     * @param counters   the dataplane's counters (values read with acquire loads).
     * @param generation the generation of the tables the worker forwards with (0 before the first).
     */
    public NodeMetrics(final Counters counters, final LongSupplier generation)
    {
        this(counters, generation, System::currentTimeMillis);
    }

    /**
     * @param counters   the dataplane's counters (values read with acquire loads).
     * @param generation the generation of the tables the worker forwards with (0 before the first).
     * @param wallMillis the wall clock, in milliseconds since the epoch (tests fix it).
     */
    public NodeMetrics(final Counters counters, final LongSupplier generation, final LongSupplier wallMillis)
    {
        this(List.of(counters), generation, wallMillis);
    }

    /**
     * A node of several workers: every counter is the sum over the workers' own counters, read at scrape time.
     *
     * @param perWorker  each worker's counters.
     * @param generation the generation of the tables the workers forward with (0 before the first).
     */
    public NodeMetrics(final List<Counters> perWorker, final LongSupplier generation)
    {
        this(perWorker, generation, System::currentTimeMillis);
    }

    private NodeMetrics(final List<Counters> perWorker, final LongSupplier generation, final LongSupplier wallMillis)
    {
        this.counters = List.copyOf(perWorker);
        this.wallMillis = wallMillis;
        this.generation = generation;
        // not registered anywhere: collect() adds them to this collector's snapshots
        applyDuration = Histogram.builder().name("ferry_node_apply_tables_duration_seconds")
            .help("Time the node took to validate, compile and swap in pushed tables")
            .classicOnly().classicExponentialUpperBounds(0.0001, 2, 16).build();
        pushes = Counter.builder().name("ferry_node_table_pushes")
            .help("Table pushes the node applied or refused (it keeps its last good tables)")
            .labelNames("result").build();
        pushes.labelValues("applied");
        pushes.labelValues("refused");
    }

    /**
     * Records an applied push (control thread).
     *
     * @param seconds how long validating, compiling and swapping took.
     */
    public void applied(final double seconds)
    {
        applyDuration.observe(seconds);
        pushes.labelValues("applied").inc();
        lastAppliedMillis = wallMillis.getAsLong();
    }

    /** Records a refused push (control thread). */
    public void refused()
    {
        pushes.labelValues("refused").inc();
    }

    @Override
    public MetricSnapshots collect()
    {
        final Families f = new Families();
        for (final Map.Entry<String, Long> e : snapshot().entrySet())
        {
            f.add(e.getKey(), e.getValue());
        }
        final List<MetricSnapshot> out = new ArrayList<>(List.of(f.packets.build(), f.drops.build(),
            f.transmitted.build(), f.rxPackets.build(), f.rxBytes.build(), f.txPackets.build(), f.txBytes.build(),
            f.rxDropped.build(), f.rxErrors.build(), f.txDropped.build(), f.txErrors.build(),
            f.txCoalescedFrames.build(), f.txCoalescedSegments.build(), f.txCoalesceBadChecksum.build(),
            f.txGsoFrames.build(), f.txGsoSegments.build(), f.rxGsoFrames.build(), f.rxGsoSegments.build(),
            f.txGsoRefused.build(), f.rxRingFull.build(), f.rxOutgoing.build(), f.rxGroFrames.build(),
            f.rxGroSegments.build(),
            f.allocationFailures.build(), f.natEvents.build(), f.workerPoll.build(), f.handoff.build(),
            gauge("ferry_tables_generation",
                "Generation of the tables the dataplane forwards with", generation.getAsLong()),
            REASONS, applyDuration.collect(), pushes.collect(),
            gauge("ferry_tables_applied_last_timestamp_seconds",
                "Unix time of the last tables push the node applied (0 before the first)", lastAppliedMillis / 1e3),
            CounterSnapshot.builder().name("ferry_sync_tables").help("Table pushes applied: changes of the"
                + " forwarding tables").dataPoint(point(Labels.EMPTY,
                pushes.labelValues("applied").get())).build()));
        if (f.poolInUse >= 0)
        {
            out.add(gauge("ferry_pool_buffers_in_use", "Packet buffers handed out (in ports, rings or the graph)",
                f.poolInUse));
        }
        if (f.poolBuffers >= 0)
        {
            out.add(gauge("ferry_pool_buffers", "Packet buffers in the pool", f.poolBuffers));
        }
        if (f.conntrackEntries >= 0)
        {
            // only a node with the Services feature tracks connections
            out.add(gauge("ferry_conntrack_entries", "Connection-tracking entries in use", f.conntrackEntries));
            out.add(f.conntrackEvents.build());
        }
        if (f.conntrackCapacity >= 0)
        {
            out.add(gauge("ferry_conntrack_capacity", "Connection-tracking entries the table can hold",
                f.conntrackCapacity));
        }
        return new MetricSnapshots(out);
    }

    private static InfoSnapshot reasons()
    {
        final InfoSnapshot.Builder b = InfoSnapshot.builder().name("ferry_drop_reason")
            .help("Every drop reason of the catalogue (docs/drop-reasons.md): its id, counter name and sentence");
        for (final DropCatalogue.Entry e : DropCatalogue.entries())
        {
            final String counter = e.counter();
            final String reason = counter.substring(counter.lastIndexOf('/') + 1);
            b.dataPoint(InfoSnapshot.InfoDataPointSnapshot.builder().labels(Labels.of("reason_id",
                Integer.toString(e.reason().id()), "stage", scope(counter), "reason", reason, "sentence",
                e.reason().sentence())).build());
        }
        return b.build();
    }

    // the stage label of a drop counter: NAME for stage/NAME/drop/R, "graph" or "node" for graph/drop/R, node/drop/R
    private static String scope(final String dropCounter)
    {
        final int drop = dropCounter.lastIndexOf("/" + DROP);
        return dropCounter.startsWith(STAGE) ? dropCounter.substring(STAGE.length(), drop)
            : dropCounter.substring(0, drop);
    }

    private static GaugeSnapshot gauge(final String name, final String help, final double value)
    {
        return GaugeSnapshot.builder().name(name).help(help)
            .dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder().value(value).build()).build();
    }

    private static CounterSnapshot.Builder counter(final String name, final String help)
    {
        return CounterSnapshot.builder().name(name).help(help);
    }

    private static CounterSnapshot.CounterDataPointSnapshot point(final Labels labels, final double value)
    {
        return CounterSnapshot.CounterDataPointSnapshot.builder().labels(labels).value(value).build();
    }

    /** The metric families of one scrape, filled counter by counter. */
    private static final class Families
    {
        private final CounterSnapshot.Builder packets = counter("ferry_stage_packets",
            "Packets processed by each graph stage");
        private final CounterSnapshot.Builder drops = counter("ferry_stage_drops",
            "Packets dropped, by stage and reason (reason_id: see ferry_drop_reason_info and docs/drop-reasons.md)");
        private final CounterSnapshot.Builder transmitted = counter("ferry_transmitted_packets",
            "Packets handed to a port for transmission");
        private final CounterSnapshot.Builder rxPackets = counter("ferry_port_rx_packets", "Frames received, by port");
        private final CounterSnapshot.Builder rxBytes = counter("ferry_port_rx_bytes", "Bytes received, by port");
        private final CounterSnapshot.Builder txPackets = counter("ferry_port_tx_packets",
            "Frames transmitted, by port");
        private final CounterSnapshot.Builder txBytes = counter("ferry_port_tx_bytes", "Bytes transmitted, by port");
        private final CounterSnapshot.Builder rxDropped = counter("ferry_port_rx_dropped",
            "Frames left unread because the packet pool was empty, by port");
        private final CounterSnapshot.Builder rxErrors = counter("ferry_port_rx_errors",
            "Frames that could not be received (read errors, oversize or offload frames), by port");
        private final CounterSnapshot.Builder txDropped = counter("ferry_port_tx_dropped",
            "Frames dropped on transmit because the link was down or its queue full, by port");
        private final CounterSnapshot.Builder txErrors = counter("ferry_port_tx_errors",
            "Frames that a write failed on, by port");
        private final CounterSnapshot.Builder txCoalescedFrames = counter("ferry_port_tx_coalesced_frames",
            "Superframes a pod TAP wrote from runs of one flow's TCP segments, by port");
        private final CounterSnapshot.Builder txCoalescedSegments = counter("ferry_port_tx_coalesced_segments",
            "TCP segments written inside coalesced superframes, by port");
        private final CounterSnapshot.Builder txCoalesceBadChecksum = counter("ferry_port_tx_coalesce_bad_checksum",
            "TCP segments kept out of a coalesced superframe because their checksum did not verify, by port");
        private final CounterSnapshot.Builder txGsoFrames = counter("ferry_port_tx_gso_frames",
            "UDP GSO superframes sent (a run of datagrams in one message), by port");
        private final CounterSnapshot.Builder txGsoSegments = counter("ferry_port_tx_gso_segments",
            "Frames sent inside UDP GSO superframes (also in ferry_port_tx_packets), by port");
        private final CounterSnapshot.Builder txGsoRefused = counter("ferry_port_tx_gso_refused",
            "UDP GSO superframes the kernel refused (the link cannot take them whole); their frames went one by one, "
                + "by port");
        private final CounterSnapshot.Builder rxGsoFrames = counter("ferry_port_rx_gso_frames",
            "Superframes received and split at the port, by port");
        private final CounterSnapshot.Builder rxGsoSegments = counter("ferry_port_rx_gso_segments",
            "Frames split from received superframes (in ferry_port_rx_packets unless merged again), by port");
        private final CounterSnapshot.Builder rxGroFrames = counter("ferry_port_rx_gro_frames",
            "VXLAN frames with an inner TCP superframe merged from a received UDP superframe's datagrams (each one "
                + "packet in ferry_port_rx_packets), by port");
        private final CounterSnapshot.Builder rxGroSegments = counter("ferry_port_rx_gro_segments",
            "Datagrams merged into those frames (also in ferry_port_rx_gso_segments), by port");
        private final CounterSnapshot.Builder rxRingFull = counter("ferry_port_rx_ring_full",
            "Frames lost because the port's receive ring was full (an uplink's AF_PACKET ring: the kernel's drops), by"
                + " port");
        private final CounterSnapshot.Builder rxOutgoing = counter("ferry_port_rx_outgoing",
            "Frames the host's own stack sent out of an uplink that its packet socket saw (PACKET_OUTGOING), dropped: "
                + "not received, not errors; by port");
        private final CounterSnapshot.Builder allocationFailures = counter("ferry_pool_allocation_failures",
            "Times a packet buffer was wanted and the pool was empty");
        private final CounterSnapshot.Builder conntrackEvents = counter("ferry_conntrack_events",
            "Connection-tracking events (found, inserted, deleted, early-drop, drop, ...)");
        private final CounterSnapshot.Builder natEvents = counter("ferry_nat_events",
            "Service NAT events (sessions created, masquerade ports exhausted, rejects, ...)");
        private final CounterSnapshot.Builder workerPoll = counter("ferry_worker_poll",
            "Workers' duty cycles that polled ports (cycles), TAP receives, each at least one read() "
                + "(syscall-reads), and epoll readiness probes of busy cycles (ready-probes)");
        private final CounterSnapshot.Builder handoff = counter("ferry_handoff_frames",
            "Frames a worker handed to the worker that owns their flow (sent), took from another worker (received), "
                + "or kept while the owner's ring was full (held); summed over workers");
        private long poolInUse = -1;
        private long poolBuffers = -1;
        private long conntrackEntries = -1;
        private long conntrackCapacity = -1;

        void add(final String name, final long value)
        {
            if (name.startsWith(STAGE))
            {
                stage(name, value);
            }
            else if (name.startsWith(GRAPH_DROP) || name.startsWith(NODE_DROP) || name.startsWith(WORKER_DROP))
            {
                drop(name, value);
            }
            else if ("graph/transmit".equals(name))
            {
                transmitted.dataPoint(point(Labels.EMPTY, value));
            }
            else if (name.startsWith(PORT))
            {
                port(name, value);
            }
            else if (name.startsWith(CONNTRACK))
            {
                conntrack(name, value);
            }
            else if (name.startsWith(WORKER_POLL))
            {
                workerPoll.dataPoint(point(Labels.of("event", name.substring(WORKER_POLL.length())), value));
            }
            else if (name.startsWith(HANDOFF))
            {
                handoff.dataPoint(point(Labels.of("event", name.substring(HANDOFF.length())), value));
            }
            else if (name.startsWith(NAT))
            {
                natEvents.dataPoint(point(Labels.of("event", name.substring(NAT.length())), value));
            }
            else
            {
                pool(name, value);
            }
        }

        private void stage(final String name, final long value)
        {
            final int slash = name.indexOf('/', STAGE.length());
            if (slash < 0)
            {
                return;
            }
            final String stage = name.substring(STAGE.length(), slash);
            final String rest = name.substring(slash + 1);
            if ("packets".equals(rest))
            {
                packets.dataPoint(point(Labels.of("stage", stage), value));
            }
            else if (rest.startsWith(DROP))
            {
                drop(name, value);
            }
        }

        private void drop(final String name, final long value)
        {
            final Labels labels = Labels.of("stage", scope(name), "reason", name.substring(name.lastIndexOf('/') + 1));
            final DropCatalogue.Entry e = DropCatalogue.byCounter(name);
            drops.dataPoint(point(e == null ? labels : labels.add("reason_id", Integer.toString(e.reason().id())),
                value));
        }

        private void port(final String name, final long value)
        {
            final int slash = name.lastIndexOf('/');
            if (slash <= PORT.length())
            {
                return;
            }
            final Labels port = Labels.of("port", name.substring(PORT.length(), slash));
            switch (name.substring(slash + 1))
            {
                case "rx-packets" -> rxPackets.dataPoint(point(port, value));
                case "rx-bytes" -> rxBytes.dataPoint(point(port, value));
                case "tx-packets" -> txPackets.dataPoint(point(port, value));
                case "tx-bytes" -> txBytes.dataPoint(point(port, value));
                case "rx-no-buffer" -> rxDropped.dataPoint(point(port, value));
                case "rx-errors" -> rxErrors.dataPoint(point(port, value));
                case "tx-dropped" -> txDropped.dataPoint(point(port, value));
                case "tx-errors" -> txErrors.dataPoint(point(port, value));
                case "tx-coalesced-frames" -> txCoalescedFrames.dataPoint(point(port, value));
                case "tx-coalesced-segments" -> txCoalescedSegments.dataPoint(point(port, value));
                case "tx-coalesce-bad-checksum" -> txCoalesceBadChecksum.dataPoint(point(port, value));
                case "tx-gso-frames" -> txGsoFrames.dataPoint(point(port, value));
                case "tx-gso-segments" -> txGsoSegments.dataPoint(point(port, value));
                case "rx-gso-frames" -> rxGsoFrames.dataPoint(point(port, value));
                case "rx-ring-full" -> rxRingFull.dataPoint(point(port, value));
                case "rx-outgoing" -> rxOutgoing.dataPoint(point(port, value));
                case "tx-gso-refused" -> txGsoRefused.dataPoint(point(port, value));
                case "rx-gso-segments" -> rxGsoSegments.dataPoint(point(port, value));
                case "rx-gro-frames" -> rxGroFrames.dataPoint(point(port, value));
                case "rx-gro-segments" -> rxGroSegments.dataPoint(point(port, value));
                default ->
                {
                    // link-down, link-up, a tunnel port's ring overflows: counters without a metric
                }
            }
        }

        private void conntrack(final String name, final long value)
        {
            if (CONNTRACK_ENTRIES.equals(name))
            {
                conntrackEntries = value;
            }
            else if (CONNTRACK_CAPACITY.equals(name))
            {
                conntrackCapacity = value;
            }
            else
            {
                conntrackEvents.dataPoint(point(Labels.of("event", name.substring(CONNTRACK.length())), value));
            }
        }

        private void pool(final String name, final long value)
        {
            switch (name)
            {
                case POOL_IN_USE -> poolInUse = value;
                case POOL_BUFFERS -> poolBuffers = value;
                case POOL_ALLOCATION_FAILURES -> allocationFailures.dataPoint(point(Labels.EMPTY, value));
                default ->
                {
                    // counters without a metric: stage calls and ns, next edges, vxlan internals
                }
            }
        }
    }

    /** Every counter, summed over the workers (one worker: its own snapshot). */
    private Map<String, Long> snapshot()
    {
        if (counters.size() == 1)
        {
            return counters.get(0).snapshot();
        }
        final Map<String, Long> sum = new java.util.TreeMap<>();
        for (final Counters c : counters)
        {
            c.snapshot().forEach((k, v) -> sum.merge(k, v, Long::sum));
        }
        return sum;
    }
}
