package dev.ferry.node;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ferry.conntrack.ConntrackFilter;
import dev.ferry.core.packet.FrameBuilder;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.tables.ServiceInfo;
import dev.ferry.node.cli.ConntrackCommand;
import dev.ferry.node.cli.ShowCommand;
import dev.ferry.nodeapi.NodeApiClient;
import dev.ferry.tapio.MemoryPort;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static dev.ferry.node.NodeFixture.POD_A;
import static dev.ferry.node.NodeFixture.POD_B;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code ferry show conntrack} against a running node (memory ports, Services): conntrack(8)'s filters, -C, -D,
 * -F and -o json through the real command line and API, and the {@code stats} op behind {@code ferry top}.
 * Five UDP flows to a DNS ClusterIP and three TCP connections to a web ClusterIP, all from pod A, DNATed to pod B.
 */
class ConntrackOpsTest
{
    private static final ObjectMapper MAPPER = new ObjectMapper();
    private static final int DNS_IP = Ip4.parse("10.96.0.10");
    private static final int WEB_IP = Ip4.parse("10.96.0.80");
    private static final int UDP_FLOWS = 5;
    private static final int TCP_FLOWS = 3;

    @TempDir
    Path dir;

    private NodeFixture node;

    @BeforeEach
    void start() throws Exception
    {
        node = new NodeFixture(dir, ThreadingMode.SHARED, null);
        assertThat(node.daemon.push(withServices(1)).get()).isEqualTo(1L);
        node.daemon.attach(NodeFixture.attachRequest("ca", POD_A)).get();
        node.daemon.attach(NodeFixture.attachRequest("cb", POD_B)).get();
        final MemoryPortView a = node.ports.port("tap0af40102");
        final MemoryPortView b = node.ports.port("tap0af40103");
        for (int i = 0; i < UDP_FLOWS; i++)
        {
            a.enqueue(new FrameBuilder().eth(Ip4.podMac(POD_A), NodeFixture.GATEWAY_MAC).ip4(POD_A, DNS_IP).id(i)
                .udp(40000 + i, 53).payload(new byte[] {1, 2, 3, 4}).build());
        }
        for (int i = 0; i < TCP_FLOWS; i++)
        {
            a.enqueue(new FrameBuilder().eth(Ip4.podMac(POD_A), NodeFixture.GATEWAY_MAC).ip4(POD_A, WEB_IP)
                .id(100 + i).tcp(41000 + i, 80, 0x02, 1000, 0).build());
        }
        NodeFixture.await("every flow DNATed to pod B", () -> b.txPackets() == UDP_FLOWS + TCP_FLOWS,
            Duration.ofSeconds(30));
    }

    @AfterEach
    void stop()
    {
        node.close();
    }

    /** Runs {@code ferry show ARGS --socket S}; returns exit code, stdout and stderr. */
    private Run show(final String... args)
    {
        final StringWriter out = new StringWriter();
        final StringWriter err = new StringWriter();
        final CommandLine cl = new CommandLine(new ShowCommand()).setOut(new PrintWriter(out))
            .setErr(new PrintWriter(err));
        final List<String> all = new ArrayList<>(List.of(args));
        all.add("--socket");
        all.add(node.socket().toString());
        final int code = cl.execute(all.toArray(String[]::new));
        return new Run(code, out.toString(), err.toString());
    }

    private record Run(int code, String out, String err)
    {
    }

    @Test
    void shouldListOnlyTheFlowsTheFiltersSelectAsJson() throws Exception
    {
        final Run r = show("conntrack", "-p", "tcp", "--dport", "80", "-o", "json");

        assertThat(r.code()).as(r.err()).isZero();
        final JsonNode doc = MAPPER.readTree(r.out());
        assertThat(doc.path("count").asInt()).isEqualTo(TCP_FLOWS);
        final List<Integer> sports = new ArrayList<>();
        for (final JsonNode e : doc.path("entries"))
        {
            assertThat(e.path("proto").asText()).isEqualTo("tcp");
            assertThat(e.path("protonum").asInt()).isEqualTo(6);
            assertThat(e.path("state").asText()).isEqualTo("SYN_SENT");
            assertThat(e.path("orig").path("src").asText()).isEqualTo("10.244.1.2");
            assertThat(e.path("orig").path("dst").asText()).isEqualTo("10.96.0.80");
            assertThat(e.path("orig").path("dport").asInt()).isEqualTo(80);
            assertThat(e.path("reply").path("src").asText()).as("the DNAT target").isEqualTo("10.244.1.3");
            assertThat(e.path("reply").path("sport").asInt()).isEqualTo(8080);
            assertThat(e.path("unreplied").asBoolean()).isTrue();
            assertThat(e.path("orig").path("packets").asLong()).isEqualTo(1);
            sports.add(e.path("orig").path("sport").asInt());
        }
        assertThat(sports).containsExactlyInAnyOrder(41000, 41001, 41002);
    }

