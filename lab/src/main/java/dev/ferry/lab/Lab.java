package dev.ferry.lab;

import com.fasterxml.jackson.databind.JsonNode;
import dev.ferry.agent.ClusterState;
import dev.ferry.agent.ManifestLoader;
import dev.ferry.agent.NodeTablesCompiler;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.nodeapi.NodeApiClient;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The two-node lab: builds it ({@link #up()}), changes its Services ({@link #apply(Path)},
 * {@link #setBackends(List, List)}), and removes it ({@link #down()}).
 *
 * <p>{@code up} creates the namespaces and the underlay (links only inside the lab's namespaces, never in
 * the root namespace), writes the manifests that each node loads at start, starts {@code ferry node} in each
 * node namespace (PIDs recorded), waits for the API, creates the pods as a runtime does ({@code ip netns
 * add}, then the CNI plugin's ADD with the CNI environment and the network configuration on stdin), and
 * starts the servers in the pods. Node 2 can instead be a Linux kernel flannel-style node ({@link Node2}).
 *
 * <p>{@code down} stops the recorded PIDs, then deletes the lab's namespaces by name. It is idempotent and
 * works after a crash, since every PID is recorded before the next step.
 */
public final class Lab
{
    private static final long API_WAIT_MS = 90_000;
    private static final long CMD_MS = 20_000;

    /** What runs node 2. */
    public enum Node2
    {
        /** A ferry node. */
        FERRY,
        /** A Linux kernel flannel-style node: vxlan device, static FDB and neighbours, cni0 bridge, veths. */
        KERNEL
    }

    /**
     * How to build the lab.
     *
     * @param spec      names and addresses.
     * @param stateDir  state directory (PIDs, configs, logs).
     * @param ferry     the command that runs {@code ferry} (e.g. {@code java -cp ... dev.ferry.cli.Ferry}).
     * @param cniPlugin the CNI plugin executable ({@code ferry}), or null to attach pods over the node API.
     * @param node2     what runs node 2.
     * @param servers   whether to start the pods' servers (http 8080, UDP echo 7007, iperf3 5201).
     * @param manifests a directory or file of Services and EndpointSlices replacing the lab's own, or null.
     * @param log       where to narrate.
     * @param image     the container image's OCI archive: each ferry node's {@code ferry node} and {@code ferry
     *                  agent} then run in it with podman ({@link LabImage}); null runs {@code ferry} directly.
     */
    public record Options(LabSpec spec, Path stateDir, List<String> ferry, Path cniPlugin, Node2 node2,
        boolean servers, Path manifests, PrintStream log, Path image)
    {
        /**
         * Copies the command.
         *
         * @param spec      names and addresses.
         * @param stateDir  state directory.
         * @param ferry     ferry command.
         * @param cniPlugin CNI plugin or null.
         * @param node2     node 2 kind.
         * @param servers   start servers.
         * @param manifests extra manifests or null.
         * @param log       narration.
         * @param image     image archive or null.
         */
        public Options
        {
            ferry = List.copyOf(ferry);
        }

        /**
         * Options without an image: {@code ferry} runs directly in the node namespaces.
         *
         * @param spec      names and addresses.
         * @param stateDir  state directory.
         * @param ferry     ferry command.
         * @param cniPlugin CNI plugin or null.
         * @param node2     node 2 kind.
         * @param servers   start servers.
         * @param manifests extra manifests or null.
         * @param log       narration.
         */
        public Options(final LabSpec spec, final Path stateDir, final List<String> ferry, final Path cniPlugin,
            final Node2 node2, final boolean servers, final Path manifests, final PrintStream log)
        {
            this(spec, stateDir, ferry, cniPlugin, node2, servers, manifests, log, null);
        }

        /**
         * @param kind what runs node 2.
         * @return a copy.
         */
        public Options withNode2(final Node2 kind)
        {
            return new Options(spec, stateDir, ferry, cniPlugin, kind, servers, manifests, log, image);
        }
    }

    private final Options options;
    private final LabSpec spec;
    private final LabState state;
    private long generation;
    private boolean apiServer;
    private LabImage image;

    /**
     * @param options how to build the lab.
     */
    public Lab(final Options options)
    {
        this.options = options;
        this.spec = options.spec();
        this.state = new LabState(options.stateDir());
    }

    /** @return the spec. */
    public LabSpec spec()
    {
        return spec;
    }

    /** @return the state directory. */
    public LabState state()
    {
        return state;
    }

    /**
     * Makes {@link #up()} serve the cluster from a stand-in API server without flannel's Node annotations, with an
     * agent per node in API mode that publishes them ({@link LabApi}).
     *
     * @param on whether to.
     * @return this lab.
     */
    public Lab apiServer(final boolean on)
    {
        this.apiServer = on;
        return this;
    }

    /** @return the options. */
    public Options options()
    {
        return options;
    }

    void say(final String line)
    {
        if (options.log() != null)
        {
            options.log().println(line);
        }
    }

    // ------------------------------------------------------------------------------------------------ up

    /**
     * Builds the lab from scratch (it first removes what a previous lab left).
     *
     * @throws IOException when a file cannot be written.
     * @throws IllegalStateException when a step fails; the lab is left for {@link #down()}.
     */
    public void up() throws IOException
    {
        down();
        state.rotateLogs();
        Files.createDirectories(state.dir());
        if (options.image() != null)
        {
            image = LabImage.load(options.image());
            say("lab: image " + options.image() + " (podman image " + image.imageId().substring(0, 12) + "): "
                + "ferry node and ferry agent run in it, in the node namespaces");
        }
        say("lab: namespaces " + spec.nodeNs("node1") + ", " + spec.nodeNs("node2") + ", " + spec.extNs());
        underlay();
        final Path cluster = state.file("cluster");
        LabManifests.write(spec, cluster, LabManifests.servers(spec), LabManifests.servers(spec));
        if (options.manifests() != null)
        {
            overlayManifests(options.manifests(), cluster);
        }
        if (apiServer)
        {
            LabApi.stripFlannelAnnotations(cluster);
        }
        generation = 1;
        startNode("node1");
        if (options.node2() == Node2.FERRY)
        {
            startNode("node2");
        }
        else
        {
            KernelNode.build(spec);
            say("lab: node2 is a Linux kernel flannel-style node (vxlan VNI 1, static FDB and neighbours, cni0)");
        }
        waitForApi("node1");
        if (options.node2() == Node2.FERRY)
        {
            waitForApi("node2");
        }
        if (image != null)
        {
            for (final LabSpec.Node n : spec.nodes())
            {
                if ("node1".equals(n.name()) || options.node2() == Node2.FERRY)
                {
                    startAgent(n.name());
                }
            }
        }
        if (apiServer)
        {
            new LabApi(this).start();
        }
        final LabPods pods = new LabPods(this);
        pods.installCni();
        for (final LabSpec.Pod p : spec.pods())
        {
            if (options.node2() == Node2.KERNEL && "node2".equals(p.node()))
            {
                KernelNode.addPod(spec, p);
            }
            else
            {
                pods.addPod(p);
            }
        }
        if (options.servers())
        {
            pods.startServers();
        }
        say("lab: up (" + options.node2().name().toLowerCase(java.util.Locale.ROOT) + " node2, packet mode); "
            + "state in " + state.dir());
    }

    private void underlay()
    {
        final String n1 = spec.nodeNs("node1");
        final String n2 = spec.nodeNs("node2");
        final String ext = spec.extNs();
        final String l = spec.linkPrefix();
        for (final String ns : List.of(n1, n2, ext))
        {
            Shell.must("ip", "netns", "add", ns);
            Shell.must("ip", "-n", ns, "link", "set", "lo", "up");
            quietIpv6(ns);
        }
        // underlay: one veth between the nodes, created with both ends already inside their namespaces
        Shell.must("ip", "link", "add", l + "n1", "netns", n1, "type", "veth", "peer", "name", l + "n2", "netns", n2);
        // the external host hangs off node1
        Shell.must("ip", "link", "add", l + "x1", "netns", n1, "type", "veth", "peer", "name", l + "ext", "netns",
            ext);
        // node1's uplink is a bridge over both, so one AF_PACKET port reaches node2 and the external host
        Shell.must("ip", "-n", n1, "link", "add", l + "br1", "address", spec.node1().mac(), "type", "bridge",
            "forward_delay", "0", "stp_state", "0");
        for (final String dev : List.of(l + "n1", l + "x1"))
        {
            Shell.must("ip", "-n", n1, "link", "set", dev, "master", l + "br1");
            Shell.must("ip", "-n", n1, "link", "set", dev, "up");
        }
        Shell.must("ip", "-n", n1, "link", "set", l + "br1", "up");
        Shell.must("ip", "-n", n2, "link", "set", l + "n2", "address", spec.node2().mac());
        Shell.must("ip", "-n", n2, "link", "set", l + "n2", "up");
        Shell.must("ip", "-n", ext, "link", "set", l + "ext", "address", LabSpec.EXT_MAC);
        Shell.must("ip", "-n", ext, "addr", "add", LabSpec.EXT_IP + "/24", "dev", l + "ext");
        // the external host is also the underlay's router (node1's default gateway), reached through node1
        Shell.must("ip", "-n", ext, "addr", "add", LabSpec.EXT_ROUTER_IP + "/24", "dev", l + "ext");
        Shell.must("ip", "-n", ext, "link", "set", l + "ext", "up");
        Shell.must("ip", "-n", ext, "route", "add", "default", "via", LabSpec.EXT_GATEWAY);
        say("lab: underlay " + LabSpec.UNDERLAY_CIDR + ": node1 " + l + "br1 (" + l + "n1 + " + l + "x1) "
            + spec.node1().ip() + " <-> node2 " + l + "n2 " + spec.node2().ip() + "; ext " + LabSpec.EXT_IP
            + " (router " + LabSpec.EXT_ROUTER_IP + ") via " + LabSpec.EXT_GATEWAY);
    }

    static void quietIpv6(final String ns)
    {
        // no router solicitations or MLD reports on the lab's links: the counters then show only the lab's traffic
        Shell.inNetns(CMD_MS, ns, "sh", "-c", "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; "
            + "echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6");
    }

    private void overlayManifests(final Path extra, final Path cluster) throws IOException
    {
        // the caller's Services replace the lab's own
        Files.deleteIfExists(cluster.resolve("services.yaml"));
        Files.deleteIfExists(cluster.resolve("endpointslices.yaml"));
        if (Files.isDirectory(extra))
        {
            try (var files = Files.list(extra))
            {
                for (final Path f : files.toList())
                {
                    Files.copy(f, cluster.resolve("extra-" + f.getFileName()));
                }
            }
        }
        else
        {
            Files.copy(extra, cluster.resolve("extra-" + extra.getFileName()));
        }
    }

    /**
     * Compiles each ferry node's tables from a cluster directory.
     *
     * @param cluster the manifests.
     * @param gen     the generation to give them.
     * @return the tables by node name.
     * @throws IOException when the manifests cannot be read.
     */
    Map<String, NodeTables> compile(final Path cluster, final long gen) throws IOException
    {
        final List<String> notes = new ArrayList<>();
        final ClusterState cs = ManifestLoader.load(cluster, notes::add);
        final Map<String, NodeTables> out = new LinkedHashMap<>();
        for (final LabSpec.Node n : spec.nodes())
        {
            out.put(n.name(), NodeTablesCompiler.compile(cs, n.name(), gen));
        }
        return out;
    }

    /**
     * @param node a node name.
     * @return its API socket.
     */
    public Path socket(final String node)
    {
        return state.file(node + "/ferry.sock");
    }

    /**
     * The nodes' forwarding threads: {@code FERRY_LAB_WORKERS} in the environment (the lab benchmark's knob), or
     * {@code -Dferry.test.workers} (the e2e tests run once more with 2); unset, the node's default (its CPUs minus
     * one).
     *
     * @return the {@code workers:} line of node.yaml, or "".
     */
    static String workersLine()
    {
        final String value = System.getProperty("ferry.test.workers", System.getenv("FERRY_LAB_WORKERS"));
        if (value == null || value.isBlank())
        {
            return "";
        }
        try
        {
            return "workers: " + Integer.parseInt(value.trim()) + "\n";
        }
        catch (final NumberFormatException e)
        {
            throw new IllegalArgumentException("FERRY_LAB_WORKERS / ferry.test.workers: '" + value
                + "' is not a whole number", e);
        }
    }

    /**
     * The nodes' busy-poll window: {@code FERRY_LAB_BUSY_POLL_MICROS} in the environment (the lab benchmark's A/B
     * knob); unset, the node's default.
     *
     * @return the {@code busyPollMicros:} line of node.yaml, or "".
     */
    static String busyPollLine()
    {
        final String value = System.getenv("FERRY_LAB_BUSY_POLL_MICROS");
        if (value == null || value.isBlank())
        {
            return "";
        }
        try
        {
            return "busyPollMicros: " + Long.parseLong(value.trim()) + "\n";
        }
        catch (final NumberFormatException e)
        {
            throw new IllegalArgumentException("FERRY_LAB_BUSY_POLL_MICROS: '" + value + "' is not a whole number", e);
        }
    }

    private Path nodeConfig(final String node) throws IOException
    {
        final LabSpec.Node n = spec.node(node);
        final Path dir = state.file(node);
        Files.createDirectories(dir);
        final Path yaml = dir.resolve("node.yaml");
        // in the image, the node sees its state directory at /run/ferry and the manifests at /etc/ferry/cluster
        final String socket = image == null ? socket(node).toString() : LabImage.RUN_FERRY + "/ferry.sock";
        final String cluster = image == null ? state.file("cluster").toString() : LabImage.CLUSTER_DIR;
        Files.writeString(yaml, """
            # written by ferry lab
            nodeName: %s
            apiSocket: %s
            clusterDir: %s
            uplink: %s
            underlay: packet
            threading: dedicated
            poolSize: 8192
            podTapPrefix: tap
            hostTap: ferry0
            seed: %d
            """.formatted(n.name(), socket, cluster, n.uplink(), "node1".equals(node) ? 1 : 2) + workersLine()
            + busyPollLine());
        return yaml;
    }

    /**
     * Starts {@code ferry node} in a node's namespace and records its PID.
     *
     * @param node the node name.
     * @throws IOException when the configuration cannot be written.
     */
    public void startNode(final String node) throws IOException
    {
        final Path yaml = nodeConfig(node);
        keepKernelOffUplink(node);
        if (image != null)
        {
            final String dev = spec.node(node).uplink();
            // NET_ADMIN: TAPs, ip addr/route, tc, ethtool; NET_RAW: the AF_PACKET socket; /dev/net/tun for the TAPs
            // (the DaemonSet mounts it). SYS_ADMIN and the host's /run/netns (rslave: pods created later appear
            // too): a restarted node re-opens the TAPs the CNI plugin moved into pod namespaces with setns. The
            // image's /proc/sys is read-only, so the uplink's sysctls come from podman (set in the shared
            // namespace before ferry starts; keepKernelOffUplink has set them too).
            startContainer(node, node, "node", List.of("NET_ADMIN", "NET_RAW", "SYS_ADMIN"), List.of("--device",
                "/dev/net/tun", "-v", LabImage.NETNS_DIR + ":" + LabImage.NETNS_DIR + ":ro,rslave",
                "--sysctl", "net.ipv4.conf." + dev + ".rp_filter=1", "--sysctl", "net.ipv4.conf." + dev
                    + ".arp_ignore=8"), List.of("node", "--config", LabImage.RUN_FERRY + "/node.yaml"));
            return;
        }
        final List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", spec.nodeNs(node)));
        cmd.addAll(options.ferry());
        cmd.addAll(List.of("node", "--config", yaml.toString()));
        final Process p = Shell.start(cmd, state.file(node + ".log"), Map.of());
        state.record(p.pid(), node);
        say("lab: ferry node " + node + " started in " + spec.nodeNs(node) + " (pid " + p.pid() + ", log "
            + state.file(node + ".log") + ")");
    }

    /**
     * Starts {@code ferry agent} for a node in the image, watching the lab's manifests and pushing to the node's
     * socket, with no capability (as in the DaemonSet); then waits until its first push is applied.
     */
    private void startAgent(final String node) throws IOException
    {
        final long before = generationOf(node);
        final String name = "agent-" + node;
        startContainer(node, name, "agent", List.of(), List.of(), List.of("agent", "--node", node, "--manifests",
            LabImage.CLUSTER_DIR, "--node-socket", LabImage.RUN_FERRY + "/ferry.sock", "--min-sync-period", "500ms"));
        final long deadline = System.currentTimeMillis() + API_WAIT_MS;
        while (generationOf(node) <= before)
        {
            if (state.running(name).isEmpty() || System.currentTimeMillis() > deadline)
            {
                throw new IllegalStateException("ferry agent of " + node + " pushed no tables to generation "
                    + before + "; its log says:\n" + tail(name));
            }
            LabState.sleep(200);
        }
        say("lab: ferry agent of " + node + " pushed generation " + generationOf(node));
    }

    /** @return the generation the node applied last, or -1 when it does not answer. */
    private long generationOf(final String node)
    {
        try (NodeApiClient c = NodeApiClient.connect(socket(node)))
        {
            return c.health().path("generation").asLong();
        }
        catch (final IOException e)
        {
            return -1;
        }
    }

    /** Runs one container of a node ({@link LabImage#run}); the container's name is recorded before it starts. */
    private void startContainer(final String node, final String record, final String what, final List<String> caps,
        final List<String> extra, final List<String> args) throws IOException
    {
        final String name = LabImage.containerName(spec, node, what);
        // a container of that name left by a crash would refuse the new one
        LabImage.remove(name);
        state.recordContainer(name);
        final List<String> cmd = image.run(name, spec.nodeNs(node), caps, extra, state.file(node),
            state.file("cluster"), args);
        final Process p = Shell.start(cmd, state.file(record + ".log"), Map.of());
        state.record(p.pid(), record);
        say("lab: " + what + " of " + node + " started in container " + name + " (image, " + spec.nodeNs(node)
            + ", capabilities " + (caps.isEmpty() ? "none" : String.join(",", caps)) + "; podman pid " + p.pid()
            + ", log " + state.file(record + ".log") + ")");
    }

    private void keepKernelOffUplink(final String node)
    {
        // ferry takes the uplink's frames through AF_PACKET, and the node's own addresses sit on ferry0, so the
        // node's kernel would answer them too (RSTs, port unreachables). ferry node drops the kernel's copy with a
        // tc matchall filter, which needs cls_matchall and act_gact; where the kernel has neither, strict reverse
        // path filtering (no route points out of the uplink) and arp_ignore 8 keep the kernel out just the same.
        final String dev = spec.node(node).uplink();
        Shell.inNetns(CMD_MS, spec.nodeNs(node), "sh", "-c", "echo 1 > /proc/sys/net/ipv4/conf/" + dev
            + "/rp_filter; echo 8 > /proc/sys/net/ipv4/conf/" + dev + "/arp_ignore").check();
    }

    /**
     * Stops a node's {@code ferry node} (SIGTERM, by its recorded PID).
     *
     * @param node the node name.
     * @return whether it was running.
     * @throws IOException when the state cannot be read.
     */
    public boolean stopNode(final String node) throws IOException
    {
        final Optional<LabState.Started> s = state.running(node);
        return s.isPresent() && LabState.stop(s.get());
    }

    /**
     * Waits until a node answers on its API socket.
     *
     * @param node the node name.
     * @return the health answer.
     */
    public JsonNode waitForApi(final String node)
    {
        final long deadline = System.currentTimeMillis() + API_WAIT_MS;
        IOException last = null;
        while (System.currentTimeMillis() < deadline)
        {
            final Optional<LabState.Started> running;
            try
            {
                running = state.running(node);
            }
            catch (final IOException e)
            {
                throw new IllegalStateException(e);
            }
            if (running.isEmpty())
            {
                throw new IllegalStateException("ferry node " + node + " exited; its log says:\n" + tail(node));
            }
            if (Files.exists(socket(node)))
            {
                try (NodeApiClient c = NodeApiClient.connect(socket(node)))
                {
                    final JsonNode h = c.health();
                    say("lab: " + node + " answers: generation " + h.path("generation").asLong() + ", "
                        + h.path("ports").asInt() + " ports");
                    return h;
                }
                catch (final IOException e)
                {
                    last = e;
                }
            }
            LabState.sleep(200);
        }
        throw new IllegalStateException("ferry node " + node + " did not answer on " + socket(node) + " within "
            + API_WAIT_MS / 1000 + " s" + (last == null ? "" : " (" + last.getMessage() + ")") + "; log:\n"
            + tail(node));
    }

    private String tail(final String node)
    {
        try
        {
            final List<String> lines = Files.readAllLines(state.file(node + ".log"));
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 20), lines.size()));
        }
        catch (final IOException e)
        {
            return "(no log)";
        }
    }

    /**
     * Starts a process in a namespace and records its PID.
     *
     * @param ns      the namespace.
     * @param name    the record name (also the log file name).
     * @param command the command.
     * @return the process.
     * @throws IOException when the PID cannot be recorded.
     */
    public Process startIn(final String ns, final String name, final List<String> command) throws IOException
    {
        final List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", ns));
        cmd.addAll(command);
        Files.createDirectories(state.file("logs"));
        final Process p = Shell.start(cmd, state.file("logs/" + name + ".log"), Map.of());
        state.record(p.pid(), name);
        return p;
    }

    /**
     * Stops a recorded process by name.
     *
     * @param name the record name ({@code p21-http}).
     * @return whether it was running.
     * @throws IOException when the state cannot be read.
     */
    public boolean stop(final String name) throws IOException
    {
        final Optional<LabState.Started> s = state.running(name);
        return s.isPresent() && LabState.stop(s.get());
    }

    // ------------------------------------------------------------------------------------------- changes

    /**
     * Sets the backends of the lab's Services and pushes new tables to the ferry nodes.
     *
     * @param web  pods behind {@code web} (empty: no endpoints).
     * @param echo pods behind {@code udp-echo}.
     * @throws IOException when the push fails.
     */
    public void setBackends(final List<String> web, final List<String> echo) throws IOException
    {
        refuseWhenServedByApi();
        final Path cluster = state.file("cluster");
        LabManifests.write(spec, cluster, web, echo);
        push(cluster);
    }

    /**
     * Replaces the Services with those of a file or directory and pushes new tables.
     *
     * @param manifests Services and EndpointSlices.
     * @throws IOException when the push fails.
     */
    public void apply(final Path manifests) throws IOException
    {
        refuseWhenServedByApi();
        final Path cluster = state.file("cluster");
        LabManifests.write(spec, cluster, LabManifests.servers(spec), LabManifests.servers(spec));
        try (var files = Files.list(cluster))
        {
            for (final Path f : files.toList())
            {
                if (f.getFileName().toString().startsWith("extra-"))
                {
                    Files.delete(f);
                }
            }
        }
        overlayManifests(manifests, cluster);
        push(cluster);
    }

    private void refuseWhenServedByApi()
    {
        if (Files.exists(state.file(LabApi.KUBECONFIG)))
        {
            // the agents own the tables there, and the directory has no flannel annotations: a push from it
            // would drop the remote routes
            throw new IllegalStateException("this lab is served by an API server (up --api-server): its agents "
                + "push the tables; change the objects in the API server instead");
        }
    }

    private void push(final Path cluster) throws IOException
    {
        final long gen = Math.max(generation, currentGeneration()) + 1;
        final Map<String, NodeTables> tables = compile(cluster, gen);
        for (final Map.Entry<String, NodeTables> e : tables.entrySet())
        {
            if (!Files.exists(socket(e.getKey())))
            {
                continue;
            }
            try (NodeApiClient c = NodeApiClient.connect(socket(e.getKey())))
            {
                c.push(gen, e.getValue());
            }
        }
        generation = gen;
        say("lab: pushed generation " + gen);
    }

    private long currentGeneration()
    {
        long g = 0;
        for (final LabSpec.Node n : spec.nodes())
        {
            // a node that does not answer (-1) is not running: its generation does not matter
            g = Math.max(g, generationOf(n.name()));
        }
        return g;
    }

    /**
     * Runs a {@code show} query on a node.
     *
     * @param node the node.
     * @param what the query.
     * @return the lines.
     * @throws IOException when the node does not answer.
     */
    public List<String> show(final String node, final String what) throws IOException
    {
        try (NodeApiClient c = NodeApiClient.connect(socket(node)))
        {
            return c.show(what);
        }
    }

    // ---------------------------------------------------------------------------------------------- down

    /**
     * Removes everything the lab made, by name: stops the recorded PIDs, runs CNI DEL where a node still
     * answers, deletes the lab's namespaces and any {@code fl-*} link left in this namespace, and the IPAM
     * records. Idempotent.
     *
     * @return what it removed, one line each.
     * @throws IOException when the state directory cannot be read.
     */
    public List<String> down() throws IOException
    {
        final List<String> removed = new ArrayList<>();
        final LabPods pods = new LabPods(this);
        if (options.cniPlugin() != null && Files.isDirectory(pods.cniBin()))
        {
            for (final LabSpec.Pod p : spec.pods())
            {
                final LabSpec.Node n = spec.node(p.node());
                if (Files.exists(socket(n.name())) && nsExists(spec.podNs(p.name())))
                {
                    pods.cni("DEL", p, n);
                }
            }
        }
        for (final String name : state.stopAll())
        {
            removed.add("process " + name);
        }
        for (final String name : state.containers())
        {
            if (LabImage.remove(name))
            {
                removed.add("container " + name);
            }
        }
        state.forgetContainers();
        for (final String ns : namespaces())
        {
            if (spec.owns(ns))
            {
                final Shell.Result r = Shell.run("ip", "netns", "delete", ns);
                if (r.ok())
                {
                    removed.add("namespace " + ns);
                }
            }
        }
        final Shell.Result links = Shell.run("ip", "-o", "link", "show");
        for (final String line : links.out().split("\n"))
        {
            final String[] f = line.split(":\\s+", 3);
            if (f.length >= 2)
            {
                final String name = f[1].replaceFirst("@.*", "");
                if (name.startsWith(spec.linkPrefix()))
                {
                    Shell.run("ip", "link", "delete", name);
                    removed.add("link " + name);
                }
            }
        }
        for (final String sub : List.of("cni", "cluster", "www", LabApi.KUBECONFIG))
        {
            deleteTree(state.file(sub));
        }
        for (final LabSpec.Node n : spec.nodes())
        {
            // the API socket and the node's record of attached pods
            deleteTree(state.file(n.name()));
        }
        return removed;
    }

    /** @return the names of every network namespace on this machine. */
    public static List<String> namespaces()
    {
        final List<String> out = new ArrayList<>();
        for (final String line : Shell.run("ip", "netns", "list").out().split("\n"))
        {
            final String name = line.trim().split(" ")[0];
            if (!name.isEmpty())
            {
                out.add(name);
            }
        }
        return out;
    }

    private static boolean nsExists(final String ns)
    {
        return Files.exists(Path.of("/var/run/netns", ns));
    }

    private static void deleteTree(final Path p) throws IOException
    {
        if (!Files.exists(p, java.nio.file.LinkOption.NOFOLLOW_LINKS))
        {
            return;
        }
        if (Files.isDirectory(p, java.nio.file.LinkOption.NOFOLLOW_LINKS))
        {
            try (var s = Files.list(p))
            {
                for (final Path c : s.toList())
                {
                    deleteTree(c);
                }
            }
        }
        Files.delete(p);
    }
}
