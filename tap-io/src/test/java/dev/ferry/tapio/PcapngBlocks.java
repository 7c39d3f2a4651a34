package dev.ferry.tapio;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** Writes pcapng blocks by hand, so that tests control resolution, byte order, block mix and faults. */
final class PcapngBlocks
{
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final ByteOrder order;

    PcapngBlocks(final ByteOrder order)
    {
        this.order = order;
    }

    int size()
    {
        return out.size();
    }

    byte[] bytes()
    {
        return out.toByteArray();
    }

    PcapngBlocks sectionHeader()
    {
        final ByteBuffer b = body(16);
        b.putInt(0x1a2b3c4d).putShort((short)1).putShort((short)0).putLong(-1L);
        return block(0x0a0d0d0a, b);
    }

    /** An interface description; tsresol 9 gives nanoseconds, -1 leaves the option out (microseconds). */
    PcapngBlocks interfaceDescription(final int linkType, final int tsresol)
    {
        final ByteBuffer b = body(8 + (tsresol >= 0 ? 12 : 0));
        b.putShort((short)linkType).putShort((short)0).putInt(262144);
        if (tsresol >= 0)
        {
            // option if_tsresol (9), length 1, value, 3 bytes pad; then opt_endofopt
            b.putShort((short)9).putShort((short)1).put((byte)tsresol).put(new byte[3]).putInt(0);
        }
        return block(1, b);
    }

    /** An interface description with if_tsresol and if_tsoffset (seconds added to every timestamp). */
    PcapngBlocks rawInterfaceWithOffset(final int tsresol, final long offsetSeconds)
    {
        final ByteBuffer b = body(8 + 8 + 12 + 4);
        b.putShort((short)1).putShort((short)0).putInt(262144);
        b.putShort((short)9).putShort((short)1).put((byte)tsresol).put(new byte[3]);
        b.putShort((short)14).putShort((short)8).putLong(offsetSeconds).putInt(0);
        return block(1, b);
    }

    PcapngBlocks enhancedPacket(final int iface, final long ticks, final byte[] frame)
    {
        final int padded = (frame.length + 3) & ~3;
        final ByteBuffer b = body(20 + padded);
        b.putInt(iface).putInt((int)(ticks >>> 32)).putInt((int)ticks).putInt(frame.length).putInt(frame.length);
        b.put(frame).put(new byte[padded - frame.length]);
        return block(6, b);
    }

    PcapngBlocks simplePacket(final byte[] frame)
    {
        final int padded = (frame.length + 3) & ~3;
        final ByteBuffer b = body(4 + padded);
        b.putInt(frame.length).put(frame).put(new byte[padded - frame.length]);
        return block(3, b);
    }

    /** A block type that readers skip (a custom block that may not be copied, 0x40000BAD). */
    PcapngBlocks custom(final int bodyLength)
    {
        final ByteBuffer b = body(bodyLength);
        b.put(new byte[bodyLength]);
        return block(0x40000bad, b);
    }

    /** Appends raw bytes (to forge faults). */
    PcapngBlocks raw(final byte[] bytes)
    {
        out.writeBytes(bytes);
        return this;
    }

    private ByteBuffer body(final int length)
    {
        return ByteBuffer.allocate(length).order(order);
    }

    private PcapngBlocks block(final int type, final ByteBuffer bodyBuffer)
    {
        final int total = 12 + bodyBuffer.capacity();
        final ByteBuffer b = ByteBuffer.allocate(total).order(order);
        b.putInt(type).putInt(total).put(bodyBuffer.array()).putInt(total);
        out.writeBytes(b.array());
        return this;
    }
}