    @Test
    void shouldCountTheTableInTheStatsAnswer() throws Exception
    {
        final Run r = show("stats", "-o", "json");

        assertThat(r.code()).as(r.err()).isZero();
        final JsonNode ct = MAPPER.readTree(r.out()).path("conntrack");
        assertThat(ct.path("entries").asInt()).isEqualTo(UDP_FLOWS + TCP_FLOWS);
        assertThat(ct.path("capacity").asInt()).isGreaterThanOrEqualTo(UDP_FLOWS + TCP_FLOWS);
    }

    @Test
    void shouldFilterOnEitherDirectionsTupleAsConntrackDoes()
    {
        assertThat(show("conntrack", "-C").out().trim()).isEqualTo(String.valueOf(UDP_FLOWS + TCP_FLOWS));
        assertThat(show("conntrack", "-C", "-p", "udp").out().trim()).isEqualTo(String.valueOf(UDP_FLOWS));
        assertThat(show("conntrack", "-C", "-s", "10.244.1.2").out().trim()).as("-s: original source")
            .isEqualTo(String.valueOf(UDP_FLOWS + TCP_FLOWS));
        assertThat(show("conntrack", "-C", "-s", "10.244.1.3").out().trim()).as("pod B is only a reply source")
            .isEqualTo("0");
        assertThat(show("conntrack", "-C", "-r", "10.244.1.3").out().trim()).as("-r: reply source")
            .isEqualTo(String.valueOf(UDP_FLOWS + TCP_FLOWS));
        assertThat(show("conntrack", "-C", "-d", "10.96.0.10", "-p", "udp", "--sport", "40003").out().trim())
            .isEqualTo("1");
        assertThat(show("conntrack", "-C", "-p", "icmp").out().trim()).isEqualTo("0");

        final Run text = show("conntrack", "-p", "udp", "--sport", "40001");
        assertThat(text.out().lines().toList()).singleElement().asString()
            .startsWith("udp      17 ").contains("src=10.244.1.2 dst=10.96.0.10 sport=40001 dport=53 [UNREPLIED]")
            .doesNotContain("packets=");
        assertThat(show("conntrack", "-p", "udp", "--sport", "40001", "-o", "wide").out())
            .contains("sport=40001 dport=53 packets=1 bytes=");
    }

    @Test
    void shouldDeleteTheSelectedFlowsAndFlushTheRest() throws Exception
    {
        final Run d = show("conntrack", "-D", "-p", "udp", "--sport", "40000");
        assertThat(d.code()).as(d.err()).isZero();
        assertThat(d.out().trim()).isEqualTo("1 flow entries have been deleted.");
        assertThat(show("conntrack", "-C", "-p", "udp").out().trim()).isEqualTo(String.valueOf(UDP_FLOWS - 1));
        assertThat(show("conntrack", "-C", "-p", "udp", "--sport", "40000").out().trim()).isEqualTo("0");

        // the next packet of the deleted flow is a new connection again: a new entry, counted as inserted
        final MemoryPortView a = node.ports.port("tap0af40102");
        final MemoryPortView b = node.ports.port("tap0af40103");
        a.enqueue(new FrameBuilder().eth(Ip4.podMac(POD_A), NodeFixture.GATEWAY_MAC).ip4(POD_A, DNS_IP).id(9)
            .udp(40000, 53).payload(new byte[] {1, 2, 3, 4}).build());
        NodeFixture.await("the flow again", () -> b.txPackets() == UDP_FLOWS + TCP_FLOWS + 1,
            Duration.ofSeconds(30));
        assertThat(show("conntrack", "-C", "-p", "udp", "--sport", "40000").out().trim()).isEqualTo("1");

        final Run f = show("conntrack", "-F");
        assertThat(f.out()).contains("(" + (UDP_FLOWS + TCP_FLOWS) + " flow entries deleted)");
        assertThat(show("conntrack", "-C").out().trim()).isEqualTo("0");
        assertThat(show("conntrack").err()).contains("0 flow entries have been shown.");
    }

