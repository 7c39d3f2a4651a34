package dev.ferry.core.header;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The Internet checksum (RFC 1071) and its incremental update (RFC 1624, equation 3:
 * {@code HC' = ~(~HC + ~m + m')}).
 *
 * <p>Partial sums are carried in a {@code long} and folded once at the end, so sums over several pieces
 * (a pseudo-header plus a segment) just add.
 */
public final class Checksum
{
    private static final ValueLayout.OfLong LE64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** Shortest range summed with 64-bit loads; shorter ones (IPv4 headers) use 32-bit big-endian loads. */
    private static final int LONG_LOOP_MIN = 64;

    private Checksum()
    {
    }

    /**
     * Sums a byte range as 16-bit big-endian words (an odd last byte is padded with zero).
     *
     * @param seg memory.
     * @param off absolute offset.
     * @param len bytes.
     * @return a partial sum, partly folded: congruent modulo 0xffff to the sum of the words, and zero only when
     *         every byte is zero, so that {@link #fold} of it plus other partial sums is the checksum's sum.
     */
    public static long sum(final MemorySegment seg, final long off, final int len)
    {
        // 64-bit little-endian loads, each adding four byte-swapped words as two 32-bit halves (carries collect in
        // the upper bits of the long): the one's complement sum does not depend on byte order (RFC 1071 2(B)), so
        // the folded result only needs its two bytes swapped back. Half the loads of 32-bit big-endian words, and
        // no byte swap per load on x86.
        long swapped = 0;
        int i = 0;
        // headers (20 to 60 bytes) stay on the 32-bit path below: measured faster there than a fold and swap
        if (len >= LONG_LOOP_MIN)
        {
            // 32 bytes a step into four independent sums: with one accumulator every add waited for the one before
            // it (payload checksum ran at ~1.5 bytes per cycle; it is most of a TCP segmenter's time). No slice: an
            // asSlice per call allocated where escape analysis gave up (900 B/op in the coalescer).
            long a = 0;
            long b = 0;
            long c = 0;
            long d = 0;
            for (; i + 32 <= len; i += 32)
            {
                final long x0 = seg.get(LE64, off + i);
                final long x1 = seg.get(LE64, off + i + 8);
                final long x2 = seg.get(LE64, off + i + 16);
                final long x3 = seg.get(LE64, off + i + 24);
                a += (x0 & 0xffffffffL) + (x0 >>> 32);
                b += (x1 & 0xffffffffL) + (x1 >>> 32);
                c += (x2 & 0xffffffffL) + (x2 >>> 32);
                d += (x3 & 0xffffffffL) + (x3 >>> 32);
            }
            for (; i + 8 <= len; i += 8)
            {
                final long x = seg.get(LE64, off + i);
                a += (x & 0xffffffffL) + (x >>> 32);
            }
            // each sum gains at most 2^33 per step: four of them over 64 KB stay far below 2^63
            swapped = a + b + c + d;
        }
        long acc = 0;
        if (swapped != 0)
        {
            final int f = fold(swapped);
            acc = (f & 0xff) << 8 | f >>> 8;
        }
        for (; i + 4 <= len; i += 4)
        {
            acc += Wire.u32(seg, off + i) & 0xffffffffL;
        }
        if (i + 2 <= len)
        {
            acc += Wire.u16(seg, off + i);
            i += 2;
        }
        if (i < len)
        {
            acc += Wire.u8(seg, off + i) << 8;
        }
        return acc;
    }

    /**
     * The sum of a 20-byte IPv4 header without options: five 32-bit words, no loop.
     *
     * @param seg memory.
     * @param off absolute offset of the header.
     * @return a partial sum, as {@link #sum} of the same 20 bytes.
     */
    public static long sum20(final MemorySegment seg, final long off)
    {
        return (Wire.u32(seg, off) & 0xffffffffL) + (Wire.u32(seg, off + 4) & 0xffffffffL)
            + (Wire.u32(seg, off + 8) & 0xffffffffL) + (Wire.u32(seg, off + 12) & 0xffffffffL)
            + (Wire.u32(seg, off + 16) & 0xffffffffL);
    }

