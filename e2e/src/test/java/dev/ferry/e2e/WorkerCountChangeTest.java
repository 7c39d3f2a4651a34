package dev.ferry.e2e;

import dev.ferry.lab.Lab;
import dev.ferry.lab.LabChecks;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A node restarted with another worker count (its CPU limit changed, so the default moved): the pods' TAPs and
 * {@code ferry0} were made for the old count, single-queue for one worker and multi-queue for several, and the
 * kernel refuses an open in the other mode. The pods must keep their traffic: a single-queue pod TAP is read by
 * worker 0 and written by every worker, a multi-queue one gives a single worker one queue, and {@code ferry0}, the
 * node's own, is made again.
 */
@Tag("netns")
final class WorkerCountChangeTest
{
    private static final String WORKERS = "ferry.test.workers";
    /** Ping processes per check: each has its own ICMP identifier, so their flows spread over the workers. */
    private static final int PINGS = 8;

    private static Lab lab;
    private static String before;

    @BeforeAll
    static void up() throws IOException
    {
        before = System.getProperty(WORKERS);
        // the pods' TAPs are made by a node of one worker: single-queue
        System.setProperty(WORKERS, "1");
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
        try
        {
            LabFixture.down(lab);
        }
        finally
        {
            if (before == null)
            {
                System.clearProperty(WORKERS);
            }
            else
            {
                System.setProperty(WORKERS, before);
            }
        }
    }

    @Test
    void shouldKeepThePodsTrafficWhenTheWorkerCountChangesAcrossARestart() throws IOException
    {
        final LabChecks checks = new LabChecks(lab);
        assertThat(checks.ping("one worker", "p11", lab.spec().pod("p21").ip()).ok()).isTrue();

        restartNode1With(2);
        assertThat(lab.show("node1", "runtime")).as("node1 runs two workers now").contains("Total (2 workers)");
        expectTraffic(checks, "two workers, single-queue TAPs");

        restartNode1With(1);
        assertThat(lab.show("node1", "runtime")).as("node1 runs one worker again")
            .noneMatch(l -> l.startsWith("Total ("));
        expectTraffic(checks, "one worker again");
    }

    private static void restartNode1With(final int workers) throws IOException
    {
        assertThat(lab.stopNode("node1")).as("node1 was running").isTrue();
        System.setProperty(WORKERS, String.valueOf(workers));
        lab.startNode("node1");
        lab.waitForApi("node1");
    }

    /**
     * Pings from p11 across nodes and to p12 on its node, and from p12 to p11, each from {@link #PINGS} processes:
     * the replies to p11 are written to its TAP by whichever worker owns their flow.
     */
    private static void expectTraffic(final LabChecks checks, final String when)
    {
        final String[][] pairs = {{"p11", lab.spec().pod("p21").ip()}, {"p11", lab.spec().pod("p12").ip()},
            {"p12", lab.spec().pod("p11").ip()}};
        for (final String[] pair : pairs)
        {
            final LabChecks.Outcome first = LabFixture.awaitPing(checks, when, pair[0], pair[1]);
            assertThat(first.ok()).as("%s: %s -> %s: %s", when, pair[0], pair[1], first.detail()).isTrue();
            final List<String> failed = new ArrayList<>();
            for (int i = 0; i < PINGS; i++)
            {
                final LabChecks.Outcome o = checks.ping(when, pair[0], pair[1]);
                if (!o.ok())
                {
                    failed.add(o.detail());
                }
            }
            assertThat(failed).as("%s: %s -> %s, %d more pings", when, pair[0], pair[1], PINGS).isEmpty();
        }
    }
}
