package dev.ferry.node;

import dev.ferry.core.CachedClock;
import dev.ferry.core.Clock;
import dev.ferry.core.Counters;
import dev.ferry.core.PacketPool;
import dev.ferry.core.Ports;
import dev.ferry.core.StageInfo;
import dev.ferry.core.TraceBuffer;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.tables.TablesPublisher;
import dev.ferry.core.workers.Handoff;
import dev.ferry.nat.AffinityTable;
import dev.ferry.node.metrics.NodeMetrics;
import dev.ferry.nodeapi.AttachRequest;
import dev.ferry.nodeapi.MetricsServer;
import dev.ferry.tapio.FanoutSteering;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import org.agrona.ErrorHandler;
import org.agrona.concurrent.AgentRunner;
import org.agrona.concurrent.CompositeAgent;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import java.util.logging.Logger;

/**
 * The node dataplane ({@code ferry node}): ports, the worker that runs the graph, and the API on a Unix
 * socket.
 *
 * <pre>
 *   uplink ─┐                                   ┌─► uplink
 *   ferry0 ─┼─► worker: ethernet-input ... ─────┼─► ferry0 (host-output)
 *   pod TAPs┘   interface-output                └─► pod TAPs
 *                 ▲ WorkerCommand queue (attach, detach, stats, trace, ping)
 *   API socket ─► API agent (control thread): push → compile → swap TablesRef
 *                                             └─► host network thread: `ip` for ferry0 routes and addresses
 * </pre>
 *
 * <p>Lifecycle: {@link #start()} opens the uplink (packet mode) and the host TAP, binds the API socket
 * (removing a stale one), publishes the initial tables if any, serves {@code /metrics} and {@code /healthz} on
 * 127.0.0.1:{@code metricsPort} when set ({@link NodeMetrics}, {@link #health()}), and starts the agents;
 * {@link #stop()} stops them, closes the metrics port and every port, removes the socket file and frees the
 * pool. A stopped daemon cannot be started
 * again; build a new one (on the same socket path).
 */
public final class NodeDaemon implements AutoCloseable
{
    private static final Logger LOG = Logger.getLogger("dev.ferry.node");
    private static final long STOP_TIMEOUT_MS = 5_000;
    /** How long /healthz waits for the worker to answer a no-op command. */
    static final long HEALTH_TIMEOUT_MS = 1_000;

    private final NodeConfig config;
    private final PortFactory portFactory;
    private final List<NodeFeature> extraFeatures;
    private volatile NodeGraph nodeGraph;
    /** Every worker's graph, worker 0's first (that is {@link #nodeGraph}); empty before start. */
    private volatile List<NodeGraph> nodeGraphs = List.of();
    private final Clock clock;
    private final CachedClock workerClock;
    private final NodeTables initialTables;
    private final PacketPool pool;
    private final Counters counters;
    private final Ports ports = new Ports();
    private final TablesPublisher publisher;
    /** Worker 0: the one of a node of one worker; with several, the one the API's shared thread runs. */
    private final Worker worker;
    /** Every worker, worker 0 first, each with its own pool, counters and cached clock. */
    private final List<Worker> workers = new ArrayList<>();
    private final List<PacketPool> pools = new ArrayList<>();
    private final List<Counters> countersPerWorker = new ArrayList<>();
    private final List<CachedClock> clocks = new ArrayList<>();
    /** The rings between workers, or null with one worker. */
    private final Handoff handoff;
    private final List<EpollIdleStrategy> idles = new ArrayList<>();
    private final ApiAgent api;
    private final NodeControl control;
    private final AttachmentStore store;
    private final NodeMetrics metrics;
    private final HostNetwork.Runner hostCommands;
    private HostNetwork hostNetwork;
    private MetricsServer metricsServer;
    private final ProxyHealth proxyHealth;
    private HealthzServer healthzServer;
    private final ServiceHealthServers serviceHealth;
    private EpollIdleStrategy idle;
    private final List<AgentRunner> runners = new ArrayList<>();
    /** Large (64 KB) buffers for pod TAP superframes: one vector's worth, 256 x 65,728 bytes = 16 MiB. */
    static final int LARGE_BUFFERS = 256;
    /** Bytes of each handoff ring: a record holds half, so 64 KiB superframes fit. */
    static final int HANDOFF_RING_BYTES = 1 << 18;
    /** Trace records each worker keeps ({@code show trace}), as a graph's default. */
    static final int TRACE_RECORDS = 4096;

