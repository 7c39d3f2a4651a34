package dev.ferry.node;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ferry.core.packet.FrameBuilder;
import dev.ferry.core.route.Ip4;
import dev.ferry.nodeapi.NodeApiClient;
import dev.ferry.nodeapi.NodeTablesJson;
import dev.ferry.tapio.MemoryPort;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.time.Duration;
import java.util.List;
import java.util.function.Consumer;

import static dev.ferry.node.NodeFixture.POD_A;
import static dev.ferry.node.NodeFixture.POD_B;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class NodeApiTest
{
    private static final ObjectMapper MAPPER = new ObjectMapper();

    @TempDir
    Path dir;

    private NodeFixture node;
    private NodeApiClient client;

    @BeforeEach
    void start() throws Exception
    {
        node = new NodeFixture(dir, ThreadingMode.SHARED, NodeFixture.basic(1));
        client = NodeApiClient.connect(node.socket());
    }

    @AfterEach
    void stop() throws Exception
    {
        client.close();
        node.close();
    }

    @Test
    void shouldCreateTheSocketWithMode0600()
        throws Exception
    {
        assertThat(Files.getPosixFilePermissions(node.socket()))
            .as("only the owner may connect")
            .containsExactlyInAnyOrder(PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE);
    }

    @Test
    void shouldAcknowledgeAPushAndServeItsRoutes() throws Exception
    {
        final long acked = client.push(2, NodeFixture.tables(2, List.of(POD_A), List.of("10.244.2.0/24",
            "10.244.7.0/24")));

        assertThat(acked).as("generation acknowledged").isEqualTo(2);
        final List<String> routes = client.show("routes");
        assertThat(routes).first().isEqualTo("# generation 2");
        assertThat(routes).anyMatch(l -> l.startsWith("10.244.7.0/24 remote-pod vxlan to node-c"));
        assertThat(client.health().path("generation").asLong()).isEqualTo(2);
        assertThat(node.daemon.generation()).isEqualTo(2);
    }

    @Test
    void shouldRefuseAnOldGenerationAndKeepTheTables() throws Exception
    {
        client.push(5, NodeFixture.basic(5));

        assertRefused(client.call(push(5, t -> { })), "generation 5 is not newer than the current generation 5");
        assertRefused(client.call(push(3, t -> { })), "generation 3 is not newer than the current generation 5");
        assertThat(client.show("routes")).first().isEqualTo("# generation 5");
    }

    @Test
    void shouldRefuseSchemaErrorsNamingTheField() throws Exception
    {
        assertRefused(client.call(push(2, t -> t.put("colour", "blue"))), "tables.colour: unknown field");
        assertRefused(client.call(push(2, t -> ((ObjectNode)t.get("node")).put("podCidr", "10.244.1.0/33"))),
            "tables.node.podCidr: not an IPv4 prefix: '10.244.1.0/33'");
        assertRefused(client.call(push(2, t -> ((ObjectNode)t.get("pods").get(0)).put("ip", "10.244.1.300"))),
            "tables.pods[0].ip: not an IPv4 address: '10.244.1.300'");
        assertRefused(client.call(push(2, t -> ((ObjectNode)t.get("node")).remove("vtepMac"))),
            "tables.node.vtepMac: required");
        assertRefused(client.call(push(2, t -> ((ObjectNode)t.get("node")).put("underlayMtu", "big"))),
            "tables.node.underlayMtu: expected a whole number");
        assertTablesStillGeneration1();
    }

    @Test
    void shouldRefuseOverlappingRoutes() throws Exception
    {
        assertRefused(client.call(push(2, t -> ((ObjectNode)t.get("remoteNodes").get(0)).put("podCidr",
            "10.244.0.0/23"))), "tables.remoteNodes[0].podCidr: 10.244.0.0/23 overlaps 10.244.1.0/24 of "
            + "tables.node.podCidr");
        assertRefused(client.call(push(2, t -> ((ArrayNode)t.get("remoteNodes")).addObject().put("name", "node-z")
            .put("podCidr", "10.244.2.128/25").put("publicIp", "192.168.50.99").put("vtepMac", "aa:aa:aa:00:00:09")
            .put("underlayMac", "02:00:00:00:00:09"))), "tables.remoteNodes[1].podCidr: 10.244.2.128/25 overlaps "
            + "10.244.2.0/24 of tables.remoteNodes[0].podCidr");
        assertRefused(client.call(push(2, t -> ((ObjectNode)t.get("pods").get(1)).put("ip", "10.244.1.2"))),
            "tables.pods[1].ip: 10.244.1.2 is also the address of tables.pods[0]");
        assertRefused(client.call(push(2, t -> ((ObjectNode)t.get("pods").get(1)).put("ip", "10.244.9.3"))),
            "tables.pods[1].ip: 10.244.9.3 is outside this node's pod CIDR 10.244.1.0/24");
        assertTablesStillGeneration1();
    }

    @Test
    void shouldRefusePortsOutOfRange() throws Exception
    {
        assertRefused(client.call(push(2, t -> ((ArrayNode)t.get("services")).add(service(70000, 0)))),
            "tables.services[0].ports[0].port: 70000 is out of range 1..65535");
        assertRefused(client.call(push(2, t -> ((ArrayNode)t.get("services")).add(service(80, 29999)))),
            "tables.services[0].ports[0].nodePort: 29999 is outside the NodePort range 30000-32767");
        assertRefused(client.call(push(2, t -> ((ObjectNode)t.get("cluster")).put("vxlanPort", 0))),
            "tables.cluster.vxlanPort: 0 is out of range 1..65535");
        assertTablesStillGeneration1();
        assertThat(client.push(2, NodeFixture.basic(2))).as("a good push after refusals").isEqualTo(2);
    }

    @Test
    void shouldRefuseTablesForAnotherNode() throws Exception
    {
        assertRefused(client.call(push(2, t -> ((ObjectNode)t.get("node")).put("name", "node-q"))),
            "tables.node.name: 'node-q' is not this node ('node-a')");
        assertTablesStillGeneration1();
    }

    @Test
    void shouldAnswerMalformedRequestsWithoutDying() throws Exception
    {
        assertThat(client.callRaw("{not json").path("error").asText()).startsWith("request is not valid JSON");
        assertThat(client.callRaw("{\"v\":2,\"op\":\"health\"}").path("error").asText())
            .isEqualTo("v: protocol version 1 is required, got 2");
        assertThat(client.callRaw("{\"v\":1,\"op\":\"reboot\"}").path("error").asText())
            .startsWith("op: unknown 'reboot'");
        assertThat(client.callRaw("{\"v\":1,\"op\":\"show\",\"what\":\"everything\"}").path("error").asText())
            .startsWith("show: unknown 'everything'");
        assertThat(client.health().path("node").asText()).isEqualTo("node-a");
    }

    @Test
    void shouldAttachIdempotentlyAndDetachIdempotently() throws Exception
    {
        final JsonNode first = client.attach(NodeFixture.attachRequest("c1", Ip4.parse("10.244.1.5")));
        assertThat(first.path("tap").asText()).isEqualTo("tap0af40105");
        assertThat(first.path("mac").asText()).isEqualTo("0a:58:0a:f4:01:05");
        assertThat(first.path("mtu").asInt()).isEqualTo(1450);
        assertThat(first.path("gateway").asText()).isEqualTo("10.244.1.1");
        assertThat(first.path("gatewayMac").asText()).isEqualTo("0a:58:0a:f4:01:01");

        final JsonNode again = client.attach(NodeFixture.attachRequest("c1", Ip4.parse("10.244.1.5")));
        assertThat(again).as("same container, same answer").isEqualTo(first);
        assertThatThrownBy(() -> client.attach(NodeFixture.attachRequest("c2", Ip4.parse("10.244.1.5"))))
            .hasMessage("ip: 10.244.1.5 is already attached to c1/eth0");
        assertThatThrownBy(() -> client.attach(NodeFixture.attachRequest("c3", Ip4.parse("10.244.3.5"))))
            .hasMessage("ip: 10.244.3.5 is not a pod address of this node's pod CIDR 10.244.1.0/24");
        assertThat(client.show("ports")).anyMatch(l -> l.contains("tap0af40105") && l.contains("default/pod-5"));
        assertThat(client.show("routes")).as("an attached pod is routed before the agent lists it")
            .anyMatch(l -> l.startsWith("10.244.1.5/32 local-pod pod default/pod-5 on tap0af40105"));

        assertThat(client.detach("c1", "eth0")).isTrue();
        assertThat(client.detach("c1", "eth0")).as("second DEL").isFalse();
        assertThat(client.detach("never", "eth0")).as("DEL of an unknown container").isFalse();
        assertThat(node.ports.port("tap0af40105").isClosed()).as("the TAP is closed").isTrue();
        assertThat(client.show("ports")).noneMatch(l -> l.contains("tap0af40105"));
        assertThat(client.show("routes")).noneMatch(l -> l.startsWith("10.244.1.5/32"));
    }

    @Test
    void shouldRefuseAnAttachWhosePortCannotBeCreated() throws Exception
    {
        node.ports.failNextOpen("tap0af40106");
        assertThatThrownBy(() -> client.attach(NodeFixture.attachRequest("c6", Ip4.parse("10.244.1.6"))))
            .hasMessage("cannot create the pod port tap0af40106: cannot create tap0af40106 (injected failure)");
        assertThat(client.attach(NodeFixture.attachRequest("c6", Ip4.parse("10.244.1.6"))).path("tap").asText())
            .as("a retry works").isEqualTo("tap0af40106");
    }

    @Test
    void shouldShowServicesAndConntrackOnEveryNode() throws Exception
    {
        // every node's graph has the Services feature (NodeGraph), set up with the fixture's initial tables
        assertThat(client.show("services")).isNotEmpty().noneMatch(l -> l.contains("not enabled"));
        assertThat(client.show("conntrack")).containsExactly("No connections tracked");
    }

    @Test
    void shouldTraceOnlyThePacketsTheFilterMatches() throws Exception
    {
        client.attach(NodeFixture.attachRequest("ca", POD_A));
        client.attach(NodeFixture.attachRequest("cb", POD_B));
        // compiled by the node's libpcap (.ci/run installs libpcap0.8): only frames of 100 bytes or more
        client.traceAdd(1, "greater 100");
        final MemoryPortView a = node.ports.port("tap0af40102");
        a.enqueue(NodeFixture.udp(POD_A, POD_B, 21));
        a.enqueue(new FrameBuilder().eth(Ip4.podMac(POD_A), NodeFixture.GATEWAY_MAC).ip4(POD_A, POD_B)
            .udp(40000, 8080).payload(new byte[100]).build());
        a.enqueue(NodeFixture.udp(POD_A, POD_B, 23));
        final MemoryPortView b = node.ports.port("tap0af40103");
        NodeFixture.await("three frames on pod B", () -> b.txPackets() == 3, Duration.ofSeconds(10));

        final List<String> trace = client.show("trace");
        // with two workers the packet may be traced in two parts: up to the handoff, and on from its owner
        assertThat(trace).as("one packet traced, the one that matched").filteredOn(l -> l.startsWith("Packet "))
            .isNotEmpty().allMatch(l -> NodeFixture.headsPacket(l, 1));
        assertThat(trace).as("the second frame, the only one of 100 bytes or more, is the traced one")
            .anyMatch(l -> l.contains("input on tap0af40102, 142 bytes"))
            .filteredOn(l -> l.contains(" input on ")).allMatch(l -> l.contains("input on tap0af40102, 142 bytes"));
        assertThatThrownBy(() -> client.traceAdd(1, "tcp port"))
            .as("a bad expression is refused with libpcap's message").hasMessageContaining("trace add --filter");
    }

    @Test
    void shouldForwardTraceAndCountThroughTheApi() throws Exception
    {
        client.attach(NodeFixture.attachRequest("ca", POD_A));
        client.attach(NodeFixture.attachRequest("cb", POD_B));
        client.traceAdd(1);
        node.ports.port("tap0af40102").enqueue(NodeFixture.udp(POD_A, POD_B, 7));
        final MemoryPortView b = node.ports.port("tap0af40103");
        NodeFixture.await("the frame on pod B", () -> b.txPackets() == 1, Duration.ofSeconds(10));

        final List<String> trace = client.show("trace");
        assertThat(trace.get(0)).isEqualTo(NodeFixture.workers() == 1 ? "Packet 1:" : "Packet 1 (worker 0):");
        assertThat(trace).filteredOn(l -> l.startsWith("Packet ")).allMatch(l -> NodeFixture.headsPacket(l, 1));
        assertThat(trace).anyMatch(l -> l.contains("input on tap0af40102"));
        assertThat(trace).anyMatch(l -> l.contains("interface-output TRANSMIT on tap0af40103"));
        assertThat(client.show("ports")).anyMatch(l -> l.matches(".*tap0af40103 +pod .* 0 +0 +1 +\\d+ .*"));
        final List<String> stats = client.show("stats");
        assertThat(stats.get(0)).startsWith("Name").contains("Calls", "Vectors", "ns/packet", "Vectors/Call");
        assertThat(stats).anyMatch(l -> l.matches("ip4-lookup +1 +1 .*"));
        assertThat(stats).contains("No drops");
        assertThat(stats).as("the configured worker count").contains("workers: " + NodeFixture.workers());
        // several workers: each one's table, then the total, the table stats shows
        final List<String> runtime = client.show("runtime");
        final List<String> total = NodeFixture.workers() == 1 ? runtime
            : runtime.subList(runtime.indexOf("Total (" + NodeFixture.workers() + " workers)") + 1, runtime.size());
        assertThat(total).hasSize(stats.indexOf(""));
    }

    @Test
    void shouldNameADropByIdCounterAndSentenceInStatsAndTrace() throws Exception
    {
        client.attach(NodeFixture.attachRequest("ca", POD_A));
        client.traceAdd(1);
        final byte[] frame = NodeFixture.udp(POD_A, POD_B, 7);
        frame[14 + 10] ^= (byte)0xff; // the IPv4 header checksum
        node.ports.port("tap0af40102").enqueue(frame);
        NodeFixture.await("the drop counted", () -> statsLines().stream().anyMatch(l -> l.contains("bad-checksum")),
            Duration.ofSeconds(10));

        assertThat(statsLines()).as("show stats").anyMatch(l -> l.matches(
            " +1  ip4-input +19 bad-checksum: \"bad IPv4 header checksum\""));
        assertThat(client.show("trace")).as("show trace")
            .contains("  ip4-input DROP 19 bad-checksum: \"bad IPv4 header checksum\"");
    }

    private List<String> statsLines()
    {
        try
        {
            return client.show("stats");
        }
        catch (final Exception e)
        {
            throw new AssertionError(e);
        }
    }

    @Test
    void shouldShowNeighboursLikeIpNeigh() throws Exception
    {
        assertThat(client.show("neighbors")).contains(
            "192.168.50.12 dev eth9 lladdr 0a:58:c0:a8:32:0c PERMANENT  # node node-b");
    }

    private void assertTablesStillGeneration1() throws Exception
    {
        assertThat(client.show("routes")).as("last good tables still served").first()
            .isEqualTo("# generation 1");
        assertThat(client.health().path("generation").asLong()).isEqualTo(1);
    }

    private static void assertRefused(final JsonNode answer, final String message)
    {
        assertThat(answer.path("ok").asBoolean(true)).as("refused: " + answer).isFalse();
        assertThat(answer.path("op").asText()).isEqualTo("push");
        assertThat(answer.path("error").asText()).startsWith(message);
    }

    private static ObjectNode push(final long generation, final Consumer<ObjectNode> edit)
    {
        final ObjectNode tables = NodeTablesJson.encode(NodeFixture.basic(generation));
        edit.accept(tables);
        final ObjectNode req = MAPPER.createObjectNode().put("v", 1).put("op", "push").put("generation", generation);
        req.set("tables", tables);
        return req;
    }

    private static ObjectNode service(final int port, final int nodePort)
    {
        final ObjectNode s = MAPPER.createObjectNode().put("namespace", "default").put("name", "web");
        s.putArray("clusterIps").add("10.96.0.10");
        s.putArray("ports").addObject().put("protocol", "TCP").put("port", port).put("nodePort", nodePort);
        return s;
    }
}
