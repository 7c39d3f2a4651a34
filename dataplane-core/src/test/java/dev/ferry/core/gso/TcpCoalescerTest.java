package dev.ferry.core.gso;

import dev.ferry.core.PacketPool;
import dev.ferry.core.header.Checksum;
import dev.ferry.core.header.Wire;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@link TcpCoalescer}: segments made by {@link TcpSegmenter} coalesce back into the superframe they came from,
 * byte for byte (partial checksum, gso_size = MSS); random batches of several flows with gaps, reordering, flag
 * changes, other acks, options or TTLs and corrupted checksums never coalesce what the rules forbid, keep each
 * flow's order, and give every frame out exactly once.
 */
class TcpCoalescerTest
{
    static final int SRC = TcpSegmenterTest.SRC;
    static final int DST = TcpSegmenterTest.DST;

    /** The bytes a port writes for output frame f: the frame itself, or the superframe's gather list joined. */
    static byte[] render(final PacketPool pool, final TcpCoalescer c, final int f)
    {
        final MemorySegment mem = pool.memory();
        final int n = c.frameSegments(f);
        final int head = c.handle(f, 0);
        if (n == 1)
        {
            return pool.toArray(head);
        }
        final int len = c.coalesce(f);
        final int at = c.payloadOffset(f);
        final ByteArrayOutputStream out = new ByteArrayOutputStream();
        final byte[] first = new byte[at + c.payloadLength(f, 0)];
        MemorySegment.copy(mem, ValueLayout.JAVA_BYTE, pool.frameOffset(head), first, 0, first.length);
        out.writeBytes(first);
        for (int k = 1; k < n; k++)
        {
            final byte[] p = new byte[c.payloadLength(f, k)];
            MemorySegment.copy(mem, ValueLayout.JAVA_BYTE, pool.frameOffset(c.handle(f, k)) + at, p, 0, p.length);
            out.writeBytes(p);
        }
        assertThat(out.size()).as("coalesce() returns the superframe's length").isEqualTo(len);
        return out.toByteArray();
    }

    @Property(tries = 200)
    void shouldCoalesceSegmentsBackIntoTheirSuperframe(
        @ForAll @IntRange(min = 1, max = 65535 - 40 - 12) final int payloadLength,
        @ForAll @IntRange(min = 536, max = 8948) final int mss,
        @ForAll final boolean push,
        @ForAll final boolean options,
        @ForAll @IntRange(min = 0, max = 0xffff) final int id,
        @ForAll final int seq)
    {
        final int optionBytes = options ? 12 : 0;
        final byte[] payload = new byte[Math.min(payloadLength, 65535 - 40 - optionBytes)];
        new Random(payloadLength * 31L + mss).nextBytes(payload);
        final int flags = push ? 0x18 : 0x10;
        final byte[] original = TcpSegmenterTest.superframe(payload, flags, optionBytes, id, seq);
        try (PacketPool pool = new PacketPool(300, PacketPool.DEFAULT_BUFFER_SIZE, PacketPool.DEFAULT_HEADROOM, 40))
        {
            final TcpSegmenter seg = new TcpSegmenter(pool);
            final int n = seg.segment(TcpSegmenterTest.load(pool, original, mss));
            final int[] batch = new int[n];
            for (int i = 0; i < n; i++)
            {
                batch[i] = seg.get(i);
            }
            final TcpCoalescer c = new TcpCoalescer(pool);
            final int frames = c.plan(batch, n);
            assertThat(frames).as("one superframe per 64 segments")
                .isEqualTo((n + TcpCoalescer.MAX_SEGMENTS - 1) / TcpCoalescer.MAX_SEGMENTS);
            assertThat(c.refusedChecksums()).isZero();
            if (frames == 1)
            {
                final byte[] out = render(pool, c, 0);
                if (n == 1)
                {
                    // one segment: the segmenter completed its checksum, and it goes out as it is
                    assertThat(completeAndVerify(out)).isTrue();
                    out[50] = original[50];
                    out[51] = original[51];
                }
                assertThat(out).as("the superframe, byte for byte (pseudo-header sum in the TCP checksum field)")
                    .isEqualTo(original);
                if (n > 1)
                {
                    assertThat(pool.gsoSize(c.handle(0, 0))).isEqualTo(mss);
                    assertThat(pool.checksumPartial(c.handle(0, 0))).isTrue();
                    assertThat(pool.checksumStart(c.handle(0, 0))).isEqualTo(34);
                }
            }
            else
            {
                final ByteArrayOutputStream joined = new ByteArrayOutputStream();
                for (int f = 0; f < frames; f++)
                {
                    final byte[] out = render(pool, c, f);
                    assertThat(completeAndVerify(out)).as("superframe %d completes to a valid TCP checksum", f)
                        .isTrue();
                    joined.write(out, 34 + 20 + optionBytes, out.length - 34 - 20 - optionBytes);
                }
                assertThat(joined.toByteArray()).isEqualTo(payload);
            }
            for (int i = 0; i < n; i++)
            {
                pool.free(batch[i]);
            }
            assertThat(pool.available()).isEqualTo(pool.capacity());
        }
    }