    @Test
    void shouldRefuseWrongFiltersWithASentence() throws Exception
    {
        final Run noProto = show("conntrack", "--dport", "80");
        assertThat(noProto.code()).isEqualTo(2);
        assertThat(noProto.err()).contains("--sport and --dport need -p tcp or -p udp");
        final Run badPort = show("conntrack", "-p", "tcp", "--dport", "70000");
        assertThat(badPort.code()).isEqualTo(2);
        assertThat(badPort.err()).contains("70000");
        final Run badIp = show("conntrack", "-s", "10.0.0.300");
        assertThat(badIp.code()).isEqualTo(2);
        assertThat(badIp.err()).contains("-s: '10.0.0.300' is not an IPv4 address");
        assertThat(show("conntrack", "-F", "-p", "udp").err()).contains("-F takes no filter");
        assertThat(show("conntrack", "-C", "-D").code()).as("one action").isEqualTo(2);
        assertThat(show("bogus").code()).isEqualTo(2);

        try (NodeApiClient client = NodeApiClient.connect(node.socket()))
        {
            final JsonNode r = client.call(MAPPER.createObjectNode().put("op", "conntrack").put("action", "list")
                .set("filter", MAPPER.createObjectNode().put("dport", "eighty")));
            assertThat(r.path("ok").asBoolean()).isFalse();
            assertThat(r.path("error").asText()).isEqualTo("filter.dport: expected a whole number 0..65535");
            final JsonNode x = client.call(MAPPER.createObjectNode().put("op", "conntrack").put("action", "drop"));
            assertThat(x.path("error").asText()).isEqualTo("action: unknown 'drop' (list, count, delete, events)");
        }
        assertThat(show("conntrack", "-C").out().trim()).as("nothing changed")
            .isEqualTo(String.valueOf(UDP_FLOWS + TCP_FLOWS));
    }

    @Test
    void shouldAnswerAListInBoundedPiecesThatContinue() throws Exception
    {
        try (NodeApiClient client = NodeApiClient.connect(node.socket()))
        {
            final List<String> seen = new ArrayList<>();
            int from = 0;
            int answers = 0;
            while (from >= 0)
            {
                final JsonNode r = client.callOk(MAPPER.createObjectNode().put("op", "conntrack")
                    .put("action", "list").put("from", from).put("limit", 3));
                assertThat(r.path("entries").size()).isLessThanOrEqualTo(3);
                r.path("entries").forEach(e -> seen.add(e.path("orig").path("sport").asText()));
                from = r.path("next").asInt();
                answers++;
            }
            assertThat(seen).as("every flow once").hasSize(UDP_FLOWS + TCP_FLOWS).doesNotHaveDuplicates();
            assertThat(answers).isGreaterThanOrEqualTo(3);
        }
        assertThat(show("conntrack", "--limit", "2").out().lines()).hasSize(2);
    }

    @Test
    void shouldServeCountersForTopAndJsonViews() throws Exception
    {
        final Run stats = show("stats", "-o", "json");
        assertThat(stats.code()).as(stats.err()).isZero();
        final JsonNode s = MAPPER.readTree(stats.out());
        assertThat(s.path("conntrack").path("entries").asInt()).isEqualTo(UDP_FLOWS + TCP_FLOWS);
        assertThat(s.path("conntrack").path("capacity").asInt()).isPositive();
        assertThat(s.path("nanos").asLong()).isPositive();
        boolean nat = false;
        for (final JsonNode st : s.path("stages"))
        {
            nat |= st.path("name").asText().equals("nat44-in") && st.path("packets").asLong() == UDP_FLOWS + TCP_FLOWS;
        }
        assertThat(nat).as("nat44-in saw every frame: " + s.path("stages")).isTrue();
        assertThat(s.path("ports").findValuesAsText("name")).contains("tap0af40102", "tap0af40103");
        assertThat(MAPPER.readTree(show("routes", "-o", "json").out()).path("generation").asLong()).isEqualTo(1);
        assertThat(show("services").out()).contains("10.96.0.80:80");
    }

