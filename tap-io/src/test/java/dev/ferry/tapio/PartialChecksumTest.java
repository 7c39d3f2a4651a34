package dev.ferry.tapio;

import dev.ferry.core.header.Wire;
import dev.ferry.core.packet.FrameBuilder;
import dev.ferry.core.route.Ip4;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static org.assertj.core.api.Assertions.assertThat;

class PartialChecksumTest
{
    private static final long MAC_A = 0x0a580af40102L;
    private static final long MAC_B = 0x0a580af40201L;
    private static final int INNER_TCP_CSUM = 14 + 20 + 16;

    private static byte[] innerTcp()
    {
        return new FrameBuilder().eth(MAC_A, MAC_B).ip4(Ip4.parse("10.244.1.2"), Ip4.parse("10.244.2.2"))
            .tcp(40000, 5201, 0x18, 1000, 2000).payload(new byte[300]).build();
    }

    private static MemorySegment copy(final Arena arena, final byte[] bytes)
    {
        final MemorySegment seg = arena.allocate(bytes.length);
        MemorySegment.copy(bytes, 0, seg, ValueLayout.JAVA_BYTE, 0, bytes.length);
        return seg;
    }

    /** What a kernel with tx checksum offload leaves in the field: the pseudo-header sum, not complemented. */
    private static void makePartial(final MemorySegment seg, final long frame, final int tcpLength)
    {
        final long pseudo = dev.ferry.core.header.Checksum.pseudoHeader(Ip4.parse("10.244.1.2"),
            Ip4.parse("10.244.2.2"), 6, tcpLength);
        Wire.u16(seg, frame + INNER_TCP_CSUM, dev.ferry.core.header.Checksum.fold(pseudo));
    }

    @Test
    void shouldCompleteThePlainTcpChecksum()
    {
        final byte[] good = innerTcp();
        try (Arena arena = Arena.ofConfined())
        {
            final MemorySegment seg = copy(arena, good);
            final int expected = Wire.u16(seg, INNER_TCP_CSUM);
            makePartial(seg, 0, good.length - 34);
            assertThat(Wire.u16(seg, INNER_TCP_CSUM)).as("the field is partial before").isNotEqualTo(expected);

            assertThat(PartialChecksum.completeIp4(seg, 0, good.length)).isTrue();

            assertThat(Wire.u16(seg, INNER_TCP_CSUM)).as("completed TCP checksum").isEqualTo(expected);
        }
    }

    @Test
    void shouldCompleteTheInnerChecksumOfAKernelVxlanFrameAndLeaveTheOuterUdpChecksumAlone()
    {
        final byte[] inner = innerTcp();
        final byte[] vxlanAndInner = new byte[8 + inner.length];
        vxlanAndInner[0] = 0x08;
        vxlanAndInner[6] = 1;
        System.arraycopy(inner, 0, vxlanAndInner, 8, inner.length);
        final byte[] outer = new FrameBuilder().eth(0x0a58c0a8320bL, 0x0a58c0a8320cL)
            .ip4(Ip4.parse("192.168.50.11"), Ip4.parse("192.168.50.12")).udp(51000, 8472).payload(vxlanAndInner)
            .build();
        final int innerAt = 14 + 20 + 8 + 8;
        try (Arena arena = Arena.ofConfined())
        {
            final MemorySegment seg = copy(arena, outer);
            final int expected = Wire.u16(seg, innerAt + INNER_TCP_CSUM);
            // flannel's VXLAN device sends a zero outer UDP checksum and leaves the inner one partial
            Wire.u16(seg, 14 + 20 + 6, 0);
            makePartial(seg, innerAt, inner.length - 34);

            assertThat(PartialChecksum.completeIp4(seg, 0, outer.length)).isTrue();

            assertThat(Wire.u16(seg, innerAt + INNER_TCP_CSUM)).as("inner TCP checksum completed")
                .isEqualTo(expected);
            assertThat(Wire.u16(seg, 14 + 20 + 6)).as("outer UDP checksum stays 'none'").isZero();
        }
    }
}