    /** Whether an IPv4 header verifies and a TCP checksum verifies after finishing a partial one (or as it is). */
    static boolean completeAndVerify(final byte[] frame)
    {
        final MemorySegment m = MemorySegment.ofArray(frame.clone());
        if (Checksum.compute(m, 14, 20) != 0 || Wire.u16(m, 16) != frame.length - 14)
        {
            return false;
        }
        final int tcpLength = frame.length - 34;
        final int partial = Wire.u16(m, 50);
        if (partial == Checksum.fold(Checksum.pseudoHeader(Wire.u32(m, 26), Wire.u32(m, 30), 6, tcpLength)))
        {
            // what the pod's kernel does with CHECKSUM_PARTIAL when it must: sum from the TCP header on
            Wire.u16(m, 50, Checksum.compute(m, 34, tcpLength));
        }
        return Checksum.fold(Checksum.pseudoHeader(Wire.u32(m, 26), Wire.u32(m, 30), 6, tcpLength)
            + Checksum.sum(m, 34, tcpLength)) == 0xffff;
    }

    /** One plain segment with valid checksums. */
    static byte[] segment(final int srcPort, final int seq, final int ack, final int flags, final int payload,
        final int ttl, final int tsval, final long fill)
    {
        final int doff = 32;
        final int total = 20 + doff + payload;
        final byte[] f = new byte[14 + total];
        final MemorySegment m = MemorySegment.ofArray(f);
        Wire.u48(m, 0, 0x0a580af40203L);
        Wire.u48(m, 6, 0x0a580af40102L);
        Wire.u16(m, 12, 0x0800);
        Wire.u8(m, 14, 0x45);
        Wire.u16(m, 16, total);
        Wire.u16(m, 20, 0x4000);
        Wire.u8(m, 22, ttl);
        Wire.u8(m, 23, 6);
        Wire.u32(m, 26, SRC);
        Wire.u32(m, 30, DST);
        Wire.u16(m, 24, Checksum.compute(m, 14, 20));
        Wire.u16(m, 34, srcPort);
        Wire.u16(m, 36, 8080);
        Wire.u32(m, 38, seq);
        Wire.u32(m, 42, ack);
        Wire.u8(m, 46, doff / 4 << 4);
        Wire.u8(m, 47, flags);
        Wire.u16(m, 48, 502);
        f[54] = 1;
        f[55] = 1;
        f[56] = 8;
        f[57] = 10;
        Wire.u32(m, 58, tsval);
        Wire.u32(m, 62, 77);
        final Random r = new Random(fill);
        for (int i = 0; i < payload; i++)
        {
            f[14 + 20 + doff + i] = (byte)r.nextInt();
        }
        Wire.u16(m, 50, Checksum.finish(Checksum.pseudoHeader(SRC, DST, 6, doff + payload)
            + Checksum.sum(m, 34, doff + payload)));
        return f;
    }

    /** A segment of a random batch, as generated. */
    record Input(byte[] bytes, int port, int seq, int flags, int payload, boolean corrupt, int ack, int ttl,
        int tsval)
    {
    }