    private volatile boolean started;
    private volatile boolean stopped;

    private NodeDaemon(final Builder b)
    {
        this.config = b.config;
        this.portFactory = b.portFactory;
        this.extraFeatures = List.copyOf(b.features);
        this.clock = b.clock;
        this.initialTables = b.initialTables;
        this.hostCommands = b.hostCommands;
        // live pod TAPs take TSO superframes into large buffers: LARGE_BUFFERS x 64 KB (16 MiB), see node/README
        this.publisher = new TablesPublisher(ports, false);
        final int n = config.workers();
        // with several workers, each has its own pool, counters and clock: nothing on the hot path is shared
        for (int w = 0; w < n; w++)
        {
            final PacketPool p = new PacketPool(config.poolSize(), PacketPool.DEFAULT_BUFFER_SIZE,
                PacketPool.DEFAULT_HEADROOM, b.portFactory.live() ? LARGE_BUFFERS : 0);
            final Counters c = Counters.inMemory(65536);
            // the worker's stages and ports read the time it caches once per duty cycle; health reads the source
            final CachedClock cc = new CachedClock(clock);
            pools.add(p);
            countersPerWorker.add(c);
            clocks.add(cc);
            workers.add(new Worker(p, c, cc, publisher.ref(), w, n));
        }
        this.pool = pools.get(0);
        this.counters = countersPerWorker.get(0);
        this.workerClock = clocks.get(0);
        this.worker = workers.get(0);
        // 256 KiB rings carry 64 KiB superframes (Handoff); one ring per ordered pair of workers
        this.handoff = n == 1 ? null : new Handoff(n, HANDOFF_RING_BYTES);
        this.api = new ApiAgent(config.apiSocket());
        this.store = new AttachmentStore(config.apiSocket().resolveSibling("attachments.json"));
        this.metrics = n == 1 ? new NodeMetrics(counters, this::generation)
            : new NodeMetrics(countersPerWorker, this::generation);
        // the oldest heartbeat of all workers: one stuck worker makes the node unhealthy
        this.proxyHealth = new ProxyHealth(System::currentTimeMillis, clock::nanos, this::oldestHeartbeat,
            b.healthTimeoutMillis);
        this.control = new NodeControl(config, publisher, workers, portFactory, api::execute, store,
            () -> nodeGraphs, metrics, proxyHealth);
        // kube-proxy binds health check node ports on every address (nodePortAddresses unset)
        this.serviceHealth = new ServiceHealthServers(java.net.InetAddress.ofLiteral("0.0.0.0"), proxyHealth);
        publisher.onPublish(s -> serviceHealth.sync(s.tables()));
        final ApiProtocol protocol = new ApiProtocol(control);
        api.handler(protocol::handle);
        api.every(Duration.ofSeconds(1), control::housekeeping);
    }

    /**
     * Starts describing a daemon.
     *
     * @param config the configuration.
     * @return a builder.
     */
    public static Builder builder(final NodeConfig config)
    {
        return new Builder(config);
    }

