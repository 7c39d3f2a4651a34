package dev.ferry.node;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ferry.core.packet.FrameBuilder;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.tables.ServiceInfo;
import dev.ferry.node.cli.ShowCommand;
import dev.ferry.nodeapi.NodeApiClient;
import dev.ferry.tapio.MemoryPort;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code ferry show VIEW -o json} against a running node (memory ports): each view's fields and their types, a
 * Service with two backends (one unused), a Service with none, a node without tables, and the text and JSON of the
 * same state telling the same story.
 */
class ShowJsonTest
{
    private static final ObjectMapper MAPPER = new ObjectMapper();
    private static final int WEB_IP = Ip4.parse("10.96.0.80");
    private static final int DNS_IP = Ip4.parse("10.96.0.10");

    @TempDir
    Path dir;

    private NodeFixture node;

    @AfterEach
    void stop()
    {
        if (node != null)
        {
            node.close();
        }
    }

    private static String run(final Path socket, final String... args)
    {
        final StringWriter out = new StringWriter();
        final StringWriter err = new StringWriter();
        final CommandLine cl = new CommandLine(new ShowCommand());
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(err));
        final List<String> all = new ArrayList<>(List.of(args));
        all.add("--socket");
        all.add(socket.toString());
        assertThat(cl.execute(all.toArray(String[]::new))).as("ferry show " + all + ": " + err).isZero();
        return out.toString();
    }

    private JsonNode json(final String view) throws Exception
    {
        final String out = run(node.socket(), view, "-o", "json");
        assertThat(out.lines().count()).as("one JSON document on one line, as conntrack prints").isEqualTo(1);
        final JsonNode j = MAPPER.readTree(out);
        assertThat(j.path("what").asText()).as("the alias asks for the same view")
            .isEqualTo("neighbours".equals(view) ? "neighbors" : view);
        assertThat(j.has("v") || j.has("ok") || j.has("lines")).as("no envelope, no text lines").isFalse();
        return j;
    }

    private List<String> text(final String view)
    {
        return run(node.socket(), view).lines().toList();
    }

    /**
     * node-a's tables with web (NodePort 30080 over ClusterIP 10.96.0.80:80, ClientIP affinity, backends pod A
     * ready and pod B serving-terminating: unused while a ready one exists), dns (UDP, no endpoints: REJECT), a
     * Service that is not proxied and web2, whose ClusterIP:port web already holds.
     */
    private static NodeTables withServices()
    {
        final NodeTables t = NodeFixture.basic(1);
        final ServiceInfo web = new ServiceInfo("default", "web", "NodePort", null, List.of(WEB_IP), List.of(),
            List.of(), true, 600, false, false, List.of(new ServiceInfo.ServicePort("http", 6, 80, 30080, List.of(
                new ServiceInfo.Endpoint(NodeFixture.POD_B, 8080, false, true, true, NodeFixture.NODE, "", true),
                new ServiceInfo.Endpoint(NodeFixture.POD_A, 8080, true, true, false, NodeFixture.NODE, "", true)))));
        final ServiceInfo dns = new ServiceInfo("kube-system", "dns", "ClusterIP", null, List.of(DNS_IP), List.of(),
            List.of(), false, ServiceInfo.DEFAULT_AFFINITY_TIMEOUT, false, false,
            List.of(new ServiceInfo.ServicePort("", 17, 53, 0, List.of())));
        final ServiceInfo headless = new ServiceInfo("default", "db", "ClusterIP", "headless (no ClusterIP)",
            List.of(), List.of(), List.of(), false, 0, false, false, List.of());
        final ServiceInfo clash = new ServiceInfo("default", "web2", "ClusterIP", null, List.of(WEB_IP), List.of(),
            List.of(), false, ServiceInfo.DEFAULT_AFFINITY_TIMEOUT, false, false, List.of(new ServiceInfo.ServicePort(
                "", 6, 80, 0, List.of(new ServiceInfo.Endpoint(NodeFixture.POD_B, 9090, true, true, false,
                    NodeFixture.NODE, "", true)))));
        return new NodeTables(1, t.node(), t.cluster(), t.pods(), t.remoteNodes(),
            List.of(web, dns, headless, clash), Map.of());
    }

    private void startWithServices() throws Exception
    {
        node = new NodeFixture(dir, ThreadingMode.SHARED, withServices());
        node.daemon.attach(NodeFixture.attachRequest("ca", NodeFixture.POD_A)).get();
        node.daemon.attach(NodeFixture.attachRequest("cb", NodeFixture.POD_B)).get();
        try (NodeApiClient client = NodeApiClient.connect(node.socket()))
        {
            client.traceAdd(1);
        }
    }

    private static byte[] syn(final int sport, final int id)
    {
        return new FrameBuilder().eth(Ip4.podMac(NodeFixture.POD_B), NodeFixture.GATEWAY_MAC)
            .ip4(NodeFixture.POD_B, WEB_IP).id(id).tcp(sport, 80, 0x02, 1000, 0).build();
    }

    private void startWithServicesAndTraffic() throws Exception
    {
        startWithServices();
        // pod B opens two connections to web: both go to pod A (the only ready backend), neither is ESTABLISHED
        final MemoryPortView a = node.ports.port("tap0af40102");
        final MemoryPortView b = node.ports.port("tap0af40103");
        for (int i = 0; i < 2; i++)
        {
            b.enqueue(syn(41000 + i, i));
        }
        NodeFixture.await("both SYNs DNATed to pod A", () -> a.txPackets() == 2, Duration.ofSeconds(30));
    }

    @Test
    void shouldGiveRoutesAsFields() throws Exception
    {
        startWithServicesAndTraffic();
        final JsonNode j = json("routes");
        assertThat(j.path("generation").isIntegralNumber()).isTrue();
        assertThat(j.path("generation").asLong()).isEqualTo(1);
        JsonNode remote = null;
        for (final JsonNode r : j.path("routes"))
        {
            assertThat(r.path("prefix").isTextual()).isTrue();
            assertThat(r.path("kind").asText()).isIn("local-pod", "remote-pod", "uplink", "local", "unknown-pod",
                "blackhole");
            assertThat(r.path("dev").isTextual() || r.path("dev").isNull()).as(r.toString()).isTrue();
            assertThat(r.path("via").isTextual() || r.path("via").isNull()).as(r.toString()).isTrue();
            assertThat(r.path("mtu").isInt()).isTrue();
            assertThat(r.path("description").isTextual()).isTrue();
            if (r.path("prefix").asText().equals("10.244.2.0/24"))
            {
                remote = r;
            }
        }
        assertThat(remote).as("node-b's pod CIDR").isNotNull();
        assertThat(remote.path("kind").asText()).isEqualTo("remote-pod");
        assertThat(remote.path("via").asText()).isEqualTo("192.168.50.12");
        assertThat(remote.path("dev").asText()).isEqualTo("eth9");
        assertThat(remote.path("mtu").asInt()).isPositive();
        final JsonNode local = find(j.path("routes"), "prefix", "10.244.1.1/32");
        assertThat(local.path("kind").asText()).isEqualTo("local");
        assertThat(local.path("dev").isNull()).isTrue();
        assertThat(local.path("via").isNull()).isTrue();
    }

    @Test
    void shouldGiveNeighboursAsFields() throws Exception
    {
        startWithServicesAndTraffic();
        final JsonNode j = json("neighbors");
        assertThat(j.path("tables").asBoolean()).isTrue();
        final JsonNode nodeB = find(j.path("neighbors"), "ip", "192.168.50.12");
        assertThat(nodeB.path("dev").asText()).isEqualTo("eth9");
        assertThat(nodeB.path("mac").asText()).isEqualTo(Ip4.formatMac(Ip4.podMac(NodeFixture.NODE_B_IP)));
        assertThat(nodeB.path("state").asText()).isEqualTo("PERMANENT");
        assertThat(nodeB.path("source").asText()).isEqualTo("node");
        assertThat(nodeB.path("owner").asText()).isEqualTo("node-b");
        final JsonNode podA = find(j.path("neighbors"), "ip", "10.244.1.2");
        assertThat(podA.path("dev").asText()).isEqualTo("tap0af40102");
        assertThat(podA.path("mac").asText()).isEqualTo(Ip4.formatMac(Ip4.podMac(NodeFixture.POD_A)));
        assertThat(podA.path("source").asText()).isEqualTo("pod");
        assertThat(podA.path("owner").asText()).isEqualTo("default/pod-2");
        assertThat(json("neighbours").path("neighbors")).as("the alias").isEqualTo(j.path("neighbors"));
    }

    @Test
    void shouldGiveServicesLikeIpvsadmWithBackendsAndConnections() throws Exception
    {
        startWithServicesAndTraffic();
        final JsonNode j = json("services");
        assertThat(j.path("tables").asBoolean()).isTrue();
        final JsonNode web = find(j.path("services"), "name", "default/web:http");
        assertThat(web.path("proxied").asBoolean()).isTrue();
        assertThat(web.path("service").asText()).isEqualTo("default/web");
        assertThat(web.path("portName").asText()).isEqualTo("http");
        assertThat(web.path("protocol").asText()).isEqualTo("TCP");
        assertThat(web.path("scheduler").asText()).isIn("random", "maglev");
        assertThat(web.path("persistentSeconds").asLong()).isEqualTo(600);
        assertThat(web.path("externalTrafficPolicy").asText()).isEqualTo("Cluster");
        assertThat(web.path("hasEndpoints").asBoolean()).isTrue();
        final JsonNode cluster = find(web.path("virtualServers"), "kind", "ClusterIP");
        assertThat(cluster.path("vip").asText()).isEqualTo("10.96.0.80");
        assertThat(cluster.path("port").asInt()).isEqualTo(80);
        assertThat(cluster.path("installed").asBoolean()).isTrue();
        assertThat(cluster.path("usedBy").isNull()).isTrue();
        final JsonNode nodePort = find(web.path("virtualServers"), "kind", "NodePort");
        assertThat(nodePort.path("vip").asText()).isEqualTo("192.168.50.11");
        assertThat(nodePort.path("port").asInt()).isEqualTo(30080);

        final JsonNode rs = web.path("realServers");
        assertThat(rs).hasSize(2);
        final JsonNode a = rs.get(0);
        final JsonNode b = rs.get(1);
        assertThat(a.path("address").asText()).as("sorted by address").isEqualTo("10.244.1.2");
        assertThat(a.path("port").asInt()).isEqualTo(8080);
        assertThat(a.path("weight").asInt()).isEqualTo(1);
        assertThat(a.path("state").asText()).isEqualTo("ready");
        assertThat(a.path("ready").asBoolean()).isTrue();
        assertThat(a.path("local").asBoolean()).isTrue();
        assertThat(a.path("activeConn").isIntegralNumber()).isTrue();
        assertThat(a.path("activeConn").asLong()).isZero();
        assertThat(a.path("inActConn").asLong()).as("two SYN_SENT connections").isEqualTo(2);
        assertThat(b.path("address").asText()).isEqualTo("10.244.1.3");
        assertThat(b.path("state").asText()).isEqualTo("serving-terminating");
        assertThat(b.path("terminating").asBoolean()).isTrue();
        assertThat(b.path("used").asBoolean()).isFalse();
        assertThat(b.path("weight").asInt()).isZero();
        assertThat(b.path("inActConn").asLong()).isZero();

        final JsonNode dns = find(j.path("services"), "name", "kube-system/dns");
        assertThat(dns.path("protocol").asText()).isEqualTo("UDP");
        assertThat(dns.path("hasEndpoints").asBoolean()).as("no endpoints: REJECT").isFalse();
        assertThat(dns.path("realServers")).isEmpty();
        final JsonNode db = find(j.path("services"), "name", "default/db");
        assertThat(db.path("proxied").asBoolean()).isFalse();
        assertThat(db.path("reason").asText()).isEqualTo("headless (no ClusterIP)");
        final JsonNode clash = find(j.path("services"), "name", "default/web2").path("virtualServers").get(0);
        assertThat(clash.path("installed").asBoolean()).isFalse();
        assertThat(clash.path("usedBy").asText()).isEqualTo("default/web:http");
    }

    @Test
    void shouldGivePortsAndTraceAsFields() throws Exception
    {
        startWithServicesAndTraffic();
        final JsonNode ports = json("ports");
        final JsonNode tapA = find(ports.path("ports"), "name", "tap0af40102");
        assertThat(tapA.path("kind").asText()).isEqualTo("pod");
        assertThat(tapA.path("id").isInt()).isTrue();
        assertThat(tapA.path("mac").asText()).matches("([0-9a-f]{2}:){5}[0-9a-f]{2}");
        assertThat(tapA.path("txPackets").asLong()).isEqualTo(2);
        assertThat(tapA.path("txBytes").asLong()).isPositive();
        for (final String f : List.of("rxPackets", "rxBytes", "rxDropped", "txDropped"))
        {
            assertThat(tapA.path(f).isIntegralNumber()).as(f).isTrue();
        }
        assertThat(tapA.path("pod").path("namespace").asText()).isEqualTo("default");
        assertThat(tapA.path("pod").path("name").asText()).isEqualTo("pod-2");
        assertThat(tapA.path("pod").path("ip").asText()).isEqualTo("10.244.1.2");
        assertThat(find(ports.path("ports"), "name", "eth9").path("pod").isNull()).isTrue();

        final JsonNode trace = json("trace");
        assertThat(trace.path("lost").asLong()).isZero();
        // one packet traced, the first SYN; it entered on worker 0 (a memory port's frames enter on queue 0). With two
        // workers its flow's owner may be the other one: then it is traced in two parts, both packet 1, in the order
        // it took them: up to the handoff on worker 0, and on from the owner's nat44-in
        final JsonNode packets = trace.path("packets");
        assertThat(packets).isNotEmpty();
        for (final JsonNode part : packets)
        {
            assertThat(part.path("packet").asInt()).isEqualTo(1);
            assertThat(part.path("worker").isInt()).isTrue();
            for (final JsonNode s : part.path("steps"))
            {
                assertThat(s.path("kind").asText()).isIn("input", "next", "drop", "detail", "transmit", "inject");
                assertThat(s.path("stage").isTextual()).isTrue();
            }
        }
        final JsonNode first = packets.get(0);
        assertThat(first.path("worker").asInt()).isZero();
        final JsonNode input = first.path("steps").get(0);
        assertThat(input.path("kind").asText()).isEqualTo("input");
        assertThat(input.path("port").asText()).isEqualTo("tap0af40103");
        assertThat(input.path("bytes").asLong()).isEqualTo(54);
        assertThat(input.path("nanos").isIntegralNumber()).isTrue();
        assertThat(input.path("next").isTextual()).isTrue();
        assertThat(input.path("handedOverBy").isNull()).as("entered from its port").isTrue();
        final JsonNode upTo = last(first);
        if (upTo.path("detail").asText().endsWith("(handed over)"))
        {
            assertThat(NodeFixture.workers()).isGreaterThan(1);
            assertThat(packets).hasSize(2);
            final JsonNode owner = packets.get(1);
            assertThat(upTo.path("detail").asText()).isEqualTo("owner worker " + owner.path("worker").asInt()
                + " (handed over)");
            assertThat(owner.path("worker").asInt()).isNotZero();
            final JsonNode handed = owner.path("steps").get(0);
            assertThat(handed.path("kind").asText()).isEqualTo("input");
            assertThat(handed.path("next").asText()).isEqualTo("nat44-in");
            assertThat(handed.path("port").asText()).isEqualTo("tap0af40103");
            assertThat(handed.path("bytes").asLong()).isEqualTo(54);
            assertThat(handed.path("nanos").asLong()).as("its receive time").isEqualTo(input.path("nanos").asLong());
            assertThat(handed.path("handedOverBy").asInt()).isZero();
        }
        else
        {
            assertThat(packets).as("not handed over: one part").hasSize(1);
        }
        final JsonNode out = last(packets.get(packets.size() - 1));
        assertThat(out.path("kind").asText()).isEqualTo("transmit");
        assertThat(out.path("port").asText()).isEqualTo("tap0af40102");
    }

    /**
     * The same flow's SYN on both queues of pod B's TAP (one queue per worker; a single worker has one): each worker
     * samples the packet that enters it, and exactly one of the two is handed over, to the worker that owns the flow
     * and took the other in itself. Every part of a packet carries the packet's node-wide number, the parts come in
     * the order the packet took them, each names its worker, and the text says the same.
     */
    @Test
    void shouldTraceAHandedOverPacketInPartsInTheOrderItTookThem() throws Exception
    {
        startWithServices();
        final int workers = NodeFixture.workers();
        for (int q = 0; q < workers; q++)
        {
            node.ports.port("tap0af40103", q).enqueue(syn(42000, q));
        }
        final MemoryPortView a = node.ports.port("tap0af40102");
        NodeFixture.await("every SYN DNATed to pod A", () -> a.txPackets() == workers, Duration.ofSeconds(30));

        final JsonNode trace = json("trace");
        final JsonNode packets = trace.path("packets");
        assertThat(trace.path("lost").asLong()).isZero();
        final List<Integer> numbers = new ArrayList<>();
        packets.forEach(p -> numbers.add(p.path("packet").asInt()));
        // parts of one packet side by side, packets in number order
        assertThat(numbers).isSorted();
        assertThat(numbers.stream().distinct().toList()).as("one number per SYN, the node's")
            .isEqualTo(workers == 1 ? List.of(1) : List.of(1, 2));
        int handedOver = 0;
        for (int i = 0; i < packets.size(); i++)
        {
            final JsonNode part = packets.get(i);
            final JsonNode in = part.path("steps").get(0);
            assertThat(in.path("kind").asText()).isEqualTo("input");
            assertThat(in.path("port").asText()).isEqualTo("tap0af40103");
            final JsonNode end = last(part);
            if (end.path("detail").asText().endsWith("(handed over)"))
            {
                handedOver++;
                assertThat(in.path("handedOverBy").isNull()).as("the part before the handoff entered from the port")
                    .isTrue();
                final JsonNode owner = packets.get(i + 1);
                assertThat(owner.path("packet").asInt()).as("the next part is the same packet's")
                    .isEqualTo(part.path("packet").asInt());
                assertThat(end.path("detail").asText()).isEqualTo("owner worker " + owner.path("worker").asInt()
                    + " (handed over)");
                assertThat(owner.path("steps").get(0).path("handedOverBy").asInt())
                    .isEqualTo(part.path("worker").asInt());
                assertThat(owner.path("steps").get(0).path("next").asText()).isEqualTo("nat44-in");
            }
            else
            {
                assertThat(end.path("kind").asText()).isEqualTo("transmit");
                assertThat(end.path("port").asText()).isEqualTo("tap0af40102");
                assertThat(part.path("steps").toString()).as("nat44-in ran here").contains("\"nat44-in\"");
            }
        }
        assertThat(handedOver).as("the SYN that entered on the worker not owning its flow").isEqualTo(workers - 1);
        assertThat(packets).hasSize(workers == 1 ? 1 : 3);

        // the text: one block per part, in the same order, headed with the worker when there are several
        final List<List<String>> blocks = NodeFixture.traceParts(text("trace"));
        assertThat(blocks).hasSize(packets.size());
        for (int i = 0; i < blocks.size(); i++)
        {
            final JsonNode part = packets.get(i);
            final List<String> block = blocks.get(i);
            assertThat(block.get(0)).isEqualTo("Packet " + part.path("packet").asInt()
                + (workers == 1 ? ":" : " (worker " + part.path("worker").asInt() + "):"));
            assertThat(block).hasSize(1 + part.path("steps").size());
            final JsonNode by = part.path("steps").get(0).path("handedOverBy");
            assertThat(block.get(1)).endsWith(by.isNull() ? "into " + part.path("steps").get(0).path("next").asText()
                : "into nat44-in, handed over by worker " + by.asInt());
        }
    }

    private static JsonNode last(final JsonNode part)
    {
        final JsonNode steps = part.path("steps");
        return steps.get(steps.size() - 1);
    }

    @Test
    void shouldTellTheSameStoryAsTheText() throws Exception
    {
        startWithServicesAndTraffic();
        final JsonNode routes = json("routes");
        final List<String> fromJson = new ArrayList<>();
        fromJson.add("# generation " + routes.path("generation").asLong());
        routes.path("routes").forEach(r -> fromJson.add(r.path("prefix").asText() + " " + r.path("kind").asText()
            + " " + r.path("description").asText()));
        assertThat(fromJson).isEqualTo(text("routes"));

        final List<String> neigh = new ArrayList<>();
        json("neighbors").path("neighbors").forEach(n -> neigh.add(n.path("ip").asText() + " dev "
            + n.path("dev").asText() + " lladdr " + n.path("mac").asText() + " " + n.path("state").asText()
            + switch (n.path("source").asText())
            {
                case "node" -> "  # node " + n.path("owner").asText();
                case "pod" -> "  # pod " + n.path("owner").asText();
                case "arp" -> "  # learned by ARP";
                default -> "";
            }));
        assertThat(neigh).isEqualTo(text("neighbors"));

        // services: every installed virtual server and every real server (with its connection counts) is a line
        final List<String> services = text("services");
        final List<String> expected = new ArrayList<>();
        for (final JsonNode s : json("services").path("services"))
        {
            if (!s.path("proxied").asBoolean())
            {
                expected.add("---  " + s.path("name").asText() + "  not proxied: " + s.path("reason").asText());
                continue;
            }
            for (final JsonNode v : s.path("virtualServers"))
            {
                final String fe = String.format(Locale.ROOT, "%-4s %-21s %s (%s)", v.path("protocol").asText(),
                    v.path("vip").asText() + ":" + v.path("port").asInt(), s.path("name").asText(),
                    v.path("kind").asText());
                expected.add(v.path("installed").asBoolean() ? fe + "  "
                    : "!!!  " + fe + ": frontend already used by " + v.path("usedBy").asText() + ": not installed");
            }
            if (!s.path("hasEndpoints").asBoolean())
            {
                expected.add("  -> (no usable endpoints: REJECT)");
            }
            for (final JsonNode r : s.path("realServers"))
            {
                expected.add(String.format(Locale.ROOT, "  -> %-21s %s%s%s", r.path("address").asText() + ":"
                    + r.path("port").asInt(), r.path("state").asText(), r.path("local").asBoolean() ? " local" : "",
                    r.path("used").asBoolean() ? "" : " (unused)"));
                expected.add(String.format(Locale.ROOT, " %10d %10d", r.path("activeConn").asLong(),
                    r.path("inActConn").asLong()));
            }
        }
        final String body = String.join("\n", services);
        int at = 0;
        for (final String piece : expected)
        {
            final int found = body.indexOf(piece, at);
            assertThat(found).as("text has, in order: '" + piece + "'\n" + body).isGreaterThanOrEqualTo(0);
            at = found + piece.length();
        }

        final List<String> portLines = text("ports");
        final JsonNode ports = json("ports").path("ports");
        assertThat(portLines).hasSize(ports.size() + 1);
        for (int i = 0; i < ports.size(); i++)
        {
            final JsonNode p = ports.get(i);
            final String[] cols = portLines.get(i + 1).trim().split(" +");
            assertThat(List.of(cols).subList(0, 10)).isEqualTo(List.of(p.path("id").asText(), p.path("name").asText(),
                p.path("kind").asText(), p.path("mac").asText(), p.path("rxPackets").asText(),
                p.path("rxBytes").asText(), p.path("txPackets").asText(), p.path("txBytes").asText(),
                p.path("rxDropped").asText(), p.path("txDropped").asText()));
        }

        // the text has a block per packet (several workers: per part, naming its worker), the JSON an object, in the
        // same order
        final List<String> traceLines = text("trace");
        final JsonNode packets = json("trace").path("packets");
        int lines = 0;
        for (final JsonNode p : packets)
        {
            assertThat(traceLines.get(lines)).isEqualTo("Packet " + p.path("packet").asInt()
                + (NodeFixture.workers() == 1 ? ":" : " (worker " + p.path("worker").asInt() + "):"));
            lines += 1 + p.path("steps").size();
        }
        assertThat(traceLines).hasSize(lines);
    }

    @Test
    void shouldGiveEmptyViewsBeforeTheFirstTables() throws Exception
    {
        node = new NodeFixture(dir, ThreadingMode.SHARED, null);
        final JsonNode routes = json("routes");
        assertThat(routes.path("generation").isNull()).isTrue();
        assertThat(routes.path("routes").isArray()).isTrue();
        assertThat(routes.path("routes")).isEmpty();
        assertThat(json("neighbors").path("tables").asBoolean()).isFalse();
        assertThat(json("neighbors").path("neighbors")).isEmpty();
        assertThat(json("services").path("tables").asBoolean()).isFalse();
        assertThat(json("services").path("services")).isEmpty();
        final JsonNode trace = json("trace");
        assertThat(trace.path("packets").isArray()).isTrue();
        assertThat(trace.path("packets")).isEmpty();
        assertThat(text("trace")).containsExactly("No packets traced (use: ferry trace add N)");
    }

    @Test
    void shouldStillAnswerTextLinesToAClientThatAsksForThemAndRefuseAnUnknownFormat() throws Exception
    {
        node = new NodeFixture(dir, ThreadingMode.SHARED, NodeFixture.basic(1));
        try (NodeApiClient client = NodeApiClient.connect(node.socket()))
        {
            final JsonNode old = client.call(MAPPER.createObjectNode().put("op", "show").put("what", "routes"));
            assertThat(old.path("ok").asBoolean()).isTrue();
            assertThat(old.path("lines").get(0).asText()).isEqualTo("# generation 1");
            final JsonNode bad = client.call(MAPPER.createObjectNode().put("op", "show").put("what", "routes")
                .put("format", "yaml"));
            assertThat(bad.path("ok").asBoolean()).isFalse();
            assertThat(bad.path("error").asText()).contains("format");
            final JsonNode ct = client.call(MAPPER.createObjectNode().put("op", "show").put("what", "conntrack")
                .put("format", "json"));
            assertThat(ct.path("ok").asBoolean()).isFalse();
            assertThat(ct.path("error").asText()).contains("conntrack op");
        }
    }

    private static JsonNode find(final JsonNode array, final String field, final String value)
    {
        for (final JsonNode n : array)
        {
            if (n.path(field).asText().equals(value))
            {
                return n;
            }
        }
        throw new AssertionError("no " + field + "=" + value + " in " + array);
    }
}