    @Property(tries = 400)
    void shouldNeverCoalesceWhatTheRulesForbid(@ForAll final long seed,
        @ForAll @IntRange(min = 1, max = 200) final int count)
    {
        final Random r = new Random(seed);
        final List<Input> inputs = new ArrayList<>();
        final int[] nextSeq = {1000, 5000, 90000};
        for (int i = 0; i < count; i++)
        {
            final int flow = r.nextInt(10) < 7 ? 0 : r.nextInt(3);
            final int port = 40000 + flow;
            int seq = nextSeq[flow];
            final int dice = r.nextInt(100);
            if (dice < 4)
            {
                seq += 1448;
            }
            else if (dice < 7)
            {
                seq -= 1448;
            }
            final int payload = r.nextInt(100) < 8 ? r.nextInt(1448) : r.nextInt(100) < 2 ? 0 : 1448;
            final int flagDice = r.nextInt(100);
            final int flags = flagDice < 80 ? 0x10 : flagDice < 88 ? 0x18 : new int[] {0x02, 0x12, 0x11, 0x14, 0x30,
                0x50, 0x90, 0x19}[r.nextInt(8)];
            final int ack = r.nextInt(100) < 5 ? 7 : 1;
            final int ttl = r.nextInt(100) < 3 ? 63 : 64;
            final int tsval = r.nextInt(100) < 5 ? r.nextInt(3) : 0;
            final byte[] bytes = segment(port, seq, ack, flags, payload, ttl, tsval, r.nextLong());
            final boolean corrupt = payload > 0 && r.nextInt(100) < 4;
            if (corrupt)
            {
                bytes[bytes.length - 1 - r.nextInt(payload)] ^= (byte)(1 << r.nextInt(8));
            }
            nextSeq[flow] = seq + payload;
            inputs.add(new Input(bytes, port, seq, flags, payload, corrupt, ack, ttl, tsval));
        }
        if (r.nextBoolean() && count > 2)
        {
            // reordering: swap two neighbours
            final int i = r.nextInt(count - 1);
            final Input a = inputs.get(i);
            inputs.set(i, inputs.get(i + 1));
            inputs.set(i + 1, a);
        }
        try (PacketPool pool = new PacketPool(256, PacketPool.DEFAULT_BUFFER_SIZE, PacketPool.DEFAULT_HEADROOM))
        {
            final int[] batch = new int[count];
            final Map<Integer, Integer> position = new HashMap<>();
            for (int i = 0; i < count; i++)
            {
                final int h = pool.allocate();
                pool.write(h, inputs.get(i).bytes(), 0, inputs.get(i).bytes().length);
                pool.l3Offset(h, 14);
                batch[i] = h;
                position.put(h, i);
            }
            final TcpCoalescer c = new TcpCoalescer(pool);
            final int frames = c.plan(batch, count);
            final boolean[] seen = new boolean[count];
            final Map<Integer, Integer> lastPositionOfPort = new HashMap<>();
            final List<Integer> order = new ArrayList<>();
            final List<Integer> alone = new ArrayList<>();
            int out = 0;
            for (int f = 0; f < frames; f++)
            {
                final int n = c.frameSegments(f);
                for (int k = 0; k < n; k++)
                {
                    final int p = position.get(c.handle(f, k));
                    assertThat(seen[p]).as("each frame once").isFalse();
                    seen[p] = true;
                    out++;
                    order.add(p);
                    final Input in = inputs.get(p);
                    final Integer before = lastPositionOfPort.put(in.port(), p);
                    assertThat(before == null || before < p).as("flow order kept").isTrue();
                    if (in.flags() != 0x10 && in.flags() != 0x18 || in.payload() == 0)
                    {
                        assertThat(n).as("a non-candidate goes alone").isEqualTo(1);
                        alone.add(order.size() - 1);
                    }
                }
                if (n > 1)
                {
                    final Input head = inputs.get(position.get(c.handle(f, 0)));
                    int seq = head.seq();
                    for (int k = 0; k < n; k++)
                    {
                        final Input in = inputs.get(position.get(c.handle(f, k)));
                        assertThat(in.corrupt()).as("a corrupted segment is never coalesced").isFalse();
                        assertThat(in.port()).isEqualTo(head.port());
                        assertThat(in.seq()).as("contiguous").isEqualTo(seq);
                        assertThat(in.ack()).isEqualTo(head.ack());
                        assertThat(in.ttl()).isEqualTo(head.ttl());
                        assertThat(in.tsval()).as("options equal").isEqualTo(head.tsval());
                        assertThat(in.flags() == 0x10 || in.flags() == 0x18 && k == n - 1).as("PSH only last")
                            .isTrue();
                        final boolean last = k == n - 1;
                        assertThat(last ? in.payload() <= head.payload() : in.payload() == head.payload())
                            .as("same size, a shorter last").isTrue();
                        seq += in.payload();
                    }
                    final byte[] bytes = render(pool, c, f);
                    assertThat(bytes.length - 14).isLessThanOrEqualTo(65535);
                    assertThat(completeAndVerify(bytes)).as("valid superframe").isTrue();
                }
            }
            assertThat(out).as("every frame out").isEqualTo(count);
            for (final int o : alone)
            {
                // every input shares one address pair: nothing passes a pure ACK, SYN, FIN or RST either way
                for (int k = 0; k < order.size(); k++)
                {
                    assertThat(k < o ? order.get(k) < order.get(o) : k == o || order.get(k) > order.get(o))
                        .as("output %d vs non-candidate at output %d", k, o).isTrue();
                }
            }
            for (int i = 0; i < count; i++)
            {
                pool.free(batch[i]);
            }
            assertThat(pool.available()).isEqualTo(pool.capacity());
        }
    }

