package dev.ferry.cli.golden;

import dev.ferry.cli.Ferry;
import dev.ferry.cli.ScenarioCommand;
import dev.ferry.cli.scenario.ExampleScenarios;
import dev.ferry.cli.scenario.Scenario;
import dev.ferry.core.packet.FrameBuilder;
import dev.ferry.core.route.Ip4;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

import static dev.ferry.cli.golden.GoldenFrames.NODE_A;
import static dev.ferry.cli.golden.GoldenFrames.NODE_A_MAC;
import static dev.ferry.cli.golden.GoldenFrames.NODE_B;
import static dev.ferry.cli.golden.GoldenFrames.VNI;
import static dev.ferry.cli.golden.GoldenFrames.VTEP_A_MAC;
import static dev.ferry.cli.golden.GoldenFrames.VTEP_B_MAC;
import static dev.ferry.cli.golden.GoldenFrames.VXLAN_PORT;
import static dev.ferry.cli.golden.GoldenFrames.WEB1;
import static dev.ferry.cli.golden.GoldenFrames.WEB2;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 13, class 1, as the review reproduced it: node-b's VTEP sends node-a VXLAN nested many times, whose
 * innermost datagram (TTL 1, so icmp-error must grow it) ends at the very end of the 2048-byte frame. Replay
 * aborted with an exception and leaked buffers; now the nesting is bounded (one nested level is decapsulated,
 * deeper ones are dropped and counted) and replay finishes.
 */
class ReplayNestedVxlanTest
{
    private static final int MAX_FRAME = 2048;

    @TempDir
    Path tmp;

    /** VXLAN from node-b to node-a carrying {@code inner}; the outermost goes to the uplink MAC, the rest to the VTEP. */
    private static byte[] vxlan(final byte[] inner, final boolean outermost)
    {
        final byte[] payload = new byte[8 + inner.length];
        payload[0] = 0x08;
        payload[6] = (byte)VNI;
        System.arraycopy(inner, 0, payload, 8, inner.length);
        return new FrameBuilder().eth(outermost ? Ip4.podMac(NODE_B) : VTEP_B_MAC, outermost ? NODE_A_MAC
            : VTEP_A_MAC).ip4(NODE_B, NODE_A).id(0x0303).udp(47000, VXLAN_PORT).payload(payload).build();
    }

    /** {@code levels} VXLAN headers around web-2's TTL-1 datagram to web-1, the whole frame 2048 bytes. */
    private static byte[] nested(final int levels)
    {
        final int innerPayload = MAX_FRAME - levels * 50 - 14 - 20 - 8;
        byte[] f = new FrameBuilder().eth(VTEP_B_MAC, VTEP_A_MAC).ip4(WEB2, WEB1).ttl(1).id(0x0505)
            .udp(8080, 40011).payload(new byte[innerPayload]).build();
        for (int l = levels; l >= 1; l--)
        {
            f = vxlan(f, l == 1);
        }
        assertThat(f).hasSize(MAX_FRAME);
        return f;
    }

    private Map<String, Long> replay(final byte[] frame) throws Exception
    {
        final Scenario s = new Scenario(ExampleScenarios.START);
        s.raw(frame);
        final Path in = tmp.resolve("in.pcap");
        ScenarioCommand.write(in, s.frames());
        final Path counters = tmp.resolve("counters.txt");
        final StringWriter out = new StringWriter();
        final int exit = Ferry.commandLine().setOut(new PrintWriter(out)).setErr(new PrintWriter(out)).execute(
            "replay", "--cluster", GoldenCases.ROOT.resolve("clusters/two-node").toString(), "--node", "node-a",
            "--in", in.toString(), "--out", tmp.resolve("out.pcap").toString(), "--counters", counters.toString());
        assertThat(exit).as("ferry replay exit status; it said:%n%s", out).isZero();
        final Map<String, Long> m = new HashMap<>();
        for (final String line : Files.readAllLines(counters))
        {
            final String[] w = line.split(" ");
            if (w.length == 2 && w[0].contains("/"))
            {
                m.put(w[0], Long.parseLong(w[1]));
            }
        }
        return m;
    }

    @Test
    void shouldDropVxlanNestedDeeperThanOneLevel() throws Exception
    {
        final Map<String, Long> c = replay(nested(40));

        assertThat(c).as("two decapsulations (the outer and one nested level), then the third layer is dropped")
            .containsEntry("stage/vxlan-decap/next/ethernet-input", 2L)
            .containsEntry("stage/vxlan-decap/drop/nested-too-deep", 1L)
            .doesNotContainKey("graph/drop/stage-exception")
            .doesNotContainKey("graph/transmit");
    }

    @Test
    void shouldDecapsulateOneNestedLevelAndAnswerTheExpiredDatagram() throws Exception
    {
        final Map<String, Long> c = replay(nested(2));

        assertThat(c).as("both layers decapsulated; the TTL-1 datagram's time-exceeded error goes back to web-2"
            + " through the tunnel").containsEntry("stage/vxlan-decap/next/ethernet-input", 2L)
            .containsEntry("stage/ip4-rewrite/next/icmp-error", 1L)
            .containsEntry("stage/icmp-error/packets", 1L)
            .containsEntry("stage/vxlan-encap/next/interface-output", 1L)
            .containsEntry("port/uplink/tx-frames", 1L)
            .doesNotContainKey("stage/vxlan-decap/drop/nested-too-deep")
            .doesNotContainKey("graph/drop/stage-exception");
    }
}
