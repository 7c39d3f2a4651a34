package dev.ferry.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ferry.cli.Ferry;
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
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code ferry show conntrack -p tcp --dport 80 -o json} in the lab returns only the matching flows (a live TCP
 * connection to the web ClusterIP, not the UDP flow to the udp Service), while an iperf3 across the nodes runs
 * on the same forwarding thread and carries data in every interval; {@code ferry show routes|neighbors|services
 * -o json} give the lab's known route, neighbours and web Service as fields. Runs under
 * {@code flock /tmp/ferry-netns.lock}.
 */
@Tag("netns")
final class ShowConntrackLabTest
{
    private static final ObjectMapper MAPPER = new ObjectMapper();
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

    private static JsonNode showJson(final String... args) throws IOException
    {
        return show("conntrack", args);
    }

    /** {@code ferry show VIEW ARGS -o json} against node1. */
    private static JsonNode show(final String view, final String... args) throws IOException
    {
        final StringWriter out = new StringWriter();
        final StringWriter err = new StringWriter();
        final String[] all = new String[args.length + 5];
        all[0] = "show";
        all[1] = view;
        System.arraycopy(args, 0, all, 2, args.length);
        all[args.length + 2] = "-o";
        all[args.length + 3] = "json";
        all[args.length + 4] = "--socket=" + lab.socket("node1");
        final int code = Ferry.commandLine().setOut(new PrintWriter(out)).setErr(new PrintWriter(err)).execute(all);
        assertThat(code).as(err.toString()).isZero();
        return MAPPER.readTree(out.toString());
    }

    @Test
    void shouldShowRoutesNeighboursAndServicesAsJsonFields() throws Exception
    {
        final LabSpec spec = lab.spec();
        final JsonNode routes = show("routes");
        assertThat(routes.path("generation").asLong()).isPositive();
        assertThat(routes.path("routes")).as("node2's pod CIDR, through VXLAN to node2").anySatisfy(r ->
        {
            assertThat(r.path("prefix").asText()).isEqualTo(spec.node2().podCidr());
            assertThat(r.path("kind").asText()).isEqualTo("remote-pod");
            assertThat(r.path("via").asText()).isEqualTo(spec.node2().ip());
        });

        final JsonNode neighbours = show("neighbors").path("neighbors");
        // the agent pushes node2's underlay MAC as a static neighbour too, which the view shows over the node entry
        assertThat(neighbours).as("node2 on the underlay").anySatisfy(n ->
        {
            assertThat(n.path("ip").asText()).isEqualTo(spec.node2().ip());
            assertThat(n.path("mac").asText()).isEqualTo(spec.node2().mac());
            assertThat(n.path("dev").asText()).isEqualTo(spec.node1().uplink());
            assertThat(n.path("state").asText()).isEqualTo("PERMANENT");
            assertThat(n.path("source").asText()).isIn("node", "static");
        });
        assertThat(neighbours).as("pod p11 on its TAP").anySatisfy(n ->
        {
            assertThat(n.path("ip").asText()).isEqualTo(spec.pod("p11").ip());
            assertThat(n.path("source").asText()).isEqualTo("pod");
            assertThat(n.path("owner").asText()).isEqualTo("default/p11");
            assertThat(n.path("mac").asText()).matches("([0-9a-f]{2}:){5}[0-9a-f]{2}");
        });

        final JsonNode services = show("services").path("services");
        assertThat(services).as("web: ClusterIP and NodePort, a backend on each node").anySatisfy(s ->
        {
            assertThat(s.path("protocol").asText()).isEqualTo("TCP");
            assertThat(s.path("virtualServers")).anySatisfy(v ->
            {
                assertThat(v.path("kind").asText()).isEqualTo("ClusterIP");
                assertThat(v.path("vip").asText()).isEqualTo(LabSpec.WEB_VIP);
                assertThat(v.path("port").asInt()).isEqualTo(LabSpec.WEB_PORT);
            });
            assertThat(s.path("virtualServers")).anySatisfy(v ->
            {
                assertThat(v.path("kind").asText()).isEqualTo("NodePort");
                assertThat(v.path("port").asInt()).isEqualTo(LabSpec.WEB_NODEPORT);
            });
            final List<String> backends = new java.util.ArrayList<>();
            s.path("realServers").forEach(r -> backends.add(r.path("address").asText() + ":" + r.path("port").asInt()
                + " weight " + r.path("weight").asInt()));
            assertThat(backends).containsExactlyInAnyOrder(spec.pod("p12").ip() + ":" + LabSpec.WEB_TARGET
                + " weight 1", spec.pod("p21").ip() + ":" + LabSpec.WEB_TARGET + " weight 1");
        });
    }