    @Property(tries = 100)
    void shouldCapASuperframeAt64KbAnd64Segments(@ForAll @IntRange(min = 1, max = 8900) final int size,
        @ForAll @IntRange(min = 2, max = TcpCoalescer.MAX_BATCH) final int count)
    {
        // a crafted stream: as many contiguous segments of one size as a batch holds (tiny ones, jumbo ones)
        final int segments = Math.min(count, size > 1900 ? 60 : count);
        try (PacketPool pool = new PacketPool(TcpCoalescer.MAX_BATCH, PacketPool.DEFAULT_BUFFER_SIZE,
            PacketPool.DEFAULT_HEADROOM, size > 1900 ? segments : 0))
        {
            final int[] batch = new int[segments];
            for (int i = 0; i < segments; i++)
            {
                final byte[] b = segment(40000, 1000 + i * size, 1, 0x10, size, 64, 0, i);
                batch[i] = size > 1900 ? pool.allocateLarge() : pool.allocate();
                if (batch[i] == PacketPool.NO_BUFFER)
                {
                    batch[i] = pool.allocateLarge();
                }
                pool.write(batch[i], b, 0, b.length);
                pool.l3Offset(batch[i], 14);
            }
            final TcpCoalescer c = new TcpCoalescer(pool);
            final int frames = c.plan(batch, segments);
            int k = 0;
            for (int f = 0; f < frames; f++)
            {
                final int n = c.frameSegments(f);
                assertThat(n).isLessThanOrEqualTo(TcpCoalescer.MAX_SEGMENTS);
                for (int j = 0; j < n; j++)
                {
                    assertThat(c.handle(f, j)).as("in order").isEqualTo(batch[k++]);
                }
                if (n > 1)
                {
                    final byte[] bytes = render(pool, c, f);
                    assertThat(bytes.length - 14).as("one IPv4 datagram").isLessThanOrEqualTo(65535);
                    assertThat(completeAndVerify(bytes)).isTrue();
                }
            }
            assertThat(k).isEqualTo(segments);
            final int perFrame = Math.min(TcpCoalescer.MAX_SEGMENTS, (65535 - 20 - 32) / size);
            assertThat(frames).as("as few frames as the caps allow")
                .isEqualTo(perFrame <= 1 ? segments : (segments + perFrame - 1) / perFrame);
            for (final int h : batch)
            {
                pool.free(h);
            }
        }
    }

    @Test
    void shouldRefuseASegmentWithABadChecksumInsideARun()
    {
        try (PacketPool pool = new PacketPool(16, PacketPool.DEFAULT_BUFFER_SIZE, PacketPool.DEFAULT_HEADROOM))
        {
            final int[] batch = runWithThirdCorrupted(pool, 0);
            final TcpCoalescer c = new TcpCoalescer(pool);
            assertThat(c.plan(batch, 5)).as("[0 1] [2 alone] [3 4]").isEqualTo(3);
            assertThat(c.frameSegments(0)).isEqualTo(2);
            assertThat(c.frameSegments(1)).isEqualTo(1);
            assertThat(c.handle(1, 0)).isEqualTo(batch[2]);
            assertThat(c.frameSegments(2)).isEqualTo(2);
            assertThat(c.refusedChecksums()).isEqualTo(1);
        }
    }

    /**
     * A segment whose bytes an outer checksum already covered (the uplink split it from a UDP GSO superframe that the
     * kernel vouched for) is not verified again: the corrupted byte here stands for one the outer checksum would have
     * caught, and proves the TCP pass is skipped.
     */
    @Test
    void shouldSkipTheTcpChecksumPassForSegmentsAnOuterChecksumCovered()
    {
        try (PacketPool pool = new PacketPool(16, PacketPool.DEFAULT_BUFFER_SIZE, PacketPool.DEFAULT_HEADROOM))
        {
            final int[] batch = runWithThirdCorrupted(pool, PacketPool.FLAG_L4_CHECKSUM_TRUSTED);
            final TcpCoalescer c = new TcpCoalescer(pool);
            assertThat(c.plan(batch, 5)).as("one run").isEqualTo(1);
            assertThat(c.frameSegments(0)).isEqualTo(5);
            assertThat(c.refusedChecksums()).isZero();
        }
    }

    /** Five contiguous 1448-byte segments of one flow, the third with a payload byte flipped, each with {@code flags}. */
    private static int[] runWithThirdCorrupted(final PacketPool pool, final int flags)
    {
        final int[] batch = new int[5];
        for (int i = 0; i < 5; i++)
        {
            final byte[] b = segment(40000, 1000 + i * 1448, 1, 0x10, 1448, 64, 0, i);
            if (i == 2)
            {
                b[100] ^= 1;
            }
            batch[i] = pool.allocate();
            pool.write(batch[i], b, 0, b.length);
            pool.l3Offset(batch[i], 14);
            pool.flags(batch[i], flags);
        }
        return batch;
    }
}
