package dev.ferry.lab;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ferry.core.route.Ip4;
import dev.ferry.nodeapi.AttachRequest;
import dev.ferry.nodeapi.NodeApiClient;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The lab's pods, created as a runtime creates them: {@code ip netns add ferry-pod-NAME}, then the CNI
 * plugin's ADD (installed into the lab's own bin directory next to host-local) with the CNI environment and the
 * network configuration on stdin, run in the node's namespace; and the servers they run.
 */
final class LabPods
{
    /**
     * The pods' UDP echo server: one process, recvfrom then sendto, so every datagram is answered to its sender.
     * It replaced {@code socat UDP4-RECVFROM:7007,fork EXEC:/bin/cat}, whose forked children share the listening
     * socket: under the soak's hostile pod a child that never exits kept reading the socket and answered the
     * datagrams it took to the hostile sender, so legitimate echoes went unanswered after minutes (issue 13).
     */
    private static final String UDP_ECHO = """
        import socket, sys
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("0.0.0.0", int(sys.argv[1])))
        while True:
            data, peer = s.recvfrom(65535)
            try:
                s.sendto(data, peer)
            except OSError:
                pass
        """;

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long CMD_MS = 20_000;

    private final Lab lab;
    private final LabSpec spec;
    private final LabState state;
    private final Lab.Options options;

    LabPods(final Lab lab)
    {
        this.lab = lab;
        this.spec = lab.spec();
        this.state = lab.state();
        this.options = lab.options();
    }

    Path cniBin()
    {
        return state.file("cni/bin");
    }

    void installCni() throws IOException
    {
        if (options.cniPlugin() == null)
        {
            lab.say("lab: no CNI plugin given: pods are attached over the node API");
            return;
        }
        Files.createDirectories(cniBin());
        final Path plugin = cniBin().resolve("ferry");
        Files.deleteIfExists(plugin);
        if (options.cniPlugin().getFileName().toString().equals("install.sh"))
        {
            // the plugin's own installer, into the lab-local bin dir (no class-data archive: installs in a second)
            Shell.run(List.of(options.cniPlugin().toString(), "--none", cniBin().toString()), 60_000, null).check();
        }
        else
        {
            Files.createSymbolicLink(plugin, options.cniPlugin().toAbsolutePath());
        }
        for (final String dir : List.of("/usr/lib/cni", "/opt/cni/bin"))
        {
            final Path hostLocal = Path.of(dir, "host-local");
            if (Files.isExecutable(hostLocal))
            {
                final Path link = cniBin().resolve("host-local");
                Files.deleteIfExists(link);
                Files.createSymbolicLink(link, hostLocal);
                break;
            }
        }
        if (!Files.exists(cniBin().resolve("host-local")))
        {
            throw new IllegalStateException("the host-local IPAM plugin is not installed (apt-get install "
                + "containernetworking-plugins)");
        }
        lab.say("lab: CNI plugin installed in " + cniBin() + " (ferry -> " + options.cniPlugin() + ", host-local)");
    }

    private String netConf(final LabSpec.Node n)
    {
        return """
            {
              "cniVersion": "1.1.0",
              "name": "ferry-lab",
              "type": "ferry",
              "socket": "%s",
              "stateDir": "%s",
              "ipam": {
                "type": "host-local",
                "ranges": [[{"subnet": "%s", "gateway": "%s"}]],
                "routes": [{"dst": "0.0.0.0/0"}],
                "dataDir": "%s"
              }
            }
            """.formatted(lab.socket(n.name()), state.file("cni/state-" + n.name()), n.podCidr(), n.gateway(),
            state.file("cni/ipam-" + n.name()));
    }

    private static String containerId(final LabSpec.Pod p)
    {
        return "ferrylab-" + p.name();
    }

    /**
     * Without a CNI plugin the lab does the plugin's part itself: the node created the pod's TAP in its own
     * namespace, so it is moved into the pod's namespace, renamed eth0 and given the pod's MAC, MTU, address and
     * default route (ferry keeps the TAP's file descriptor across the move).
     */
    private void moveTap(final LabSpec.Node n, final String ns, final JsonNode a)
    {
        final String tap = a.path("tap").asText();
        final String prefixLen = n.podCidr().substring(n.podCidr().indexOf('/'));
        Shell.must("ip", "-n", spec.nodeNs(n.name()), "link", "set", tap, "netns", ns);
        Shell.must("ip", "-n", ns, "link", "set", tap, "name", "eth0");
        Shell.must("ip", "-n", ns, "link", "set", "eth0", "address", a.path("mac").asText(), "mtu",
            Integer.toString(a.path("mtu").asInt()));
        Shell.must("ip", "-n", ns, "addr", "add", a.path("ip").asText() + prefixLen, "dev", "eth0");
        Shell.must("ip", "-n", ns, "link", "set", "eth0", "up");
        Shell.must("ip", "-n", ns, "route", "add", "default", "via", a.path("gateway").asText(), "dev", "eth0");
    }

