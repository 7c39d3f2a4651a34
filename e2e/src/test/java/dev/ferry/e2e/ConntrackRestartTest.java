package dev.ferry.e2e;

import dev.ferry.lab.Lab;
import dev.ferry.lab.LabSpec;
import dev.ferry.lab.LabState;
import dev.ferry.lab.Shell;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 16, item 1: a long-lived TCP connection through a ClusterIP (p11 → web → p12 or p21) and one masqueraded
 * to ext (p11 → 203.0.113.2:9000, SNAT to node1's IP) survive {@code kill -9} of both nodes' ferry and a
 * restart: no reset, every byte echoed (SHA-256 of what was sent equals that of what came back), the same backend
 * and the same SNAT port (the servers accepted one connection each: any other backend or port would have answered
 * the next segment with a RST).
 */
@Tag("netns")
final class ConntrackRestartTest
{
    private static final int EXT_PORT = 9000;
    private static Lab lab;

    @BeforeAll
    static void up() throws IOException
    {
        lab = LabFixture.up(Lab.Node2.FERRY);
    }

    @BeforeEach
    void needsTheLab()
    {
        LabFixture.assumeRootAndTools();
    }

    @AfterAll
    static void down() throws IOException
    {
        if (lab != null)
        {
            for (final String name : List.of("ct-client-vip", "ct-client-ext", "ct-p12", "ct-p21", "ct-ext"))
            {
                lab.stop(name);
            }
        }
        LabFixture.down(lab);
    }

    @Test
    void shouldKeepConnectionsThroughKillAndRestartOfBothNodes() throws Exception
    {
        final LabSpec spec = lab.spec();
        // the lab's state directory outlives a run: start from empty logs of our own
        for (final String name : List.of("ct-client-vip", "ct-client-ext", "ct-p12", "ct-p21", "ct-ext"))
        {
            Files.deleteIfExists(lab.state().file("logs/" + name + ".log"));
        }
        final Path server = script("echo_server.py");
        final Path client = script("echo_client.py");
        // the web backends' servers become echo servers on the same target port
        for (final String pod : List.of("p12", "p21"))
        {
            lab.stop(pod + "-http");
            lab.startIn(spec.podNs(pod), "ct-" + pod, List.of("python3", "-u", server.toString(), pod,
                String.valueOf(LabSpec.WEB_TARGET)));
        }
        lab.startIn(spec.extNs(), "ct-ext", List.of("python3", "-u", server.toString(), "ext",
            String.valueOf(EXT_PORT)));
        awaitLog("ct-p12", "listening");
        awaitLog("ct-p21", "listening");
        awaitLog("ct-ext", "listening");
        final Path stop = lab.state().file("ct-stop");
        Files.deleteIfExists(stop);
        lab.startIn(spec.podNs("p11"), "ct-client-vip", List.of("python3", "-u", client.toString(),
            LabSpec.WEB_VIP, String.valueOf(LabSpec.WEB_PORT), stop.toString()));
        lab.startIn(spec.podNs("p11"), "ct-client-ext", List.of("python3", "-u", client.toString(),
            LabSpec.EXT_IP, String.valueOf(EXT_PORT), stop.toString()));
        awaitLog("ct-client-vip", "echoed 40");
        awaitLog("ct-client-ext", "echoed 40");

        for (final String node : List.of("node1", "node2"))
        {
            final LabState.Started s = lab.state().running(node).orElseThrow();
            assertThat(Shell.run("kill", "-9", Long.toString(s.pid())).exit()).as("kill -9 " + node).isZero();
        }
        for (final String node : List.of("node1", "node2"))
        {
            awaitGone(node);
        }
        final int vipBefore = echoed("ct-client-vip");
        final int extBefore = echoed("ct-client-ext");
        final long node1LogBefore = Files.size(lab.state().file("node1.log"));
        for (final String node : List.of("node1", "node2"))
        {
            lab.startNode(node);
        }
        for (final String node : List.of("node1", "node2"))
        {
            lab.waitForApi(node);
        }
        // both connections carry on: 40 more echoed chunks each after the restart
        awaitLog("ct-client-vip", "echoed " + (vipBefore + 40));
        awaitLog("ct-client-ext", "echoed " + (extBefore + 40));
        Files.writeString(stop, "stop\n");
        awaitLog("ct-client-vip", "OK ");
        awaitLog("ct-client-ext", "OK ");

        assertThat(log("ct-client-vip")).doesNotContain("ERROR");
        assertThat(log("ct-client-ext")).doesNotContain("ERROR");
        final long accepted = count("ct-p12", "accepted") + count("ct-p21", "accepted");
        assertThat(accepted).as("one connection to one backend, never a second").isEqualTo(1);
        final List<String> ext = lines("ct-ext").stream().filter(l -> l.startsWith("accepted")).toList();
        assertThat(ext).as("ext saw one connection, from node1's IP (masquerade)").hasSize(1);
        assertThat(ext.getFirst()).startsWith("accepted ext " + spec.node1().ip() + " ");
        final String restartLog = Files.readString(lab.state().file("node1.log")).substring((int)node1LogBefore);
        // one line per conntrack shard: one with one worker, one per worker with several (each worker restores its
        // own file, and the ownership secret, kept beside them, brings each flow back to the worker holding it)
        final Matcher restored = Pattern.compile("restored: (\\d+) flows mapped back \\(after a crash, every entry"
            + " validated\\)").matcher(restartLog);
        int flows = 0;
        int shards = 0;
        while (restored.find())
        {
            flows += Integer.parseInt(restored.group(1));
            shards++;
        }
        assertThat(shards).as("a restore line per conntrack shard (the node's worker count)").isPositive();
        assertThat(flows).as("node1 mapped its two flows back").isEqualTo(2);
    }

    private static Path script(final String name) throws IOException
    {
        final Path p = lab.state().file(name);
        try (InputStream in = ConntrackRestartTest.class.getResourceAsStream(name))
        {
            Files.write(p, in.readAllBytes());
        }
        return p;
    }

    private static List<String> lines(final String record) throws IOException
    {
        final Path p = lab.state().file("logs/" + record + ".log");
        return Files.exists(p) ? Files.readAllLines(p) : List.of();
    }

    private static String log(final String record) throws IOException
    {
        return String.join("\n", lines(record));
    }

    private static long count(final String record, final String prefix) throws IOException
    {
        return lines(record).stream().filter(l -> l.startsWith(prefix)).count();
    }

    private static int echoed(final String record) throws IOException
    {
        return lines(record).stream().filter(l -> l.startsWith("echoed ")).mapToInt(l -> Integer.parseInt(
            l.substring(7).trim())).max().orElse(0);
    }

    private static void awaitLog(final String record, final String text) throws Exception
    {
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
        while (System.nanoTime() < deadline)
        {
            final String l = log(record);
            if (l.contains(text))
            {
                return;
            }
            if (l.contains("ERROR"))
            {
                break;
            }
            Thread.sleep(100);
        }
        throw new AssertionError(record + " never logged '" + text + "':\n" + log(record));
    }

    private static void awaitGone(final String node) throws Exception
    {
        final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (System.nanoTime() < deadline && lab.state().running(node).isPresent())
        {
            Thread.sleep(50);
        }
        assertThat(lab.state().running(node)).as(node + " killed").isEmpty();
    }
}
