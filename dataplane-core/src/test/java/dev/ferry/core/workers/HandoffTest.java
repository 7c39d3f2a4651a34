package dev.ferry.core.workers;

import dev.ferry.core.Counters;
import dev.ferry.core.PacketPool;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Handoff rings: what goes in comes out, once, in order, with its metadata; a full ring drops and counts, never
 * blocks; and under two threads sending to each other at once nothing is lost, duplicated or reordered.
 */
class HandoffTest
{
    private static final ValueLayout.OfLong SEQ = ValueLayout.JAVA_LONG_UNALIGNED;
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED;

    @Test
    void shouldCarryFrameAndMetadataToTheOwner()
    {
        try (Handoff handoff = new Handoff(2, 64 * 1024);
            PacketPool pool0 = new PacketPool(8, PacketPool.DEFAULT_BUFFER_SIZE, PacketPool.DEFAULT_HEADROOM, 2);
            PacketPool pool1 = new PacketPool(8, PacketPool.DEFAULT_BUFFER_SIZE, PacketPool.DEFAULT_HEADROOM, 2);
            Counters c0 = Counters.inMemory(16);
            Counters c1 = Counters.inMemory(16))
        {
            final List<Integer> got = new ArrayList<>();
            final Handoff.Endpoint w0 = handoff.endpoint(0, pool0, c0, h -> { });
            final Handoff.Endpoint w1 = handoff.endpoint(1, pool1, c1, got::add);
            final byte[] frame = new byte[300];
            new SplittableRandom(1).nextBytes(frame);
            final int h = pool0.allocate();
            pool0.write(h, frame, 0, frame.length);
            pool0.rxPort(h, 7);
            pool0.l3Offset(h, 14);
            pool0.aux(h, 0x1234);
            pool0.timestamp(h, 99L);
            pool0.gso(h, PacketPool.GSO_TCPV4, 1448);
            pool0.checksumPartial(h, 34, 16);
            pool0.trace(h, 5);

            assertThat(w0.send(1, h)).isTrue();
            w0.publish();
            assertThat(pool0.available()).as("the sender's buffer is back in its pool").isEqualTo(pool0.capacity());
            assertThat(w1.drain(256)).isEqualTo(1);

            assertThat(got).hasSize(1);
            final int r = got.get(0);
            assertThat(pool1.toArray(r)).isEqualTo(frame);
            assertThat(pool1.rxPort(r)).isEqualTo(7);
            assertThat(pool1.l3Offset(r)).isEqualTo(14);
            assertThat(pool1.aux(r)).isEqualTo(0x1234);
            assertThat(pool1.timestamp(r)).isEqualTo(99L);
            assertThat(pool1.gsoType(r)).isEqualTo(PacketPool.GSO_TCPV4);
            assertThat(pool1.gsoSize(r)).isEqualTo(1448);
            assertThat(pool1.checksumPartial(r)).isTrue();
            assertThat(pool1.checksumStart(r)).isEqualTo(34);
            assertThat(pool1.checksumOffset(r)).isEqualTo(16);
            assertThat(pool1.traced(r)).as("a traced packet's trace goes on at its owner").isTrue();
            assertThat(pool1.traceId(r)).as("under the same (node-wide) id").isEqualTo(5);
            assertThat(c0.get(Handoff.COUNTER_SENT)).isEqualTo(1);
            assertThat(c1.get(Handoff.COUNTER_RECEIVED)).isEqualTo(1);
            pool1.free(r);
        }
    }

