package dev.ferry.core.header;

import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;

import static org.assertj.core.api.Assertions.assertThat;

class ChecksumTest
{
    @Test
    void shouldComputeRfc1071Example()
    {
        // RFC 1071 section 3 example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2 (before complement)
        final byte[] data = {0x00, 0x01, (byte)0xf2, 0x03, (byte)0xf4, (byte)0xf5, (byte)0xf6, (byte)0xf7};
        assertThat(Checksum.fold(Checksum.sum(MemorySegment.ofArray(data), 0, data.length)))
            .as("folded sum").isEqualTo(0xddf2);
    }

    @Test
    void shouldValidateKnownIpv4Header()
    {
        // a header captured from Linux: 45 00 00 73 00 00 40 00 40 11 b8 61 c0 a8 00 01 c0 a8 00 c7
        final byte[] h = hex("450000730000400040 11b861c0a80001c0a800c7".replace(" ", ""));
        final Ip4Header ip = new Ip4Header().wrap(MemorySegment.ofArray(h), 0);
        assertThat(ip.checksumValid()).as("captured header verifies").isTrue();
        ip.checksum(0).updateChecksum();
        assertThat(ip.checksum()).as("recomputed checksum").isEqualTo(0xb861);
    }

    @Property(tries = 500)
    void incrementalUpdateOfAddressEqualsRecompute(
        @ForAll @Size(min = 20, max = 200) final byte[] payload,
        @ForAll final int oldAddr, @ForAll final int newAddr, @ForAll @IntRange(min = 0, max = 1) final int which)
    {
        final byte[] pkt = payload.clone();
        final MemorySegment seg = MemorySegment.ofArray(pkt);
        final int off = which == 0 ? 0 : (pkt.length / 2) & ~1;
        if (off + 4 > pkt.length)
        {
            return;
        }
        Wire.u32(seg, off, oldAddr);
        final int before = Checksum.compute(seg, 0, pkt.length);
        Wire.u32(seg, off, newAddr);
        final int recomputed = Checksum.compute(seg, 0, pkt.length);
        final int incremental = Checksum.update32(before, oldAddr, newAddr);
        assertThat(equivalent(incremental, recomputed))
            .as("incremental %04x vs recompute %04x", incremental, recomputed).isTrue();
    }

    @Property(tries = 500)
    void incrementalUpdateOfWordEqualsRecompute(
        @ForAll @Size(min = 2, max = 300) final byte[] payload,
        @ForAll @IntRange(min = 0, max = 0xffff) final int oldWord,
        @ForAll @IntRange(min = 0, max = 0xffff) final int newWord,
        @ForAll @IntRange(min = 0, max = 149) final int wordIndex)
    {
        final byte[] pkt = payload.clone();
        final int off = Math.min(wordIndex * 2, (pkt.length - 2) & ~1);
        final MemorySegment seg = MemorySegment.ofArray(pkt);
        Wire.u16(seg, off, oldWord);
        final int before = Checksum.compute(seg, 0, pkt.length);
        Wire.u16(seg, off, newWord);
        final int recomputed = Checksum.compute(seg, 0, pkt.length);
        assertThat(equivalent(Checksum.update16(before, oldWord, newWord), recomputed))
            .as("16-bit rewrite at %d", off).isTrue();
    }

    @Property(tries = 300)
    void rewritingRandomTcpAndUdpPacketsKeepsChecksumsValid(@ForAll("packets") final byte[] frame,
        @ForAll final int newSrc, @ForAll final int newDst,
        @ForAll @IntRange(min = 0, max = 0xffff) final int newSport,
        @ForAll @IntRange(min = 0, max = 0xffff) final int newDport)
    {
        final MemorySegment seg = MemorySegment.ofArray(frame);
        final Ip4Header ip = new Ip4Header().wrap(seg, EthernetHeader.LENGTH);
        final long l4 = ip.payloadOffset();
        final int proto = ip.protocol();
        final int oldSrc = ip.src();
        final int oldDst = ip.dst();
        ip.checksum(Checksum.update32(Checksum.update32(ip.checksum(), oldSrc, newSrc), oldDst, newDst));
        ip.src(newSrc).dst(newDst);
        if (proto == Ip4Header.PROTO_TCP)
        {
            final TcpHeader tcp = new TcpHeader().wrap(seg, l4);
            int c = Checksum.update32(Checksum.update32(tcp.checksum(), oldSrc, newSrc), oldDst, newDst);
            c = Checksum.update16(c, tcp.srcPort(), newSport);
            c = Checksum.update16(c, tcp.dstPort(), newDport);
            tcp.srcPort(newSport).dstPort(newDport).checksum(c);
            assertThat(tcp.checksumValid(newSrc, newDst, ip.payloadLength())).as("TCP checksum").isTrue();
        }
        else
        {
            final UdpHeader udp = new UdpHeader().wrap(seg, l4);
            int c = Checksum.updateUdp32(Checksum.updateUdp32(udp.checksum(), oldSrc, newSrc), oldDst, newDst);
            c = Checksum.updateUdp16(c, udp.srcPort(), newSport);
            c = Checksum.updateUdp16(c, udp.dstPort(), newDport);
            udp.srcPort(newSport).dstPort(newDport).checksum(c);
            assertThat(udp.checksumValid(newSrc, newDst)).as("UDP checksum").isTrue();
        }
        assertThat(ip.checksumValid()).as("IP header checksum").isTrue();
    }

    @Provide
    Arbitrary<byte[]> packets()
    {
        final Arbitrary<byte[]> payloads = Arbitraries.bytes().array(byte[].class).ofMinSize(0).ofMaxSize(1400);
        return net.jqwik.api.Combinators.combine(payloads, Arbitraries.integers(), Arbitraries.integers(),
            Arbitraries.integers().between(0, 0xffff), Arbitraries.integers().between(0, 0xffff),
            Arbitraries.of(true, false)).as((p, s, d, sp, dp, tcp) ->
            {
                final dev.ferry.core.packet.FrameBuilder b = new dev.ferry.core.packet.FrameBuilder()
                    .eth(1, 2).ip4(s, d).payload(p);
                return tcp ? b.tcp(sp, dp, TcpHeader.ACK, 1, 2).build() : b.udp(sp, dp).build();
            });
    }

    /** 0x0000 and 0xffff are the same value in one's complement arithmetic. */
    private static boolean equivalent(final int a, final int b)
    {
        return a == b || (a == 0 && b == 0xffff) || (a == 0xffff && b == 0);
    }

    static byte[] hex(final String s)
    {
        final byte[] out = new byte[s.length() / 2];
        for (int i = 0; i < out.length; i++)
        {
            out[i] = (byte)Integer.parseInt(s.substring(2 * i, 2 * i + 2), 16);
        }
        return out;
    }
}
