package dev.ferry.agent;

import dev.ferry.core.Clock;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.nodeapi.MetricsServer;

import java.io.IOException;
import java.time.Duration;
import java.util.Objects;
import java.util.function.BiConsumer;
import java.util.logging.Logger;

/**
 * The control agent for one node: a {@link ClusterSource} in, full {@link NodeTables} out, pushed to the node.
 *
 * <pre>
 *  ClusterSource ──changed(key, t)──► ChangeTracker ──► BoundedFrequencyRunner.run()
 *  (manifests | informers)                                 │ min interval (minSyncPeriod), burst,
 *                                                          │ max interval (periodic full resync)
 *                                                          ▼
 *                                     TablesSyncer: snapshot ─► NodeTablesCompiler ─► NodeClient.push(gen)
 *                                                                                       │ ack(gen)
 *                                     AgentMetrics ◄── sync duration, programming latency, generation
 * </pre>
 *
 * <p>Build one with {@link #builder()}, {@link #start()} it, {@link #close()} it. The agent owns the source, the
 * node client and its metrics server.
 */
public final class Agent implements AutoCloseable
{
    private static final Logger LOG = Logger.getLogger("dev.ferry.agent");

    private final Builder config;
    private final ChangeTracker tracker = new ChangeTracker();
    private final TablesSyncer syncer;
    private final BoundedFrequencyRunner runner;
    private MetricsServer metricsServer;
    private boolean started;

    private Agent(final Builder b)
    {
        this.config = b;
        this.syncer = new TablesSyncer(b.source, b.nodeName, b.node, tracker, b.metrics, b.clock,
            b.retryPeriod.toNanos(), b.onAck, b.annotations);
        this.runner = new BoundedFrequencyRunner("ferry-sync-" + b.nodeName, syncer, b.minSyncPeriod.toNanos(),
            b.resyncPeriod.toNanos(), b.burst, b.clock);
        syncer.runner(runner);
    }

    /** @return a builder. */
    public static Builder builder()
    {
        return new Builder();
    }

    /**
     * Starts the metrics server (when a port is set), the source and the sync thread.
     *
     * @throws IOException when the source or the metrics port cannot be opened.
     */
    public synchronized void start() throws IOException
    {
        if (started)
        {
            throw new IllegalStateException("an agent starts once");
        }
        started = true;
        if (config.metricsPort >= 0)
        {
            metricsServer = MetricsServer.start(config.metricsBindAddress, config.metricsPort,
                config.metrics.registry(), this::health);
        }
        config.source.start((key, changedAt) ->
        {
            tracker.record(key, changedAt);
            runner.run();
        });
        runner.start();
        LOG.info(() -> "ferry agent for node " + config.nodeName + ": " + config.source.describe() + " -> "
            + config.node + ", min sync " + config.minSyncPeriod.toMillis() + " ms, resync "
            + config.resyncPeriod.toSeconds() + " s" + (metricsServer == null ? ""
            : ", metrics on " + metricsServer.address() + ":" + metricsServer.port()));
    }

    /** @return null when healthy (the source is synced and the last sync succeeded), else why not. */
    public String health()
    {
        if (!config.source.synced())
        {
            return "source not synced: " + config.source.describe();
        }
        final String sourceError = config.source.error();
        if (sourceError != null)
        {
            return sourceError;
        }
        final String error = syncer.lastError();
        if (error != null)
        {
            return error;
        }
        return syncer.acked() == null ? "no tables acknowledged by node " + config.nodeName + " yet" : null;
    }

    /** @return the tables the node acknowledged last (with their generation), or null. */
    public NodeTables acknowledged()
    {
        return syncer.acked();
    }

    /** @return the metrics. */
    public AgentMetrics metrics()
    {
        return config.metrics;
    }

    /** @return the port the metrics server listens on, or -1. */
    public int metricsPort()
    {
        return metricsServer == null ? -1 : metricsServer.port();
    }

    /** Asks for a sync now (subject to the rate limit). */
    public void syncNow()
    {
        runner.run();
    }

