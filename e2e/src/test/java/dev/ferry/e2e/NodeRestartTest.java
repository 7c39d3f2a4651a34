package dev.ferry.e2e;

import dev.ferry.lab.Lab;
import dev.ferry.lab.LabChecks;
import dev.ferry.lab.Shell;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.io.IOException;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Restarting {@code ferry node} while pods exist: the pods' interfaces stay, and traffic resumes.
 */
@Tag("netns")
final class NodeRestartTest
{
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
        LabFixture.down(lab);
    }

    @Test
    void shouldKeepPodInterfaceAndResumeTrafficAfterRestart() throws IOException
    {
        final LabChecks checks = new LabChecks(lab);
        assertThat(checks.ping("before", "p11", lab.spec().pod("p21").ip()).ok()).as("traffic before").isTrue();

        assertThat(lab.stopNode("node1")).as("node1 was running").isTrue();
        lab.startNode("node1");
        lab.waitForApi("node1");

        final Shell.Result link = Shell.run("ip", "-n", lab.spec().podNs("p11"), "-o", "addr", "show", "dev", "eth0");
        assertThat(link.exit()).as("p11 still has eth0: " + link.err()).isZero();
        assertThat(link.out()).contains(lab.spec().pod("p11").ip() + "/");

        final LabChecks.Outcome after = LabFixture.awaitPing(checks, "after", "p11", lab.spec().pod("p21").ip());
        assertThat(after.ok()).as("traffic after the restart: " + after.detail()).isTrue();
        assertThat(checks.ping("same", "p11", lab.spec().pod("p12").ip()).ok()).as("same node after restart")
            .isTrue();
    }
}
