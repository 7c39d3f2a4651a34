package dev.ferry.node;

import dev.ferry.core.Counters;
import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;

import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Two tunnel ports (two workers' sockets) bound to one address and port with {@code SO_REUSEPORT}: the kernel
 * splits the datagrams by flow, each flow to one socket, none lost. Loopback only.
 */
class UdpTunnelReusePortTest
{
    static final int FLOWS = 32;
    static final int PER_FLOW = 5;

    @Test
    void shouldSplitFlowsBetweenTwoSocketsOnOnePortAndLoseNone() throws Exception
    {
        final InetAddress lo = InetAddress.getLoopbackAddress();
        final int port;
        try (DatagramSocket probe = new DatagramSocket(new InetSocketAddress(lo, 0)))
        {
            port = probe.getLocalPort();
        }
        final PacketPool pool0 = new PacketPool(1024);
        final PacketPool pool1 = new PacketPool(1024);
        final Counters counters0 = Counters.inMemory(64);
        final Counters counters1 = Counters.inMemory(64);
        final PacketPool[] pools = {pool0, pool1};
        final PacketVector v = new PacketVector();
        try (UdpTunnelPort t0 = new UdpTunnelPort("vx0", 3, pool0, counters0).reusePort(true);
            UdpTunnelPort t1 = new UdpTunnelPort("vx1", 3, pool1, counters1).reusePort(true))
        {
            t0.open(lo, port);
            t1.open(lo, port);
            assertThat(counters0.get("link/vxlan-udp/rx-packets")).as("socket 0 bound").isZero();
            final UdpTunnelPort[] ports = {t0, t1};

            // each flow its own source port; the payload names the flow and the datagram's number in it
            for (int f = 0; f < FLOWS; f++)
            {
                try (DatagramSocket s = new DatagramSocket(new InetSocketAddress(lo, 0)))
                {
                    for (int k = 0; k < PER_FLOW; k++)
                    {
                        final byte[] b = ByteBuffer.allocate(64).putInt(f).putInt(k).array();
                        s.send(new DatagramPacket(b, b.length, lo, port));
                    }
                }
            }

            final Map<Integer, Set<Integer>> socketsOf = new HashMap<>();
            final Set<Long> seen = new HashSet<>();
            final int[] per = new int[2];
            final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            int total = 0;
            while (total < FLOWS * PER_FLOW && System.nanoTime() < deadline)
            {
                for (int q = 0; q < 2; q++)
                {
                    ports[q].receive(v);
                    for (int i = 0; i < v.count(); i++)
                    {
                        final int h = v.get(i);
                        final ByteBuffer b = ByteBuffer.wrap(pools[q].toArray(h));
                        pools[q].free(h);
                        final int flow = b.getInt();
                        seen.add((long)flow << 32 | b.getInt());
                        socketsOf.computeIfAbsent(flow, k -> new HashSet<>()).add(q);
                        per[q]++;
                        total++;
                    }
                    v.clear();
                }
                Thread.onSpinWait();
            }
            assertThat(total).as("none lost, none twice").isEqualTo(FLOWS * PER_FLOW);
            assertThat(seen).hasSize(FLOWS * PER_FLOW);
            assertThat(socketsOf).hasSize(FLOWS);
            assertThat(socketsOf.values()).as("each flow on one socket").allSatisfy(s -> assertThat(s).hasSize(1));
            assertThat(per[0]).as("socket 0 got flows").isPositive();
            assertThat(per[1]).as("socket 1 got flows").isPositive();
            assertThat(counters0.get("port/vx0/rx-packets") + counters1.get("port/vx1/rx-packets"))
                .isEqualTo(FLOWS * PER_FLOW);
        }
        finally
        {
            pool0.close();
            pool1.close();
            counters0.close();
            counters1.close();
        }
    }

    @Test
    void shouldNotBindASecondSocketWithoutReusePort() throws Exception
    {
        final InetAddress lo = InetAddress.getLoopbackAddress();
        final int port;
        try (DatagramSocket probe = new DatagramSocket(new InetSocketAddress(lo, 0)))
        {
            port = probe.getLocalPort();
        }
        try (PacketPool pool = new PacketPool(64); Counters c0 = Counters.inMemory(64);
            Counters c1 = Counters.inMemory(64);
            UdpTunnelPort t0 = new UdpTunnelPort("vx0", 3, pool, c0);
            UdpTunnelPort t1 = new UdpTunnelPort("vx1", 3, pool, c1))
        {
            t0.open(lo, port);
            t1.open(lo, port);
            // the second bind failed: its transmits are counted as having no socket
            final int h = pool.allocate();
            pool.length(h, 60);
            t1.transmit(h);
            assertThat(c1.get("port/vx1/tx-no-socket")).isEqualTo(1);
        }
    }
}