    @Override
    public synchronized void close()
    {
        runner.stop();
        if (config.annotations != null)
        {
            config.annotations.close();
        }
        config.source.close();
        config.node.close();
        if (metricsServer != null)
        {
            metricsServer.close();
        }
    }

    /** Describes an agent (Aeron-style context: set, then {@link #build()}). */
    public static final class Builder
    {
        private String nodeName;
        private ClusterSource source;
        private NodeClient node;
        private Duration minSyncPeriod = Duration.ofSeconds(1);
        private Duration resyncPeriod = Duration.ofMinutes(5);
        private Duration retryPeriod = Duration.ofSeconds(1);
        private int burst = 2;
        private int metricsPort = -1;
        private String metricsBindAddress = MetricsServer.LOOPBACK;
        private Clock clock = Clock.system();
        private AgentMetrics metrics;
        private BiConsumer<Long, NodeTables> onAck;
        private NodeAnnotationPublisher annotations;

        private Builder()
        {
        }

        /**
         * @param name the node this agent serves.
         * @return this.
         */
        public Builder nodeName(final String name)
        {
            this.nodeName = name;
            return this;
        }

        /**
         * @param clusterSource where objects come from.
         * @return this.
         */
        public Builder source(final ClusterSource clusterSource)
        {
            this.source = clusterSource;
            return this;
        }

        /**
         * @param client where tables go.
         * @return this.
         */
        public Builder node(final NodeClient client)
        {
            this.node = client;
            return this;
        }

        /**
         * @param period shortest time between syncs once the burst is spent (kube-proxy minSyncPeriod, 1 s).
         * @return this.
         */
        public Builder minSyncPeriod(final Duration period)
        {
            this.minSyncPeriod = period;
            return this;
        }

        /**
         * @param period longest time between syncs: the periodic full resync (5 min).
         * @return this.
         */
        public Builder resyncPeriod(final Duration period)
        {
            this.resyncPeriod = period;
            return this;
        }

        /**
         * @param period delay before a failed push is retried (1 s).
         * @return this.
         */
        public Builder retryPeriod(final Duration period)
        {
            this.retryPeriod = period;
            return this;
        }

        /**
         * @param syncs syncs allowed back to back (kube-proxy burstSyncs, 2).
         * @return this.
         */
        public Builder burst(final int syncs)
        {
            this.burst = syncs;
            return this;
        }

        /**
         * @param port metrics and healthz port (0 picks one, -1 serves none; default -1).
         * @return this.
         */
        public Builder metricsPort(final int port)
        {
            this.metricsPort = port;
            return this;
        }

        /**
         * @param address the IP address /metrics and /healthz listen on (default 127.0.0.1).
         * @return this.
         * @throws IllegalArgumentException when it is not an IP address literal.
         */
        public Builder metricsBindAddress(final String address)
        {
            this.metricsBindAddress = MetricsServer.checkBindAddress(address);
            return this;
        }

        /**
         * @param time the clock (change timestamps, rate limit).
         * @return this.
         */
        public Builder clock(final Clock time)
        {
            this.clock = time;
            return this;
        }

        /**
         * @param agentMetrics metrics to record into (default: a registry of its own).
         * @return this.
         */
        public Builder metrics(final AgentMetrics agentMetrics)
        {
            this.metrics = agentMetrics;
            return this;
        }

        /**
         * @param listener told of every acknowledged push (generation, tables), on the sync thread.
         * @return this.
         */
        public Builder onAcknowledged(final BiConsumer<Long, NodeTables> listener)
        {
            this.onAck = listener;
            return this;
        }

        /**
         * @param publisher publishes this node's flannel annotations after each successful sync (the agent closes
         *                  it); null publishes none (manifests, tests).
         * @return this.
         */
        public Builder annotations(final NodeAnnotationPublisher publisher)
        {
            this.annotations = publisher;
            return this;
        }

        /** @return the agent, not started. */
        public Agent build()
        {
            Objects.requireNonNull(nodeName, "nodeName");
            Objects.requireNonNull(source, "source");
            Objects.requireNonNull(node, "node");
            if (metrics == null)
            {
                metrics = AgentMetrics.create();
            }
            return new Agent(this);
        }
    }
}
