package dev.ferry.lab;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;

/**
 * The paths the lab exercises, each a bounded command with a sentence that says what it shows. {@code ferry
 * lab demo} narrates them, {@code ferry lab verify} fails when one fails, and the e2e tests call them one by
 * one.
 */
public final class LabChecks
{
    private static final long MS = 30_000;

    private final Lab lab;
    private final LabSpec spec;

    /**
     * The outcome of one check.
     *
     * @param name   short name ({@code ping-same-node}).
     * @param ok     whether the path works.
     * @param detail what was seen (command output, backends, client address).
     */
    public record Outcome(String name, boolean ok, String detail)
    {
    }

    /**
     * One check.
     *
     * @param name      short name.
     * @param narration what it shows, one sentence.
     * @param body      the check itself.
     */
    public record Check(String name, String narration, Body body)
    {
    }

    /** The body of a check. */
    @FunctionalInterface
    public interface Body
    {
        /**
         * @return the outcome.
         * @throws IOException when a file cannot be read.
         */
        Outcome run() throws IOException;
    }

    /**
     * @param lab the lab (up).
     */
    public LabChecks(final Lab lab)
    {
        this.lab = lab;
        this.spec = lab.spec();
    }

    /**
     * Runs every check, printing each outcome (as {@code ferry lab demo} and {@code verify} do).
     *
     * @param narrate whether to print each check's narration before it.
     * @param out     where to print.
     * @return the failed checks, each as its name and detail (empty when all passed).
     * @throws IOException when a check cannot run.
     */
    public List<String> runAll(final boolean narrate, final PrintStream out) throws IOException
    {
        final List<String> failed = new ArrayList<>();
        for (final Check c : all())
        {
            if (narrate)
            {
                out.println();
                out.println("== " + c.narration());
            }
            final Outcome o = c.body().run();
            out.println((o.ok() ? "  ok   " : "  FAIL ") + c.name() + ": " + o.detail());
            if (!o.ok())
            {
                failed.add(c.name() + ": " + o.detail());
            }
        }
        return failed;
    }

    /** @return every check, in the order demo narrates them. */
    public List<Check> all()
    {
        final LabSpec.Pod client = spec.pod("p11");
        final LabSpec.Pod same = spec.pod("p12");
        final LabSpec.Pod remote = spec.pod("p21");
        final List<Check> out = new ArrayList<>();
        out.add(new Check("ping-same-node", "ping pod p11 (" + client.ip() + ") -> pod p12 (" + same.ip()
            + "), both on node1: TAP to TAP inside one ferry node", () -> ping("ping-same-node", "p11", same.ip())));
        out.add(new Check("ping-cross-node", "ping pod p11 (" + client.ip() + ", node1) -> pod p21 (" + remote.ip()
            + ", node2): VXLAN VNI 1 over the underlay", () -> ping("ping-cross-node", "p11", remote.ip())));
        out.add(new Check("ping-cross-node-back", "ping pod p21 (node2) -> pod p11 (node1): the other direction",
            () -> ping("ping-cross-node-back", "p21", client.ip())));
        out.add(new Check("clusterip-node1", "curl http://" + LabSpec.WEB_VIP + "/ x20 from p11 on node1: DNAT to "
            + "both backends (random, like iptables statistic), replies un-DNATed from conntrack",
            () -> curlClusterIp("clusterip-node1", "p11", 20)));
        out.add(new Check("clusterip-node2", "curl http://" + LabSpec.WEB_VIP + "/ x20 from p21 on node2",
            () -> curlClusterIp("clusterip-node2", "p21", 20)));
        out.add(new Check("nodeport-from-ext", "curl http://" + spec.node1().ip() + ":" + LabSpec.WEB_NODEPORT
            + "/ from " + spec.extNs() + " (" + LabSpec.EXT_IP + "): NodePort, DNAT + masquerade", this::nodePort));
        out.add(new Check("pod-to-ext-masquerade", "curl http://" + LabSpec.EXT_IP + "/ from p11: the server in "
            + spec.extNs() + " sees node1's address " + spec.node1().ip() + " (masquerade)", this::masquerade));
        out.add(new Check("udp-echo-clusterip", "UDP to " + LabSpec.ECHO_VIP + ":" + LabSpec.ECHO_PORT
            + " from p11: request and answer through the ClusterIP (UDP echo on :" + LabSpec.ECHO_TARGET + ")",
            () -> udpEcho("udp-echo-clusterip", "p11")));
        return out;
    }