    /**
     * Folds a partial sum to 16 bits with end-around carry.
     *
     * @param sum partial sum.
     * @return the folded 16-bit sum (not complemented).
     */
    public static int fold(final long sum)
    {
        // four fixed end-around-carry steps reach 16 bits from any 64-bit value (2^64 -> 2^33 -> 0x2fffe ->
        // 0x10001 -> 0xffff): no loop, so no branch to mispredict on the per-packet RFC 1624 updates
        long s = (sum & 0xffff_ffffL) + (sum >>> 32);
        s = (s & 0xffff) + (s >>> 16);
        s = (s & 0xffff) + (s >>> 16);
        s = (s & 0xffff) + (s >>> 16);
        return (int)s;
    }

    /**
     * Computes the checksum of a range: the complement of the folded sum.
     *
     * @param seg memory.
     * @param off absolute offset.
     * @param len bytes.
     * @return the 16-bit checksum to store.
     */
    public static int compute(final MemorySegment seg, final long off, final int len)
    {
        return ~fold(sum(seg, off, len)) & 0xffff;
    }

    /**
     * Finishes a checksum over an accumulated sum.
     *
     * @param sum partial sum of everything covered.
     * @return the 16-bit checksum to store.
     */
    public static int finish(final long sum)
    {
        return ~fold(sum) & 0xffff;
    }

    /**
     * Partial sum of the IPv4 pseudo-header used by TCP and UDP.
     *
     * @param src      source address.
     * @param dst      destination address.
     * @param protocol IP protocol number.
     * @param l4Length TCP or UDP length in bytes.
     * @return the unfolded partial sum.
     */
    public static long pseudoHeader(final int src, final int dst, final int protocol, final int l4Length)
    {
        return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + l4Length;
    }

    /**
     * RFC 1624 update of a checksum when a 16-bit word changes.
     *
     * @param checksum old checksum field.
     * @param oldWord  old 16-bit value.
     * @param newWord  new 16-bit value.
     * @return the new checksum field.
     */
    public static int update16(final int checksum, final int oldWord, final int newWord)
    {
        final long s = (~checksum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
        return ~fold(s) & 0xffff;
    }

    /**
     * RFC 1624 update of a checksum when a 32-bit value (an address) changes.
     *
     * @param checksum old checksum field.
     * @param oldValue old 32-bit value.
     * @param newValue new 32-bit value.
     * @return the new checksum field.
     */
    public static int update32(final int checksum, final int oldValue, final int newValue)
    {
        final long s = (~checksum & 0xffff)
            + (~oldValue >>> 16 & 0xffff) + (~oldValue & 0xffff)
            + (newValue >>> 16 & 0xffff) + (newValue & 0xffff);
        return ~fold(s) & 0xffff;
    }

    /**
     * Like {@link #update16} for a UDP checksum field, where 0 means "no checksum" and a computed 0 is sent
     * as 0xffff (RFC 768).
     *
     * @param checksum old checksum field.
     * @param oldWord  old 16-bit value.
     * @param newWord  new 16-bit value.
     * @return the new checksum field.
     */
    public static int updateUdp16(final int checksum, final int oldWord, final int newWord)
    {
        if (checksum == 0)
        {
            return 0;
        }
        final int c = update16(checksum, oldWord, newWord);
        return c == 0 ? 0xffff : c;
    }

    /**
     * Like {@link #update32} for a UDP checksum field (0 stays 0; a computed 0 becomes 0xffff).
     *
     * @param checksum old checksum field.
     * @param oldValue old 32-bit value.
     * @param newValue new 32-bit value.
     * @return the new checksum field.
     */
    public static int updateUdp32(final int checksum, final int oldValue, final int newValue)
    {
        if (checksum == 0)
        {
            return 0;
        }
        final int c = update32(checksum, oldValue, newValue);
        return c == 0 ? 0xffff : c;
    }
}
