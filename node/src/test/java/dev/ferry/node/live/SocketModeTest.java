package dev.ferry.node.live;

import com.fasterxml.jackson.databind.JsonNode;
import dev.ferry.core.route.Ip4;
import dev.ferry.nodeapi.AttachRequest;
import dev.ferry.nodeapi.NodeApiClient;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Two ferry nodes in socket mode ({@code underlay: udp}): each node namespace keeps its veth and address in the
 * kernel, VXLAN rides the netty UDP socket bound to the node IP, and each node has one pod. Kernel pings cross
 * from a pod on node 1 to a pod on node 2; the host reaches its own pod through ferry0.
 */
@Tag("netns")
class SocketModeTest
{
    static final String[] NODES = {"ferry-nd2-a", "ferry-nd2-b"};
    static final String[] PODS = {"ferry-nd2-a1", "ferry-nd2-b1"};

    @TempDir
    Path dir;

    @BeforeEach
    void topology()
    {
        Netns.assumeRoot();
        for (final String ns : NODES)
        {
            Netns.create(ns);
        }
        for (final String ns : PODS)
        {
            Netns.create(ns);
        }
        Netns.must("ip", "link", "add", "fn-up-a", "netns", NODES[0], "type", "veth", "peer", "name", "fn-up-b",
            "netns", NODES[1]);
        for (int i = 0; i < 2; i++)
        {
            final String nic = i == 0 ? "fn-up-a" : "fn-up-b";
            Netns.must(Netns.inNs(NODES[i], "ip", "addr", "add", TwoNodes.nodeIp(i + 1) + "/24", "dev", nic));
            Netns.must(Netns.inNs(NODES[i], "ip", "link", "set", nic, "up"));
        }
    }

    @AfterEach
    void cleanUp()
    {
        for (final String ns : PODS)
        {
            Netns.delete(ns);
        }
        for (final String ns : NODES)
        {
            Netns.delete(ns);
        }
    }

    private static String stats(final NodeProcess node) throws Exception
    {
        try (NodeApiClient api = node.client())
        {
            return String.join("\n", api.show("stats")) + "\n" + String.join("\n", api.show("ports"));
        }
    }

    @Test
    void shouldPingAcrossNodesOverTheUdpUnderlay() throws Exception
    {
        final NodeProcess[] nodes = new NodeProcess[2];
        try
        {
            for (int i = 0; i < 2; i++)
            {
                final int n = i + 1;
                final Path d = Files.createDirectories(dir.resolve("node" + n));
                final Path config = TwoNodes.config(d, TwoNodes.tables(n, new long[] {0, 0}, 0),
                    i == 0 ? "fn-up-a" : "fn-up-b", "udp");
                nodes[i] = NodeProcess.start(NODES[i], config, d.resolve("run/ferry.sock"), d.resolve("node.log"));
                try (NodeApiClient api = nodes[i].client())
                {
                    final JsonNode a = api.attach(new AttachRequest("c" + n, "eth0", "/run/netns/" + PODS[i],
                        "default", "pod-" + n, Ip4.parse(TwoNodes.podIp(n, 2)), -1));
                    Netns.plumbPod(NODES[i], a.path("tap").asText(), PODS[i], TwoNodes.podIp(n, 2),
                        TwoNodes.gateway(n));
                }
            }
            final Netns.Result cross = Netns.ping(PODS[0], TwoNodes.podIp(2, 2), 3);
            if (cross.code() != 0)
            {
                assertThat(cross.code()).as("pod on node 1 → pod on node 2 over VXLAN/UDP: " + cross.out()
                    + nodes[0].log() + nodes[1].log() + "\nnode 1:\n" + stats(nodes[0]) + "\nnode 2:\n"
                    + stats(nodes[1])).isZero();
            }
            final Netns.Result host = Netns.ping(NODES[0], TwoNodes.podIp(1, 2), 2);
            assertThat(host.code()).as("node 1's host → its pod through ferry0: " + host.out()).isZero();
            final Netns.Result hostRemote = Netns.ping(NODES[0], TwoNodes.podIp(2, 2), 2);
            assertThat(hostRemote.code()).as("node 1's host → node 2's pod: " + hostRemote.out()).isZero();
            try (NodeApiClient api = nodes[0].client())
            {
                assertThat(api.show("services").get(0)).as("Services wired in (nat found by ServiceLoader)")
                    .startsWith("Prot LocalAddress:Port");
            }
            for (final NodeProcess p : nodes)
            {
                assertThat(p.terminate()).isEqualTo(143);
                assertThat(p.log()).contains("VXLAN socket bound to").doesNotContain("packet buffers were still")
                    .doesNotContain("Exception");
            }
        }
        finally
        {
            for (final NodeProcess p : nodes)
            {
                if (p != null)
                {
                    p.close();
                }
            }
        }
    }
}
