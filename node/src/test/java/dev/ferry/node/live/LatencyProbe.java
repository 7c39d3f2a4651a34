package dev.ferry.node.live;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A diagnostic, not a test (issue #11): the {@link LatencyTest} topology, warmed the same way, with tcpdump on
 * pod 1's TAP, both uplinks and pod 2's TAP while pings run, so that {@code benchmarks/lab/latency-hops.py} can
 * split each round trip into hops. Its name keeps it out of {@code mvn verify} (a diagnostic must not run, nor
 * skip, in CI); run it by name, as root: {@code mvn -o -pl node -am verify -Dtest=LatencyProbe
 * -Dsurefire.failIfNoSpecifiedTests=false}. Options: {@code ferry.probe.out}
 * (captures, default /tmp/ferry-probe), {@code ferry.probe.count} (50), {@code ferry.probe.interval} (0.2),
 * {@code ferry.probe.jvm} (extra node JVM options), {@code ferry.probe.sched} ({@code perf sched record}),
 * {@code ferry.probe.trace} ({@code perf trace} of node 1), {@code ferry.probe.nice} (renice every
 * thread of both nodes), {@code ferry.probe.batches} (instead of the captures: that many batches of
 * {@code ferry.probe.count} pings (30), each a new flow, with the frames each node handed between workers; see
 * {@link #handoffBatches}). Hold {@code /tmp/ferry-netns.lock} while it runs.
 */
@Tag("netns")
class LatencyProbe
{
    @TempDir
    Path dir;

    @BeforeEach
    void topology()
    {
        TwoNodes.packetTopology(LatencyTest.NODES, LatencyTest.PODS, LatencyTest.UPLINKS);
    }

    @AfterEach
    void cleanUp()
    {
        TwoNodes.deleteTopology(LatencyTest.NODES, LatencyTest.PODS);
    }

    @Test
    void probe() throws Exception
    {
        final NodeProcess[] nodes = new NodeProcess[2];
        final List<Process> dumps = new ArrayList<>();
        try
        {
            for (int i = 0; i < 2; i++)
            {
                nodes[i] = TwoNodes.startPacketNodeWithPod(dir, i + 1, LatencyTest.NODES[i], LatencyTest.UPLINKS[i],
                    LatencyTest.PODS[i]);
            }
            final String nice = System.getProperty("ferry.probe.nice");
            if (nice != null)
            {
                // every thread of both node JVMs (renice -p on a PID changes only its main thread)
                for (final NodeProcess p : nodes)
                {
                    try (var tasks = Files.list(Path.of("/proc/" + p.pid() + "/task")))
                    {
                        for (final Path t : tasks.toList())
                        {
                            Netns.must("renice", "-n", nice, "-p", t.getFileName().toString());
                        }
                    }
                }
            }
            Netns.ping(LatencyTest.PODS[0], TwoNodes.podIp(2, 2), 5);
            Netns.run(Netns.inNs(LatencyTest.PODS[0], "ping", "-n", "-q", "-c", "3000", "-i", "0.001", "-W", "1",
                TwoNodes.podIp(2, 2)));
            final int batches = Integer.getInteger("ferry.probe.batches", 0);
            if (batches > 0)
            {
                handoffBatches(nodes, batches, Integer.getInteger("ferry.probe.count", 30));
                return;
            }
            final String out = System.getProperty("ferry.probe.out", "/tmp/ferry-probe");
            Files.createDirectories(Path.of(out));
            final String[][] where = {
                {LatencyTest.PODS[0], "eth0", "p1"}, {LatencyTest.NODES[0], LatencyTest.UPLINKS[0], "u1"},
                {LatencyTest.NODES[1], LatencyTest.UPLINKS[1], "u2"}, {LatencyTest.PODS[1], "eth0", "p2"}};
            for (final String[] w : where)
            {
                dumps.add(new ProcessBuilder(Netns.inNs(w[0], "tcpdump", "-n", "-s", "200", "-i", w[1], "-w",
                    out + "/" + w[2] + ".pcap")).redirectErrorStream(true).redirectOutput(
                    Path.of(out, w[2] + ".log").toFile()).start());
            }
            if (Boolean.getBoolean("ferry.probe.sched"))
            {
                dumps.add(new ProcessBuilder("perf", "sched", "record", "-a", "-o", out + "/sched.data")
                    .redirectErrorStream(true).redirectOutput(Path.of(out, "perf.log").toFile()).start());
            }
            if (Boolean.getBoolean("ferry.probe.trace"))
            {
                dumps.add(new ProcessBuilder("perf", "trace", "-e", "epoll_wait,sendmmsg,read,write", "-p",
                    Long.toString(nodes[0].pid()), "-o", out + "/trace.txt").redirectErrorStream(true)
                    .redirectOutput(Path.of(out, "trace.log").toFile()).start());
            }
            Thread.sleep(1500);
            final String interval = System.getProperty("ferry.probe.interval", "0.2");
            final String count = System.getProperty("ferry.probe.count", "50");
            final long[] cpu = {LatencyTest.cpuTicks(nodes[0].pid()), LatencyTest.cpuTicks(nodes[1].pid())};
            final long t0 = System.nanoTime();
            final Netns.Result r = Netns.run(Netns.inNs(LatencyTest.PODS[0], "ping", "-n", "-q", "-c", count, "-i",
                interval, "-W", "1", TwoNodes.podIp(2, 2)));
            final double seconds = (System.nanoTime() - t0) / 1e9;
            // what the busy-poll window costs while the pings run: each node JVM's CPU, percent of one core
            System.out.printf("PROBE cpu during the pings: node 1 %.1f %%, node 2 %.1f %% of a core over %.1f s%n",
                100.0 * (LatencyTest.cpuTicks(nodes[0].pid()) - cpu[0]) / LatencyTest.ticksPerSecond() / seconds,
                100.0 * (LatencyTest.cpuTicks(nodes[1].pid()) - cpu[1]) / LatencyTest.ticksPerSecond() / seconds,
                seconds);
            System.out.println("PROBE " + r.out());
            Thread.sleep(500);
            for (final Process p : dumps)
            {
                if (p.info().command().orElse("").endsWith("perf"))
                {
                    Runtime.getRuntime().exec(new String[] {"kill", "-INT", Long.toString(p.pid())}).waitFor();
                }
                else
                {
                    p.destroy();
                }
                p.waitFor();
            }
            dumps.clear();
            Files.copy(dir.resolve("node1/node.log"), Path.of(out, "node1.log"));
        }
        finally
        {
            for (final Process p : dumps)
            {
                p.destroy();
            }
            for (final NodeProcess p : nodes)
            {
                if (p != null)
                {
                    p.close();
                }
            }
        }
    }

    /**
     * Issue 17's question (does a hand-off per node cost the round trip?): batches of pings 0.2 s apart, each from
     * a new ping process, so a new ICMP identifier, so a new flow whose owner on each node is drawn afresh. Per
     * batch: the median and, per node, how many of the flow's frames crossed a ring (those that ran
     * {@code worker-handoff} on a worker other than the one that ran their {@code nat44-in}).
     */
    private static void handoffBatches(final NodeProcess[] nodes, final int batches, final int count)
        throws Exception
    {
        for (int b = 0; b < batches; b++)
        {
            final List<Map<String, long[]>> before = runtimes(nodes);
            final Netns.Result r = Netns.ping(LatencyTest.PODS[0], TwoNodes.podIp(2, 2), count);
            final List<Map<String, long[]>> after = runtimes(nodes);
            final StringBuilder handed = new StringBuilder();
            for (int n = 0; n < nodes.length; n++)
            {
                long crossed = 0;
                for (final Map.Entry<String, long[]> w : after.get(n).entrySet())
                {
                    final long[] was = before.get(n).getOrDefault(w.getKey(), new long[2]);
                    crossed += Math.max(0, (w.getValue()[0] - was[0]) - (w.getValue()[1] - was[1]));
                }
                handed.append(" node ").append(n + 1).append(' ').append(crossed);
            }
            final List<Double> rtts = LatencyTest.rtts(r.out());
            System.out.printf("PROBE batch %d: %d pings, median %.3f ms; frames handed over:%s%n", b, rtts.size(),
                rtts.isEmpty() ? -1.0 : LatencyTest.median(rtts), handed);
        }
    }

    /** Per node, per worker ({@code Thread N} of {@code show runtime}): vectors of worker-handoff and nat44-in. */
    private static List<Map<String, long[]>> runtimes(final NodeProcess[] nodes) throws Exception
    {
        final List<Map<String, long[]>> all = new ArrayList<>();
        for (final NodeProcess p : nodes)
        {
            final Map<String, long[]> m = new HashMap<>();
            try (var c = p.client())
            {
                String worker = null;
                for (final String line : c.show("runtime"))
                {
                    final String[] f = line.trim().split("\\s+");
                    if (f[0].equals("Thread") || f[0].equals("Total"))
                    {
                        worker = f[0].equals("Thread") ? f[1] : null;
                    }
                    else if (worker != null && f.length == 5 && (f[0].equals("worker-handoff")
                        || f[0].equals("nat44-in")))
                    {
                        m.computeIfAbsent(worker, k -> new long[2])[f[0].equals("worker-handoff") ? 0 : 1] =
                            Long.parseLong(f[2]);
                    }
                }
            }
            all.add(m);
        }
        return all;
    }
}