    /**
     * Pings an address from a pod (3 echoes, 1 s bound each).
     *
     * @param name check name.
     * @param pod  the pod.
     * @param dst  the address.
     * @return the outcome.
     */
    public Outcome ping(final String name, final String pod, final String dst)
    {
        final Shell.Result r = Shell.inNetns(MS, spec.podNs(pod), "ping", "-n", "-c", "3", "-i", "0.2", "-W", "2",
            dst);
        final String summary = r.out().lines().filter(l -> l.contains("packets transmitted")).findFirst()
            .orElse(r.err().strip());
        return new Outcome(name, r.ok(), summary);
    }

    /**
     * Fetches {@code /} from a URL once in a pod or the external host.
     *
     * @param ns  the namespace.
     * @param url the URL.
     * @return what curl left (exit 0 and the body on success).
     */
    public Shell.Result curl(final String ns, final String url)
    {
        return Shell.inNetns(MS, ns, "curl", "-sS", "--max-time", "5", "-H", "Connection: close", url);
    }

    /**
     * Fetches the web Service's ClusterIP several times from a pod and counts the answers by backend.
     *
     * @param name     check name.
     * @param pod      the client pod.
     * @param requests how many requests (one connection each).
     * @return the outcome: ok when every request got an answer and more than one backend answered.
     */
    public Outcome curlClusterIp(final String name, final String pod, final int requests)
    {
        final TreeMap<String, Integer> byBackend = new TreeMap<>();
        int failed = 0;
        String lastError = "";
        for (int i = 0; i < requests; i++)
        {
            final Shell.Result r = curl(spec.podNs(pod), "http://" + LabSpec.WEB_VIP + ":" + LabSpec.WEB_PORT + "/");
            if (r.ok())
            {
                byBackend.merge(r.out().strip(), 1, Integer::sum);
            }
            else
            {
                failed++;
                lastError = r.err().strip();
            }
        }
        final boolean ok = failed == 0 && byBackend.size() > 1;
        return new Outcome(name, ok, "answers by backend " + byBackend + (failed > 0 ? ", " + failed
            + " failed (" + lastError + ")" : ""));
    }

    private Outcome nodePort()
    {
        final Shell.Result r = curl(spec.extNs(), "http://" + spec.node1().ip() + ":" + LabSpec.WEB_NODEPORT + "/");
        return new Outcome("nodeport-from-ext", r.ok() && !r.out().isBlank(), r.ok() ? "answered by "
            + r.out().strip() : r.err().strip());
    }

    private Outcome masquerade() throws IOException
    {
        final Shell.Result r = curl(spec.podNs("p11"), "http://" + LabSpec.EXT_IP + "/");
        if (!r.ok())
        {
            return new Outcome("pod-to-ext-masquerade", false, r.err().strip());
        }
        final String seen = lastClientOfExt();
        return new Outcome("pod-to-ext-masquerade", spec.node1().ip().equals(seen), "the server in "
            + spec.extNs() + " logged client " + seen);
    }

    /**
     * @return the client address of the last request that the external host's web server logged.
     * @throws IOException when the log cannot be read.
     */
    public String lastClientOfExt() throws IOException
    {
        final var log = lab.state().file("logs/ext-http.log");
        if (!Files.exists(log))
        {
            return "(no log)";
        }
        final List<String> lines = Files.readAllLines(log).stream().filter(l -> l.contains("\"GET ")).toList();
        return lines.isEmpty() ? "(nothing logged)" : lines.getLast().split(" ", 2)[0];
    }

    /**
     * Sends one UDP datagram to the echo Service's ClusterIP from a pod and reads the answer.
     *
     * @param name check name.
     * @param pod  the client pod.
     * @return the outcome: ok when the same text came back.
     */
    public Outcome udpEcho(final String name, final String pod)
    {
        final String text = "ferry-lab-echo-" + pod;
        final Shell.Result r = Shell.run(List.of("ip", "netns", "exec", spec.podNs(pod), "socat", "-T", "3", "-",
            "UDP4:" + LabSpec.ECHO_VIP + ":" + LabSpec.ECHO_PORT), MS, text + "\n");
        final boolean ok = r.ok() && r.out().strip().equals(text);
        return new Outcome(name, ok, ok ? "echoed '" + text + "'" : "got '" + r.out().strip() + "' " + r.err().strip());
    }
}