    /**
     * Opens the ports, binds the API and starts the agents.
     *
     * @throws IOException when a port cannot be opened or the socket cannot be bound; nothing keeps running.
     */
    public synchronized void start() throws IOException
    {
        if (started)
        {
            throw new IllegalStateException("a node daemon starts once; build a new one");
        }
        started = true;
        // opened[q] holds worker q's queue of each device, in the order of ids
        final List<List<PortFactory.Opened>> opened = new ArrayList<>();
        for (int w = 0; w < workers.size(); w++)
        {
            opened.add(new ArrayList<>());
        }
        boolean apiBound = false;
        try
        {
            final List<Integer> ids = new ArrayList<>();
            FanoutSteering steering = null;
            if (portFactory.live() || hostCommands != null)
            {
                hostNetwork = hostCommands == null ? new HostNetwork(config) : new HostNetwork(config, hostCommands);
                if (config.underlay() == UnderlayMode.PACKET)
                {
                    hostNetwork.takeUplink();
                }
                // `ip` runs on the host network's own thread, never on the control or forwarding thread
                publisher.onPublish(hostNetwork::applyLater);
            }
            // kept beside the conntrack shards: a restored flow must meet the worker whose shard holds it
            final long ownerSecret = handoff == null ? 0 : OwnerSecret.load(config.stateDir(), workers.size());
            // one ClientIP affinity table for every worker: a client's connections are spread over them by ports
            final AffinityTable affinity = handoff == null ? null
                : ServicesFeature.openSharedAffinity(config.stateDir());
            if (config.underlay() == UnderlayMode.PACKET)
            {
                // ports are numbered densely: nothing else adds ports before the API is bound. The uplink's sockets
                // join its fanout group with their worker as place: the steering program's answer is a worker, which
                // the group's slot table maps to that worker's socket in any join order
                final int id = ports.size();
                for (int w = 0; w < workers.size(); w++)
                {
                    opened.get(w).add(portFactory.openUplink(config.uplink(), workers.get(w).portContext(id)));
                }
                final PortFactory.Opened up = opened.get(0).get(0);
                ids.add(NodeGraph.registerUplink(ports, up.name(), up.mac()));
                steering = handoff == null ? null : portFactory.uplinkSteering();
            }
            final int hostId = ports.size();
            for (int w = 0; w < workers.size(); w++)
            {
                opened.get(w).add(portFactory.openHostTap(config.hostTap(), workers.get(w).portContext(hostId)));
            }
            final PortFactory.Opened host = opened.get(0).get(opened.get(0).size() - 1);
            ids.add(NodeGraph.registerHost(ports, host.name(), host.mac(), host.peerMac()));
            // one id source for every worker's trace buffer: a packet's trace id is the node's, kept across a handoff
            final AtomicInteger traceIds = new AtomicInteger();
            final List<NodeGraph> graphs = new ArrayList<>();
            for (int w = 0; w < workers.size(); w++)
            {
                final Worker wk = workers.get(w);
                // each worker learns from the ARP frames its own uplink socket receives; the control side merges
                // what they report and republishes it to all
                final NodeGraph.Builder gb = NodeGraph.builder(config, pools.get(w), countersPerWorker.get(w),
                    clocks.get(w), ports, publisher, wk.pinned()).sink(wk).hostPort(ids.get(ids.size() - 1))
                    .trace(new TraceBuffer(TRACE_RECORDS, traceIds))
                    .onLearned(learned -> api.execute(() -> control.learned(learned)));
                if (w == 0)
                {
                    // the extra features (tests) go to worker 0: a feature instance belongs to one graph
                    extraFeatures.forEach(gb::feature);
                }
                if (handoff != null)
                {
                    gb.worker(w, handoff, ownerSecret, affinity);
                }
                final NodeGraph built = gb.build();
                wk.graph(built);
                graphs.add(built);
            }
            if (handoff != null)
            {
                for (final NodeGraph g : graphs)
                {
                    g.handoff().wakers(w -> workers.get(w).wakeup().run());
                }
            }
            nodeGraph = graphs.get(0);
            nodeGraphs = List.copyOf(graphs);
            if (steering != null)
            {
                // registered before any tables are pushed; the roles are read from worker 0's NAT, made (by its
                // services feature) before each publish reaches the listeners
                final ServicesFeature services = graphs.get(0).feature(ServicesFeature.class);
                publisher.onPublish(new UplinkSteering(steering, workers.size(), ownerSecret, services::nat));
            }
            for (int w = 0; w < workers.size(); w++)
            {
                final Worker wk = workers.get(w);
                for (int i = 0; i < opened.get(w).size(); i++)
                {
                    wk.attach(ids.get(i), opened.get(w).get(i).port());
                }
                final NodeGraph built = graphs.get(w);
                for (final NodeFeature f : built.features())
                {
                    for (final NodePort p : f.ports(built.context(), wk.featureExecutor()))
                    {
                        // a feature registers its ports (kind, MAC, promiscuity) when it builds its stages
                        final int id = ports.idOf(p.name());
                        if (id < 0)
                        {
                            throw new IllegalStateException("feature " + f.name() + " opened port " + p.name()
                                + " without registering it");
                        }
                        wk.attach(id, p);
                    }
                }
            }
            restorePods();
            // kube-proxy counts as updated at start; without tables, the first ones are a pending change
            proxyHealth.updated();
            if (initialTables != null)
            {
                control.push(initialTables);
            }
            else
            {
                // the last applied tables, if saved, serve until the agent pushes. They were current when applied:
                // an agent that kept running finds them equal to what it acknowledged and pushes nothing, so no
                // change is pending. Without them the first tables are.
                if (!control.restoreTables())
                {
                    proxyHealth.queuedUpdate();
                }
            }
            api.bind();
            apiBound = true;
            if (config.metricsPort() != NodeConfig.METRICS_OFF)
            {
                final PrometheusRegistry registry = new PrometheusRegistry();
                registry.register(metrics);
                metricsServer = MetricsServer.start(config.metricsBindAddress(), config.metricsPort(), registry,
                    this::health);
            }
            if (!config.healthzBindAddress().isEmpty())
            {
                healthzServer = HealthzServer.start(config.healthzBindAddress(), proxyHealth);
            }
        }
        catch (final IOException | RuntimeException e)
        {
            if (metricsServer != null)
            {
                metricsServer.close();
            }
            serviceHealth.close();
            if (apiBound)
            {
                // the metrics port could not be bound: give the API socket back
                api.onClose();
            }
            for (final Worker w : workers)
            {
                w.onClose();
            }
            for (final List<PortFactory.Opened> queue : opened)
            {
                for (final PortFactory.Opened p : queue)
                {
                    p.port().close();
                }
            }
            if (hostNetwork != null)
            {
                hostNetwork.close();
            }
            stopped = true;
            closeMemory();
            throw e;
        }
        final ErrorHandler errors = t -> LOG.severe(() -> "agent error: " + t);
        if (config.threading() == ThreadingMode.SHARED)
        {
            idle = new EpollIdleStrategy(worker, api, config.busyPollMicros());
            api.wakeOnInput(worker.wakeup());
            // the worker first: a frame that woke the thread is forwarded before the API looks at its clients
            runners.add(new AgentRunner(idle, errors, null, new CompositeAgent(worker, api)));
        }
        else
        {
            // the API reads clients on its own thread, never on the forwarding one (issue 13, class 10), and
            // blocks in its selector when idle
            idle = new EpollIdleStrategy(worker, null, config.busyPollMicros());
            api.wakeOwnSelector();
            runners.add(new AgentRunner(idle, errors, null, worker));
            runners.add(new AgentRunner(new ApiIdleStrategy(api), errors, null, api));
        }
        // every further worker on a thread of its own, idling in its own epoll over its own queues
        for (int w = 1; w < workers.size(); w++)
        {
            final EpollIdleStrategy own = new EpollIdleStrategy(workers.get(w), null, config.busyPollMicros());
            idles.add(own);
            runners.add(new AgentRunner(own, errors, null, workers.get(w)));
        }
        for (final AgentRunner r : runners)
        {
            AgentRunner.startOnThread(r);
        }
        LOG.info(() -> "ferry node " + config.nodeName() + " started: " + config.underlay().name()
            .toLowerCase(java.util.Locale.ROOT) + " mode, " + config.threading().name()
            .toLowerCase(java.util.Locale.ROOT) + " threading, " + workers.size() + " worker(s) on "
            + WorkerCount.cpus() + " CPUs, " + ports.size() + " ports, API on "
            + config.apiSocket() + (metricsServer == null ? "" : ", metrics on " + metricsServer.address() + ":"
            + metricsServer.port()) + (healthzServer == null ? "" : ", healthz on " + config.healthzBindAddress())
            + ", tables generation " + control.generation() + ", Services "
            + config.balancing().name().toLowerCase(java.util.Locale.ROOT) + " with seed " + config.seed());
    }

