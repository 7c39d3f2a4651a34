package dev.ferry.cli.golden;

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
 * A captured cross-node handshake through a ClusterIP, replayed on the client's node as {@code ferry replay}
 * feeds a capture (no run between frames): the SYN leaves DNATed to web-2 on node-b, the SYN-ACK comes back
 * through the tunnel 1 ms later, and the client's ACK, 1 ms after that, must find the connection established.
 */
class CrossNodeHandshakeReplayTest
{
    private static final Path CLUSTER = Path.of("src/test/golden/clusters/two-node").toAbsolutePath();
    private static final int NP_LOCAL_AWAY = Ip4.parse("10.96.0.23");
    private static final long T0 = 1_767_225_600_000_000_000L;
    private static final long MS = 1_000_000L;

    private static byte[] fromClient(final int flags, final int seq, final int ack)
    {
        return new FrameBuilder().eth(Ip4.podMac(GoldenFrames.CLIENT), Ip4.podMac(GoldenFrames.GATEWAY))
            .ip4(GoldenFrames.CLIENT, NP_LOCAL_AWAY).df(true).tcp(40200, 80, flags, seq, ack).build();
    }

    @Test
    void clientAckOfACrossNodeHandshakeIsNotInvalid() throws IOException
    {
        final NodeTables tables = NodeTablesCompiler.compile(ManifestLoader.load(CLUSTER, n -> { }), "node-a", 1);
        try (ReplayEngine e = new ReplayEngine(tables, Nat.Balancing.RANDOM, (ns, port, mem, off, len) -> { }, 3,
            T0))
        {
            final byte[] synAck = new FrameBuilder().eth(GoldenFrames.VTEP_B_MAC, GoldenFrames.VTEP_A_MAC)
                .ip4(GoldenFrames.WEB2, GoldenFrames.CLIENT).ttl(63).df(true)
                .tcp(8080, 40200, TcpHeader.SYN | TcpHeader.ACK, 5000, 1001).build();
            e.feed(T0, fromClient(TcpHeader.SYN, 1000, 0));
            e.feed(T0 + MS, GoldenFrames.vxlan(GoldenFrames.NODE_B, 0x08, 1, synAck));
            e.feed(T0 + 2 * MS, fromClient(TcpHeader.ACK, 1001, 5001));
            e.finish();

            final List<String> fates = e.fates();
            assertThat(fates.get(0)).as("SYN DNATed to web-2 on node-b").contains("SENT on uplink");
            assertThat(fates.get(1)).as("SYN-ACK un-DNATed to the client").contains("SENT on tap0af40103");
            assertThat(fates.get(2)).as("the client's ACK follows the SYN-ACK: not INVALID")
                .contains("SENT on uplink").doesNotContain("DROPPED");
            assertThat(e.dropReport()).isEmpty();
        }
    }
}
