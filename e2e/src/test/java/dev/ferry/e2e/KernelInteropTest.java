package dev.ferry.e2e;

import dev.ferry.lab.Lab;
import dev.ferry.lab.LabChecks;
import dev.ferry.lab.LabSpec;
import dev.ferry.lab.Shell;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.io.IOException;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Interop: node 2 is a Linux kernel flannel-style node (vxlan device VNI 1 with static FDB and neighbour
 * entries, a cni0 bridge, veth pods); node 1 stays ferry. Pods reach each other both ways, by ping and curl.
 */
@Tag("netns")
final class KernelInteropTest
{
    private static Lab lab;
    private static LabChecks checks;

    @BeforeAll
    static void up() throws IOException
    {
        lab = LabFixture.up(Lab.Node2.KERNEL);
        checks = lab == null ? null : new LabChecks(lab);
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
    void shouldPingBetweenFerryPodAndKernelPodBothWays()
    {
        final LabChecks.Outcome there = checks.ping("ferry->kernel", "p11", lab.spec().pod("p21").ip());
        final LabChecks.Outcome back = checks.ping("kernel->ferry", "p21", lab.spec().pod("p11").ip());
        assertThat(there.ok()).as("p11 (ferry node1) -> p21 (kernel node2): " + there.detail()).isTrue();
        assertThat(back.ok()).as("p21 (kernel node2) -> p11 (ferry node1): " + back.detail()).isTrue();
    }

    @Test
    void shouldCurlBetweenFerryPodAndKernelPodBothWays()
    {
        final Shell.Result there = checks.curl(lab.spec().podNs("p11"), "http://" + lab.spec().pod("p21").ip() + ":"
            + LabSpec.WEB_TARGET + "/");
        final Shell.Result back = checks.curl(lab.spec().podNs("p21"), "http://" + lab.spec().pod("p12").ip() + ":"
            + LabSpec.WEB_TARGET + "/");
        assertThat(there.exit()).as(there.err()).isZero();
        assertThat(there.out().strip()).isEqualTo("p21");
        assertThat(back.exit()).as(back.err()).isZero();
        assertThat(back.out().strip()).isEqualTo("p12");
    }

    @Test
    void shouldSendKernelCompatibleVxlanOnTheUnderlay()
    {
        // the kernel's own vxlan device decapsulated ferry's frames: its rx counter moved
        checks.ping("warm", "p11", lab.spec().pod("p21").ip());
        final Shell.Result s = Shell.run("ip", "-n", lab.spec().nodeNs("node2"), "-s", "link", "show",
            lab.spec().linkPrefix() + "flannel.1");
        assertThat(s.exit()).as(s.err()).isZero();
        final String[] lines = s.out().split("\n");
        long rxPackets = -1;
        for (int i = 0; i < lines.length - 1; i++)
        {
            if (lines[i].trim().startsWith("RX:"))
            {
                rxPackets = Long.parseLong(lines[i + 1].trim().split("\\s+")[1]);
            }
        }
        assertThat(rxPackets).as("packets the kernel vxlan device received from ferry").isPositive();
    }
}
