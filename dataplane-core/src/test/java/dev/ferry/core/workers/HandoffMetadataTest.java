package dev.ferry.core.workers;

import dev.ferry.core.Counters;
import dev.ferry.core.PacketPool;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.LongRange;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A handoff record packs the common metadata in one word (flags up to bit 6, an L3 offset below 256, an RX port
 * below 32767) and carries everything else in an extension: whatever a packet holds, on either side of those
 * limits, the owner gets exactly the frame and metadata the sender had, and records of both forms mix in one ring
 * without one being read at the other's offsets.
 */
class HandoffMetadataTest
{
    @Property(tries = 300)
    void shouldCarryAnyMetadataExactly(@ForAll final long seed, @ForAll @IntRange(min = 1, max = 60) final int count,
        @ForAll @LongRange(min = Long.MIN_VALUE, max = Long.MAX_VALUE) final long timestampBase)
    {
        final SplittableRandom random = new SplittableRandom(seed);
        try (Handoff handoff = new Handoff(2, 64 * 1024);
            PacketPool pool0 = new PacketPool(64, PacketPool.DEFAULT_BUFFER_SIZE, PacketPool.DEFAULT_HEADROOM);
            PacketPool pool1 = new PacketPool(64);
            Counters c0 = Counters.inMemory(16);
            Counters c1 = Counters.inMemory(16))
        {
            dirty(pool1);
            final List<Integer> got = new ArrayList<>();
            final Handoff.Endpoint w0 = handoff.endpoint(0, pool0, c0, h -> { });
            final Handoff.Endpoint w1 = handoff.endpoint(1, pool1, c1, got::add);
            final long[][] sent = new long[count][];
            final List<byte[]> frames = new ArrayList<>();
            for (int i = 0; i < count; i++)
            {
                final byte[] frame = new byte[1 + random.nextInt(300)];
                random.nextBytes(frame);
                frames.add(frame);
                final int h = pool0.allocate();
                pool0.write(h, frame, 0, frame.length);
                // each field near its packed limit, or far past it, or ordinary
                final int l3 = pick(random, 14, 255, 256, 1500);
                final int rxPort = pick(random, -1, 32766, 32767, 1 << 20);
                final int flags = pick(random, 0, PacketPool.FLAG_FRAG_PORTS | PacketPool.FLAG_LOCAL_ORIGIN, 0x40,
                    0x80 | random.nextInt(1 << 16)) & ~PacketPool.FLAG_TRACED;
                final int aux = random.nextInt();
                final long timestamp = timestampBase + random.nextLong(1 << 20);
                pool0.l3Offset(h, l3);
                pool0.rxPort(h, rxPort);
                pool0.flags(h, flags);
                pool0.aux(h, aux);
                pool0.timestamp(h, timestamp);
                final boolean traced = random.nextInt(5) == 0;
                final int trace = random.nextInt(1 << 30);
                if (traced)
                {
                    pool0.trace(h, trace);
                }
                final int gsoSize = random.nextInt(5) == 0 ? 1 + random.nextInt(0xffff) : 0;
                pool0.gso(h, PacketPool.GSO_TCPV4, gsoSize);
                final boolean partial = random.nextInt(5) == 0;
                final int csumStart = random.nextInt(1000);
                final int csumOffset = random.nextInt(0x10000);
                if (partial)
                {
                    pool0.checksumPartial(h, csumStart, csumOffset);
                }
                sent[i] = new long[] {l3, rxPort, flags | (traced ? PacketPool.FLAG_TRACED : 0), aux, timestamp,
                    traced ? trace : -1, gsoSize, partial ? 1 : 0, csumStart, csumOffset};
                assertThat(w0.send(1, h)).isTrue();
            }
            w0.publish();
            assertThat(w1.drain(256)).isEqualTo(count);
            assertThat(got).hasSize(count);
            for (int i = 0; i < count; i++)
            {
                final int r = got.get(i);
                final long[] s = sent[i];
                assertThat(pool1.toArray(r)).as("frame %d", i).isEqualTo(frames.get(i));
                assertThat(pool1.l3Offset(r)).as("l3 %d", i).isEqualTo((int)s[0]);
                assertThat(pool1.rxPort(r)).as("rx port %d", i).isEqualTo((int)s[1]);
                assertThat(pool1.flags(r)).as("flags %d", i).isEqualTo((int)s[2]);
                assertThat(pool1.aux(r)).as("aux %d", i).isEqualTo((int)s[3]);
                assertThat(pool1.timestamp(r)).as("timestamp %d", i).isEqualTo(s[4]);
                assertThat(pool1.traceId(r)).as("trace %d", i).isEqualTo((int)s[5]);
                assertThat(pool1.gsoSize(r)).as("gso size %d", i).isEqualTo((int)s[6]);
                assertThat(pool1.gsoType(r)).as("gso type %d", i).isEqualTo(s[6] == 0 ? 0 : PacketPool.GSO_TCPV4);
                assertThat(pool1.checksumPartial(r)).as("partial %d", i).isEqualTo(s[7] == 1);
                assertThat(pool1.txPort(r)).as("tx port %d", i).isEqualTo(-1);
                if (s[7] == 1)
                {
                    assertThat(pool1.checksumStart(r)).isEqualTo((int)s[8]);
                    assertThat(pool1.checksumOffset(r)).isEqualTo((int)s[9]);
                }
                pool1.free(r);
            }
            assertThat(c0.get(Handoff.COUNTER_SENT)).isEqualTo(count);
            assertThat(c1.get(Handoff.COUNTER_RECEIVED)).isEqualTo(count);
            assertThat(pool0.available()).isEqualTo(pool0.capacity());
        }
    }

    /** Leaves another packet's metadata in every buffer of the pool, as a busy worker's pool has it. */
    private static void dirty(final PacketPool pool)
    {
        final int[] all = new int[pool.capacity()];
        for (int i = 0; i < all.length; i++)
        {
            final int h = pool.allocate();
            pool.length(h, 100);
            pool.txPort(h, 7);
            pool.rxPort(h, 9);
            pool.l3Offset(h, 33);
            pool.flags(h, 0x55);
            pool.aux(h, 77);
            pool.timestamp(h, 123);
            pool.trace(h, 5);
            pool.gso(h, PacketPool.GSO_TCPV4, 1400);
            pool.checksumPartial(h, 34, 16);
            all[i] = h;
        }
        for (final int h : all)
        {
            pool.free(h);
        }
    }

    private static int pick(final SplittableRandom random, final int ordinary, final int atLimit, final int pastLimit,
        final int far)
    {
        return switch (random.nextInt(4))
        {
            case 0 -> ordinary;
            case 1 -> atLimit;
            case 2 -> pastLimit;
            default -> far;
        };
    }
}
