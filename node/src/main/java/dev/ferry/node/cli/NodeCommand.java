package dev.ferry.node.cli;

import dev.ferry.core.tables.NodeTables;
import dev.ferry.node.MemoryPortFactory;
import dev.ferry.node.NodeConfig;
import dev.ferry.node.NodeDaemon;
import dev.ferry.node.PortFactory;
import dev.ferry.node.TapPortFactory;
import dev.ferry.nodeapi.ClusterLoader;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ServiceLoader;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/**
 * {@code ferry node --config node.yaml}: runs the node dataplane until SIGTERM.
 *
 * <p>Ports come from {@link TapPortFactory} (or memory with {@code --memory-ports}); the graph and its features
 * from {@link dev.ferry.node.NodeGraph}. Until the agent pushes, the tables come from {@code --cluster DIR}, read
 * by the one {@link ClusterLoader} on the class path (none, or more than one, is refused with a message rather
 * than run in jar order).
 */
@Command(name = "node", mixinStandardHelpOptions = true,
    description = "Run the node dataplane (root): ports, worker, and the API on a Unix socket.")
public final class NodeCommand implements Callable<Integer>
{
    @Option(names = "--config", required = true, paramLabel = "FILE", description = "node.yaml")
    private Path config;

    @Option(names = "--cluster", paramLabel = "DIR",
        description = "tables (or manifests, with the agent module) loaded at start; overrides clusterDir")
    private Path cluster;

    @Option(names = "--memory-ports",
        description = "use in-memory ports instead of the NIC and TAPs (a dry run of the API and tables)")
    private boolean memoryPorts;

    @Option(names = "--log-level", paramLabel = "LEVEL",
        description = "error, warn, info, debug or trace; overrides logLevel (default info)")
    private String logLevel;

    @Option(names = "--healthz-bind-address", paramLabel = "IP:PORT",
        description = "kube-proxy's /healthz and /livez; overrides healthzBindAddress (0.0.0.0:10256; \"\": off)")
    private String healthzBindAddress;

    @Override
    public Integer call() throws Exception
    {
        NodeConfig cfg;
        try
        {
            cfg = NodeConfig.load(config);
            if (logLevel != null)
            {
                cfg = cfg.withLogLevel(logLevel.toLowerCase(java.util.Locale.ROOT));
            }
            if (healthzBindAddress != null)
            {
                cfg = cfg.withHealthzBindAddress(healthzBindAddress);
            }
        }
        catch (final IllegalArgumentException e)
        {
            System.err.println("ferry node: " + e.getMessage());
            return 2;
        }
        NodeLogging.configure(cfg.logLevel());
        if (cluster != null)
        {
            cfg = cfg.withClusterDir(cluster);
        }
        final PortFactory ports = memoryPorts ? new MemoryPortFactory() : new TapPortFactory();
        NodeTables tables = null;
        if (cfg.clusterDir() != null)
        {
            final ClusterLoader loader;
            try
            {
                loader = ClusterLoader.only(ServiceLoader.load(ClusterLoader.class));
            }
            catch (final IllegalStateException e)
            {
                System.err.println("ferry node: " + e.getMessage());
                return 2;
            }
            try
            {
                tables = loader.load(cfg.clusterDir(), cfg.nodeName());
            }
            catch (final IOException | RuntimeException e)
            {
                System.err.println("ferry node: " + cfg.clusterDir() + ": " + e.getMessage());
                return 2;
            }
        }
        final NodeDaemon daemon = NodeDaemon.builder(cfg).portFactory(ports).initialTables(tables).build();
        try
        {
            daemon.start();
        }
        catch (final IOException | RuntimeException e)
        {
            System.err.println("ferry node: cannot start: " + e.getMessage());
            return 1;
        }
        final CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() ->
        {
            NodeLogging.direct("INFO", "signal received, stopping");
            daemon.stop();
            NodeLogging.direct("INFO", daemon.pollSummary());
            final String profile = daemon.wakeProfile();
            if (profile != null)
            {
                NodeLogging.direct("INFO", profile);
            }
            NodeLogging.direct("INFO", "ferry node " + daemon.config().nodeName() + " stopped, ports closed");
            stopped.countDown();
        }, "ferry-shutdown"));
        stopped.await();
        return 0;
    }
}