    void addPod(final LabSpec.Pod p) throws IOException
    {
        final String ns = spec.podNs(p.name());
        Shell.must("ip", "netns", "add", ns);
        Shell.must("ip", "-n", ns, "link", "set", "lo", "up");
        Lab.quietIpv6(ns);
        final LabSpec.Node n = spec.node(p.node());
        final String ip;
        if (options.cniPlugin() == null)
        {
            try (NodeApiClient c = NodeApiClient.connect(lab.socket(n.name())))
            {
                final JsonNode a = c.attach(new AttachRequest(containerId(p), "eth0",
                    "/var/run/netns/" + ns, "default", p.name(), Ip4.parse(p.ip()), -1));
                ip = a.path("ip").asText();
                moveTap(n, ns, a);
            }
        }
        else
        {
            final Shell.Result r = cni("ADD", p, n);
            if (!r.ok())
            {
                throw new IllegalStateException("CNI ADD for pod " + p.name() + " failed (exit " + r.exit() + "): "
                    + r.out().strip() + " " + r.err().strip());
            }
            final JsonNode res = JSON.readTree(r.out());
            ip = res.path("ips").path(0).path("address").asText().replaceFirst("/.*", "");
        }
        if (!p.ip().equals(ip))
        {
            throw new IllegalStateException("pod " + p.name() + " got " + ip + ", the lab expects " + p.ip()
                + " (is an old IPAM record left in " + state.file("cni") + "?)");
        }
        lab.say("lab: pod " + p.name() + " on " + p.node() + ": " + ns + " eth0 " + ip
            + (options.cniPlugin() == null ? " (attached over the API)" : " (CNI ADD)"));
    }

    Shell.Result cni(final String command, final LabSpec.Pod p, final LabSpec.Node n)
    {
        final Map<String, String> env = new HashMap<>();
        env.put("CNI_COMMAND", command);
        env.put("CNI_CONTAINERID", containerId(p));
        env.put("CNI_NETNS", "/var/run/netns/" + spec.podNs(p.name()));
        env.put("CNI_IFNAME", "eth0");
        env.put("CNI_PATH", cniBin().toString());
        env.put("CNI_ARGS", "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=" + p.name());
        // the runtime of that node runs the plugin: in the node's namespace
        final List<String> cmd = List.of("ip", "netns", "exec", spec.nodeNs(n.name()),
            cniBin().resolve("ferry").toString());
        return Shell.run(cmd, 60_000, netConf(n), env);
    }

    void startServers() throws IOException
    {
        for (final LabSpec.Pod p : spec.pods())
        {
            if (!p.server())
            {
                continue;
            }
            final Path www = state.file("www/" + p.name());
            Files.createDirectories(www);
            Files.writeString(www.resolve("index.html"), p.name() + "\n");
            lab.startIn(spec.podNs(p.name()), p.name() + "-http", List.of(python(), "-u", "-m", "http.server",
                String.valueOf(LabSpec.WEB_TARGET), "--bind", "0.0.0.0", "--directory", www.toString()));
            lab.startIn(spec.podNs(p.name()), p.name() + "-udp", List.of(python(), "-u", "-c", UDP_ECHO,
                String.valueOf(LabSpec.ECHO_TARGET)));
            lab.startIn(spec.podNs(p.name()), p.name() + "-iperf3", List.of("iperf3", "-s", "-p",
                String.valueOf(LabSpec.IPERF_PORT)));
        }
        final Path extWww = state.file("www/ext");
        Files.createDirectories(extWww);
        Files.writeString(extWww.resolve("index.html"), "ext\n");
        lab.startIn(spec.extNs(), "ext-http", List.of(python(), "-u", "-m", "http.server", "80", "--bind", "0.0.0.0",
            "--directory", extWww.toString()));
        for (final LabSpec.Pod p : spec.pods())
        {
            if (p.server())
            {
                waitListening(spec.podNs(p.name()), LabSpec.WEB_TARGET);
            }
        }
        waitListening(spec.extNs(), 80);
        lab.say("lab: servers: python3 http.server :8080 (answers the pod name), UDP echo :7007, iperf3 :5201 "
            + "in every server pod; python3 http.server :80 in " + spec.extNs() + " (its log shows the client "
            + "address)");
    }

    private static String python()
    {
        return Files.isExecutable(Path.of("/usr/bin/python3")) ? "/usr/bin/python3" : "python3";
    }

    private static void waitListening(final String ns, final int port)
    {
        final long deadline = System.currentTimeMillis() + 15_000;
        while (System.currentTimeMillis() < deadline)
        {
            final Shell.Result r = Shell.inNetns(CMD_MS, ns, "ss", "-Hltn", "sport = :" + port);
            if (r.ok() && !r.out().isBlank())
            {
                return;
            }
            LabState.sleep(100);
        }
        throw new IllegalStateException("nothing listens on port " + port + " in " + ns + " after 15 s");
    }
}