    /** Opens again the TAPs of the pods that the last run attached (the worker is not running yet). */
    private void restorePods()
    {
        final List<PodAttachment> saved;
        try
        {
            saved = store.load();
        }
        catch (final IOException e)
        {
            LOG.warning(() -> "attached pods not restored: " + e.getMessage());
            return;
        }
        int restored = 0;
        for (final PodAttachment a : saved)
        {
            final int id = ports.add(a.tapName(), Ports.Kind.POD, a.gatewayMac()).id();
            final List<dev.ferry.tapio.Port> queues = new ArrayList<>();
            try
            {
                for (final Worker w : workers)
                {
                    // worker 0's queue first: a TAP made single-queue by a node of one worker is read by it alone
                    queues.add(portFactory.openPodTap(a, w.portContext(id), true, queues.isEmpty() ? null
                        : queues.get(0)));
                }
                for (int w = 0; w < workers.size(); w++)
                {
                    workers.get(w).attach(id, queues.get(w));
                }
                control.restored(a);
                restored++;
            }
            catch (final IOException | RuntimeException e)
            {
                queues.forEach(dev.ferry.tapio.Port::close);
                LOG.warning(() -> "pod " + a + " not restored: " + e.getMessage());
            }
        }
        if (saved.size() != restored)
        {
            control.save();
        }
        if (!saved.isEmpty())
        {
            final int n = restored;
            LOG.info(() -> n + " of " + saved.size() + " attached pods restored from " + store.file());
        }
    }

