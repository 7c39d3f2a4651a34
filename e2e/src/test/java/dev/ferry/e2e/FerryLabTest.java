package dev.ferry.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ferry.lab.Lab;
import dev.ferry.lab.LabChecks;
import dev.ferry.lab.LabSpec;
import dev.ferry.lab.Shell;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

import java.io.IOException;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The acceptance paths of issue 5 on one fresh lab with two ferry nodes: pods with real servers, a kernel
 * external host. Tests that change the lab (stopping a server, removing endpoints) run last.
 */
@Tag("netns")
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
final class FerryLabTest
{
    private static Lab lab;
    private static LabChecks checks;

    @BeforeAll
    static void up() throws IOException
    {
        lab = LabFixture.up(Lab.Node2.FERRY);
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
    @Order(1)
    void shouldPingPodOnSameNode()
    {
        final LabChecks.Outcome o = checks.ping("same", "p11", lab.spec().pod("p12").ip());
        assertThat(o.ok()).as(o.detail()).isTrue();
        assertThat(o.detail()).contains("3 received");
    }

    @Test
    @Order(2)
    void shouldPingPodAcrossNodesBothWays()
    {
        final LabChecks.Outcome there = checks.ping("there", "p11", lab.spec().pod("p21").ip());
        final LabChecks.Outcome back = checks.ping("back", "p21", lab.spec().pod("p11").ip());
        assertThat(there.ok()).as(there.detail()).isTrue();
        assertThat(back.ok()).as(back.detail()).isTrue();
    }

    @Test
    @Order(3)
    void shouldSpreadClusterIpRequestsOverBackendsFromEachNode()
    {
        final LabChecks.Outcome node1 = checks.curlClusterIp("node1", "p11", 24);
        final LabChecks.Outcome node2 = checks.curlClusterIp("node2", "p21", 24);
        assertThat(node1.ok()).as("from p11 on node1: " + node1.detail()).isTrue();
        assertThat(node2.ok()).as("from p21 on node2: " + node2.detail()).isTrue();
        assertThat(node1.detail()).contains("p12=").contains("p21=");
    }

    @Test
    @Order(4)
    void shouldServeNodePortToExternalHost()
    {
        final Shell.Result r = checks.curl(lab.spec().extNs(), "http://" + lab.spec().node1().ip() + ":"
            + LabSpec.WEB_NODEPORT + "/");
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out().strip()).isIn("p12", "p21");
    }