    @Test
    void shouldTellTheOwnerWhichWorkerHandedEachPacketOverAndCarryNoTraceMarkThatWasNotSet()
    {
        try (Handoff handoff = new Handoff(3, 64 * 1024);
            PacketPool pool0 = new PacketPool(8);
            PacketPool pool1 = new PacketPool(8);
            PacketPool pool2 = new PacketPool(8);
            Counters c0 = Counters.inMemory(16);
            Counters c1 = Counters.inMemory(16);
            Counters c2 = Counters.inMemory(16))
        {
            final List<int[]> got = new ArrayList<>();
            final Handoff.Inject record = (h, from) -> got.add(new int[] {from, h});
            final Handoff.Endpoint w0 = handoff.senderAwareEndpoint(0, pool0, c0, record);
            final Handoff.Endpoint w1 = handoff.senderAwareEndpoint(1, pool1, c1, record);
            final Handoff.Endpoint w2 = handoff.senderAwareEndpoint(2, pool2, c2, record);
            final int a = pool0.allocate();
            pool0.length(a, 60);
            final int b = pool2.allocate();
            pool2.length(b, 60);
            pool2.trace(b, 9);
            assertThat(w0.send(1, a)).isTrue();
            assertThat(w2.send(1, b)).isTrue();
            w0.publish();
            w2.publish();
            assertThat(w1.drain(256)).isEqualTo(2);
            assertThat(got).extracting(g -> g[0]).containsExactlyInAnyOrder(0, 2);
            for (final int[] g : got)
            {
                assertThat(pool1.traced(g[1])).as("from worker " + g[0]).isEqualTo(g[0] == 2);
                assertThat(pool1.traceId(g[1])).isEqualTo(g[0] == 2 ? 9 : -1);
                pool1.free(g[1]);
            }
            got.clear();
            final int c = pool1.allocate();
            pool1.length(c, 60);
            assertThat(w1.send(0, c)).isTrue();
            w1.publish();
            assertThat(w0.drain(256)).isEqualTo(1);
            assertThat(got).extracting(g -> g[0]).containsExactly(1);
            pool0.free(got.get(0)[1]);
        }
    }

    @Test
    void shouldDropAndCountWhenTheRingIsFullWithoutBlocking()
    {
        try (Handoff handoff = new Handoff(2, 4096);
            PacketPool pool0 = new PacketPool(8);
            PacketPool pool1 = new PacketPool(64);
            Counters c0 = Counters.inMemory(16);
            Counters c1 = Counters.inMemory(16))
        {
            final AtomicInteger received = new AtomicInteger();
            final Handoff.Endpoint w0 = handoff.endpoint(0, pool0, c0, h -> { });
            final Handoff.Endpoint w1 = handoff.endpoint(1, pool1, c1, h ->
            {
                received.incrementAndGet();
                pool1.free(h);
            });
            int accepted = 0;
            for (int i = 0; i < 100; i++)
            {
                final int h = pool0.allocate();
                pool0.length(h, 100);
                accepted += w0.send(1, h) ? 1 : 0;
            }
            w0.publish();
            assertThat(accepted).as("a 4 KiB ring holds about 4096 / 160 records").isBetween(20, 40);
            assertThat(c0.get(Handoff.DROP_PREFIX + "handoff-full")).isEqualTo(100 - accepted);
            assertThat(pool0.available()).as("dropped buffers are freed").isEqualTo(pool0.capacity());
            assertThat(w1.drain(1000)).isEqualTo(accepted);
            assertThat(received.get()).isEqualTo(accepted);
        }
    }