    @Test
    void shouldCountEachBackendsActiveAndInactiveConnectionsLikeIpvsadm() throws Exception
    {
        // 41000 completes its handshake through the Service: SYN-ACK from pod B, ACK from pod A
        final MemoryPortView a = node.ports.port("tap0af40102");
        final MemoryPortView b = node.ports.port("tap0af40103");
        b.enqueue(new FrameBuilder().eth(Ip4.podMac(POD_B), NodeFixture.GATEWAY_MAC).ip4(POD_B, POD_A).id(7)
            .tcp(8080, 41000, 0x12, 5000, 1001).build());
        NodeFixture.await("the SYN-ACK un-DNATed to pod A", () -> a.txPackets() == 1, Duration.ofSeconds(30));
        a.enqueue(new FrameBuilder().eth(Ip4.podMac(POD_A), NodeFixture.GATEWAY_MAC).ip4(POD_A, WEB_IP).id(8)
            .tcp(41000, 80, 0x10, 1001, 5001).build());
        NodeFixture.await("the ACK", () -> b.txPackets() == UDP_FLOWS + TCP_FLOWS + 1, Duration.ofSeconds(30));
        assertThat(show("conntrack", "-p", "tcp", "--sport", "41000").out()).contains("ESTABLISHED");

        final List<String> lines = show("services").out().lines().toList();
        assertThat(lines).anySatisfy(l -> assertThat(l).startsWith("  -> RemoteAddress:Port")
            .endsWith("ActiveConn  InActConn"));
        assertThat(lines).anySatisfy(l -> assertThat(l).startsWith("  -> 10.244.1.3:8080").matches(".* 1 +2$"));
        assertThat(lines).anySatisfy(l -> assertThat(l).startsWith("  -> 10.244.1.3:5353").matches(".* 0 +5$"));
    }

    private static JsonNode events(final NodeApiClient client, final long id) throws Exception
    {
        return client.callOk(MAPPER.createObjectNode().put("op", "conntrack").put("action", "events").put("id", id));
    }

    @Test
    void shouldStreamNewUpdateAndDestroyEventsOfAHandshakeCloseAndDeleteInOrder() throws Exception
    {
        final MemoryPortView a = node.ports.port("tap0af40102");
        final MemoryPortView b = node.ports.port("tap0af40103");
        final List<String> seen = new ArrayList<>();
        try (NodeApiClient client = NodeApiClient.connect(node.socket()))
        {
            final JsonNode open = client.callOk(MAPPER.createObjectNode().put("op", "conntrack")
                .put("action", "events").set("filter", ConntrackJson.encode(new ConntrackFilter(6,
                    ConntrackFilter.ANY, ConntrackFilter.ANY, 42000, ConntrackFilter.ANY, ConntrackFilter.ANY,
                    ConntrackFilter.ANY))));
            final long id = open.path("id").asLong();
            assertThat(id).isPositive();
            final long before = b.txPackets();
            // another flow, which the filter leaves out
            a.enqueue(new FrameBuilder().eth(Ip4.podMac(POD_A), NodeFixture.GATEWAY_MAC).ip4(POD_A, WEB_IP).id(20)
                .tcp(42001, 80, 0x02, 1000, 0).build());
            final int[][] script = {
                {0, 0x02, 1000, 0}, {1, 0x12, 5000, 1001}, {0, 0x10, 1001, 5001}, {0, 0x11, 1001, 5001},
                {1, 0x11, 5001, 1002}, {0, 0x10, 1002, 5002}};
            long toB = before + 1;
            long toA = a.txPackets();
            for (final int[] seg : script)
            {
                if (seg[0] == 0)
                {
                    a.enqueue(new FrameBuilder().eth(Ip4.podMac(POD_A), NodeFixture.GATEWAY_MAC).ip4(POD_A, WEB_IP)
                        .id(21).tcp(42000, 80, seg[1], seg[2], seg[3]).build());
                    final long want = ++toB;
                    NodeFixture.await("to pod B", () -> b.txPackets() == want, Duration.ofSeconds(30));
                }
                else
                {
                    b.enqueue(new FrameBuilder().eth(Ip4.podMac(POD_B), NodeFixture.GATEWAY_MAC).ip4(POD_B, POD_A)
                        .id(22).tcp(8080, 42000, seg[1], seg[2], seg[3]).build());
                    final long want = ++toA;
                    NodeFixture.await("to pod A", () -> a.txPackets() == want, Duration.ofSeconds(30));
                }
            }
            assertThat(show("conntrack", "-D", "-p", "tcp", "--sport", "42000").out().trim())
                .isEqualTo("1 flow entries have been deleted.");
            NodeFixture.await("the DESTROY event", () ->
            {
                try
                {
                    final JsonNode r = events(client, id);
                    assertThat(r.path("lost").asLong()).isZero();
                    for (final JsonNode e : r.path("events"))
                    {
                        assertThat(e.path("orig").path("sport").asInt()).isEqualTo(42000);
                        assertThat(e.path("orig").has("packets")).as("events carry no counters").isFalse();
                        seen.add(e.path("type").asText() + " " + e.path("state").asText()
                            + (e.path("assured").asBoolean() ? " assured" : ""));
                    }
                }
                catch (final Exception e)
                {
                    throw new IllegalStateException(e);
                }
                return seen.contains("DESTROY TIME_WAIT assured");
            }, Duration.ofSeconds(30));
            assertThat(seen).containsExactly("NEW SYN_SENT", "UPDATE SYN_RECV", "UPDATE ESTABLISHED assured",
                "UPDATE FIN_WAIT assured", "UPDATE LAST_ACK assured", "UPDATE TIME_WAIT assured",
                "DESTROY TIME_WAIT assured");
            final JsonNode closed = client.callOk(MAPPER.createObjectNode().put("op", "conntrack")
                .put("action", "events").put("id", id).put("close", true));
            assertThat(closed.path("closed").asBoolean()).isTrue();
            final JsonNode gone = client.call(MAPPER.createObjectNode().put("op", "conntrack")
                .put("action", "events").put("id", id));
            assertThat(gone.path("error").asText()).startsWith("id: no conntrack event stream " + id);
        }
    }