    @Test
    @Order(4)
    void shouldAnswerKubeProxysHealthzToTheExternalHost()
    {
        // issue 16: `curl node:10256/healthz` from ext. In packet mode the node address lives on ferry0, so the
        // request crosses ferry's uplink, the host TAP and the node's kernel to the JVM's listener
        final Shell.Result r = Shell.inNetns(30_000, lab.spec().extNs(), "curl", "-sS", "--max-time", "5",
            "-w", "\n%{http_code}", "http://" + lab.spec().node1().ip() + ":10256/healthz");
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out().strip()).as("kube-proxy's body and 200").matches("\\{\"lastUpdated\": \"[^\"]+\","
            + "\"currentTime\": \"[^\"]+\", \"nodeEligible\": true}\n200");
    }

    @Test
    @Order(5)
    void shouldMasqueradePodTrafficToExternalHost() throws IOException
    {
        final Shell.Result r = checks.curl(lab.spec().podNs("p11"), "http://" + LabSpec.EXT_IP + "/");
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out().strip()).isEqualTo("ext");
        assertThat(checks.lastClientOfExt()).as("the client address the server in ferry-ext logged")
            .isEqualTo(lab.spec().node1().ip());
    }

    @Test
    @Order(6)
    void shouldEchoUdpThroughClusterIp()
    {
        final LabChecks.Outcome o = checks.udpEcho("udp", "p11");
        assertThat(o.ok()).as(o.detail()).isTrue();
        final LabChecks.Outcome o2 = checks.udpEcho("udp", "p21");
        assertThat(o2.ok()).as(o2.detail()).isTrue();
    }

    @Test
    @Order(7)
    void shouldCarryIperf3AcrossNodesForThreeSeconds() throws IOException
    {
        final Shell.Result r = Shell.inNetns(30_000, lab.spec().podNs("p11"), "iperf3", "-c",
            lab.spec().pod("p21").ip(), "-p", String.valueOf(LabSpec.IPERF_PORT), "-t", "3", "-J");
        final JsonNode j = new ObjectMapper().readTree(r.out().isBlank() ? "{}" : r.out());
        assertThat(j.path("error").asText("")).as("iperf3 error").isEmpty();
        assertThat(r.exit()).as(r.err()).isZero();
        final double bps = j.path("end").path("sum_received").path("bits_per_second").asDouble();
        System.out.printf("iperf3 p11 -> p21 (cross-node, 3 s): %.3f Gb/s received%n", bps / 1e9);
        assertThat(bps).as("bits per second received").isGreaterThan(0);
    }

    @Test
    @Order(8)
    void shouldListLiveConnectionInShowConntrack() throws Exception
    {
        // a connection held open for a few seconds: the client waits on stdin while the test looks
        final Process held = lab.startIn(lab.spec().podNs("p11"), "held-conn", List.of("sh", "-c",
            "sleep 6 | socat -T 8 - TCP4:" + LabSpec.WEB_VIP + ":" + LabSpec.WEB_PORT));
        try
        {
            List<String> lines = List.of();
            final long deadline = System.currentTimeMillis() + 5_000;
            while (System.currentTimeMillis() < deadline)
            {
                lines = lab.show("node1", "conntrack");
                if (lines.stream().anyMatch(l -> l.contains(LabSpec.WEB_VIP) && l.contains("ESTABLISHED")))
                {
                    break;
                }
                Thread.sleep(200);
            }
            assertThat(lines).as("ferry show conntrack on node1")
                .anyMatch(l -> l.contains("tcp") && l.contains("dst=" + LabSpec.WEB_VIP)
                    && l.contains("dport=" + LabSpec.WEB_PORT) && l.contains("ESTABLISHED"));
        }
        finally
        {
            held.destroy();
            held.waitFor(5, TimeUnit.SECONDS);
        }
    }

    @Test
    @Order(20)
    void shouldRefuseQuicklyWhenBackendServerStops() throws IOException
    {
        assertThat(lab.stop("p21-http")).as("p21's web server was running").isTrue();
        // straight to the stopped server: the pod's kernel answers with RST through ferry
        final Shell.Result direct = checks.curl(lab.spec().podNs("p11"), "http://" + lab.spec().pod("p21").ip()
            + ":" + LabSpec.WEB_TARGET + "/");
        assertThat(direct.exit()).as("curl exit (7 = connection refused): " + direct.err()).isEqualTo(7);
        assertThat(direct.millis()).as("refused quickly, not a timeout").isLessThan(2_000);
        // through the ClusterIP: every request either reaches p12 or is refused at once
        int refused = 0;
        for (int i = 0; i < 16; i++)
        {
            final Shell.Result r = checks.curl(lab.spec().podNs("p11"), "http://" + LabSpec.WEB_VIP + "/");
            if (r.exit() == 7)
            {
                refused++;
                assertThat(r.millis()).as("refused quickly").isLessThan(2_000);
            }
            else
            {
                assertThat(r.exit()).as(r.err()).isZero();
                assertThat(r.out().strip()).isEqualTo("p12");
            }
        }
        assertThat(refused).as("requests that went to the stopped backend").isPositive();
    }

    @Test
    @Order(21)
    void shouldAnswerPortUnreachableWhenServiceHasNoEndpoints() throws Exception
    {
        lab.setBackends(List.of(), List.of("p12", "p21"));
        final Process dump = lab.startIn(lab.spec().podNs("p11"), "tcpdump-icmp", List.of("timeout", "10",
            "tcpdump", "-n", "-l", "-c", "1", "-i", "eth0", "icmp[icmptype] == icmp-unreach and icmp[icmpcode] == 3"));
        Thread.sleep(1_000); // start-up: give tcpdump time to open the capture before the request
        final Shell.Result r = checks.curl(lab.spec().podNs("p11"), "http://" + LabSpec.WEB_VIP + "/");
        assertThat(r.exit()).as("curl exit (7 = refused by ICMP port unreachable): " + r.err()).isEqualTo(7);
        assertThat(r.millis()).as("rejected, not dropped").isLessThan(2_000);
        assertThat(dump.waitFor(12, TimeUnit.SECONDS)).isTrue();
        final String seen = java.nio.file.Files.readString(lab.state().file("logs/tcpdump-icmp.log"));
        assertThat(seen).as("tcpdump in p11").contains("ICMP").contains(LabSpec.WEB_VIP).contains("unreachable");
    }
}