    @Test
    void shouldHoldWhatAFullRingRefusesAndDeliverEverythingInOrder()
    {
        try (Handoff handoff = new Handoff(2, 4096);
            PacketPool pool0 = new PacketPool(4096);
            PacketPool pool1 = new PacketPool(64);
            Counters c0 = Counters.inMemory(16);
            Counters c1 = Counters.inMemory(16))
        {
            final List<Integer> order = new ArrayList<>();
            final Handoff.Endpoint w0 = handoff.endpoint(0, pool0, c0, h -> { });
            final Handoff.Endpoint w1 = handoff.endpoint(1, pool1, c1, h ->
            {
                order.add(pool1.memory().get(INT, pool1.frameOffset(h)));
                pool1.free(h);
            });
            final int frames = 500;
            for (int i = 0; i < frames; i++)
            {
                final int h = pool0.allocate();
                pool0.length(h, 100);
                pool0.memory().set(INT, pool0.frameOffset(h), i);
                assertThat(w0.sendOrHold(1, h)).as("frame %d written or held", i).isTrue();
            }
            w0.publish();
            assertThat(w0.held()).as("a 4 KiB ring takes about 25; the rest waits").isGreaterThan(400);
            assertThat(c0.get(Handoff.DROP_PREFIX + "handoff-full")).isZero();
            // the owner drains a ringful at a time, the sender writes on what is held
            for (int round = 0; round < 1000 && order.size() < frames; round++)
            {
                w1.drain(1000);
                w0.flushHeld();
            }
            assertThat(order).as("every frame once, in the order sent").hasSize(frames);
            for (int i = 0; i < frames; i++)
            {
                assertThat(order.get(i)).isEqualTo(i);
            }
            assertThat(w0.held()).isZero();
            assertThat(c0.get(Handoff.COUNTER_SENT)).isEqualTo(frames);
            assertThat(pool0.available()).isEqualTo(pool0.capacity());
        }
    }

    @Test
    void shouldDropAndCountOnlyBeyondTheHoldQueueAndFreeWhatIsDiscarded()
    {
        try (Handoff handoff = new Handoff(2, 4096);
            PacketPool pool0 = new PacketPool(8192);
            Counters c0 = Counters.inMemory(16))
        {
            final Handoff.Endpoint w0 = handoff.endpoint(0, pool0, c0, h -> { });
            int accepted = 0;
            final int frames = 3000;
            for (int i = 0; i < frames; i++)
            {
                final int h = pool0.allocate();
                pool0.length(h, 100);
                accepted += w0.sendOrHold(1, h) ? 1 : 0;
            }
            assertThat(w0.held()).isEqualTo(Handoff.HOLD_CAPACITY);
            assertThat(c0.get(Handoff.DROP_PREFIX + "handoff-full")).as("beyond ring and hold queue, counted")
                .isEqualTo(frames - accepted);
            assertThat(w0.discardHeld()).isEqualTo(Handoff.HOLD_CAPACITY);
            assertThat(c0.get(Handoff.DROP_PREFIX + "handoff-full")).isEqualTo(frames - accepted
                + Handoff.HOLD_CAPACITY);
            assertThat(pool0.available()).as("held and dropped buffers freed").isEqualTo(pool0.capacity());
        }
    }

    @Test
    void shouldLeaveThePacketWithTheCallerWhenOfferFindsTheRingFull()
    {
        try (Handoff handoff = new Handoff(2, 1024);
            PacketPool pool0 = new PacketPool(16);
            Counters c0 = Counters.inMemory(16))
        {
            final Handoff.Endpoint w0 = handoff.endpoint(0, pool0, c0, h -> { });
            int h = pool0.allocate();
            pool0.length(h, 100);
            while (w0.offer(1, h))
            {
                h = pool0.allocate();
                pool0.length(h, 100);
            }
            assertThat(pool0.isAllocated(h)).as("the refused handle is still the caller's").isTrue();
            assertThat(c0.get(Handoff.DROP_PREFIX + "handoff-full")).isZero();
            pool0.free(h);
            assertThat(pool0.available()).isEqualTo(pool0.capacity());
        }
    }

    @Test
    void shouldDropFramesLargerThanARecord()
    {
        try (Handoff handoff = new Handoff(2, 4096);
            PacketPool pool0 = new PacketPool(8);
            Counters c0 = Counters.inMemory(16))
        {
            final Handoff.Endpoint w0 = handoff.endpoint(0, pool0, c0, h -> { });
            final int h = pool0.allocate();
            pool0.length(h, w0.maxFrame() + 1);
            assertThat(w0.send(1, h)).isFalse();
            assertThat(c0.get(Handoff.DROP_PREFIX + "handoff-too-big")).isEqualTo(1);
            assertThat(pool0.available()).isEqualTo(pool0.capacity());
        }
    }

