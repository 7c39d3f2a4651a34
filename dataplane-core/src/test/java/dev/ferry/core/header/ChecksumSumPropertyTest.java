package dev.ferry.core.header;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;

import java.lang.foreign.MemorySegment;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@link Checksum#sum}'s 64-bit little-endian loop folds exactly as the plain big-endian word sum does, and
 * {@link Checksum#fold}'s fixed steps give what the end-around-carry loop gives; {@link Checksum#sum20} (an IPv4
 * header without options) sums as the loop does.
 */
class ChecksumSumPropertyTest
{
    /** The textbook RFC 1071 sum: 16-bit big-endian words, a trailing byte padded with zero. */
    private static long reference(final byte[] b, final int off, final int len)
    {
        long acc = 0;
        int i = 0;
        for (; i + 2 <= len; i += 2)
        {
            acc += (b[off + i] & 0xff) << 8 | b[off + i + 1] & 0xff;
        }
        if (i < len)
        {
            acc += (b[off + i] & 0xff) << 8;
        }
        return acc;
    }

    @Property(tries = 2000)
    void shouldFoldLikeTheBigEndianWordSumAtAnyOffsetAndLength(
        @ForAll @Size(min = 0, max = 1600) final byte[] data,
        @ForAll @IntRange(min = 0, max = 7) final int skew,
        @ForAll @IntRange(min = 0, max = 0x3ffff) final int other)
    {
        final int off = Math.min(skew, data.length);
        final int len = data.length - off;
        final MemorySegment seg = MemorySegment.ofArray(data);
        final long fast = Checksum.sum(seg, off, len);
        final long ref = reference(data, off, len);
        assertThat(Checksum.fold(fast + other)).as("fold with another partial sum added, len %d", len)
            .isEqualTo(Checksum.fold(ref + other));
        assertThat(fast == 0).as("zero only for all-zero bytes").isEqualTo(ref == 0);
    }

    @Property(tries = 2000)
    void shouldSumTwentyByteHeadersLikeTheWordSum(@ForAll @Size(20) final byte[] header,
        @ForAll @IntRange(min = 0, max = 7) final int skew, @ForAll @IntRange(min = 0, max = 0x3ffff) final int other)
    {
        final byte[] data = new byte[skew + 20];
        System.arraycopy(header, 0, data, skew, 20);
        final MemorySegment seg = MemorySegment.ofArray(data);
        final long fast = Checksum.sum20(seg, skew);
        final long ref = reference(data, skew, 20);
        assertThat(Checksum.fold(fast + other)).isEqualTo(Checksum.fold(ref + other));
        assertThat(fast == 0).as("zero only for all-zero bytes").isEqualTo(ref == 0);
        // as a header without options, its checksum field set so that it verifies, then with one bit flipped
        data[skew] = 0x45;
        data[skew + 10] = 0;
        data[skew + 11] = 0;
        final int c = Checksum.finish(reference(data, skew, 20));
        data[skew + 10] = (byte)(c >>> 8);
        data[skew + 11] = (byte)c;
        final Ip4Header ip = new Ip4Header().wrap(seg, skew);
        assertThat(ip.checksumValid()).isTrue();
        data[skew + 1 + other % 19] ^= (byte)(1 << other % 8);
        assertThat(ip.checksumValid()).as("a flipped bit fails the check")
            .isEqualTo(Checksum.fold(reference(data, skew, 20)) == 0xffff);
    }

    @Property(tries = 200)
    void shouldHandleAllOnesAndAllZeroBlocks(@ForAll @IntRange(min = 0, max = 1600) final int len,
        @ForAll final boolean ones)
    {
        final byte[] data = new byte[len];
        java.util.Arrays.fill(data, ones ? (byte)0xff : 0);
        final long fast = Checksum.sum(MemorySegment.ofArray(data), 0, len);
        final long ref = reference(data, 0, len);
        assertThat(Checksum.fold(fast)).isEqualTo(Checksum.fold(ref));
        assertThat(Checksum.finish(fast + 0x1234)).isEqualTo(Checksum.finish(ref + 0x1234));
    }

    @Property(tries = 5000)
    void shouldFoldAnyLongLikeTheEndAroundCarryLoop(@ForAll final long sum)
    {
        long s = sum;
        while ((s >>> 16) != 0)
        {
            s = (s & 0xffff) + (s >>> 16);
        }
        assertThat(Checksum.fold(sum)).as("fold of %x", sum).isEqualTo((int)s);
    }
}
