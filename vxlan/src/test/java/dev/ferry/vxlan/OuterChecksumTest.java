package dev.ferry.vxlan;

import dev.ferry.core.header.Checksum;
import dev.ferry.core.header.Ip4Header;
import dev.ferry.core.header.Wire;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/** The outer UDP checksum from the headers (local checksum offload) against the sum over every byte. */
class OuterChecksumTest
{
    private static final int LOCAL = 0xc0a80001;
    private static final int REMOTE = 0xc0a80002;
    /** Where the outer UDP header starts in the test buffer (even, as behind outer Ethernet + IPv4). */
    private static final long UDP_OFF = 34;

    @Provide
    Arbitrary<Integer> protocols()
    {
        return Arbitraries.of(Ip4Header.PROTO_TCP, Ip4Header.PROTO_UDP, Ip4Header.PROTO_ICMP, 47);
    }

    @Property(tries = 3000)
    void sameChecksumAsTheFullSumForValidInnerPackets(@ForAll("protocols") final int proto,
        @ForAll @IntRange(min = 0, max = 1480) final int payload, @ForAll @IntRange(min = 0, max = 10) final int options,
        @ForAll final long seed, @ForAll final boolean fragment, @ForAll final boolean udpNoChecksum)
    {
        final MemorySegment m = Arena.ofAuto().allocate(2048);
        final int len = datagram(m, proto, payload, options, seed, fragment, udpNoChecksum);
        OuterChecksum.writeFull(m, UDP_OFF, LOCAL, REMOTE);
        final int full = Wire.u16(m, UDP_OFF + 6);
        Wire.u16(m, UDP_OFF + 6, 0x5a5a);
        OuterChecksum.write(m, UDP_OFF, LOCAL, REMOTE);
        assertThat(Wire.u16(m, UDP_OFF + 6)).as("outer checksum, %d bytes", len).isEqualTo(full);
    }

    @Property(tries = 3000)
    void fromHeaderValuesSameAsTheFullSumOrDeclines(@ForAll("protocols") final int proto,
        @ForAll @IntRange(min = 0, max = 1480) final int payload, @ForAll @IntRange(min = 0, max = 10) final int options,
        @ForAll final long seed, @ForAll final boolean fragment, @ForAll final boolean udpNoChecksum)
    {
        final MemorySegment m = Arena.ofAuto().allocate(2048);
        final int len = datagram(m, proto, payload, options, seed, fragment, udpNoChecksum);
        OuterChecksum.writeFull(m, UDP_OFF, LOCAL, REMOTE);
        final int full = Wire.u16(m, UDP_OFF + 6);
        Wire.u16(m, UDP_OFF + 6, 0x5a5a);
        // what the VTEP table holds: pseudo-header without length, destination port, VXLAN header
        final long base = Checksum.pseudoHeader(LOCAL, REMOTE, Ip4Header.PROTO_UDP, 0) + Wire.u16(m, UDP_OFF + 2)
            + Checksum.sum(m, UDP_OFF + 8, 8);
        final long eth = OuterChecksum.ethernetSum(Wire.u48(m, UDP_OFF + 16), Wire.u48(m, UDP_OFF + 22));
        final boolean written = OuterChecksum.writeFromHeaders(m, UDP_OFF, base, Wire.u16(m, UDP_OFF), len, eth);
        final boolean pinned = OuterChecksum.innerSum(m, UDP_OFF + OuterChecksum.HEADERS,
            len - OuterChecksum.HEADERS) >= 0;
        assertThat(written).isEqualTo(pinned);
        assertThat(Wire.u16(m, UDP_OFF + 6)).as("outer checksum, %d bytes", len).isEqualTo(written ? full : 0x5a5a);
    }

    @Property(tries = 3000)
    void outerVerifiesExactlyWhenTheInnerChecksumsDo(@ForAll("protocols") final int proto,
        @ForAll @IntRange(min = 0, max = 600) final int payload, @ForAll final long seed,
        @ForAll @IntRange(min = 0, max = 0xffff) final int badChecksum, @ForAll final boolean corruptHeader)
    {
        final MemorySegment m = Arena.ofAuto().allocate(2048);
        final int len = datagram(m, proto, payload, 0, seed, false, false);
        final long ip = UDP_OFF + OuterChecksum.HEADERS;
        // a pod's wrong checksum: in the L4 header, or in the IP header (ip4-input would drop that one)
        final long field = corruptHeader ? ip + 10 : ip + 20 + l4ChecksumAt(proto);
        Wire.u16(m, field, badChecksum);
        OuterChecksum.write(m, UDP_OFF, LOCAL, REMOTE);
        final boolean innerOk = Checksum.fold(Checksum.sum(m, ip, 20)) == 0xffff && l4Valid(m, ip, proto);
        final boolean outerOk = Checksum.fold(Checksum.pseudoHeader(LOCAL, REMOTE, Ip4Header.PROTO_UDP, len)
            + Checksum.sum(m, UDP_OFF, len)) == 0xffff;
        if (proto == 47)
        {
            assertThat(outerOk).as("full sum: always verifies").isTrue();
        }
        else
        {
            assertThat(outerOk).as("outer verifies iff inner does").isEqualTo(innerOk);
        }
    }