    @Test
    void shouldDropWhenTheOwnerHasNoBuffer()
    {
        try (Handoff handoff = new Handoff(2, 64 * 1024);
            PacketPool pool0 = new PacketPool(8);
            PacketPool pool1 = new PacketPool(2);
            Counters c0 = Counters.inMemory(16);
            Counters c1 = Counters.inMemory(16))
        {
            final List<Integer> held = new ArrayList<>();
            final Handoff.Endpoint w0 = handoff.endpoint(0, pool0, c0, h -> { });
            final Handoff.Endpoint w1 = handoff.endpoint(1, pool1, c1, held::add);
            for (int i = 0; i < 5; i++)
            {
                final int h = pool0.allocate();
                pool0.length(h, 60);
                w0.send(1, h);
            }
            w0.publish();
            assertThat(w1.drain(256)).isEqualTo(5);
            assertThat(held).hasSize(2);
            assertThat(c1.get(Handoff.DROP_PREFIX + "handoff-no-buffer")).isEqualTo(3);
            assertThat(Handoff.sum(List.of(c0, c1), Handoff.COUNTER_SENT)).isEqualTo(5);
        }
    }

    @Test
    void shouldShareTheDrainBudgetBetweenSenders()
    {
        try (Handoff handoff = new Handoff(3, 64 * 1024);
            PacketPool p0 = new PacketPool(64);
            PacketPool p1 = new PacketPool(64);
            PacketPool p2 = new PacketPool(64);
            Counters c0 = Counters.inMemory(16);
            Counters c1 = Counters.inMemory(16);
            Counters c2 = Counters.inMemory(16))
        {
            final int[] fromSender = new int[3];
            final Handoff.Endpoint w0 = handoff.endpoint(0, p0, c0, h -> { });
            final Handoff.Endpoint w1 = handoff.endpoint(1, p1, c1, h -> { });
            final Handoff.Endpoint w2 = handoff.endpoint(2, p2, c2, h ->
            {
                fromSender[p2.rxPort(h)]++;
                p2.free(h);
            });
            for (int i = 0; i < 40; i++)
            {
                int h = p0.allocate();
                p0.length(h, 60);
                p0.rxPort(h, 0);
                w0.send(2, h);
                w0.publish();
                h = p1.allocate();
                p1.length(h, 60);
                p1.rxPort(h, 1);
                w1.send(2, h);
                w1.publish();
            }
            w2.drain(10);
            w2.drain(10);
            assertThat(fromSender[0]).as("each sender gets a turn first").isGreaterThanOrEqualTo(5);
            assertThat(fromSender[1]).isGreaterThanOrEqualTo(5);
            while (w2.drain(64) > 0)
            {
                // empty the rings
            }
            assertThat(fromSender[0] + fromSender[1]).isEqualTo(80);
        }
    }

