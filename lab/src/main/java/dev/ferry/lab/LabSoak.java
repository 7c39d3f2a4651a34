package dev.ferry.lab;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code ferry lab soak}: legitimate traffic, agent churn and a hostile pod at once, for a bounded time (issue 13).
 *
 * <ul>
 *   <li>legitimate clients, in a loop: curl to the web ClusterIP from p21 (node2), curl to the NodePort from the
 *       external host, ping p21 to p12 across the nodes, UDP to the echo ClusterIP from p21, and a 2 s iperf3 from
 *       p21 to p12 every tenth round; each counts as attempted, and failed when it fails;</li>
 *   <li>churn, every {@link Options#churnEvery()}: the web Service scales between two backends and one, and a
 *       Service {@code soak-churn} comes and goes with a new ClusterIP, pushed to both nodes over their API as the
 *       agent does; after a push that added it, a curl to it counts as a legitimate flow too;</li>
 *   <li>the hostile pod p11 (node1) sends {@link HostileFrames} from a raw socket on its eth0 (python3), paced.</li>
 * </ul>
 *
 * <p>At the start, middle and end it samples each ferry node: packet buffers in use (from {@code show stats}), heap
 * used after a full GC ({@code jcmd}), and RSS. It fails when a legitimate flow failed, a node exited, the buffers in
 * use did not come back to within {@link #POOL_SLACK} of the start once traffic stopped, or the heap after GC grew by
 * more than {@link #HEAP_SLACK_BYTES}; also when the churn or the hostile sender itself broke (reported apart from
 * the legitimate flows).
 */
public final class LabSoak
{
    /** Buffers in use at the end may exceed the start's by this much (frames in flight, the fragment cache). */
    public static final int POOL_SLACK = 64;
    /** The heap after a full GC at the end may exceed the start's by this much. */
    public static final long HEAP_SLACK_BYTES = 32L << 20;

    private static final long MS = 20_000;
    private static final String HOSTILE_POD = "p11";
    private static final String CLIENT_POD = "p21";
    private static final String CHURN_SERVICE = "soak-churn";
    private static final int FRAMES_PER_BATCH = 2_000;
    private static final Pattern BUFFERS = Pattern.compile("buffers: (\\d+) of (\\d+) in use, (\\d+) allocation");
    /** The heap's spaces in {@code GC.heap_info} ("DefNew total 78656K, used 0K", "Tenured ..."), any collector. */
    private static final Pattern HEAP_USED = Pattern.compile("(?m)^\\s*\\w[\\w -]*?\\s+total \\d+K, used (\\d+)K");
    private static final Pattern DROP_ROW = Pattern.compile("^\\s*(\\d+)\\s");
    private static final Pattern RSS = Pattern.compile("VmRSS:\\s+(\\d+) kB");
    private static final String SENDER = """
        import socket, struct, sys, time
        path, rate = sys.argv[1], float(sys.argv[2])
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        s.bind(("eth0", 0))
        data = open(path, "rb").read()
        i = sent = refused = 0
        t0 = time.monotonic()
        while i < len(data):
            n = struct.unpack(">H", data[i:i + 2])[0]
            frame = data[i + 2:i + 2 + n]
            i += 2 + n
            try:
                s.send(frame)
                sent += 1
            except OSError:
                refused += 1
            wait = t0 + (sent + refused) / rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        print(sent, refused)
        """;

    /**
     * How to soak.
     *
     * @param duration    how long the traffic runs.
     * @param churnEvery  the period of the churn.
     * @param hostileRate hostile frames per second (0: no hostile pod).
     * @param seed        the hostile generator's seed.
     * @param out         where to report.
     */
    public record Options(Duration duration, Duration churnEvery, int hostileRate, long seed, PrintStream out)
    {
    }

    /**
     * One sample of a node.
     *
     * @param node        the node.
     * @param buffersUsed packet buffers in use.
     * @param buffers     the pool's capacity.
     * @param allocFails  allocation failures so far.
     * @param drops       frames dropped so far, every reason (the hostile pod's frames among them).
     * @param heapUsed    heap used after a full GC, bytes (-1: unknown).
     * @param rss         resident set size, bytes (-1: unknown).
     */
    public record Sample(String node, long buffersUsed, long buffers, long allocFails, long drops, long heapUsed,
        long rss)
    {
        String line()
        {
            return String.format(Locale.ROOT, "%-6s buffers %d/%d in use, %d allocation failures, %d drops, heap "
                + "after GC %s, rss %s", node, buffersUsed, buffers, allocFails, drops, mib(heapUsed), mib(rss));
        }

        private static String mib(final long bytes)
        {
            return bytes < 0 ? "?" : String.format(Locale.ROOT, "%.1f MiB", bytes / 1048576.0);
        }
    }

    /**
     * The soak's outcome.
     *
     * @param attempted legitimate flows attempted.
     * @param failed    legitimate flows that failed.
     * @param failures  the first failures, described.
     * @param hostile   hostile frames sent.
     * @param pushes    churn pushes.
     * @param samples   start, middle and end samples, per node.
     * @param problems  why the soak failed (empty: it passed).
     */
    public record Result(long attempted, long failed, List<String> failures, long hostile, long pushes,
        List<List<Sample>> samples, List<String> problems)
    {
        /** @return whether the soak passed. */
        public boolean ok()
        {
            return problems.isEmpty();
        }
    }

    private final Lab lab;
    private final LabSpec spec;
    private final LabChecks checks;
    private final Options options;
    private final AtomicLong attempted = new AtomicLong();
    private final AtomicLong failed = new AtomicLong();
    private final AtomicLong hostile = new AtomicLong();
    private final AtomicLong pushes = new AtomicLong();
    private final List<String> failures = new ArrayList<>();
    private volatile long startNanos;
    private volatile RuntimeException churnError;
    private volatile String hostileError;

    /**
     * @param lab     the lab (up, with its servers).
     * @param options how to soak.
     */
    public LabSoak(final Lab lab, final Options options)
    {
        this.lab = lab;
        this.spec = lab.spec();
        this.checks = new LabChecks(lab);
        this.options = options;
    }

    /**
     * Runs the soak; the lab stays up.
     *
     * @return the outcome.
     * @throws IOException when the state cannot be read.
     * @throws InterruptedException when interrupted.
     */
    public Result run() throws IOException, InterruptedException
    {
        final PrintStream out = options.out();
        final List<String> nodes = ferryNodes();
        final List<List<Sample>> samples = new ArrayList<>();
        samples.add(sample(nodes));
        report(out, "start", samples.getLast());

        startNanos = System.nanoTime();
        final long end = startNanos + options.duration().toNanos();
        final Thread clients = Thread.ofPlatform().name("soak-clients").start(() -> clients(end));
        final Thread churn = Thread.ofPlatform().name("soak-churn").start(() -> churn(end));
        final Thread attacker = options.hostileRate() > 0
            ? Thread.ofPlatform().name("soak-hostile").start(() -> hostile(end)) : null;

        final long middle = System.nanoTime() + options.duration().toNanos() / 2;
        while (System.nanoTime() < middle && clients.isAlive())
        {
            Thread.sleep(Math.max(1, Math.min(1000, (middle - System.nanoTime()) / 1_000_000)));
        }
        samples.add(sample(nodes));
        report(out, "middle", samples.getLast());

        clients.join();
        churn.join();
        if (attacker != null)
        {
            attacker.join();
        }

        final List<String> problems = new ArrayList<>();
        // the pool drains once the traffic has stopped: wait for that, bounded, instead of a fixed sleep
        final long drainDeadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        List<Sample> last = sample(nodes);
        while (System.nanoTime() < drainDeadline && !drained(samples.getFirst(), last))
        {
            Thread.sleep(250);
            last = sample(nodes);
        }
        samples.add(last);
        report(out, "end", last);

        if (failed.get() > 0)
        {
            problems.add(failed.get() + " of " + attempted.get() + " legitimate flows failed");
        }
        if (churnError != null)
        {
            problems.add("churn failed: " + churnError.getMessage());
        }
        if (hostileError != null)
        {
            problems.add("the hostile pod stopped sending: " + hostileError);
        }
        for (final String n : nodes)
        {
            if (lab.state().running(n).isEmpty())
            {
                problems.add("ferry node " + n + " is no longer running");
            }
        }
        for (int i = 0; i < nodes.size(); i++)
        {
            final Sample a = samples.getFirst().get(i);
            final Sample z = last.get(i);
            if (z.buffersUsed() > a.buffersUsed() + POOL_SLACK)
            {
                problems.add(z.node() + ": " + z.buffersUsed() + " buffers in use at the end, " + a.buffersUsed()
                    + " at the start (bound +" + POOL_SLACK + ")");
            }
            if (a.heapUsed() < 0 || z.heapUsed() < 0)
            {
                problems.add(z.node() + ": the heap was not sampled (jcmd GC.heap_info next to the java that runs "
                    + "the node)");
            }
            else if (z.heapUsed() > a.heapUsed() + HEAP_SLACK_BYTES)
            {
                problems.add(z.node() + ": heap after GC grew from " + a.heapUsed() + " to " + z.heapUsed()
                    + " bytes (bound +" + HEAP_SLACK_BYTES + ")");
            }
        }
        final Result r;
        synchronized (failures)
        {
            r = new Result(attempted.get(), failed.get(), List.copyOf(failures), hostile.get(), pushes.get(),
                samples, problems);
        }
        out.printf(Locale.ROOT, "soak: legitimate flows %d attempted, %d failed; %d churn pushes; %d hostile frames "
            + "sent%n", r.attempted(), r.failed(), r.pushes(), r.hostile());
        r.failures().forEach(f -> out.println("  failed: " + f));
        r.problems().forEach(p -> out.println("  FAIL " + p));
        out.println(r.ok() ? "soak: ok" : "soak: FAILED");
        return r;
    }

    private static boolean drained(final List<Sample> start, final List<Sample> now)
    {
        for (int i = 0; i < start.size(); i++)
        {
            if (now.get(i).buffersUsed() > start.get(i).buffersUsed() + POOL_SLACK)
            {
                return false;
            }
        }
        return true;
    }

    private static void report(final PrintStream out, final String when, final List<Sample> samples)
    {
        for (final Sample s : samples)
        {
            out.println("soak " + when + ": " + s.line());
        }
    }

    private List<String> ferryNodes()
    {
        final List<String> out = new ArrayList<>();
        for (final LabSpec.Node n : spec.nodes())
        {
            if (Files.exists(lab.socket(n.name())))
            {
                out.add(n.name());
            }
        }
        return out;
    }

    // ------------------------------------------------------------------------------------------ traffic

    private void clients(final long end)
    {
        final String client = spec.podNs(CLIENT_POD);
        final String server = spec.pod("p12").ip();
        for (int round = 0; System.nanoTime() < end; round++)
        {
            flow("curl clusterIP from " + CLIENT_POD, () -> checks.curl(client, "http://" + LabSpec.WEB_VIP + ":"
                + LabSpec.WEB_PORT + "/"));
            flow("curl NodePort from ext", () -> checks.curl(spec.extNs(), "http://" + spec.node1().ip() + ":"
                + LabSpec.WEB_NODEPORT + "/"));
            flow("ping " + CLIENT_POD + " -> p12", () -> Shell.inNetns(MS, client, "ping", "-n", "-c", "1", "-W", "2",
                server));
            final String text = "soak-" + round;
            flow("udp echo clusterIP from " + CLIENT_POD, () ->
            {
                final Shell.Result r = Shell.run(List.of("ip", "netns", "exec", client, "socat", "-T", "3", "-",
                    "UDP4:" + LabSpec.ECHO_VIP + ":" + LabSpec.ECHO_PORT), MS, text + "\n");
                return r.ok() && !r.out().strip().equals(text)
                    ? new Shell.Result(r.command(), 1, r.out(), "echo answered '" + r.out().strip() + "'", r.millis())
                    : r;
            });
            if (round % 10 == 0)
            {
                flow("iperf3 " + CLIENT_POD + " -> p12 (2 s, 20 Mbit/s)", () -> Shell.inNetns(MS, client, "iperf3",
                    "-c", server, "-p", String.valueOf(LabSpec.IPERF_PORT), "-t", "2", "-b", "20M", "--connect-timeout",
                    "3000"));
            }
        }
    }

    private void flow(final String what, final Supplier<Shell.Result> body)
    {
        attempted.incrementAndGet();
        final Shell.Result r = body.get();
        if (!r.ok())
        {
            failed.incrementAndGet();
            synchronized (failures)
            {
                if (failures.size() < 20)
                {
                    // when it failed: a failure that comes only late in a run points at state that builds up
                    failures.add(String.format(Locale.ROOT, "at %d s, %s: exit %d %s",
                        (System.nanoTime() - startNanos) / 1_000_000_000L, what, r.exit(),
                        r.err().strip().lines().findFirst().orElse("")));
                }
            }
        }
    }

    private void churn(final long end)
    {
        final Path extra = lab.state().file("cluster/extra-soak-churn.yaml");
        try
        {
            for (int step = 0; System.nanoTime() < end; step++)
            {
                sleepUntil(Math.min(end, System.nanoTime() + options.churnEvery().toNanos()));
                if (System.nanoTime() >= end)
                {
                    break;
                }
                final String ip = "10.96.1." + (1 + step % 200);
                final boolean churnServicePresent = step % 2 == 0;
                if (churnServicePresent)
                {
                    Files.writeString(extra, churnService(ip));
                }
                else
                {
                    Files.deleteIfExists(extra);
                }
                final List<String> web = step % 4 < 2 ? List.of("p12", "p21") : List.of("p12");
                lab.setBackends(web, LabManifests.servers(spec));
                pushes.incrementAndGet();
                if (churnServicePresent)
                {
                    flow("curl " + CHURN_SERVICE + " " + ip + " after its push", () -> checks.curl(
                        spec.podNs(CLIENT_POD), "http://" + ip + "/"));
                }
            }
            Files.deleteIfExists(extra);
            lab.setBackends(LabManifests.servers(spec), LabManifests.servers(spec));
        }
        catch (final IOException | RuntimeException e)
        {
            churnError = e instanceof RuntimeException re ? re : new IllegalStateException(e.getMessage(), e);
        }
    }

    private String churnService(final String ip)
    {
        final LabSpec.Pod backend = spec.pod("p12");
        return """
            # ferry lab soak: a Service that comes and goes
            apiVersion: v1
            kind: Service
            metadata: {name: %1$s, namespace: default}
            spec:
              type: ClusterIP
              clusterIP: %2$s
              clusterIPs: [%2$s]
              ports: [{name: http, port: 80, protocol: TCP, targetPort: %3$d}]
            ---
            apiVersion: discovery.k8s.io/v1
            kind: EndpointSlice
            metadata: {name: %1$s-1, namespace: default, labels: {kubernetes.io/service-name: %1$s}}
            addressType: IPv4
            ports: [{name: http, port: %3$d, protocol: TCP}]
            endpoints: [{addresses: [%4$s], conditions: {ready: true}, nodeName: %5$s}]
            """.formatted(CHURN_SERVICE, ip, LabSpec.WEB_TARGET, backend.ip(), backend.node());
    }

    private void hostile(final long end)
    {
        final HostileFrames gen = new HostileFrames(spec, spec.pod(HOSTILE_POD), options.seed());
        final Path batch = lab.state().file("soak-hostile.bin");
        try
        {
            while (System.nanoTime() < end)
            {
                final ByteArrayOutputStream b = new ByteArrayOutputStream();
                final long left = (end - System.nanoTime()) / 1_000_000L;
                final int count = (int)Math.max(1, Math.min(FRAMES_PER_BATCH, left * options.hostileRate() / 1000));
                for (final byte[] f : gen.next(count))
                {
                    b.write(f.length >>> 8);
                    b.write(f.length);
                    b.write(f);
                }
                Files.write(batch, b.toByteArray());
                final Shell.Result r = Shell.run(List.of("ip", "netns", "exec", spec.podNs(HOSTILE_POD), python(),
                    "-c", SENDER, batch.toString(), String.valueOf(options.hostileRate())),
                    MS + 1000L * count / options.hostileRate(), null);
                final String[] counts = r.out().strip().split(" ");
                if (!r.ok() || counts.length != 2)
                {
                    throw new IllegalStateException("the hostile sender failed: " + r.err().strip());
                }
                hostile.addAndGet(Long.parseLong(counts[0]));
            }
        }
        catch (final IOException | RuntimeException e)
        {
            // a problem of the soak itself, not a legitimate flow: it fails the soak without touching their count
            hostileError = e.getMessage();
        }
        finally
        {
            try
            {
                Files.deleteIfExists(batch);
            }
            catch (final IOException ignored)
            {
                // the state directory goes with ferry lab down
            }
        }
    }

    private static String python()
    {
        return Files.isExecutable(Path.of("/usr/bin/python3")) ? "/usr/bin/python3" : "python3";
    }

    private static void sleepUntil(final long nanos)
    {
        long left;
        while ((left = nanos - System.nanoTime()) > 0)
        {
            LabState.sleep(Math.max(1, Math.min(500, left / 1_000_000)));
        }
    }

    // ------------------------------------------------------------------------------------------ samples

    private List<Sample> sample(final List<String> nodes) throws IOException
    {
        final List<Sample> out = new ArrayList<>();
        for (final String n : nodes)
        {
            long used = -1;
            long capacity = -1;
            long fails = -1;
            long drops = 0;
            boolean dropTable = false;
            for (final String l : lab.show(n, "stats"))
            {
                // the drop table: a "Count Node Reason" header, one row per reason, a blank line
                dropTable = dropTable ? !l.isBlank() : l.strip().startsWith("Count ");
                final Matcher d = DROP_ROW.matcher(l);
                if (dropTable && d.find())
                {
                    drops += Long.parseLong(d.group(1));
                }
                final Matcher m = BUFFERS.matcher(l);
                if (m.find())
                {
                    used = Long.parseLong(m.group(1));
                    capacity = Long.parseLong(m.group(2));
                    fails = Long.parseLong(m.group(3));
                }
            }
            final Optional<LabState.Started> s = lab.state().running(n);
            out.add(new Sample(n, used, capacity, fails, drops, s.map(p -> heapAfterGc(p.pid())).orElse(-1L),
                s.map(p -> rss(p.pid())).orElse(-1L)));
        }
        return out;
    }

    private long heapAfterGc(final long pid)
    {
        final String jcmd = Path.of(lab.options().ferry().getFirst()).resolveSibling("jcmd").toString();
        if (!Shell.run(List.of(jcmd, String.valueOf(pid), "GC.run"), MS, null).ok())
        {
            return -1;
        }
        final Shell.Result r = Shell.run(List.of(jcmd, String.valueOf(pid), "GC.heap_info"), MS, null);
        final Matcher m = HEAP_USED.matcher(r.out());
        long used = 0;
        boolean any = false;
        while (m.find())
        {
            used += Long.parseLong(m.group(1)) * 1024;
            any = true;
        }
        return any ? used : -1;
    }

    private static long rss(final long pid)
    {
        try
        {
            final Matcher m = RSS.matcher(Files.readString(Path.of("/proc", String.valueOf(pid), "status")));
            return m.find() ? Long.parseLong(m.group(1)) * 1024 : -1;
        }
        catch (final IOException e)
        {
            return -1;
        }
    }
}
