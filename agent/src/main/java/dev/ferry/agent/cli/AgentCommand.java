package dev.ferry.agent.cli;

import dev.ferry.agent.Agent;
import dev.ferry.agent.AgentMetrics;
import dev.ferry.agent.CniConfigWriter;
import dev.ferry.agent.ClusterSource;
import dev.ferry.agent.InformerSource;
import dev.ferry.agent.KubeProxyCheck;
import dev.ferry.agent.ManifestDirectorySource;
import dev.ferry.agent.NodeAnnotationPublisher;
import dev.ferry.agent.UnixSocketNodeClient;
import dev.ferry.core.Clock;
import dev.ferry.nodeapi.ConsoleLogging;
import dev.ferry.nodeapi.MetricsServer;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;
import picocli.CommandLine.Command;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.logging.Logger;

/**
 * {@code ferry agent}: computes one node's tables from Kubernetes objects and pushes them to that node's API
 * socket, until SIGTERM.
 *
 * <pre>
 * ferry agent --node node-a --manifests /etc/ferry/cluster
 * ferry agent --node node-a --kubeconfig ~/.kube/config
 * ferry agent                       (in a pod: in-cluster config, node name from $NODE_NAME)
 * ferry agent --api-server https://10.0.0.1:6443   (a cluster without kube-proxy)
 * </pre>
 */
@Command(name = "agent", mixinStandardHelpOptions = true,
    description = "Compute this node's tables from Kubernetes objects and push them to the node.")
public final class AgentCommand implements Callable<Integer>
{
    /** Default port of the agent's /metrics and /healthz: next to the node's 9731, away from kube-proxy's 10249. */
    public static final int DEFAULT_METRICS_PORT = 9732;

    private static final Logger LOG = Logger.getLogger("dev.ferry.agent");

    @Option(names = "--node", paramLabel = "NAME", defaultValue = "${env:NODE_NAME}",
        description = "the node to serve (default: $NODE_NAME, set from spec.nodeName in the DaemonSet)")
    private String node;

    @Option(names = "--manifests", paramLabel = "DIR", description = "watch a directory of manifests")
    private Path manifests;

    @Option(names = "--kubeconfig", paramLabel = "FILE",
        description = "API server from a kubeconfig (default without --manifests: in-cluster config)")
    private Path kubeconfig;

    @Option(names = "--api-server", paramLabel = "URL",
        description = "the API server's address, e.g. https://10.0.0.1:6443 (default: $FERRY_K8S_SERVICE_HOST and "
            + "$FERRY_K8S_SERVICE_PORT when set, else the kubeconfig's or the in-cluster one). A cluster without "
            + "kube-proxy needs it: the in-cluster address is the kubernetes ClusterIP, which ferry serves itself")
    private String apiServer;

    @Option(names = "--node-socket", paramLabel = "PATH", defaultValue = "/run/ferry/ferry.sock",
        description = "the node's API socket (default: ${DEFAULT-VALUE})")
    private Path socket;

    @Option(names = "--metrics-port", paramLabel = "N", defaultValue = "" + DEFAULT_METRICS_PORT,
        description = "Prometheus /metrics and /healthz (-1: none; default: ${DEFAULT-VALUE}, not kube-proxy's "
            + "10249, so that both can run during a migration)")
    private int metricsPort;

    @Option(names = "--metrics-bind-address", paramLabel = "IP", defaultValue = MetricsServer.LOOPBACK,
        description = "address of /metrics and /healthz (default: ${DEFAULT-VALUE}; 0.0.0.0 for a cluster "
            + "Prometheus)")
    private String metricsBindAddress;

    @Option(names = "--min-sync-period", paramLabel = "DURATION", defaultValue = "1s",
        converter = DurationConverter.class,
        description = "shortest time between pushes once the burst is used (kube-proxy minSyncPeriod)")
    private Duration minSyncPeriod;

    @Option(names = "--resync-period", paramLabel = "DURATION", defaultValue = "5m",
        converter = DurationConverter.class, description = "periodic full resync")
    private Duration resyncPeriod;

    @Option(names = "--debounce", paramLabel = "DURATION", defaultValue = "200ms",
        converter = DurationConverter.class, description = "quiet time before a manifest directory is reloaded")
    private Duration debounce;

    @Option(names = "--cni-conflist-template", paramLabel = "FILE",
        description = "write this node's CNI conflist from this template (usePodCidr, usePodGateway filled in)")
    private Path cniTemplate;

    @Option(names = "--cni-conflist", paramLabel = "FILE", defaultValue = "/etc/cni/net.d/10-ferry.conflist",
        description = "where the conflist is written (default: ${DEFAULT-VALUE})")
    private Path cniConflist;

    @Option(names = "--allow-kube-proxy",
        description = "start even though kube-proxy pods run in kube-system (a migration: both serve Service IPs)")
    private boolean allowKubeProxy;

    @Option(names = "--publish-node-annotations", negatable = true, defaultValue = "true", fallbackValue = "true",
        description = "write this node's flannel annotations (backend-data with the VTEP MAC, backend-type, "
            + "kube-subnet-manager, public-ip) so that other nodes, ferry or kernel flannel, route to it "
            + "(default: on with an API server; --no-publish-node-annotations while flanneld still runs here)")
    private boolean publishAnnotations;

    @Option(names = "--log-level", paramLabel = "LEVEL", defaultValue = "info",
        description = "error, warn, info, debug or trace (default: ${DEFAULT-VALUE}); fabric8's logs too")
    private String logLevel;

    /** Public for picocli. */
    public AgentCommand()
    {
    }

