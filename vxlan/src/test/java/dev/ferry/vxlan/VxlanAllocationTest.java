package dev.ferry.vxlan;

import org.junit.jupiter.api.Test;

import java.lang.management.ManagementFactory;

import static org.assertj.core.api.Assertions.assertThat;

/** The encap and decap paths allocate nothing per packet (after warm-up). */
class VxlanAllocationTest
{
    private static long allocated()
    {
        return ((com.sun.management.ThreadMXBean)ManagementFactory.getThreadMXBean()).getCurrentThreadAllocatedBytes();
    }

    private static void burst(final VxlanNode n, final int port, final byte[] frame, final int count)
    {
        final int entry = n.graph.indexOf("ethernet-input");
        for (int i = 0; i < count; i++)
        {
            final int h = n.pool.allocate();
            n.pool.write(h, frame, 0, frame.length);
            n.pool.rxPort(h, port);
            n.graph.input(entry, h);
        }
        n.graph.run();
    }

    @Test
    void shouldNotAllocateInEncapOrDecap()
    {
        try (VxlanNode n1 = VxlanNode.node1(VxlanSettings.defaults());
            VxlanNode n2 = VxlanNode.node2(VxlanSettings.defaults()))
        {
            final byte[] pod = Frames.podToPod(40000, 53, 64, false);
            n1.receive(n1.podPort, pod);
            final byte[] vxlan = n1.sent.get(0).bytes();
            n1.keep = false;
            n2.keep = false;
            for (int warm = 0; warm < 200; warm++)
            {
                burst(n1, n1.podPort, pod, 256);
                burst(n2, n2.uplink, vxlan, 256);
            }
            final int rounds = 400;
            final long before = allocated();
            for (int r = 0; r < rounds; r++)
            {
                burst(n1, n1.podPort, pod, 256);
                burst(n2, n2.uplink, vxlan, 256);
            }
            final double perPacket = (double)(allocated() - before) / (rounds * 512);
            System.out.printf("graph allocation per packet (encap + decap paths): %.3f bytes%n", perPacket);
            assertThat(perPacket).as("bytes allocated per packet").isLessThan(1.0);
            assertThat(n2.counter("stage/vxlan-decap/next/ethernet-input")).isEqualTo(600 * 256);
            assertThat(n1.pool.available()).isEqualTo(n1.pool.capacity());
            assertThat(n2.pool.available()).isEqualTo(n2.pool.capacity());
        }
    }
}
