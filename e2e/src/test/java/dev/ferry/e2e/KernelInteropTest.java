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
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Interop: node 2 is a Linux kernel flannel-style node (vxlan device VNI 1 with static FDB and neighbour
 * entries, a cni0 bridge, veth pods); node 1 stays ferry. Pods reach each other both ways, by ping and curl, and a
 * 1 MB download crosses intact both ways: ferry's uplink sends runs of VXLAN datagrams as UDP GSO superframes, which
 * the kernel's VXLAN socket segments before decapsulating them.
 */
@Tag("netns")
final class KernelInteropTest
{
    private static Lab lab;
    private static LabChecks checks;
    private static String sha;

    @BeforeAll
    static void up() throws IOException, NoSuchAlgorithmException
    {
        lab = LabFixture.up(Lab.Node2.KERNEL);
        checks = lab == null ? null : new LabChecks(lab);
        if (lab == null)
        {
            return;
        }
        final byte[] data = new byte[1 << 20];
        new Random(21).nextBytes(data);
        sha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
        for (final String pod : List.of("p12", "p21"))
        {
            Files.write(lab.state().file("www/" + pod + "/big.bin"), data);
        }
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
    void shouldMoveOneMegabyteIntactBothWays() throws Exception
    {
        // the kernel node's uplink sees ferry's UDP GSO superframes (far above the MTU) during the download
        final Path pcap = lab.state().file("logs/interop-gso.pcap");
        Files.deleteIfExists(pcap);
        final Process dump = lab.startIn(lab.spec().nodeNs("node2"), "interop-gso", List.of("timeout", "20",
            "tcpdump", "-n", "-i", lab.spec().node2().uplink(), "-c", "3", "-w", pcap.toString(), "udp port "
                + LabSpec.VXLAN_PORT + " and greater 3000"));
        final Path log = lab.state().file("logs/interop-gso.log");
        for (int i = 0; i < 100 && !(Files.exists(log) && Files.readString(log).contains("listening on")); i++)
        {
            Thread.sleep(50); // tcpdump's start-up: it says when the capture is open
        }
        assertThat(download("p21", "p12")).as("1 MB ferry p12 -> kernel p21").isEqualTo(sha);
        assertThat(dump.waitFor(25, TimeUnit.SECONDS)).isTrue();
        final Shell.Result r = Shell.run("tcpdump", "-n", "-r", pcap.toString());
        assertThat(r.out().lines().filter(l -> !l.isBlank()).count()).as("superframes from ferry at the kernel node")
            .isPositive();
        assertThat(download("p11", "p21")).as("1 MB kernel p21 -> ferry p11").isEqualTo(sha);
    }

    /** Downloads big.bin from {@code server} in {@code client} and returns its SHA-256. */
    private static String download(final String client, final String server)
    {
        final Shell.Result r = Shell.inNetns(30_000, lab.spec().podNs(client), "sh", "-c", "curl -sS --max-time 20 "
            + "-o - http://" + lab.spec().pod(server).ip() + ":" + LabSpec.WEB_TARGET + "/big.bin | sha256sum");
        assertThat(r.ok()).as(client + " <- " + server + ": " + r.err()).isTrue();
        return r.out().trim().split(" ")[0];
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
