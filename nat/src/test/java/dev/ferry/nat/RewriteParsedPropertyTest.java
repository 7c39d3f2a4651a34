package dev.ferry.nat;

import dev.ferry.core.header.Ip4Header;
import dev.ferry.core.header.Wire;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.Size;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * nat44-in's batch rewrite ({@link Rewrite#parsed}, addresses and ports as the batch parsed them) writes the same
 * bytes as {@link Rewrite#apply} reading them from the packet: TCP and UDP, complete and partial checksums, a UDP
 * checksum of 0, addresses that change or stay.
 */
class RewriteParsedPropertyTest
{
    private static final int IP = 6;
    private static final int L4 = IP + Ip4Header.MIN_LENGTH;

    @Provide
    Arbitrary<Integer> words()
    {
        return Arbitraries.oneOf(Arbitraries.integers().between(0, 0xffff), Arbitraries.of(0, 0xffff, 1, 0xfffe));
    }

    @Property(tries = 5000)
    void shouldWriteTheSameBytesAsApply(@ForAll @Size(L4 + 24) final byte[] packet, @ForAll final boolean tcp,
        @ForAll final boolean partial, @ForAll final boolean sameSrc, @ForAll final boolean sameDst,
        @ForAll final int src, @ForAll final int dst, @ForAll("words") final int sport, @ForAll("words") final int dport,
        @ForAll("words") final int checksum)
    {
        final byte[] a = packet.clone();
        final MemorySegment segA = MemorySegment.ofArray(a);
        final int sumOff = L4 + (tcp ? 16 : 6);
        Wire.u16(segA, sumOff, checksum);
        final byte[] b = a.clone();
        final MemorySegment segB = MemorySegment.ofArray(b);
        final int oldSrc = Wire.u32(segA, IP + Ip4Header.SRC_OFFSET);
        final int oldDst = Wire.u32(segA, IP + Ip4Header.DST_OFFSET);
        final int oldPorts = Wire.u32(segA, L4);
        final int newSrc = sameSrc ? oldSrc : src;
        final int newDst = sameDst ? oldDst : dst;
        final int proto = tcp ? Ip4Header.PROTO_TCP : Ip4Header.PROTO_UDP;

        Rewrite.apply(segA, IP, L4, 24, proto, newSrc, newDst, sport, dport, partial);
        Rewrite.parsed(segB, IP, L4, tcp, oldSrc, oldDst, oldPorts, newSrc, newDst, sport, dport, partial);

        assertThat(b).as("%s partial %s: %s", tcp ? "TCP" : "UDP", partial, Arrays.toString(a)).isEqualTo(a);
    }
}
