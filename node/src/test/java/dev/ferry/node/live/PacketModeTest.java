package dev.ferry.node.live;

import dev.ferry.nodeapi.NodeApiClient;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Two ferry nodes in packet mode ({@code underlay: packet}): each owns its veth through AF_PACKET (the kernel's
 * addresses flushed, its ingress dropped by tc), the node IP lives on ferry0, the remote node's underlay MAC is
 * not in the tables and is resolved with ARP. Kernel pings cross from a pod on node 1 to a pod on node 2 inside
 * VXLAN built by ferry; node 1's host reaches node 2's address and pod through ferry0 and the uplink.
 */
@Tag("netns")
class PacketModeTest
{
    static final String[] NODES = {"ferry-nd2-c", "ferry-nd2-d"};
    static final String[] PODS = {"ferry-nd2-c1", "ferry-nd2-d1"};
    static final String[] UPLINKS = {"fn-up-a", "fn-up-b"};

    @TempDir
    Path dir;

    @BeforeEach
    void topology()
    {
        TwoNodes.packetTopology(NODES, PODS, UPLINKS);
    }

    @AfterEach
    void cleanUp()
    {
        TwoNodes.deleteTopology(NODES, PODS);
    }

    @Test
    void shouldPingAcrossNodesThroughTheUplink() throws Exception
    {
        final NodeProcess[] nodes = new NodeProcess[2];
        try
        {
            for (int i = 0; i < 2; i++)
            {
                nodes[i] = TwoNodes.startPacketNodeWithPod(dir, i + 1, NODES[i], UPLINKS[i], PODS[i]);
            }
            // the first packet finds node 2's MAC unknown and is dropped while ferry asks for it with ARP
            Netns.ping(PODS[0], TwoNodes.podIp(2, 2), 1);
            final Netns.Result cross = Netns.ping(PODS[0], TwoNodes.podIp(2, 2), 3);
            assertThat(cross.code()).as("pod on node 1 → pod on node 2 over VXLAN on AF_PACKET: " + cross.out()
                + nodes[0].log() + nodes[1].log()).isZero();
            assertThat(cross.out()).as("no loss once resolved").contains("3 received");
            assertThat(Netns.must(Netns.inNs(NODES[0], "ip", "-4", "addr", "show", "dev", "fn-host")))
                .as("the node IP lives on ferry0").contains(TwoNodes.nodeIp(1) + "/32");
            assertThat(Netns.must(Netns.inNs(NODES[0], "ip", "-4", "addr", "show", "dev", "fn-up-a")))
                .as("the NIC has no address").doesNotContain("inet ");
            final Netns.Result nodeToNode = Netns.ping(NODES[0], TwoNodes.nodeIp(2), 2);
            assertThat(nodeToNode.code()).as("node 1's host → node 2's IP: " + nodeToNode.out()).isZero();
            final Netns.Result host = Netns.ping(NODES[0], TwoNodes.podIp(1, 2), 2);
            assertThat(host.code()).as("node 1's host → its pod through ferry0: " + host.out()).isZero();
            final Netns.Result hostRemote = Netns.ping(NODES[0], TwoNodes.podIp(2, 2), 2);
            assertThat(hostRemote.code()).as("node 1's host → node 2's pod: " + hostRemote.out()).isZero();
            try (NodeApiClient api = nodes[0].client())
            {
                assertThat(String.join("\n", api.show("neighbors"))).as("learned neighbour of node 2")
                    .contains(TwoNodes.nodeIp(2) + " dev fn-up-a lladdr ").contains("REACHABLE  # learned by ARP");
            }
            for (final NodeProcess p : nodes)
            {
                assertThat(p.terminate()).isEqualTo(143);
                assertThat(p.log()).contains("taken from the kernel").doesNotContain("packet buffers were still")
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
