package dev.ferry.agent;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;

/**
 * The agent's Prometheus metrics, named like kube-proxy's where they mean the same thing:
 *
 * <pre>
 * ferry_sync_tables_duration_seconds          histogram  compile + push + ack of one sync
 *                                                        (kube-proxy: sync_proxy_rules_duration_seconds)
 * ferry_network_programming_duration_seconds  histogram  object change → node ack
 *                                                        (kube-proxy: network_programming_duration_seconds)
 * ferry_tables_generation                     gauge      generation the node acknowledged last
 * ferry_sync_errors_total{stage}              counter    stage = compile | push | refused
 * ferry_syncs_total{result}                   counter    result = pushed | unchanged
 * ferry_sync_tables_last_timestamp_seconds    gauge      unix time of the last successful sync, pushed or found
 *                                                        unchanged (kube-proxy:
 *                                                        sync_proxy_rules_last_timestamp_seconds, which every
 *                                                        successful sync sets, periodic ones included)
 * ferry_objects_skipped{kind,reason}          gauge      objects left out of the last compiled tables
 *                                                        (reason = nodeport-out-of-range | duplicate-pod-ip |
 *                                                        invalid-field)
 * ferry_node_annotation_patches_total{result} counter    this node's flannel annotations written: result =
 *                                                        patched | error (retried with backoff)
 * </pre>
 */
public final class AgentMetrics
{
    /** Error stage: the objects could not be compiled (a malformed object); the node keeps its tables. */
    public static final String ERROR_COMPILE = "compile";
    /** Error stage: the node could not be reached; the push is retried. */
    public static final String ERROR_PUSH = "push";
    /** Error stage: the node refused the tables; it keeps its last good ones. */
    public static final String ERROR_REFUSED = "refused";
    /** Annotation patch result: the Node's flannel annotations were written. */
    public static final String PATCH_OK = "patched";
    /** Annotation patch result: the API server refused or could not be reached; retried with backoff. */
    public static final String PATCH_ERROR = "error";

    private final PrometheusRegistry registry;
    private final Histogram syncDuration;
    private final Histogram programmingLatency;
    private final Gauge generation;
    private final Counter syncErrors;
    private final Counter syncs;
    private final Gauge skipped;
    private final Gauge lastSync;
    private final Counter annotationPatches;
    private final java.util.Set<java.util.List<String>> skippedLabels = new java.util.HashSet<>();

    /**
     * @param registry where the metrics are registered (one registry per agent).
     */
    public AgentMetrics(final PrometheusRegistry registry)
    {
        this.registry = registry;
        // kube-proxy's buckets: 1 ms doubling 15 times (to about 16 s)
        syncDuration = Histogram.builder().name("ferry_sync_tables_duration_seconds")
            .help("Time to compile the node's tables, push them and get the acknowledgement")
            .classicOnly().classicExponentialUpperBounds(0.001, 2, 15).register(registry);
        programmingLatency = Histogram.builder().name("ferry_network_programming_duration_seconds")
            .help("Time from a Kubernetes object changing to the node acknowledging tables that contain it")
            .classicOnly().classicExponentialUpperBounds(0.001, 2, 18).register(registry);
        generation = Gauge.builder().name("ferry_tables_generation")
            .help("Generation of the tables the node acknowledged last").register(registry);
        syncErrors = Counter.builder().name("ferry_sync_errors")
            .help("Syncs that failed, by stage (compile, push, refused)").labelNames("stage").register(registry);
        syncs = Counter.builder().name("ferry_syncs")
            .help("Syncs that ended with a push, or found the node's tables unchanged").labelNames("result")
            .register(registry);
        for (final String s : new String[] {ERROR_COMPILE, ERROR_PUSH, ERROR_REFUSED})
        {
            syncErrors.labelValues(s);
        }
        syncs.labelValues("pushed");
        syncs.labelValues("unchanged");
        lastSync = Gauge.builder().name("ferry_sync_tables_last_timestamp_seconds")
            .help("Unix time of the last successful sync: tables pushed, or found unchanged on the node (0 before)")
            .register(registry);
        annotationPatches = Counter.builder().name("ferry_node_annotation_patches")
            .help("Patches of this node's flannel annotations, by result (patched, error)").labelNames("result")
            .register(registry);
        annotationPatches.labelValues(PATCH_OK);
        annotationPatches.labelValues(PATCH_ERROR);
        skipped = Gauge.builder().name("ferry_objects_skipped")
            .help("Objects left out of the last compiled tables (the rest was pushed), by kind and reason")
            .labelNames("kind", "reason").register(registry);
        // the series a dashboard and an alert look for exist at 0 before anything is skipped
        skipped(java.util.Map.of(java.util.List.of("Service", NodeTablesCompiler.NODEPORT_OUT_OF_RANGE), 0,
            java.util.List.of("Pod", NodeTablesCompiler.DUPLICATE_POD_IP), 0));
    }