    @Test
    void shouldListOnlyMatchingFlowsWhileIperf3Runs() throws Exception
    {
        // one call before the traffic: class loading of the in-process command line is not the node's time
        showJson("-C");
        final LabChecks.Outcome udp = checks.udpEcho("udp", "p11");
        assertThat(udp.ok()).as(udp.detail()).isTrue();
        final Process held = lab.startIn(lab.spec().podNs("p11"), "held-conn", List.of("sh", "-c",
            "sleep 8 | socat -T 10 - TCP4:" + LabSpec.WEB_VIP + ":" + LabSpec.WEB_PORT));
        final CompletableFuture<Shell.Result> iperf = CompletableFuture.supplyAsync(() -> Shell.inNetns(30_000,
            lab.spec().podNs("p11"), "iperf3", "-c", lab.spec().pod("p21").ip(), "-p",
            String.valueOf(LabSpec.IPERF_PORT), "-t", "4", "-J"));
        try
        {
            JsonNode tcp80 = MAPPER.createObjectNode();
            int calls = 0;
            long slowest = 0;
            final long deadline = System.currentTimeMillis() + 3_500;
            // list while iperf3 runs: every call walks node1's table in bounded worker steps
            while (System.currentTimeMillis() < deadline)
            {
                final long t0 = System.nanoTime();
                tcp80 = showJson("-p", "tcp", "--dport", "80");
                slowest = Math.max(slowest, System.nanoTime() - t0);
                calls++;
            }
            final JsonNode all = showJson();
            assertThat(all.path("entries").findValuesAsText("proto")).as("every flow on node1").contains("udp", "tcp");
            assertThat(tcp80.path("count").asInt()).isEqualTo(tcp80.path("entries").size()).isPositive();
            for (final JsonNode e : tcp80.path("entries"))
            {
                assertThat(e.path("proto").asText()).isEqualTo("tcp");
                assertThat(e.path("orig").path("dport").asInt()).isEqualTo(LabSpec.WEB_PORT);
            }
            assertThat(tcp80.path("entries")).as("the held connection").anySatisfy(e ->
            {
                assertThat(e.path("orig").path("dst").asText()).isEqualTo(LabSpec.WEB_VIP);
                assertThat(e.path("state").asText()).isEqualTo("ESTABLISHED");
            });

            final Shell.Result r = iperf.get(40, TimeUnit.SECONDS);
            final JsonNode j = MAPPER.readTree(r.out().isBlank() ? "{}" : r.out());
            assertThat(j.path("error").asText("")).as("iperf3 error").isEmpty();
            // a 4 s run has 4 one-second intervals (one of slack, as AgentUnderTrafficTest allows); with none (iperf3
            // printed nothing) the loop below would pass
            assertThat(j.path("intervals")).as("iperf3's intervals: " + r.err()).hasSizeGreaterThanOrEqualTo(3);
            for (final JsonNode interval : j.path("intervals"))
            {
                assertThat(interval.path("sum").path("bytes").asLong()).as("every iperf3 interval carries data")
                    .isPositive();
            }
            System.out.printf("iperf3 p11 -> p21 during %d show conntrack calls (slowest %.1f ms, %d entries):"
                + " %.3f Gb/s (loaded machine)%n", calls, slowest / 1e6, all.path("count").asInt(),
                j.path("end").path("sum_received").path("bits_per_second").asDouble() / 1e9);
        }
        finally
        {
            held.destroy();
            held.waitFor(5, TimeUnit.SECONDS);
        }
    }
}
