package dev.ferry.vxlan;

import dev.ferry.core.Counters;
import dev.ferry.core.tables.NodeTables;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/** Node 1 (socket mode) encapsulates, the UDP underlay carries, node 2 decapsulates to its pod. */
class SocketModeEndToEndTest
{
    private static final int PORT = 18474;
    private static final int IP1 = 0x7f4d0201; // 127.77.2.1
    private static final int IP2 = 0x7f4d0202;

    @Test
    void shouldCarryPodTrafficOverTheUdpUnderlay() throws Exception
    {
        final VxlanSettings socket = VxlanSettings.defaults().withUnderlay(VxlanSettings.Underlay.SOCKET);
        final NodeTables t1 = VxlanNode.tables(1, PORT, 1500, VxlanNode.UPLINK2, IP1, IP2);
        final NodeTables t2 = VxlanNode.tables(2, PORT, 1500, VxlanNode.UPLINK1, IP2, IP1);
        final int packets = 1000;
        try (VxlanNode n1 = VxlanNode.of(t1, socket); VxlanNode n2 = VxlanNode.of(t2, socket))
        {
            final int decap = n2.graph.indexOf(VxlanDecap.NAME);
            final VxlanUdpUnderlay.Receiver intoNode2 = new VxlanUdpUnderlay.Receiver()
            {
                @Override
                public void onDatagram(final int h)
                {
                    n2.graph.input(decap, h);
                }

                @Override
                public void onBatchEnd()
                {
                    n2.graph.run();
                }
            };
            final VxlanUdpUnderlay.Receiver nothing = new VxlanUdpUnderlay.Receiver()
            {
                @Override
                public void onDatagram(final int h)
                {
                    n1.pool.free(h);
                }

                @Override
                public void onBatchEnd()
                {
                }
            };
            try (VxlanUdpUnderlay u2 = VxlanUdpUnderlay.open(VxlanUdpUnderlay.Config.of(
                    InetAddress.getByAddress(new byte[] {127, 77, 2, 2}), PORT), n2.pool, n2.tunnel, intoNode2,
                    Counters.inMemory(32));
                VxlanUdpUnderlay u1 = VxlanUdpUnderlay.open(VxlanUdpUnderlay.Config.of(
                    InetAddress.getByAddress(new byte[] {127, 77, 2, 1}), PORT), n1.pool, n1.tunnel, nothing,
                    Counters.inMemory(32)))
            {
                n1.tunnelSink = u1;
                final CompletableFuture<Void> sent = new CompletableFuture<>();
                // node 1's graph runs on its underlay's I/O thread, which owns its pool
                u1.execute(() ->
                {
                    for (int i = 0; i < packets; i++)
                    {
                        n1.receive(n1.podPort, Frames.podToPod(40000 + (i & 7), 53, 100, false));
                    }
                    sent.complete(null);
                });
                sent.get(30, TimeUnit.SECONDS);
                final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                long delivered = 0;
                while (delivered < packets && System.nanoTime() < deadline)
                {
                    Thread.sleep(10);
                    final CompletableFuture<Long> c = new CompletableFuture<>();
                    u2.execute(() -> c.complete(n2.transmitted));
                    delivered = c.get(10, TimeUnit.SECONDS);
                }
                final CompletableFuture<List<VxlanNode.Tx>> out = new CompletableFuture<>();
                u2.execute(() -> out.complete(List.copyOf(n2.sent)));
                final List<VxlanNode.Tx> got = out.get(10, TimeUnit.SECONDS);
                assertThat(got).as("every packet reached pod b").hasSize(packets).allSatisfy(tx ->
                {
                    assertThat(tx.port()).isEqualTo(n2.podPort);
                    assertThat(Frames.ip(tx.bytes(), 14).ttl()).isEqualTo(62);
                    assertThat(Frames.ipChecksumOk(tx.bytes(), 14)).isTrue();
                    assertThat(Frames.udpChecksumOk(tx.bytes(), 14)).isTrue();
                });
                final CompletableFuture<int[]> pools = new CompletableFuture<>();
                u2.execute(() -> pools.complete(new int[] {n2.pool.available()}));
                assertThat(pools.get(10, TimeUnit.SECONDS)[0]).isEqualTo(n2.pool.capacity());
                final CompletableFuture<Integer> p1 = new CompletableFuture<>();
                u1.execute(() -> p1.complete(n1.pool.available()));
                assertThat(p1.get(10, TimeUnit.SECONDS)).isEqualTo(n1.pool.capacity());
            }
        }
    }
}