    /**
     * Two workers hand frames to each other at once through small rings, so that the rings wrap and fill often.
     * Every frame carries its sender and a sequence number; the receiver checks FIFO per ring, and at the end
     * every sequence number was received exactly once or dropped (counted) exactly once.
     */
    @Test
    void shouldNeitherLoseDuplicateNorReorderUnderTwoThreads() throws Exception
    {
        final int perWorker = 400_000;
        try (Handoff handoff = new Handoff(2, 16 * 1024))
        {
            final AtomicInteger finished = new AtomicInteger();
            final AtomicReference<Throwable> failure = new AtomicReference<>();
            final Side[] sides = {new Side(0, perWorker), new Side(1, perWorker)};
            final Thread[] threads = new Thread[2];
            for (int w = 0; w < 2; w++)
            {
                final Side side = sides[w];
                threads[w] = new Thread(() ->
                {
                    try
                    {
                        side.run(handoff, finished);
                    }
                    catch (final Throwable t)
                    {
                        failure.compareAndSet(null, t);
                        finished.incrementAndGet();
                    }
                }, "ferry-handoff-" + w);
                threads[w].start();
            }
            for (final Thread t : threads)
            {
                t.join(120_000);
                assertThat(t.isAlive()).as("worker finished").isFalse();
            }
            assertThat(failure.get()).isNull();
            for (int w = 0; w < 2; w++)
            {
                final Side sender = sides[w];
                final Side receiver = sides[1 - w];
                final BitSet both = (BitSet)sender.dropped.clone();
                both.and(receiver.received);
                assertThat(both.cardinality()).as("a frame both dropped and received").isZero();
                final BitSet all = (BitSet)sender.dropped.clone();
                all.or(receiver.received);
                assertThat(all.cardinality()).as("frames from worker %d accounted for", w).isEqualTo(perWorker);
                assertThat(sender.counters.get(Handoff.COUNTER_SENT)).isEqualTo(receiver.received.cardinality());
                assertThat(sender.counters.get(Handoff.DROP_PREFIX + "handoff-full"))
                    .isEqualTo(sender.dropped.cardinality());
                assertThat(sender.pool.available()).as("no leak on worker %d", w).isEqualTo(sender.pool.capacity());
                sender.close();
            }
        }
    }

    /** One worker of the stress test: sends numbered frames to the other and checks what it receives. */
    private static final class Side implements AutoCloseable
    {
        final int worker;
        final int count;
        final PacketPool pool = new PacketPool(512);
        final Counters counters = Counters.inMemory(16);
        final BitSet dropped = new BitSet();
        final BitSet received = new BitSet();
        long last = -1;
        String error;

        Side(final int worker, final int count)
        {
            this.worker = worker;
            this.count = count;
        }

        void run(final Handoff handoff, final AtomicInteger finished)
        {
            final Handoff.Endpoint e = handoff.endpoint(worker, pool, counters, this::receive);
            final SplittableRandom random = new SplittableRandom(worker);
            final MemorySegment mem = pool.memory();
            for (int seq = 0; seq < count; seq++)
            {
                final int h = pool.allocate();
                final int length = 14 + random.nextInt(1500);
                pool.length(h, Math.max(length, 16));
                mem.set(INT, pool.frameOffset(h), worker);
                mem.set(SEQ, pool.frameOffset(h) + 4, seq);
                mem.set(INT, pool.frameOffset(h) + 12, pool.length(h));
                pool.timestamp(h, seq);
                if (!e.send(1 - worker, h))
                {
                    dropped.set(seq);
                }
                if ((seq & 7) == 0)
                {
                    e.publish();
                    e.drain(64);
                }
            }
            e.publish();
            finished.incrementAndGet();
            // drain until the other side has finished sending and its ring is empty
            while (finished.get() < 2 | e.drain(256) > 0)
            {
                Thread.onSpinWait();
            }
            if (error != null)
            {
                throw new AssertionError(error);
            }
        }

        private void receive(final int h)
        {
            final MemorySegment mem = pool.memory();
            final long off = pool.frameOffset(h);
            final int from = mem.get(INT, off);
            final long seq = mem.get(SEQ, off + 4);
            final int length = mem.get(INT, off + 12);
            if (error == null && (from != 1 - worker || seq <= last || length != pool.length(h)
                || pool.timestamp(h) != seq || received.get((int)seq)))
            {
                error = "worker " + worker + " got from " + from + " seq " + seq + " after " + last + ", length "
                    + pool.length(h) + " (sent " + length + "), timestamp " + pool.timestamp(h);
            }
            last = seq;
            received.set((int)seq);
            pool.free(h);
        }

        @Override
        public void close()
        {
            pool.close();
            counters.close();
        }
    }
}
