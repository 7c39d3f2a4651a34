package dev.ferry.lab;

import dev.ferry.core.packet.FrameBuilder;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class HostileFramesTest
{
    private static final LabSpec SPEC = LabSpec.standard();

    @Property(tries = 50)
    void shouldBuildFramesThatAPodsVethTakes(@ForAll final long seed)
    {
        final List<byte[]> frames = new HostileFrames(SPEC, SPEC.pod("p11"), seed).next(500);

        assertThat(frames).hasSize(500).allSatisfy(f -> assertThat(f.length).as("an Ethernet header, at most the "
            + "pod MTU after it").isBetween(14, HostileFrames.MAX_FRAME));
    }

    @Property(tries = 200)
    void shouldRewriteTheIpv4HeaderChecksumOfAFrame(@ForAll final int src, @ForAll final int dst,
        @ForAll final byte ttl)
    {
        final byte[] built = new FrameBuilder().eth(2, 4).ip4(src, dst).ttl(1 + (ttl & 0x7f)).udp(1000, 2000).build();
        final byte[] f = built.clone();
        f[24] = (byte)~f[24];
        f[25] = 0x5a;

        HostileFrames.ipChecksum(f);

        assertThat(f).as("FrameBuilder's checksum, computed again").isEqualTo(built);
    }

    @Test
    void shouldRepeatARunFromItsSeedAndCoverTheHostileKinds()
    {
        final List<byte[]> a = new HostileFrames(SPEC, SPEC.pod("p11"), 7).next(2000);
        final List<byte[]> b = new HostileFrames(SPEC, SPEC.pod("p11"), 7).next(2000);

        assertThat(a).zipSatisfy(b, (x, y) -> assertThat(x).isEqualTo(y));
        // VXLAN to node2's port, spoofed sources, IPv4 fragments: each kind is in a batch of this size
        assertThat(a).anyMatch(f -> f.length > 37 && (f[23] & 0xff) == 17 && ((f[36] & 0xff) << 8 | (f[37] & 0xff))
            == LabSpec.VXLAN_PORT);
        assertThat(a).anyMatch(f -> f.length > 30 && !(f[26] == 10 && f[27] == (byte)244 && f[28] == 1 && f[29] == 2));
        assertThat(a).anyMatch(f -> f.length > 22 && ((f[20] & 0x3f) != 0 || f[21] != 0));
    }
}
