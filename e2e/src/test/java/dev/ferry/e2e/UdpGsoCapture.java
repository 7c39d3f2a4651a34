package dev.ferry.e2e;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Splits the UDP GSO superframes of a classic pcap (frames longer than the MTU: one Ethernet/IPv4/UDP header and
 * several VXLAN datagrams back to back) into the datagrams the kernel's {@code __udp_gso_segment} would make: the
 * segment size is the first VXLAN datagram's (VXLAN header, inner Ethernet, inner IPv4 total length), IPv4 ids
 * count up from the superframe's, the UDP checksum is 0. Other frames are copied as they are.
 */
final class UdpGsoCapture
{
    private static final int PCAP_HEADER = 24;
    private static final int RECORD_HEADER = 16;
    private static final int HEADERS = 42;

    private UdpGsoCapture()
    {
    }

    /**
     * @param in  the capture.
     * @param out where the split capture goes.
     * @param mtuFrame largest frame that is not a superframe (Ethernet header included).
     * @return superframes split.
     * @throws IOException when a file cannot be read or written.
     */
    static int split(final Path in, final Path out, final int mtuFrame) throws IOException
    {
        final ByteBuffer src = ByteBuffer.wrap(Files.readAllBytes(in));
        final int magic = src.order(ByteOrder.LITTLE_ENDIAN).getInt(0);
        if (magic != 0xa1b2c3d4 && magic != 0xa1b23c4d)
        {
            src.order(ByteOrder.BIG_ENDIAN);
        }
        final ByteBuffer dst = ByteBuffer.allocate(src.capacity() * 2 + 65536).order(src.order());
        dst.put(src.array(), 0, PCAP_HEADER);
        int pos = PCAP_HEADER;
        int superframes = 0;
        while (pos + RECORD_HEADER <= src.capacity())
        {
            final int sec = src.getInt(pos);
            final int frac = src.getInt(pos + 4);
            final int caught = src.getInt(pos + 8);
            final int f = pos + RECORD_HEADER;
            pos = f + caught;
            if (caught > mtuFrame && isUdp4(src, f, caught))
            {
                superframes++;
                final int payload = u16(src, f + 16) - 28;
                final int gso = 8 + 14 + u16(src, f + HEADERS + 8 + 14 + 2);
                for (int k = 0, off = 0; off < payload; k++, off += gso)
                {
                    final int size = Math.min(gso, payload - off);
                    final byte[] seg = new byte[HEADERS + size];
                    src.get(f, seg, 0, HEADERS);
                    src.get(f + HEADERS + off, seg, HEADERS, size);
                    final ByteBuffer s = ByteBuffer.wrap(seg);
                    s.putShort(16, (short)(28 + size));
                    s.putShort(18, (short)(u16(src, f + 18) + k));
                    s.putShort(24, (short)0);
                    s.putShort(24, (short)ipChecksum(seg));
                    s.putShort(38, (short)(8 + size));
                    s.putShort(40, (short)0);
                    dst.putInt(sec).putInt(frac).putInt(seg.length).putInt(seg.length).put(seg);
                }
            }
            else
            {
                dst.put(src.array(), f - RECORD_HEADER, RECORD_HEADER + caught);
            }
        }
        Files.write(out, java.util.Arrays.copyOf(dst.array(), dst.position()));
        return superframes;
    }

    private static boolean isUdp4(final ByteBuffer b, final int f, final int len)
    {
        return len > HEADERS + 8 + 34 && u16(b, f + 12) == 0x0800 && (b.get(f + 14) & 0xff) == 0x45
            && (b.get(f + 23) & 0xff) == 17 && 14 + u16(b, f + 16) == len;
    }

    private static int u16(final ByteBuffer b, final int at)
    {
        return (b.get(at) & 0xff) << 8 | b.get(at + 1) & 0xff;
    }

    private static int ipChecksum(final byte[] frame)
    {
        long sum = 0;
        for (int i = 14; i < 34; i += 2)
        {
            sum += (frame[i] & 0xff) << 8 | frame[i + 1] & 0xff;
        }
        while (sum > 0xffff)
        {
            sum = (sum & 0xffff) + (sum >>> 16);
        }
        return (int)~sum & 0xffff;
    }
}
