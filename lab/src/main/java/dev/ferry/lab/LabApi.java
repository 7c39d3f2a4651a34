package dev.ferry.lab;

import dev.ferry.agent.NodeAnnotationPublisher;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

/**
 * The lab served by an API server: the stand-in ({@link LabApiServer}) runs in the external host's namespace on
 * the underlay router's address, so both nodes reach it over the lab's underlay (through their ferry nodes) and
 * nothing listens in the root namespace. Each node then gets {@code ferry agent --api-server} in its namespace,
 * which publishes the Node's flannel annotations and pushes the tables; this class waits until every Node carries
 * them and every ferry node routes to the other.
 */
final class LabApi
{
    /** The agents' kubeconfig in the state directory; its presence marks a lab served by the API server. */
    static final String KUBECONFIG = "kubeconfig";

    private static final long WAIT_MS = 90_000;
    private static final long CURL_MS = 5_000;

    private final Lab lab;
    private final LabSpec spec;
    private final List<String> started = new ArrayList<>();

    LabApi(final Lab lab)
    {
        this.lab = lab;
        this.spec = lab.spec();
    }

    /** @return the stand-in's URL, as the nodes reach it. */
    static String url()
    {
        return "https://" + LabSpec.EXT_ROUTER_IP + ":" + LabApiServer.PORT;
    }

    /**
     * Removes flannel's annotations from the lab's Nodes in a cluster directory (the nodes start from it, the
     * API server is loaded from it): only the agents may write them.
     *
     * @param cluster the directory.
     * @throws IOException when nodes.yaml cannot be rewritten.
     */
    static void stripFlannelAnnotations(final Path cluster) throws IOException
    {
        final Path nodes = cluster.resolve("nodes.yaml");
        final String kept = Files.readAllLines(nodes).stream()
            .filter(l -> !l.trim().startsWith(LabApiServer.FLANNEL_PREFIX))
            .collect(Collectors.joining("\n", "", "\n"));
        Files.writeString(nodes, kept);
    }

    /**
     * Starts the API server and the agents (PIDs recorded), then waits for the annotations and the routes.
     *
     * @throws IOException when a PID or file cannot be written.
     */
    void start() throws IOException
    {
        for (final String name : List.of("api-server", "node1-agent", "node2-agent"))
        {
            // the logs are appended to; a previous lab's lines would read as this one's
            Files.deleteIfExists(lab.state().file("logs/" + name + ".log"));
        }
        final List<String> server = new ArrayList<>(lab.options().ferry());
        server.addAll(List.of("lab", "api-server", "--listen", LabSpec.EXT_ROUTER_IP, "--manifests",
            lab.state().file("cluster").toString()));
        lab.startIn(spec.extNs(), "api-server", server);
        started.add("api-server");
        lab.say("lab: API server stand-in (fabric8 mock, CRUD) in " + spec.extNs() + " at " + url()
            + ", Nodes without flannel annotations");
        awaitNode(spec.extNs(), "node1", "\"Node\"", "the API server did not answer");
        final Path kubeconfig = lab.state().file(KUBECONFIG);
        Files.writeString(kubeconfig, """
            # written by ferry lab: the stand-in API server. Its certificate is the mock's self-signed one, made at
            # each start, so it is not verified; it listens only on the lab's underlay, and the token is not checked
            apiVersion: v1
            kind: Config
            clusters:
            - name: lab
              cluster:
                server: %s
                insecure-skip-tls-verify: true
            users:
            - name: ferry-agent
              user:
                token: lab
            contexts:
            - name: lab
              context:
                cluster: lab
                user: ferry-agent
            current-context: lab
            """.formatted(url()));
        for (final LabSpec.Node n : spec.nodes())
        {
            final List<String> agent = new ArrayList<>(lab.options().ferry());
            agent.addAll(List.of("agent", "--node", n.name(), "--api-server", url(), "--kubeconfig",
                kubeconfig.toString(), "--node-socket", lab.socket(n.name()).toString(), "--metrics-port", "-1",
                "--min-sync-period", "200ms"));
            final Process p = lab.startIn(spec.nodeNs(n.name()), n.name() + "-agent", agent);
            started.add(n.name() + "-agent");
            lab.say("lab: ferry agent " + n.name() + " --api-server " + url() + " in " + spec.nodeNs(n.name())
                + " (pid " + p.pid() + ")");
        }
        for (final LabSpec.Node n : spec.nodes())
        {
            awaitNode(spec.extNs(), n.name(), NodeAnnotationPublisher.PUBLIC_IP,
                "the agent did not publish " + n.name() + "'s annotations");
        }
        lab.say("lab: both agents published their Nodes' flannel annotations");
        for (final LabSpec.Node n : spec.nodes())
        {
            for (final LabSpec.Node other : spec.nodes())
            {
                if (!other.name().equals(n.name()))
                {
                    awaitRoute(n.name(), other.name());
                }
            }
        }
        lab.say("lab: each ferry node routes to the other (tables from the agents)");
    }

    private void awaitNode(final String ns, final String node, final String needle, final String failure)
    {
        final long deadline = System.currentTimeMillis() + WAIT_MS;
        String last = "";
        while (System.currentTimeMillis() < deadline)
        {
            final Shell.Result r = Shell.inNetns(CURL_MS, ns, "curl", "-sk", "--max-time", "2",
                url() + "/api/v1/nodes/" + node);
            last = r.out();
            if (r.ok() && last.contains(needle))
            {
                return;
            }
            checkRunning();
            LabState.sleep(300);
        }
        throw new IllegalStateException(failure + " within " + WAIT_MS / 1000 + " s (last answer: " + last
            + ")" + logs());
    }

    private void awaitRoute(final String node, final String to) throws IOException
    {
        final long deadline = System.currentTimeMillis() + WAIT_MS;
        while (System.currentTimeMillis() < deadline)
        {
            // the other node's pod CIDR gets a route only from a remote node, which needs its annotations
            final String cidr = spec.node(to).podCidr() + " ";
            if (lab.show(node, "routes").stream().anyMatch(l -> l.startsWith(cidr)))
            {
                return;
            }
            checkRunning();
            LabState.sleep(300);
        }
        throw new IllegalStateException("ferry node " + node + " got no route to " + to + " within "
            + WAIT_MS / 1000 + " s" + logs());
    }

    private void checkRunning()
    {
        for (final String name : started)
        {
            try
            {
                if (lab.state().running(name).isEmpty())
                {
                    throw new IllegalStateException(name + " exited" + logs());
                }
            }
            catch (final IOException e)
            {
                throw new IllegalStateException(e);
            }
        }
    }

    private String logs()
    {
        final StringBuilder sb = new StringBuilder();
        for (final String name : List.of("api-server", "node1-agent", "node2-agent"))
        {
            final Path log = lab.state().file("logs/" + name + ".log");
            try
            {
                final List<String> lines = Files.exists(log) ? Files.readAllLines(log) : List.of();
                sb.append("\n--- ").append(log).append(":\n")
                    .append(String.join("\n", lines.subList(Math.max(0, lines.size() - 15), lines.size())));
            }
            catch (final IOException e)
            {
                sb.append("\n--- ").append(log).append(": unreadable");
            }
        }
        return sb.toString();
    }
}
