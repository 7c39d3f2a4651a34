package dev.ferry.vxlan;

import dev.ferry.core.header.Checksum;
import dev.ferry.core.header.Ip4Header;
import dev.ferry.core.header.UdpHeader;
import dev.ferry.core.header.Wire;
import dev.ferry.core.packet.FrameBuilder;
import dev.ferry.core.route.Ip4;

import java.lang.foreign.MemorySegment;

/** Byte-level helpers over frames held in arrays (tests only). */
final class Frames
{
    private Frames()
    {
    }

    static MemorySegment seg(final byte[] b)
    {
        return MemorySegment.ofArray(b);
    }

    static int u8(final byte[] b, final int off)
    {
        return b[off] & 0xff;
    }

    static int u16(final byte[] b, final int off)
    {
        return Wire.u16(seg(b), off);
    }

    static int u32(final byte[] b, final int off)
    {
        return Wire.u32(seg(b), off);
    }

    static long mac(final byte[] b, final int off)
    {
        return Wire.u48(seg(b), off);
    }

    static Ip4Header ip(final byte[] b, final int off)
    {
        return new Ip4Header().wrap(seg(b), off);
    }

    /** A pod-A-to-pod-B UDP frame as pod A sends it to its gateway. */
    static byte[] podToPod(final int sport, final int dport, final int payload, final boolean df)
    {
        final byte[] data = new byte[payload];
        for (int i = 0; i < payload; i++)
        {
            data[i] = (byte)(i * 7 + 3);
        }
        return new FrameBuilder().eth(Ip4.podMac(VxlanNode.POD_A), Ip4.podMac(Ip4.parse("10.244.1.1")))
            .ip4(VxlanNode.POD_A, VxlanNode.POD_B).ttl(64).id(0x1234).df(df).udp(sport, dport).payload(data)
            .build();
    }

    /** Recomputes the outer IPv4 and (if non-zero) UDP checksums of a full VXLAN frame after an edit. */
    static void reseal(final byte[] f)
    {
        final Ip4Header ip = ip(f, 14);
        ip.updateChecksum();
        final UdpHeader udp = new UdpHeader().wrap(seg(f), 14 + ip.headerLength());
        if (udp.checksum() != 0 && udp.length() <= f.length - 14 - ip.headerLength())
        {
            udp.updateChecksum(ip.src(), ip.dst());
        }
    }

    /** Whether the UDP checksum of the datagram at l3 verifies (true when zero). */
    static boolean udpChecksumOk(final byte[] f, final int l3)
    {
        final Ip4Header ip = ip(f, l3);
        return new UdpHeader().wrap(seg(f), l3 + ip.headerLength()).checksumValid(ip.src(), ip.dst());
    }

    static boolean ipChecksumOk(final byte[] f, final int l3)
    {
        return ip(f, l3).checksumValid();
    }

    static int fold(final long sum)
    {
        return Checksum.fold(sum);
    }
}
