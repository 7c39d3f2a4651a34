package dev.ferry.vxlan;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Classic pcap (Ethernet link type) read and write, for tests and tshark checks. */
final class Pcap
{
    private Pcap()
    {
    }

    static List<byte[]> read(final Path file) throws IOException
    {
        final ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(file));
        final List<byte[]> out = new ArrayList<>();
        if (b.remaining() < 24)
        {
            return out;
        }
        final int magic = b.order(ByteOrder.LITTLE_ENDIAN).getInt(0);
        if (magic != 0xa1b2c3d4 && magic != 0xa1b23c4d)
        {
            b.order(ByteOrder.BIG_ENDIAN);
        }
        b.position(24);
        while (b.remaining() >= 16)
        {
            b.getInt();
            b.getInt();
            final int caplen = b.getInt();
            b.getInt();
            if (caplen > b.remaining())
            {
                break;
            }
            final byte[] f = new byte[caplen];
            b.get(f);
            out.add(f);
        }
        return out;
    }

    static void write(final Path file, final List<byte[]> frames) throws IOException
    {
        int size = 24;
        for (final byte[] f : frames)
        {
            size += 16 + f.length;
        }
        final ByteBuffer b = ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(0xa1b2c3d4).putShort((short)2).putShort((short)4).putInt(0).putInt(0).putInt(65535).putInt(1);
        int sec = 1;
        for (final byte[] f : frames)
        {
            b.putInt(sec++).putInt(0).putInt(f.length).putInt(f.length).put(f);
        }
        Files.write(file, b.array());
    }
}
