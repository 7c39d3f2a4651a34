package dev.ferry.lab;

import dev.ferry.agent.cli.AgentCommand;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code ferry lab up|demo|verify|apply|soak|down}: the two-node network-namespace lab (root).
 */
@Command(name = "lab", mixinStandardHelpOptions = true,
    description = "The two-node network-namespace lab: ferry nodes, real pods and servers, an external host.",
    subcommands = {LabCommand.Up.class, LabCommand.Demo.class, LabCommand.Verify.class, LabCommand.Apply.class,
        LabCommand.Soak.class, LabCommand.Down.class, LabApiServer.class})
public final class LabCommand implements Runnable
{
    /** The main class that runs {@code ferry} in a new JVM. */
    public static final String FERRY_MAIN = "dev.ferry.cli.Ferry";

    @Override
    public void run()
    {
        System.out.println("usage: ferry lab up|demo|verify|apply|soak|down [--help]");
    }

    /** Options every subcommand takes. */
    static final class Common
    {
        @Option(names = "--prefix", paramLabel = "PREFIX", defaultValue = "ferry-",
            description = "namespace prefix (default ${DEFAULT-VALUE}: ferry-node1, ferry-node2, ferry-ext, "
                + "ferry-pod-*)")
        String prefix;

        @Option(names = "--state", paramLabel = "DIR",
            description = "state directory (default /run/ferry-lab, or /run/PREFIXlab)")
        Path state;

        @Option(names = "--cni-plugin", paramLabel = "FILE",
            description = "the ferry CNI plugin, or its install.sh (default: $FERRY_CNI, else cni/install.sh of this "
                + "source tree; without one, pods are attached over the node API)")
        Path cniPlugin;

        @Option(names = "--kernel-node2", description = "node2 is a Linux kernel flannel-style node (interop)")
        boolean kernelNode2;

        Lab lab(final PrintStream log, final boolean servers, final Path manifests)
        {
            return lab(log, servers, manifests, null);
        }

        Lab lab(final PrintStream log, final boolean servers, final Path manifests, final Path image)
        {
            final LabSpec spec = LabSpec.withPrefix(prefix);
            final Path dir = state != null ? state : Path.of("/run", spec.stateDirName());
            return new Lab(new Lab.Options(spec, dir, ferryCommand(), plugin(), kernelNode2 ? Lab.Node2.KERNEL
                : Lab.Node2.FERRY, servers, manifests, log, image));
        }

        private Path plugin()
        {
            if (cniPlugin != null)
            {
                return cniPlugin;
            }
            final String env = System.getenv("FERRY_CNI");
            if (env != null && !env.isBlank())
            {
                return Path.of(env);
            }
            return defaultPlugin();
        }
    }

