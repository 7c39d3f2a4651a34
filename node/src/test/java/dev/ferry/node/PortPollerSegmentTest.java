package dev.ferry.node;

import dev.ferry.core.Counters;
import dev.ferry.core.PacketPool;
import dev.ferry.core.header.Checksum;
import dev.ferry.core.header.Wire;
import dev.ferry.tapio.MemoryPort;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A TSO superframe for a port that takes none (the uplink, the host TAP, here a memory port) leaves as MSS-sized
 * segments with complete checksums, never as the superframe; when the pool cannot hold the segments the port counts
 * a tx-error and every buffer comes back.
 */
class PortPollerSegmentTest
{
    private static final int SRC = 0x0af40102;
    private static final int DST = 0xcb007107;

    private static byte[] superframe(final byte[] payload)
    {
        final byte[] f = new byte[14 + 40 + payload.length];
        final MemorySegment m = MemorySegment.ofArray(f);
        Wire.u16(m, 12, 0x0800);
        Wire.u8(m, 14, 0x45);
        Wire.u16(m, 16, 40 + payload.length);
        Wire.u16(m, 20, 0x4000);
        Wire.u8(m, 22, 63);
        Wire.u8(m, 23, 6);
        Wire.u32(m, 26, SRC);
        Wire.u32(m, 30, DST);
        Wire.u16(m, 24, Checksum.compute(m, 14, 20));
        Wire.u8(m, 46, 5 << 4);
        Wire.u8(m, 47, 0x18);
        System.arraycopy(payload, 0, f, 54, payload.length);
        Wire.u16(m, 50, Checksum.fold(Checksum.pseudoHeader(SRC, DST, 6, 20 + payload.length)));
        return f;
    }

    private static int load(final PacketPool pool, final byte[] f)
    {
        final int h = pool.allocateLarge();
        pool.write(h, f, 0, f.length);
        pool.l3Offset(h, 14);
        pool.txPort(h, 0);
        pool.gso(h, PacketPool.GSO_TCPV4, 1448);
        pool.checksumPartial(h, 34, 16);
        return h;
    }

    @Test
    void shouldSegmentASuperframeForAPortWithoutOffloads()
    {
        final byte[] payload = new byte[20000];
        new Random(1).nextBytes(payload);
        try (PacketPool pool = new PacketPool(64, PacketPool.DEFAULT_BUFFER_SIZE, PacketPool.DEFAULT_HEADROOM, 1);
            Counters counters = Counters.inMemory(256))
        {
            final MemoryPort uplink = new MemoryPort("uplink", 0, pool, counters);
            final PortPoller poller = new PortPoller(pool, counters, () ->
            {
            });
            poller.attach(0, uplink, 0);
            poller.transmit(load(pool, superframe(payload)));
            poller.flush();
            final List<MemoryPort.Frame> out = uplink.transmitted();
            assertThat(out).hasSize(14);
            final ByteArrayOutputStream joined = new ByteArrayOutputStream();
            for (final MemoryPort.Frame fr : out)
            {
                final byte[] f = fr.bytes();
                final MemorySegment m = MemorySegment.ofArray(f);
                assertThat(f.length).isLessThanOrEqualTo(14 + 40 + 1448);
                assertThat(Checksum.compute(m, 14, 20)).isZero();
                assertThat(Checksum.fold(Checksum.pseudoHeader(SRC, DST, 6, f.length - 34)
                    + Checksum.sum(m, 34, f.length - 34))).as("TCP checksum complete").isEqualTo(0xffff);
                joined.write(f, 54, f.length - 54);
            }
            assertThat(joined.toByteArray()).isEqualTo(payload);
            assertThat(pool.available()).isEqualTo(pool.capacity());
        }
    }

    @Test
    void shouldCountATxErrorWhenTheSegmentsDoNotFitThePool()
    {
        try (PacketPool pool = new PacketPool(4, PacketPool.DEFAULT_BUFFER_SIZE, PacketPool.DEFAULT_HEADROOM, 1);
            Counters counters = Counters.inMemory(256))
        {
            final MemoryPort uplink = new MemoryPort("uplink", 0, pool, counters);
            final PortPoller poller = new PortPoller(pool, counters, () ->
            {
            });
            poller.attach(0, uplink, 0);
            poller.transmit(load(pool, superframe(new byte[20000])));
            assertThat(uplink.transmitted()).isEmpty();
            assertThat(counters.get("port/uplink/tx-errors")).isEqualTo(1);
            assertThat(pool.available()).isEqualTo(pool.capacity());
        }
    }
}
