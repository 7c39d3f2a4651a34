package dev.ferry.nat;

import dev.ferry.core.header.Checksum;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

import static org.assertj.core.api.Assertions.assertThat;

/** The one-fold L4 checksum update of a NAT rewrite against four RFC 1624 steps in a row. */
class RewriteChecksumTest
{
    @Provide
    Arbitrary<Integer> words()
    {
        return Arbitraries.oneOf(Arbitraries.integers().between(0, 0xffff), Arbitraries.of(0, 0xffff, 1, 0xfffe));
    }

    @Provide
    Arbitrary<Integer> addresses()
    {
        return Arbitraries.oneOf(Arbitraries.integers(), Arbitraries.of(0, -1, 0xffff, 0xffff0000));
    }

    @Property(tries = 20_000)
    void tcpSameAsFourSteps(@ForAll("words") final int c, @ForAll("addresses") final int oldSrc,
        @ForAll("addresses") final int src, @ForAll("addresses") final int oldDst, @ForAll("addresses") final int dst,
        @ForAll("words") final int oldSport, @ForAll("words") final int sport, @ForAll("words") final int oldDport,
        @ForAll("words") final int dport)
    {
        int s = Checksum.update32(c, oldSrc, src);
        s = Checksum.update32(s, oldDst, dst);
        s = Checksum.update16(s, oldSport, sport);
        s = Checksum.update16(s, oldDport, dport);
        assertThat(Rewrite.fourWords(c, oldSrc, src, oldDst, dst, oldSport, sport, oldDport, dport)).isEqualTo(s);
    }

    @Property(tries = 20_000)
    void udpSameAsFourSteps(@ForAll("words") final int c, @ForAll("addresses") final int oldSrc,
        @ForAll("addresses") final int src, @ForAll("addresses") final int oldDst, @ForAll("addresses") final int dst,
        @ForAll("words") final int oldSport, @ForAll("words") final int sport, @ForAll("words") final int oldDport,
        @ForAll("words") final int dport)
    {
        int s = Checksum.updateUdp32(c, oldSrc, src);
        s = Checksum.updateUdp32(s, oldDst, dst);
        s = Checksum.updateUdp16(s, oldSport, sport);
        s = Checksum.updateUdp16(s, oldDport, dport);
        final int one = c == 0 ? 0 : Rewrite.fourWords(c, oldSrc, src, oldDst, dst, oldSport, sport, oldDport, dport);
        assertThat(one == 0 && c != 0 ? 0xffff : one).isEqualTo(s);
    }
}
