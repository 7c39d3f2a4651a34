package dev.ferry.node.live;

import com.fasterxml.jackson.databind.JsonNode;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.tables.ServiceInfo;
import dev.ferry.nodeapi.AttachRequest;
import dev.ferry.nodeapi.NodeApiClient;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A 4,000-byte UDP datagram through a ClusterIP between two real kernels (issue 13, class 5): the client pod's
 * kernel fragments it at the pod MTU (1450), ferry DNATs every fragment to the backend pod, whose kernel reassembles
 * it; the backend's 4,000-byte answer comes back in fragments, each un-DNATed, and the client's socket, connected to
 * the ClusterIP, receives it whole. Run it under {@code flock /tmp/ferry-netns.lock}.
 */
@Tag("netns")
class LiveFragmentsTest
{
    static final String NODE_NS = "ferry-frg-n";
    static final String POD1_NS = "ferry-frg-p1";
    static final String POD2_NS = "ferry-frg-p2";
    static final String POD1 = LivePodsTest.POD1;
    static final String POD2 = LivePodsTest.POD2;
    static final String GATEWAY = LivePodsTest.GATEWAY;
    static final String VIP = "10.96.0.53";

    private static final String SERVER = String.join("\n",
        "import socket, sys",
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)",
        "s.bind(('" + POD2 + "', 5353))",
        "s.settimeout(15)",
        "print('ready', flush=True)",
        "d, a = s.recvfrom(65535)",
        "print(len(d), d == bytes(i & 255 for i in range(4000)), flush=True)",
        "s.sendto(bytes((i * 7) & 255 for i in range(4000)), a)");
    private static final String CLIENT = String.join("\n",
        "import socket",
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)",
        "s.settimeout(5)",
        "s.connect(('" + VIP + "', 53))",
        "s.send(bytes(i & 255 for i in range(4000)))",
        "d = s.recv(65535)",
        "print(len(d), d == bytes((i * 7) & 255 for i in range(4000)))");

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

    static NodeTables tables()
    {
        final ServiceInfo dns = new ServiceInfo("default", "big-dns", "ClusterIP", null, List.of(Ip4.parse(VIP)),
            List.of(), List.of(), false, ServiceInfo.DEFAULT_AFFINITY_TIMEOUT, false, false,
            List.of(new ServiceInfo.ServicePort("", 17, 53, 0, List.of(new ServiceInfo.Endpoint(Ip4.parse(POD2), 5353,
                true, true, false, "node-a", "", true)))));
        return LivePodsTest.tables(List.of(dns));
    }

    @Test
    void shouldCarryA4000ByteUdpDatagramThroughAClusterIpBetweenRealKernels() throws Exception
    {
        final Path config = TwoNodes.config(dir, tables(), "lo", "udp");
        final Path socket = dir.resolve("run/ferry.sock");
        try (NodeProcess node = NodeProcess.start(NODE_NS, config, socket, dir.resolve("node.log")))
        {
            try (NodeApiClient api = node.client())
            {
                final JsonNode a1 = api.attach(new AttachRequest("c1", "eth0", "/run/netns/" + POD1_NS, "default",
                    "pod-1", Ip4.parse(POD1), -1));
                final JsonNode a2 = api.attach(new AttachRequest("c2", "eth0", "/run/netns/" + POD2_NS, "default",
                    "pod-2", Ip4.parse(POD2), -1));
                Netns.plumbPod(NODE_NS, a1.path("tap").asText(), POD1_NS, POD1, GATEWAY);
                Netns.plumbPod(NODE_NS, a2.path("tap").asText(), POD2_NS, POD2, GATEWAY);
            }
            final Process server = new ProcessBuilder(Netns.inNs(POD2_NS, "python3", "-c", SERVER))
                .redirectErrorStream(true).start();
            try (BufferedReader out = new BufferedReader(new InputStreamReader(server.getInputStream(),
                StandardCharsets.UTF_8)))
            {
                assertThat(out.readLine()).isEqualTo("ready");
                final Netns.Result client = Netns.run(Netns.inNs(POD1_NS, "python3", "-c", CLIENT));
                assertThat(client.out().strip()).as("the client receives the whole answer from the ClusterIP: "
                    + client.out()).isEqualTo("4000 True");
                assertThat(out.readLine()).as("the backend reassembled the whole query").isEqualTo("4000 True");
                assertThat(server.waitFor(10, TimeUnit.SECONDS)).isTrue();
            }
            finally
            {
                // only the process this test started
                server.destroyForcibly();
            }
            assertThat(node.terminate()).isEqualTo(143);
            assertThat(node.log()).doesNotContain("packet buffers were still in use").doesNotContain("Exception");
        }
    }
}
