package dev.ferry.node.live;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Packet mode's watchdog (issue 16, item 2): {@code ferry node} runs under {@code deploy/ferry-supervise}; when the
 * node JVM is killed with SIGKILL, the supervisor gives the NIC back to the kernel (tc clsact removed, the node IP
 * back on the NIC, ferry0's address and routes gone), so the node answers on its underlay IP within 5 s; then it
 * starts ferry again, which takes the NIC again and answers through ferry0.
 */
@Tag("netns")
class CrashRecoveryTest
{
    private static final String NODE = "ferry-cr-node";
    private static final String EXT = "ferry-cr-ext";
    private static final String NIC = "fn-cr-up";
    private static final String EXT_IP = "192.168.77.100";

    @TempDir
    Path dir;

    @BeforeEach
    void topology()
    {
        Netns.assumeRoot();
        Netns.create(NODE);
        Netns.create(EXT);
        Netns.must("ip", "link", "add", NIC, "netns", NODE, "type", "veth", "peer", "name", "fn-cr-ext", "netns",
            EXT);
        Netns.must(Netns.inNs(NODE, "ip", "addr", "add", TwoNodes.nodeIp(1) + "/24", "dev", NIC));
        Netns.must(Netns.inNs(NODE, "ip", "link", "set", NIC, "up"));
        Netns.must(Netns.inNs(EXT, "ip", "addr", "add", EXT_IP + "/24", "dev", "fn-cr-ext"));
        Netns.must(Netns.inNs(EXT, "ip", "link", "set", "fn-cr-ext", "up"));
    }

    @AfterEach
    void cleanUp()
    {
        Netns.delete(EXT);
        Netns.delete(NODE);
    }

    @Test
    void shouldGiveTheNicBackWhenFerryIsKilledAndTakeItAgainOnRestart() throws Exception
    {
        final Path d = Files.createDirectories(dir.resolve("node1"));
        final Path state = Files.createDirectories(d.resolve("state"));
        final Path config = TwoNodes.config(d, TwoNodes.tables(1, new long[] {0, 0}, 0), NIC, "packet");
        try (NodeProcess node = NodeProcess.startSupervised(NODE, NIC, "fn-host", state, config,
            d.resolve("run/ferry.sock"), d.resolve("node.log")))
        {
            assertThat(awaitPing(10)).as("ext → node IP through ferry: " + node.log()).isGreaterThanOrEqualTo(0);
            assertThat(Netns.must(Netns.inNs(NODE, "ip", "-4", "addr", "show", "dev", NIC)))
                .as("ferry owns the NIC").doesNotContain("inet ");
            final long pid = Long.parseLong(Files.readString(state.resolve("ferry.pid")).trim());

            Netns.must("kill", "-9", Long.toString(pid));
            final long killed = System.nanoTime();
            final long answeredAfter = awaitPing(5);
            assertThat(answeredAfter).as("the node's underlay IP answers ext within 5 s of kill -9: " + node.log())
                .isGreaterThanOrEqualTo(0);
            assertThat(node.log()).contains("exited with 137: " + NIC + " handed back to the kernel");
            System.out.printf("node IP answered %d ms after kill -9%n",
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - killed));

            // the supervisor starts ferry again; it takes the NIC again and answers through ferry0
            final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (System.nanoTime() < deadline && !restarted(state, pid))
            {
                Thread.sleep(100);
            }
            assertThat(restarted(state, pid)).as("a new ferry: " + node.log()).isTrue();
            node.awaitHealthy();
            assertThat(awaitPing(10)).as("ext → node IP through the restarted ferry: " + node.log())
                .isGreaterThanOrEqualTo(0);
            assertThat(Netns.must(Netns.inNs(NODE, "ip", "-4", "addr", "show", "dev", NIC)))
                .as("the restarted ferry owns the NIC again").doesNotContain("inet ");
            assertThat(Netns.must(Netns.inNs(NODE, "ip", "-4", "addr", "show", "dev", "fn-host")))
                .as("the node IP lives on ferry0 again").contains(TwoNodes.nodeIp(1) + "/32");

            assertThat(node.terminate()).as("SIGTERM to the supervisor stops ferry and exits").isZero();
            assertThat(Netns.must(Netns.inNs(NODE, "ip", "-4", "addr", "show", "dev", NIC)))
                .as("a stopped supervisor leaves the NIC with the kernel").contains(TwoNodes.nodeIp(1) + "/24");
        }
    }

    private static boolean restarted(final Path state, final long oldPid) throws Exception
    {
        final Path f = state.resolve("ferry.pid");
        if (!Files.exists(f))
        {
            return false;
        }
        final String s = Files.readString(f).trim();
        return !s.isEmpty() && Long.parseLong(s) != oldPid;
    }

    /** @return ms until one ping from ext to the node IP was answered, or -1 when none was within the time. */
    private static long awaitPing(final int seconds)
    {
        final long start = System.nanoTime();
        final long deadline = start + TimeUnit.SECONDS.toNanos(seconds);
        while (System.nanoTime() < deadline)
        {
            final Netns.Result r = Netns.run(Netns.inNs(EXT, "ping", "-n", "-c", "1", "-W", "0.3", TwoNodes.nodeIp(1)));
            if (r.code() == 0)
            {
                return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            }
        }
        return -1;
    }
}