    @Test
    void zeroSumIsSentAsAllOnes()
    {
        // search a datagram whose checksum computes to 0: both ways send 0xffff
        final MemorySegment m = Arena.ofAuto().allocate(2048);
        for (long seed = 0; seed < 200_000; seed++)
        {
            datagram(m, Ip4Header.PROTO_TCP, 0, 0, seed, false, false);
            OuterChecksum.writeFull(m, UDP_OFF, LOCAL, REMOTE);
            final int full = Wire.u16(m, UDP_OFF + 6);
            if (full == 0xffff)
            {
                OuterChecksum.write(m, UDP_OFF, LOCAL, REMOTE);
                assertThat(Wire.u16(m, UDP_OFF + 6)).isEqualTo(0xffff);
                return;
            }
        }
        throw new AssertionError("no all-ones checksum in the seeds tried");
    }

    private static int l4ChecksumAt(final int proto)
    {
        return switch (proto)
        {
            case Ip4Header.PROTO_TCP -> 16;
            case Ip4Header.PROTO_UDP -> 6;
            default -> 2;
        };
    }

    private static boolean l4Valid(final MemorySegment m, final long ip, final int proto)
    {
        final int total = Wire.u16(m, ip + 2);
        final long l4 = ip + 20;
        final long sum = Checksum.sum(m, l4, total - 20);
        if (proto == Ip4Header.PROTO_ICMP)
        {
            return Checksum.fold(sum) == 0xffff;
        }
        if (proto == Ip4Header.PROTO_UDP && Wire.u16(m, l4 + 6) == 0)
        {
            return true;
        }
        return Checksum.fold(sum + Checksum.pseudoHeader(Wire.u32(m, ip + 12), Wire.u32(m, ip + 16), proto,
            total - 20)) == 0xffff;
    }

    /**
     * Writes [UDP][VXLAN][Ethernet][IPv4 + options][L4 + payload] at {@link #UDP_OFF} with valid inner checksums.
     *
     * @return the outer UDP length.
     */
    private static int datagram(final MemorySegment m, final int proto, final int payload, final int options,
        final long seed, final boolean fragment, final boolean udpNoChecksum)
    {
        final Random rnd = new Random(seed);
        final int ihl = 20 + 4 * options;
        final int l4Header = switch (proto)
        {
            case Ip4Header.PROTO_TCP -> 20;
            case Ip4Header.PROTO_UDP -> 8;
            case Ip4Header.PROTO_ICMP -> 8;
            default -> 0;
        };
        final int total = ihl + l4Header + payload;
        final int len = OuterChecksum.HEADERS + total;
        for (int i = 0; i < len; i++)
        {
            Wire.u8(m, UDP_OFF + i, rnd.nextInt(256));
        }
        Wire.u16(m, UDP_OFF + 2, 8472);
        Wire.u16(m, UDP_OFF + 4, len);
        Wire.u16(m, UDP_OFF + 6, 0);
        Wire.u16(m, UDP_OFF + 28, 0x0800);
        final long ip = UDP_OFF + OuterChecksum.HEADERS;
        Wire.u8(m, ip, 0x40 | ihl >>> 2);
        Wire.u16(m, ip + 2, total);
        Wire.u16(m, ip + 6, fragment ? 0x2000 | rnd.nextInt(8) : rnd.nextInt(2) << 14);
        Wire.u8(m, ip + 9, proto);
        final long l4 = ip + ihl;
        final int l4Len = total - ihl;
        final int src = Wire.u32(m, ip + 12);
        final int dst = Wire.u32(m, ip + 16);
        switch (proto)
        {
            case Ip4Header.PROTO_TCP ->
            {
                Wire.u16(m, l4 + 16, 0);
                Wire.u16(m, l4 + 16, Checksum.finish(Checksum.pseudoHeader(src, dst, proto, l4Len)
                    + Checksum.sum(m, l4, l4Len)));
            }
            case Ip4Header.PROTO_UDP ->
            {
                Wire.u16(m, l4 + 4, l4Len);
                Wire.u16(m, l4 + 6, 0);
                final int c = Checksum.finish(Checksum.pseudoHeader(src, dst, proto, l4Len)
                    + Checksum.sum(m, l4, l4Len));
                Wire.u16(m, l4 + 6, udpNoChecksum ? 0 : c == 0 ? 0xffff : c);
            }
            case Ip4Header.PROTO_ICMP ->
            {
                Wire.u16(m, l4 + 2, 0);
                Wire.u16(m, l4 + 2, Checksum.compute(m, l4, l4Len));
            }
            default ->
            {
            }
        }
        Wire.u16(m, ip + 10, 0);
        Wire.u16(m, ip + 10, Checksum.compute(m, ip, ihl));
        return len;
    }
}
