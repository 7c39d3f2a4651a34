package dev.ferry.cli;

import dev.ferry.agent.ManifestLoader;
import dev.ferry.agent.NodeTablesCompiler;
import dev.ferry.cli.replay.ReplayEngine;
import dev.ferry.core.header.TcpHeader;
import dev.ferry.core.packet.FrameBuilder;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.nat.Nat;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Replay processes every frame at its own capture timestamp, however frames are batched: the capture is fed
 * as {@code ferry replay} feeds it (no run between frames), and each frame's fate must be what a live node
 * would give it at that time.
 */
class TimeFaithfulReplayTest
{
    private static final Path CLUSTER = Path.of("src/test/golden/clusters/two-node").toAbsolutePath();
    private static final int GATEWAY = Ip4.parse("10.244.1.1");
    private static final int WEB1 = Ip4.parse("10.244.1.2");
    private static final int CLIENT = Ip4.parse("10.244.1.3");
    private static final int WEB_LOCAL = Ip4.parse("10.96.0.20");
    private static final int DNS = Ip4.parse("10.96.0.53");
    private static final long T0 = 1_767_225_600_000_000_000L;
    private static final long MS = 1_000_000L;

    private static ReplayEngine engine(final int fates) throws IOException
    {
        final NodeTables tables = NodeTablesCompiler.compile(ManifestLoader.load(CLUSTER, n -> { }), "node-a", 1);
        return new ReplayEngine(tables, Nat.Balancing.RANDOM, (ns, port, mem, off, len) -> { }, fates, T0);
    }

    private static byte[] tcp(final int src, final int dst, final int sport, final int dport, final int flags,
        final int seq, final int ack)
    {
        return new FrameBuilder().eth(Ip4.podMac(src), Ip4.podMac(GATEWAY)).ip4(src, dst).df(true)
            .tcp(sport, dport, flags, seq, ack).build();
    }

    private static byte[] udp(final int src, final int dst, final int sport, final int dport, final int ttl)
    {
        return new FrameBuilder().eth(Ip4.podMac(src), Ip4.podMac(GATEWAY)).ip4(src, dst).ttl(ttl)
            .udp(sport, dport).payload(new byte[12]).build();
    }

    @Test
    void handshakeAckFollowsTheSynAckItAcknowledges() throws IOException
    {
        try (ReplayEngine e = engine(3))
        {
            // client-1 opens web-local (ClusterIP, backend web-1 on this node); web-1 answers 1 ms later
            e.feed(T0, tcp(CLIENT, WEB_LOCAL, 40100, 80, TcpHeader.SYN, 1000, 0));
            e.feed(T0 + MS, tcp(WEB1, CLIENT, 8080, 40100, TcpHeader.SYN | TcpHeader.ACK, 5000, 1001));
            e.feed(T0 + 2 * MS, tcp(CLIENT, WEB_LOCAL, 40100, 80, TcpHeader.ACK, 1001, 5001));
            e.finish();

            final List<String> fates = e.fates();
            assertThat(fates.get(0)).contains("SENT on tap0af40102");
            assertThat(fates.get(1)).as("the SYN-ACK leaves un-DNATed to the client").contains("SENT on tap0af40103");
            assertThat(fates.get(2)).as("the client's ACK is not INVALID: it reaches web-1")
                .contains("SENT on tap0af40102").doesNotContain("DROPPED");
            assertThat(e.dropReport()).isEmpty();
        }
    }

    @Test
    void aUdpFlowIdleLongerThanItsTimeoutStartsANewSession() throws IOException
    {
        try (ReplayEngine e = engine(0))
        {
            // the same query 31 s apart: the UDP timeout (30 s) expires the first session in between
            e.feed(T0, udp(CLIENT, DNS, 53001, 53, 64));
            e.feed(T0 + 31_000 * MS, udp(CLIENT, DNS, 53001, 53, 64));
            // and 1 s later the second session is still there
            e.feed(T0 + 32_000 * MS, udp(CLIENT, DNS, 53001, 53, 64));
            e.finish();

            assertThat(e.counters().get("nat/sessions-created")).isEqualTo(2);
            assertThat(e.framesOut()).isEqualTo(3);
        }
    }

    @Test
    void icmpErrorsAreRateLimitedByTheCapturesClock() throws IOException
    {
        try (ReplayEngine e = engine(0))
        {
            // 100 expiring datagrams at 100/s: under the limit of 1000/s, every one gets its time exceeded
            for (int i = 0; i < 100; i++)
            {
                e.feed(T0 + i * 10 * MS, udp(CLIENT, WEB1, 41000 + i, 8080, 1));
            }
            // then 100 at one instant, a second later: the burst of 50 passes, the rest is rate limited
            for (int i = 0; i < 100; i++)
            {
                e.feed(T0 + 2_000 * MS, udp(CLIENT, WEB1, 42000 + i, 8080, 1));
            }
            e.finish();

            assertThat(e.counters().get("stage/icmp-error/drop/rate-limited")).isEqualTo(50);
            assertThat(e.framesOut()).as("100 + 50 time-exceeded errors back to client-1").isEqualTo(150);
        }
    }
}