    @Override
    public Integer call() throws Exception
    {
        if (node == null || node.isBlank())
        {
            System.err.println("ferry agent: --node is required (or set NODE_NAME)");
            return 2;
        }
        if (manifests != null && kubeconfig != null)
        {
            System.err.println("ferry agent: choose --manifests or --kubeconfig, not both");
            return 2;
        }
        try
        {
            ConsoleLogging.configure(logLevel);
        }
        catch (final IllegalArgumentException e)
        {
            System.err.println("ferry agent: --log-level: '" + logLevel + "' is not one of "
                + String.join(", ", ConsoleLogging.LEVELS));
            return 2;
        }
        try
        {
            MetricsServer.checkBindAddress(metricsBindAddress);
        }
        catch (final IllegalArgumentException e)
        {
            System.err.println("ferry agent: --metrics-bind-address: '" + metricsBindAddress
                + "' is not an IP address (e.g. 127.0.0.1, 0.0.0.0, ::)");
            return 2;
        }
        final ClusterSource source;
        final AgentMetrics metrics = AgentMetrics.create();
        NodeAnnotationPublisher annotations = null;
        if (manifests != null)
        {
            source = new ManifestDirectorySource(manifests, debounce, Clock.system());
        }
        else
        {
            final String master;
            try
            {
                master = ApiServerAddress.resolve(apiServer, System.getenv());
            }
            catch (final IllegalArgumentException e)
            {
                System.err.println("ferry agent: " + e.getMessage());
                return 2;
            }
            final Config config = kubeconfig != null
                ? Config.fromKubeconfig(Files.readString(kubeconfig)) : Config.autoConfigure(null);
            if (master != null)
            {
                // the token and CA stay the in-cluster (or kubeconfig) ones; only the address changes
                config.setMasterUrl(master);
                LOG.info(() -> "API server " + master + " (not the kubernetes ClusterIP, which ferry serves)");
            }
            final KubernetesClient client = new KubernetesClientBuilder().withConfig(config).build();
            if (!allowKubeProxy && kubeProxyRuns(client))
            {
                client.close();
                return 2;
            }
            source = new InformerSource(client, node, resyncPeriod, Clock.system());
            if (publishAnnotations)
            {
                annotations = new NodeAnnotationPublisher(NodeAnnotationPublisher.statusPatcher(client), node,
                    metrics, Duration.ofSeconds(1));
            }
        }
        final CniConfigWriter cni = cniTemplate == null ? null : new CniConfigWriter(cniTemplate, cniConflist);
        final Agent agent = Agent.builder().nodeName(node).source(source).node(new UnixSocketNodeClient(socket))
            .minSyncPeriod(minSyncPeriod).resyncPeriod(resyncPeriod).metricsPort(metricsPort)
            .metricsBindAddress(metricsBindAddress).metrics(metrics).annotations(annotations)
            .onAcknowledged((generation, tables) -> writeCni(cni, tables)).build();
        try
        {
            agent.start();
        }
        catch (final java.io.IOException e)
        {
            agent.close();
            System.err.println("ferry agent: " + e.getMessage());
            return 2;
        }
        final CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() ->
        {
            LOG.info("signal received, stopping the agent");
            agent.close();
            stopped.countDown();
        }, "ferry-agent-shutdown"));
        stopped.await();
        return 0;
    }

    /** @return whether kube-proxy was found (and the refusal printed); an API error is a warning, not a stop. */
    private static boolean kubeProxyRuns(final KubernetesClient client)
    {
        try
        {
            return KubeProxyCheck.find(client).map(found ->
            {
                System.err.println("ferry agent: " + KubeProxyCheck.refusal(found));
                return true;
            }).orElse(false);
        }
        catch (final KubernetesClientException e)
        {
            LOG.warning("could not check for kube-proxy (listing kube-system pods): " + e.getMessage());
            return false;
        }
    }

    private static void writeCni(final CniConfigWriter cni, final dev.ferry.core.tables.NodeTables tables)
    {
        if (cni == null)
        {
            return;
        }
        try
        {
            if (cni.write(tables))
            {
                LOG.info(() -> "CNI conflist written for pod CIDR " + tables.node().podCidr());
            }
        }
        catch (final java.io.IOException e)
        {
            LOG.warning("cannot write the CNI conflist: " + e.getMessage());
        }
    }

    /** Parses "200ms", "1s", "5m", "1h" (and ISO-8601 such as "PT1S"). */
    public static final class DurationConverter implements ITypeConverter<Duration>
    {
        /** Public for picocli. */
        public DurationConverter()
        {
        }

        @Override
        public Duration convert(final String value)
        {
            final String v = value.trim().toLowerCase(Locale.ROOT);
            if (v.startsWith("pt") || v.startsWith("p"))
            {
                return Duration.parse(value.trim());
            }
            final int unitAt = firstLetter(v);
            if (unitAt <= 0)
            {
                throw new IllegalArgumentException("not a duration: '" + value + "' (examples: 200ms, 1s, 5m)");
            }
            final long n = Long.parseLong(v.substring(0, unitAt));
            return switch (v.substring(unitAt))
            {
                case "ms" -> Duration.ofMillis(n);
                case "s" -> Duration.ofSeconds(n);
                case "m" -> Duration.ofMinutes(n);
                case "h" -> Duration.ofHours(n);
                default -> throw new IllegalArgumentException("unknown duration unit in '" + value
                    + "' (ms, s, m, h)");
            };
        }

        private static int firstLetter(final String v)
        {
            for (int i = 0; i < v.length(); i++)
            {
                if (Character.isLetter(v.charAt(i)))
                {
                    return i;
                }
            }
            return -1;
        }
    }
}