    /**
     * @return the worker's wake profile ({@code -Dferry.wakeProfile=true}), else null; after {@link #stop()} it is
     *         final (the caller logs it: at JVM shutdown the logging system may already be gone).
     */
    public String wakeProfile()
    {
        return WakeProfile.ENABLED ? worker.profile().format() : null;
    }

    /**
     * @return each worker's {@link Worker#pollSummary()}, a line each (TAP reads a duty cycle, readiness probes).
     */
    public String pollSummary()
    {
        final StringBuilder b = new StringBuilder();
        for (final Worker w : workers)
        {
            b.append(b.isEmpty() ? "" : "\n").append(w.pollSummary());
        }
        return b.toString();
    }

    /**
     * Stops the agents, closes every port and removes the API socket. Idempotent.
     */
    public synchronized void stop()
    {
        if (stopped)
        {
            return;
        }
        stopped = true;
        if (metricsServer != null)
        {
            metricsServer.close();
        }
        if (healthzServer != null)
        {
            healthzServer.close();
        }
        serviceHealth.close();
        for (final AgentRunner r : runners)
        {
            r.close((int)STOP_TIMEOUT_MS, t -> LOG.warning(() -> "agent " + t.getName() + " is slow to stop"));
        }
        if (idle != null)
        {
            idle.close();
        }
        idles.forEach(EpollIdleStrategy::close);
        if (hostNetwork != null)
        {
            hostNetwork.close();
        }
        for (final NodeGraph g : nodeGraphs)
        {
            g.close();
        }
        final long leaked = leakedBuffers();
        if (leaked > 0)
        {
            LOG.warning(() -> leaked + " packet buffers were still in use at stop");
        }
        closeMemory();
        LOG.info(() -> "ferry node " + config.nodeName() + " stopped");
    }

    @Override
    public void close()
    {
        stop();
    }