    @Test
    void shouldPrintEventsAsConntrackDashEDoes() throws Exception
    {
        final MemoryPortView a = node.ports.port("tap0af40102");
        final Run[] result = new Run[1];
        final Thread cli = new Thread(() -> result[0] = show("conntrack", "-E", "-p", "tcp", "--dport", "80",
            "--limit", "2"));
        cli.start();
        // new connections until the command has printed two events: it subscribes on its own thread
        final long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        for (int port = 43000; cli.isAlive() && System.nanoTime() < deadline; port++)
        {
            a.enqueue(new FrameBuilder().eth(Ip4.podMac(POD_A), NodeFixture.GATEWAY_MAC).ip4(POD_A, WEB_IP).id(30)
                .tcp(port, 80, 0x02, 1000, 0).build());
            cli.join(50);
        }
        assertThat(cli.isAlive()).as("the command stopped after --limit 2 events").isFalse();
        assertThat(result[0].code()).as(result[0].err()).isZero();
        assertThat(result[0].out().lines().toList()).hasSize(2).allSatisfy(l -> assertThat(l)
            .matches("    \\[NEW\\] tcp      6 (120|119) SYN_SENT src=10\\.244\\.1\\.2 dst=10\\.96\\.0\\.80 sport=430\\d\\d"
                + " dport=80 \\[UNREPLIED\\] src=10\\.244\\.1\\.3 dst=10\\.244\\.1\\.2 sport=8080 dport=430\\d\\d"
                + " mark=0 zone=0 use=1"));
        assertThat(ConntrackCommand.eventLine(MAPPER.readTree("{\"type\":\"DESTROY\",\"proto\":\"udp\","
            + "\"protonum\":17,\"timeout\":12,\"orig\":{\"src\":\"10.0.0.1\",\"dst\":\"10.0.0.2\",\"sport\":1,"
            + "\"dport\":53},\"reply\":{\"src\":\"10.0.0.2\",\"dst\":\"10.0.0.1\",\"sport\":53,\"dport\":1},"
            + "\"unreplied\":false,\"assured\":false,\"mark\":0,\"zone\":0}")))
            .as("DESTROY has no timeout, as in conntrack -E")
            .isEqualTo("[DESTROY] udp      17 src=10.0.0.1 dst=10.0.0.2 sport=1 dport=53 src=10.0.0.2 dst=10.0.0.1"
                + " sport=53 dport=1 mark=0 zone=0 use=1");
    }

    /** node-a's tables with a UDP DNS ClusterIP (10.96.0.10:53) and a TCP web ClusterIP (10.96.0.80:80), both on pod B. */
    private static NodeTables withServices(final long generation)
    {
        final NodeTables t = NodeFixture.basic(generation);
        final ServiceInfo dns = service("dns", DNS_IP, 17, 53, 5353);
        final ServiceInfo web = service("web", WEB_IP, 6, 80, 8080);
        return new NodeTables(generation, t.node(), t.cluster(), t.pods(), t.remoteNodes(), List.of(dns, web),
            Map.of());
    }

    private static ServiceInfo service(final String name, final int ip, final int proto, final int port,
        final int target)
    {
        return new ServiceInfo("default", name, "ClusterIP", null, List.of(ip), List.of(), List.of(), false,
            ServiceInfo.DEFAULT_AFFINITY_TIMEOUT, false, false, List.of(new ServiceInfo.ServicePort(name, proto, port,
                0, List.of(new ServiceInfo.Endpoint(POD_B, target, true, true, false, NodeFixture.NODE, "", true)))));
    }
}
