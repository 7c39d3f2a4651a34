package dev.ferry.node;

import dev.ferry.core.header.EthernetHeader;
import dev.ferry.core.packet.FrameBuilder;
import dev.ferry.core.route.Ip4;
import dev.ferry.tapio.MemoryPort;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static dev.ferry.node.NodeFixture.GATEWAY_MAC;
import static dev.ferry.node.NodeFixture.NODE_IP;
import static dev.ferry.node.NodeFixture.POD_A;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Traffic from a pod to the node's own address goes up the host TAP, addressed to the kernel's MAC there.
 */
class HostDeliveryTest
{
    @TempDir
    Path dir;

    @Test
    void shouldDeliverTrafficForTheNodeUpTheHostTap() throws Exception
    {
        try (NodeFixture node = new NodeFixture(dir, ThreadingMode.SHARED, NodeFixture.basic(1)))
        {
            node.daemon.attach(NodeFixture.attachRequest("ca", POD_A)).get();
            final byte[] syn = new FrameBuilder().eth(Ip4.podMac(POD_A), GATEWAY_MAC).ip4(POD_A, NODE_IP)
                .tcp(40000, 10250, 0x02, 1, 0).build();
            node.ports.port("tap0af40102").enqueue(syn);
            final MemoryPortView host = node.ports.port("ferry0");
            NodeFixture.await("the frame on ferry0", () -> host.txPackets() == 1, Duration.ofSeconds(10));

            final List<byte[]> out = host.drainTransmitted().stream().map(MemoryPort.Frame::bytes).toList();
            final EthernetHeader eth = new EthernetHeader().wrap(MemorySegment.ofArray(out.get(0)), 0);
            assertThat(eth.dst()).as("kernel's MAC on ferry0").isEqualTo(MemoryPortFactory.HOST_PEER_MAC);
            assertThat(eth.src()).as("ferry's MAC on ferry0").isEqualTo(MemoryPortFactory.HOST_MAC);
            assertThat(out.get(0).length).isEqualTo(syn.length);
            assertThat(node.daemon.show("stats").get()).contains("No drops");
        }
    }
}