    /**
     * The command that runs {@code ferry} again: this JVM's java, its class path and {@link #FERRY_MAIN}.
     *
     * @return the command.
     */
    public static List<String> ferryCommand()
    {
        final String java = ProcessHandle.current().info().command().orElse(
            Path.of(System.getProperty("java.home"), "bin", "java").toString());
        final String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        final List<String> cmd = new ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED",
            "--sun-misc-unsafe-memory-access=allow", "-Xmx256m", "-XX:+UseSerialGC"));
        final String extra = System.getenv("FERRY_LAB_JAVA_OPTS");
        if (extra != null && !extra.isBlank())
        {
            cmd.addAll(List.of(extra.trim().split("\\s+")));
        }
        cmd.addAll(List.of("-cp", cp, FERRY_MAIN));
        return cmd;
    }

    /**
     * @return the CNI plugin's installer of this source tree ({@code cni/install.sh}, with its jar built), found
     *         above the class path's entries, or null.
     */
    public static Path defaultPlugin()
    {
        final String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path", ""));
        for (final String entry : cp.split(java.io.File.pathSeparator))
        {
            Path dir = Path.of(entry).toAbsolutePath().getParent();
            for (int up = 0; dir != null && up < 4; up++, dir = dir.getParent())
            {
                final Path installer = dir.resolve("cni/install.sh");
                if (Files.isExecutable(installer) && Files.exists(dir.resolve("cni/target/ferry-cni.jar")))
                {
                    return installer;
                }
            }
        }
        return null;
    }

    /** {@code ferry lab up}. */
    @Command(name = "up", mixinStandardHelpOptions = true, description = "Build the lab (removes an old one first).")
    static final class Up implements Callable<Integer>
    {
        @Mixin
        Common common;

        @Option(names = "--manifests", paramLabel = "FILE|DIR",
            description = "Services and EndpointSlices that replace the lab's own (web, udp-echo)")
        Path manifests;

        @Option(names = "--no-servers", description = "start no servers in the pods")
        boolean noServers;

        @Option(names = "--api-server", description = "serve the cluster from a stand-in API server (fabric8's mock, "
            + "in ferry-ext) whose Nodes have no flannel annotations, with ferry agent --api-server in each node: "
            + "the agents publish the annotations and push the tables")
        boolean apiServer;

        @Option(names = "--image", paramLabel = "ARCHIVE",
            description = "run each node's ferry node and ferry agent in this container image (the OCI archive of "
                + "deploy/image/build.sh) with podman, with the DaemonSet's capabilities")
        Path image;

        @Override
        public Integer call() throws IOException
        {
            if (apiServer && (common.kernelNode2 || image != null))
            {
                System.err.println("ferry lab up: --api-server needs two ferry nodes outside the image (not "
                    + "--kernel-node2, not --image)");
                return 2;
            }
            final Lab lab = common.lab(System.out, !noServers && manifests == null, manifests, image)
                .apiServer(apiServer);
            try
            {
                lab.up();
            }
            catch (final IllegalStateException e)
            {
                System.err.println("ferry lab up: " + e.getMessage());
                System.err.println("ferry lab up: the lab is left as it is for inspection; remove it with "
                    + "'ferry lab down" + ("ferry-".equals(common.prefix) ? "" : " --prefix " + common.prefix) + "'");
                return 1;
            }
            return 0;
        }
    }

    /** {@code ferry lab demo}. */
    @Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Build the lab if needed, narrate every path it exercises, and show the counters.")
    static final class Demo implements Callable<Integer>
    {
        @Mixin
        Common common;

        @Override
        public Integer call() throws IOException
        {
            final Lab lab = common.lab(System.out, true, null);
            if (!Lab.namespaces().contains(lab.spec().nodeNs("node1")))
            {
                lab.up();
            }
            final int failed = new LabChecks(lab).runAll(true, System.out).size();
            for (final LabSpec.Node n : lab.spec().nodes())
            {
                if (Files.exists(lab.socket(n.name())))
                {
                    System.out.println();
                    System.out.println("== ferry show stats (" + n.name() + ")");
                    lab.show(n.name(), "stats").forEach(l -> System.out.println("  " + l));
                }
            }
            System.out.println();
            System.out.println(failed == 0 ? "demo: every path works" : "demo: " + failed + " path(s) failed");
            return failed == 0 ? 0 : 1;
        }
    }

    /** {@code ferry lab verify}. */
    @Command(name = "verify", mixinStandardHelpOptions = true,
        description = "Run the demo's checks on the running lab; exit 1 when one fails.")
    static final class Verify implements Callable<Integer>
    {
        @Mixin
        Common common;

        @Override
        public Integer call() throws IOException
        {
            final Lab lab = common.lab(System.out, true, null);
            if (!Lab.namespaces().contains(lab.spec().nodeNs("node1")))
            {
                System.err.println("ferry lab verify: the lab is not up (ferry lab up)");
                return 2;
            }
            final int failed = new LabChecks(lab).runAll(false, System.out).size();
            System.out.println(failed == 0 ? "verify: ok" : "verify: " + failed + " check(s) failed");
            return failed == 0 ? 0 : 1;
        }
    }

    /** {@code ferry lab apply}. */
    @Command(name = "apply", mixinStandardHelpOptions = true,
        description = "Replace the Services of the running lab and push new tables to its nodes.")
    static final class Apply implements Callable<Integer>
    {
        @Mixin
        Common common;

        @Option(names = "--manifests", required = true, paramLabel = "FILE|DIR",
            description = "Services and EndpointSlices")
        Path manifests;

        @Override
        public Integer call() throws IOException
        {
            try
            {
                common.lab(System.out, false, manifests).apply(manifests);
            }
            catch (final IllegalStateException e)
            {
                System.err.println("ferry lab apply: " + e.getMessage());
                return 1;
            }
            return 0;
        }
    }

    /** {@code ferry lab soak}. */
    @Command(name = "soak", mixinStandardHelpOptions = true,
        description = "Build the lab if needed, then run legitimate traffic, Service churn and a hostile pod at once; "
            + "exit 1 when a legitimate flow failed or a node's buffers or heap grew (see SECURITY.md).")
    static final class Soak implements Callable<Integer>
    {
        @Mixin
        Common common;

        @Option(names = "--duration", paramLabel = "DURATION", defaultValue = "10m",
            converter = AgentCommand.DurationConverter.class, description = "how long the traffic runs "
                + "(default ${DEFAULT-VALUE})")
        Duration duration;

        @Option(names = "--churn-every", paramLabel = "DURATION", defaultValue = "3s",
            converter = AgentCommand.DurationConverter.class,
            description = "period of the Service churn pushed to the nodes (default ${DEFAULT-VALUE})")
        Duration churnEvery;

        @Option(names = "--hostile-rate", paramLabel = "N", defaultValue = "500",
            description = "frames per second the hostile pod p11 sends, 0 for none (default ${DEFAULT-VALUE})")
        int hostileRate;

        @Option(names = "--seed", paramLabel = "N", description = "the hostile frames' seed (default: random)")
        Long seed;

        @Override
        public Integer call() throws IOException, InterruptedException
        {
            if (duration.isNegative() || duration.isZero() || duration.compareTo(Duration.ofHours(24)) > 0
                || hostileRate < 0 || hostileRate > 100_000 || churnEvery.compareTo(Duration.ofMillis(100)) < 0)
            {
                System.err.println("ferry lab soak: --duration 1s..24h, --hostile-rate 0..100000, "
                    + "--churn-every at least 100ms");
                return 2;
            }
            final Lab lab = common.lab(System.out, true, null);
            if (!Lab.namespaces().contains(lab.spec().nodeNs("node1")))
            {
                lab.up();
            }
            final long s = seed != null ? seed : System.nanoTime();
            System.out.println("soak: " + duration.toSeconds() + " s, churn every " + churnEvery.toMillis()
                + " ms, hostile pod p11 at " + hostileRate + " frames/s (seed " + s + ")");
            return new LabSoak(lab, new LabSoak.Options(duration, churnEvery, hostileRate, s, System.out)).run().ok()
                ? 0 : 1;
        }
    }

    /** {@code ferry lab down}. */
    @Command(name = "down", mixinStandardHelpOptions = true,
        description = "Remove everything the lab made, by name (idempotent; works after a crash).")
    static final class Down implements Callable<Integer>
    {
        @Mixin
        Common common;

        @Override
        public Integer call() throws IOException
        {
            final List<String> removed = common.lab(System.out, false, null).down();
            removed.forEach(r -> System.out.println("removed " + r));
            System.out.println(removed.isEmpty() ? "lab: nothing to remove" : "lab: down");
            return 0;
        }
    }
}
