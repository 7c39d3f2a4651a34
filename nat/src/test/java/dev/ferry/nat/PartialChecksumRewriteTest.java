package dev.ferry.nat;

import dev.ferry.core.header.Checksum;
import dev.ferry.core.header.Wire;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;

import java.lang.foreign.MemorySegment;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * NAT on a packet whose TCP checksum is partial (a TSO superframe from a pod's TAP: the field holds the
 * pseudo-header sum, the kernel or the segmenter sums header and payload later): after {@link Rewrite#apply} with
 * {@code partial}, completing the checksum over the rewritten segment gives exactly the checksum that a full
 * rewrite of the complete packet gives, and the segment verifies. The update covers the addresses only, never the
 * ports or the payload.
 */
class PartialChecksumRewriteTest
{
    private static final int IP = 0;
    private static final int L4 = 20;

    private static byte[] packet(final byte[] payload, final int src, final int dst, final int sport, final int dport)
    {
        final byte[] p = new byte[40 + payload.length];
        final MemorySegment m = MemorySegment.ofArray(p);
        Wire.u8(m, 0, 0x45);
        Wire.u16(m, 2, p.length);
        Wire.u8(m, 8, 64);
        Wire.u8(m, 9, 6);
        Wire.u32(m, 12, src);
        Wire.u32(m, 16, dst);
        Wire.u16(m, 10, Checksum.compute(m, 0, 20));
        Wire.u16(m, 20, sport);
        Wire.u16(m, 22, dport);
        Wire.u32(m, 24, 1000);
        Wire.u8(m, 32, 0x50);
        Wire.u8(m, 33, 0x18);
        System.arraycopy(payload, 0, p, 40, payload.length);
        return p;
    }

    private static long pseudo(final MemorySegment m, final int len)
    {
        return Checksum.pseudoHeader(Wire.u32(m, 12), Wire.u32(m, 16), 6, len - 20);
    }

    /** What the kernel (or the segmenter) does to a partial checksum: sums from the TCP header to the end. */
    private static int complete(final MemorySegment m, final int len)
    {
        return Checksum.compute(m, L4, len - 20);
    }

    @Property(tries = 500)
    void shouldGiveTheSameChecksumAsAFullRewriteOnceCompleted(
        @ForAll @Size(min = 0, max = 3000) final byte[] payload,
        @ForAll final int src, @ForAll final int dst, @ForAll final int newSrc, @ForAll final int newDst,
        @ForAll @IntRange(min = 1, max = 65535) final int sport, @ForAll @IntRange(min = 1, max = 65535) final int dport,
        @ForAll @IntRange(min = 1, max = 65535) final int newSport,
        @ForAll @IntRange(min = 1, max = 65535) final int newDport)
    {
        final byte[] full = packet(payload, src, dst, sport, dport);
        final MemorySegment fm = MemorySegment.ofArray(full);
        Wire.u16(fm, L4 + 16, Checksum.finish(pseudo(fm, full.length) + Checksum.sum(fm, L4, full.length - 20)));
        final byte[] partial = packet(payload, src, dst, sport, dport);
        final MemorySegment pm = MemorySegment.ofArray(partial);
        // CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum, not complemented
        Wire.u16(pm, L4 + 16, Checksum.fold(pseudo(pm, partial.length)));

        Rewrite.apply(fm, IP, L4, full.length - 20, 6, newSrc, newDst, newSport, newDport);
        Rewrite.apply(pm, IP, L4, partial.length - 20, 6, newSrc, newDst, newSport, newDport, true);

        assertThat(Wire.u16(pm, L4 + 16)).as("still the pseudo-header sum, of the new addresses")
            .isEqualTo(Checksum.fold(pseudo(pm, partial.length)));
        Wire.u16(pm, L4 + 16, complete(pm, partial.length));
        assertThat(Checksum.fold(pseudo(pm, partial.length) + Checksum.sum(pm, L4, partial.length - 20)))
            .as("the completed segment verifies").isEqualTo(0xffff);
        // one's complement has two zeros: compare what verification sees, not the bit pattern
        assertThat(Checksum.fold(pseudo(fm, full.length) + Checksum.sum(fm, L4, full.length - 20)))
            .as("the fully rewritten packet verifies").isEqualTo(0xffff);
        assertThat(Checksum.compute(pm, 0, 20)).as("IPv4 header checksum").isZero();
        assertThat(partial).as("same bytes as the full rewrite, checksum field aside")
            .isEqualTo(withChecksumOf(full, partial));
    }

    private static byte[] withChecksumOf(final byte[] full, final byte[] partial)
    {
        final byte[] copy = full.clone();
        copy[L4 + 16] = partial[L4 + 16];
        copy[L4 + 17] = partial[L4 + 17];
        return copy;
    }

    @Property(tries = 200)
    void shouldBeWrongIfThePortsWereFoldedIn(@ForAll @Size(min = 1, max = 200) final byte[] payload,
        @ForAll @IntRange(min = 1, max = 65000) final int sport)
    {
        // the reason for the partial path: a port update folded into a partial sum is counted twice once completed
        final byte[] p = packet(payload, 0x0a000001, 0x0a600000, sport, 80);
        final MemorySegment m = MemorySegment.ofArray(p);
        Wire.u16(m, L4 + 16, Checksum.fold(pseudo(m, p.length)));
        Rewrite.apply(m, IP, L4, p.length - 20, 6, 0x0a000001, 0x0af40203, sport, 8080, false);
        Wire.u16(m, L4 + 16, complete(m, p.length));
        assertThat(Checksum.fold(pseudo(m, p.length) + Checksum.sum(m, L4, p.length - 20))).isNotEqualTo(0xffff);
    }
}
