package dev.ferry.core.header;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Big-endian (network order) accessors over a {@link MemorySegment}. Every flyweight reads the wire through
 * these, so byte order is explicit in one place.
 */
public final class Wire
{
    /** Unaligned big-endian 16-bit layout. */
    public static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    /** Unaligned big-endian 32-bit layout. */
    public static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    /** Unaligned big-endian 64-bit layout. */
    public static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    private Wire()
    {
    }

    /**
     * @param seg memory.
     * @param off absolute offset.
     * @return the unsigned byte there.
     */
    public static int u8(final MemorySegment seg, final long off)
    {
        return seg.get(ValueLayout.JAVA_BYTE, off) & 0xff;
    }

    /**
     * @param seg memory.
     * @param off absolute offset.
     * @param v   byte to store (low 8 bits).
     */
    public static void u8(final MemorySegment seg, final long off, final int v)
    {
        seg.set(ValueLayout.JAVA_BYTE, off, (byte)v);
    }

    /**
     * @param seg memory.
     * @param off absolute offset.
     * @return the unsigned big-endian 16-bit value there.
     */
    public static int u16(final MemorySegment seg, final long off)
    {
        return seg.get(U16, off) & 0xffff;
    }

    /**
     * @param seg memory.
     * @param off absolute offset.
     * @param v   value to store big-endian (low 16 bits).
     */
    public static void u16(final MemorySegment seg, final long off, final int v)
    {
        seg.set(U16, off, (short)v);
    }

    /**
     * @param seg memory.
     * @param off absolute offset.
     * @return the big-endian 32-bit value there.
     */
    public static int u32(final MemorySegment seg, final long off)
    {
        return seg.get(U32, off);
    }

    /**
     * @param seg memory.
     * @param off absolute offset.
     * @param v   value to store big-endian.
     */
    public static void u32(final MemorySegment seg, final long off, final int v)
    {
        seg.set(U32, off, v);
    }

    /**
     * @param seg memory.
     * @param off absolute offset.
     * @return the 48-bit big-endian value there (a MAC address).
     */
    public static long u48(final MemorySegment seg, final long off)
    {
        return ((long)u16(seg, off) << 32) | (u32(seg, off + 2) & 0xffffffffL);
    }

    /**
     * @param seg memory.
     * @param off absolute offset.
     * @param v   48-bit value to store big-endian (a MAC address).
     */
    public static void u48(final MemorySegment seg, final long off, final long v)
    {
        u16(seg, off, (int)(v >>> 32));
        u32(seg, off + 2, (int)v);
    }
}
