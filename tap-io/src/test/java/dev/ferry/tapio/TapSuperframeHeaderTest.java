package dev.ferry.tapio;

import dev.ferry.core.header.Wire;

import java.lang.foreign.MemorySegment;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * What a pod can claim in a virtio-net header (a packet socket with {@code PACKET_VNET_HDR} writes any): ferry
 * takes a superframe only when the metadata matches the frame's own IPv4 TCP headers.
 */
class TapSuperframeHeaderTest
{
    private static byte[] frame()
    {
        final byte[] f = new byte[14 + 20 + 32 + 3000];
        final MemorySegment m = MemorySegment.ofArray(f);
        Wire.u16(m, 12, 0x0800);
        Wire.u8(m, 14, 0x45);
        Wire.u16(m, 16, f.length - 14);
        Wire.u16(m, 20, 0x4000);
        Wire.u8(m, 23, 6);
        Wire.u8(m, 46, 8 << 4);
        return f;
    }

    private static boolean ok(final byte[] f, final int start, final int offset)
    {
        return TapPort.isTcp4Superframe(MemorySegment.ofArray(f), 0, f.length, start, offset);
    }

    @Test
    void shouldTakeAnIpv4TcpSuperframeWhoseChecksumRangeIsItsTcpSegment()
    {
        assertThat(ok(frame(), 34, 16)).isTrue();
    }

    @Test
    void shouldRefuseMetadataThatDoesNotMatchTheFrame()
    {
        assertThat(ok(frame(), 30, 16)).as("checksum start not at the TCP header").isFalse();
        assertThat(ok(frame(), 34, 6)).as("checksum field not TCP's").isFalse();
        byte[] f = frame();
        f[23] = 17;
        assertThat(ok(f, 34, 16)).as("UDP").isFalse();
        f = frame();
        Wire.u16(MemorySegment.ofArray(f), 12, 0x8100);
        assertThat(ok(f, 34, 16)).as("VLAN tagged").isFalse();
        f = frame();
        Wire.u16(MemorySegment.ofArray(f), 20, 0x2000);
        assertThat(ok(f, 34, 16)).as("a fragment").isFalse();
        f = frame();
        Wire.u16(MemorySegment.ofArray(f), 16, f.length);
        assertThat(ok(f, 34, 16)).as("total length beyond the frame").isFalse();
        f = frame();
        f[46] = (byte)(15 << 4);
        Wire.u16(MemorySegment.ofArray(f), 16, 20 + 40);
        assertThat(ok(f, 34, 16)).as("TCP header beyond the total length").isFalse();
        f = frame();
        f[14] = 0x46;
        f[38 + 12] = (byte)(8 << 4);
        assertThat(ok(f, 34, 16)).as("IPv4 options move the TCP header").isFalse();
        assertThat(ok(f, 38, 16)).as("with options, the range starts after them").isTrue();
        assertThat(TapPort.isTcp4Superframe(MemorySegment.ofArray(frame()), 0, 40, 34, 16)).as("runt").isFalse();
    }
}