    private <T> CompletableFuture<T> onControl(final Function<NodeControl, CompletableFuture<T>> body)
    {
        if (!started || stopped)
        {
            return CompletableFuture.failedFuture(new IllegalStateException("the node is not running"));
        }
        final CompletableFuture<T> result = new CompletableFuture<>();
        api.execute(() ->
        {
            try
            {
                body.apply(control).whenComplete((v, e) ->
                {
                    if (e != null)
                    {
                        result.completeExceptionally(e);
                    }
                    else
                    {
                        result.complete(v);
                    }
                });
            }
            catch (final RuntimeException e)
            {
                result.completeExceptionally(e);
            }
        });
        return result;
    }

    /**
     * Applies tables in-process, as a push over the API would.
     *
     * @param tables the tables; their generation must grow.
     * @return the generation applied, or the refusal.
     */
    public CompletableFuture<Long> push(final NodeTables tables)
    {
        return onControl(c -> CompletableFuture.completedFuture(c.push(tables)));
    }

    /**
     * Attaches a pod in-process, as the CNI plugin would over the API.
     *
     * @param request the request.
     * @return the attachment.
     */
    public CompletableFuture<PodAttachment> attach(final AttachRequest request)
    {
        return onControl(c -> c.attach(request));
    }

    /**
     * Detaches a pod in-process.
     *
     * @param containerId container id.
     * @param ifName      interface name.
     * @return whether a port was removed.
     */
    public CompletableFuture<Boolean> detach(final String containerId, final String ifName)
    {
        return onControl(c -> c.detach(containerId, ifName));
    }

    /**
     * Answers a {@code show} query in-process.
     *
     * @param what the query.
     * @return the lines.
     */
    public CompletableFuture<List<String>> show(final String what)
    {
        return onControl(c -> c.show(what));
    }

    /**
     * The answer of {@code /healthz}: healthy once tables are applied and while the worker answers its command
     * queue (it drains it every duty cycle, and an idle worker wakes at least every 10 ms).
     *
     * @return null when healthy, else why not (503).
     */
    public String health()
    {
        if (!started || stopped)
        {
            return "the node is not running";
        }
        if (publisher.current() == null)
        {
            return "no tables applied yet (waiting for the first push)";
        }
        try
        {
            final long deadline = System.nanoTime() + HEALTH_TIMEOUT_MS * 1_000_000L;
            for (final Worker w : workers)
            {
                w.submit(new WorkerCommand.Ping()).get(Math.max(0, deadline - System.nanoTime()),
                    TimeUnit.NANOSECONDS);
            }
            return null;
        }
        catch (final TimeoutException e)
        {
            return "the worker did not answer within " + HEALTH_TIMEOUT_MS + " ms";
        }
        catch (final ExecutionException e)
        {
            return "the worker cannot take commands: " + e.getCause().getMessage();
        }
        catch (final InterruptedException e)
        {
            Thread.currentThread().interrupt();
            return "interrupted while asking the worker";
        }
    }

    /** @return the port of /metrics and /healthz on 127.0.0.1, or -1 when they are not served. */
    public int metricsPort()
    {
        return metricsServer == null ? -1 : metricsServer.port();
    }

    /** @return the port of kube-proxy's /healthz and /livez, or -1 when they are not served. */
    public int healthzPort()
    {
        return healthzServer == null ? -1 : healthzServer.port();
    }

    /** @return the health check node ports served now (Services with externalTrafficPolicy Local). */
    public java.util.Set<Integer> healthCheckNodePorts()
    {
        return serviceHealth.ports();
    }

    /** @return the node's metrics (also served on {@link #metricsPort()} when set). */
    public NodeMetrics metrics()
    {
        return metrics;
    }

    /**
     * The node's graph as the worker runs it: each stage's name, next edges and drop reasons, in order.
     *
     * @return the stages; empty before {@link #start()}.
     */
    public List<StageInfo> graphStages()
    {
        final NodeGraph g = nodeGraph;
        return g == null ? List.of() : g.graph().stages().stream().map(StageInfo::of).toList();
    }

