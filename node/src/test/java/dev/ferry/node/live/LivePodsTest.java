package dev.ferry.node.live;

import com.fasterxml.jackson.databind.JsonNode;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.route.Ip4Prefix;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.tables.ServiceInfo;
import dev.ferry.nodeapi.AttachRequest;
import dev.ferry.nodeapi.NodeApiClient;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * One node in its own namespace ({@code ferry node} as a process, stopped with SIGTERM), two pods in theirs,
 * attached over the API and plumbed the way the CNI plugin does it: kernel pings cross ferry between the pods,
 * the pods' TAPs survive a restart of the node and traffic resumes, and DEL removes a pod's TAP.
 */
@Tag("netns")
class LivePodsTest
{
    static final String NODE_NS = "ferry-nd2-n";
    static final String POD1_NS = "ferry-nd2-p1";
    static final String POD2_NS = "ferry-nd2-p2";
    static final String POD1 = "10.244.1.2";
    static final String POD2 = "10.244.1.3";
    static final String GATEWAY = "10.244.1.1";

    @TempDir
    Path dir;

    @BeforeEach
    void namespaces()
    {
        Netns.assumeRoot();
        Netns.createAll(NODE_NS, POD1_NS, POD2_NS);
    }

    @AfterEach
    void cleanUp()
    {
        Netns.deleteAll(POD1_NS, POD2_NS, NODE_NS);
    }

    /** node-a alone (pods 10.244.1.0/24 behind {@link #GATEWAY}) with these Services; LiveFragmentsTest's too. */
    static NodeTables tables(final List<ServiceInfo> services)
    {
        final int gw = Ip4.parse(GATEWAY);
        final NodeTables.NodeInfo node = new NodeTables.NodeInfo("node-a", List.of(Ip4.parse("192.168.77.1")),
            Ip4Prefix.parse("10.244.1.0/24"), gw, Ip4.podMac(gw), Ip4.parseMac("02:00:00:00:00:01"),
            Ip4.parseMac("aa:aa:aa:00:00:01"), Ip4.parse("192.168.77.1"), 0, Ip4Prefix.parse("192.168.77.0/24"),
            1500);
        return new NodeTables(1, node, NodeTables.ClusterSettings.defaults(), List.of(), List.of(), services,
            Map.of());
    }

    Path writeConfig() throws Exception
    {
        return TwoNodes.config(dir, tables(List.of()), "lo", "udp");
    }

    @Test
    void shouldForwardBetweenPodsAndResumeAfterARestart() throws Exception
    {
        final Path config = writeConfig();
        final Path socket = dir.resolve("run/ferry.sock");
        final Path log = dir.resolve("node.log");
        try (NodeProcess node = NodeProcess.start(NODE_NS, config, socket, log))
        {
            try (NodeApiClient api = node.client())
            {
                final JsonNode a1 = api.attach(new AttachRequest("c1", "eth0", "/run/netns/" + POD1_NS, "default",
                    "pod-1", Ip4.parse(POD1), -1));
                final JsonNode a2 = api.attach(new AttachRequest("c2", "eth0", "/run/netns/" + POD2_NS, "default",
                    "pod-2", Ip4.parse(POD2), -1));
                assertThat(a1.path("tap").asText()).as("TAP named prefix + pod IP in hex").isEqualTo("fn0af40102");
                assertThat(a1.path("mtu").asInt()).as("pod MTU").isEqualTo(1450);
                Netns.plumbPod(NODE_NS, a1.path("tap").asText(), POD1_NS, POD1, GATEWAY);
                Netns.plumbPod(NODE_NS, a2.path("tap").asText(), POD2_NS, POD2, GATEWAY);
            }
            assertThat(Netns.must(Netns.inNs(POD1_NS, "ip", "link", "show", "eth0")))
                .as("the TAP's MAC is the pod's MAC").contains("0a:58:0a:f4:01:02").contains("mtu 1450");

            final Netns.Result first = Netns.ping(POD1_NS, POD2, 3);
            assertThat(first.code()).as("pod1 → pod2 through ferry: " + first.out()).isZero();
            final Netns.Result gw = Netns.ping(POD2_NS, GATEWAY, 1);
            assertThat(gw.code()).as("the gateway answers: " + gw.out()).isZero();

            assertThat(node.terminate()).as("exit status after SIGTERM (128 + 15, hooks done)").isEqualTo(143);
            final String stopped = node.log();
            assertThat(stopped).contains("signal received, stopping").contains("stopped, ports closed")
                .doesNotContain("packet buffers were still in use").doesNotContain("Exception");
        }
        assertThat(Netns.run(Netns.inNs(POD1_NS, "ip", "link", "show", "eth0")).code())
            .as("the pod's TAP outlives the dataplane (persistent)").isZero();

        final Path log2 = dir.resolve("node2.log");
        try (NodeProcess node = NodeProcess.start(NODE_NS, config, socket, log2))
        {
            assertThat(node.log()).contains("2 of 2 attached pods restored");
            final Netns.Result again = Netns.ping(POD1_NS, POD2, 3);
            assertThat(again.code()).as("traffic resumes after the restart: " + again.out()).isZero();

            try (NodeApiClient api = node.client())
            {
                assertThat(api.detach("c2", "eth0")).as("DEL detaches").isTrue();
                assertThat(api.health().path("pods").asInt()).isEqualTo(1);
            }
            assertThat(Netns.run(Netns.inNs(POD2_NS, "ip", "link", "show", "eth0")).code())
                .as("DEL removes the pod's TAP").isNotZero();
            assertThat(node.terminate()).isEqualTo(143);
            assertThat(node.log()).doesNotContain("packet buffers were still in use");
        }
    }

    @Test
    void shouldStartAgainAfterACrash() throws Exception
    {
        final Path config = writeConfig();
        final Path socket = dir.resolve("run/ferry.sock");
        try (NodeProcess node = NodeProcess.start(NODE_NS, config, socket, dir.resolve("a.log")))
        {
            try (NodeApiClient api = node.client())
            {
                final JsonNode a1 = api.attach(new AttachRequest("c1", "eth0", "/run/netns/" + POD1_NS, "default",
                    "pod-1", Ip4.parse(POD1), -1));
                Netns.plumbPod(NODE_NS, a1.path("tap").asText(), POD1_NS, POD1, GATEWAY);
            }
            node.kill();
        }
        assertThat(socket).as("a crash leaves the socket file").exists();
        try (NodeProcess node = NodeProcess.start(NODE_NS, config, socket, dir.resolve("b.log")))
        {
            assertThat(node.log()).contains("1 of 1 attached pods restored");
            final Netns.Result ping = Netns.ping(POD1_NS, GATEWAY, 2);
            assertThat(ping.code()).as("the pod reaches its gateway after the crash and restart: " + ping.out())
                .isZero();
            assertThat(node.terminate()).isEqualTo(143);
        }
    }
}