    /** @return a new set of metrics in a registry of its own. */
    public static AgentMetrics create()
    {
        return new AgentMetrics(new PrometheusRegistry());
    }

    /** @return the registry to expose. */
    public PrometheusRegistry registry()
    {
        return registry;
    }

    void syncDuration(final double seconds)
    {
        syncDuration.observe(seconds);
    }

    void programmingLatency(final double seconds)
    {
        programmingLatency.observe(seconds);
    }

    void generation(final long value)
    {
        generation.set(value);
    }

    void error(final String stage)
    {
        syncErrors.labelValues(stage).inc();
    }

    /**
     * Sets the skipped-objects gauge to the last compile's counts (label sets not in it go to 0).
     *
     * @param counts by (kind, reason).
     */
    synchronized void skipped(final java.util.Map<java.util.List<String>, Integer> counts)
    {
        for (final java.util.List<String> l : skippedLabels)
        {
            if (!counts.containsKey(l))
            {
                skipped.labelValues(l.get(0), l.get(1)).set(0);
            }
        }
        for (final java.util.Map.Entry<java.util.List<String>, Integer> e : counts.entrySet())
        {
            skippedLabels.add(e.getKey());
            skipped.labelValues(e.getKey().get(0), e.getKey().get(1)).set(e.getValue());
        }
    }

    /**
     * @param kind   the object kind.
     * @param reason the skip reason.
     * @return how many such objects the last compile left out.
     */
    public long skipped(final String kind, final String reason)
    {
        return (long)skipped.labelValues(kind, reason).get();
    }

    void annotationPatch(final String result)
    {
        annotationPatches.labelValues(result).inc();
    }

    /**
     * @param result {@link #PATCH_OK} or {@link #PATCH_ERROR}.
     * @return how many patches of this node's annotations ended so.
     */
    public long annotationPatches(final String result)
    {
        return (long)annotationPatches.labelValues(result).get();
    }

    void sync(final boolean pushed)
    {
        syncs.labelValues(pushed ? "pushed" : "unchanged").inc();
        lastSync.set(System.currentTimeMillis() / 1e3);
    }

    /**
     * @param stage compile, push or refused.
     * @return how many syncs failed at that stage.
     */
    public long errors(final String stage)
    {
        return (long)syncErrors.labelValues(stage).get();
    }

    /**
     * @return how many syncs completed: pushed, or found the tables already on the node (failed ones are in
     *         {@link #errors(String)}). Tests wait on it to know that a sync ran, instead of sleeping.
     */
    public long syncs()
    {
        return (long)(syncs.labelValues("pushed").get() + syncs.labelValues("unchanged").get());
    }

    /** @return the number of programming-latency observations. */
    public long programmingLatencyCount()
    {
        return histogramCount(programmingLatency);
    }

    /** @return the sum of programming-latency observations, in seconds. */
    public double programmingLatencySum()
    {
        return programmingLatency.collect().getDataPoints().getFirst().getSum();
    }

    /** @return the number of syncs timed. */
    public long syncCount()
    {
        return histogramCount(syncDuration);
    }

    private static long histogramCount(final Histogram h)
    {
        return h.collect().getDataPoints().getFirst().getCount();
    }
}