    /** @return the node's ports as registered so far (uplink, host TAP, tunnel, pods). */
    public List<Ports.Port> portList()
    {
        return ports.all();
    }

    /** @return the configuration. */
    public NodeConfig config()
    {
        return config;
    }

    /** @return the API socket path. */
    public Path socket()
    {
        return config.apiSocket();
    }

    /** @return the generation of the snapshot the worker reads, or 0 before the first. */
    public long generation()
    {
        final var s = publisher.current();
        return s == null ? 0 : s.generation();
    }

    /** @return the API server (tests change its client timeout). */
    ApiAgent apiAgent()
    {
        return api;
    }

    /**
     * @param w a worker's number.
     * @return that worker (tests hold it busy with a command).
     */
    Worker worker(final int w)
    {
        return workers.get(w);
    }

    /** @return packet buffers still in use when the workers stopped (summed), or -1 while they run. */
    public long leakedBuffers()
    {
        long sum = 0;
        for (final Worker w : workers)
        {
            final long l = w.leakedBuffers();
            if (l < 0)
            {
                return -1;
            }
            sum += l;
        }
        return sum;
    }

    /** @return the oldest duty-cycle clock of the workers (a stuck worker holds it back), for /healthz. */
    private long oldestHeartbeat()
    {
        long oldest = Long.MAX_VALUE;
        for (final Worker w : workers)
        {
            oldest = Math.min(oldest, w.lvHeartbeat());
        }
        return oldest;
    }

    /** Frees every worker's pool and counters and the handoff rings (after the workers stopped). */
    private void closeMemory()
    {
        pools.forEach(PacketPool::close);
        countersPerWorker.forEach(Counters::close);
        if (handoff != null)
        {
            handoff.close();
        }
    }

    /** Describes a daemon. */
    public static final class Builder
    {
        private final NodeConfig config;
        private PortFactory portFactory;
        private final List<NodeFeature> features = new ArrayList<>();
        private Clock clock = Clock.system();
        private NodeTables initialTables;
        private HostNetwork.Runner hostCommands;
        private long healthTimeoutMillis = ProxyHealth.DEFAULT_HEALTH_TIMEOUT_MS;

        private Builder(final NodeConfig config)
        {
            this.config = config;
        }

        /**
         * @param factory opens the ports (tap-io's, or {@link MemoryPortFactory}).
         * @return this.
         */
        public Builder portFactory(final PortFactory factory)
        {
            this.portFactory = factory;
            return this;
        }

        /**
         * @param feature a further feature, wired in besides the node's own (tests).
         * @return this.
         */
        public Builder feature(final NodeFeature feature)
        {
            features.add(feature);
            return this;
        }

        /**
         * @param time the clock.
         * @return this.
         */
        public Builder clock(final Clock time)
        {
            this.clock = time;
            return this;
        }

        /**
         * @param tables tables to publish at start (from {@code --cluster}), or null.
         * @return this.
         */
        public Builder initialTables(final NodeTables tables)
        {
            this.initialTables = tables;
            return this;
        }

        /**
         * Configures the host's side through this runner instead of {@code ip}, even with in-memory ports (tests).
         *
         * @param runner runs one host command; returns whether it succeeded.
         * @return this.
         */
        Builder hostCommands(final HostNetwork.Runner runner)
        {
            this.hostCommands = runner;
            return this;
        }

        /**
         * @param millis how long a change may stay pending before /healthz answers 503 (kube-proxy: 2 × the
         *               sync period, 60 s; tests shorten it).
         * @return this.
         */
        Builder healthTimeoutMillis(final long millis)
        {
            this.healthTimeoutMillis = millis;
            return this;
        }

        /** @return the daemon, not started. */
        public NodeDaemon build()
        {
            if (portFactory == null)
            {
                throw new IllegalStateException("a node daemon needs a PortFactory");
            }
            return new NodeDaemon(this);
        }
    }
}
