package dev.ferry.vxlan;

import dev.ferry.core.Counters;
import dev.ferry.core.PacketPool;
import dev.ferry.core.header.Wire;
import org.junit.jupiter.api.Test;

import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.util.BitSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;

/** Two underlay channels on loopback addresses exchange VXLAN datagrams. */
class VxlanUdpUnderlayTest
{
    private static final int PORT = 18472;
    private static final int A_IP = 0x7f4d0001; // 127.77.0.1
    private static final int B_IP = 0x7f4d0002; // 127.77.0.2

    /** Receiver side: counts distinct sequence numbers and frees each buffer. */
    private static final class Sink implements VxlanUdpUnderlay.Receiver
    {
        final PacketPool pool;
        final BitSet seen;
        final AtomicLong received = new AtomicLong();
        long duplicates;
        long badSource;
        final long sleepNanosPerBatch;

        Sink(final PacketPool pool, final int expected, final long sleepNanosPerBatch)
        {
            this.pool = pool;
            this.seen = new BitSet(expected);
            this.sleepNanosPerBatch = sleepNanosPerBatch;
        }

        @Override
        public void onDatagram(final int h)
        {
            final int seq = Wire.u32(pool.memory(), pool.frameOffset(h) + 8);
            if (pool.aux(h) != A_IP)
            {
                badSource++;
            }
            if (seq >= 0 && seen.get(seq))
            {
                duplicates++;
            }
            else if (seq >= 0)
            {
                seen.set(seq);
            }
            pool.free(h);
            received.lazySet(received.get() + 1);
        }

        @Override
        public void onBatchEnd()
        {
            if (sleepNanosPerBatch > 0)
            {
                java.util.concurrent.locks.LockSupport.parkNanos(sleepNanosPerBatch);
            }
        }
    }

    private static final VxlanUdpUnderlay.Receiver DISCARD = new VxlanUdpUnderlay.Receiver()
    {
        @Override
        public void onDatagram(final int handle)
        {
            throw new IllegalStateException("sender received a datagram");
        }

        @Override
        public void onBatchEnd()
        {
        }
    };

    /** Sends `total` datagrams from A's I/O thread, keeping at most `window` unacknowledged (0 = no limit). */
    private static final class Sender implements Runnable
    {
        final VxlanUdpUnderlay a;
        final PacketPool pool;
        final int total;
        final int window;
        final AtomicLong received;
        final int target;
        final CompletableFuture<Long> done = new CompletableFuture<>();
        final byte[] frame = new byte[8 + 60];
        int next;

        Sender(final VxlanUdpUnderlay a, final PacketPool pool, final int total, final int window,
            final AtomicLong received, final int target)
        {
            this.target = target;
            this.a = a;
            this.pool = pool;
            this.total = total;
            this.window = window;
            this.received = received;
            Wire.u32(java.lang.foreign.MemorySegment.ofArray(frame), 0, VxlanHeader.FLAG_I_WORD);
        }

        @Override
        public void run()
        {
            int burst = 0;
            while (next < total && burst < 4096 && (window == 0 || next - received.get() < window))
            {
                final int h = pool.allocate();
                if (h == PacketPool.NO_BUFFER)
                {
                    break;
                }
                pool.write(h, frame, 0, frame.length);
                Wire.u32(pool.memory(), pool.frameOffset(h) + 8, next++);
                pool.aux(h, target);
                a.transmit(h);
                burst++;
                if ((burst & 63) == 0)
                {
                    a.flush();
                }
            }
            a.flush();
            if (next == total)
            {
                done.complete((long)next);
            }
            else if (burst == 0)
            {
                a.schedule(this, 50_000);
            }
            else
            {
                a.execute(this);
            }
        }
    }

    private static InetAddress addr(final int ip) throws Exception
    {
        return InetAddress.getByAddress(new byte[] {127, 77, 0, (byte)ip});
    }

    @Test
    void shouldExchangeOneMillionFramesWithoutLoss() throws Exception
    {
        final int total = 1_000_000;
        final PacketPool poolA = new PacketPool(8192);
        final PacketPool poolB = new PacketPool(8192);
        final Counters ca = Counters.inMemory(64);
        final Counters cb = Counters.inMemory(64);
        final Sink sink = new Sink(poolB, total, 0);
        try (VxlanUdpUnderlay b = VxlanUdpUnderlay.open(VxlanUdpUnderlay.Config.of(addr(2), PORT), poolB, 0, sink,
                cb);
            VxlanUdpUnderlay a = VxlanUdpUnderlay.open(VxlanUdpUnderlay.Config.of(addr(1), PORT), poolA, 0,
                DISCARD, ca))
        {
            assertThat(b.buffersForced()).as("root: SO_RCVBUFFORCE").isTrue();
            assertThat(b.receiveBufferSize()).as("at least 4 MiB").isGreaterThanOrEqualTo(4 << 20);
            final Sender s = new Sender(a, poolA, total, 2048, sink.received, B_IP);
            a.execute(s);
            try
            {
                s.done.get(120, TimeUnit.SECONDS);
            }
            catch (final java.util.concurrent.TimeoutException e)
            {
                throw new AssertionError("stalled: " + ca.snapshot() + " " + cb.snapshot() + " received "
                    + sink.received.get() + " kernel drops " + b.kernelDrops(), e);
            }
            final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (sink.received.get() < total && System.nanoTime() < deadline)
            {
                Thread.sleep(10);
            }
            // read the receiver's state on its own thread
            final CompletableFuture<long[]> st = new CompletableFuture<>();
            b.execute(() -> st.complete(new long[] {sink.seen.cardinality(), sink.duplicates, sink.badSource,
                poolB.available()}));
            final long[] v = st.get(10, TimeUnit.SECONDS);
            assertThat(sink.received.get()).as("every frame received").isEqualTo(total);
            assertThat(v[0]).as("distinct sequence numbers").isEqualTo(total);
            assertThat(v[1]).as("duplicates").isZero();
            assertThat(v[2]).as("outer source carried in aux").isZero();
            assertThat(cb.get("link/vxlan-udp/rx-no-buffer")).isZero();
            assertThat(b.kernelDrops()).as("kernel socket drops").isZero();
            assertThat(ca.get("link/vxlan-udp/tx-packets")).isEqualTo(total);
            assertThat(ca.get("link/vxlan-udp/tx-ring-full")).isZero();
            System.out.printf("1M exchange: tx-batches=%d gso-sends=%d rcvbuf=%d gso=%b%n",
                ca.get("link/vxlan-udp/tx-batches"), ca.get("link/vxlan-udp/tx-gso-sends"), b.receiveBufferSize(),
                a.gsoActive());
            final CompletableFuture<Integer> pa = new CompletableFuture<>();
            a.execute(() -> pa.complete(poolA.available()));
            assertThat(pa.get(10, TimeUnit.SECONDS)).as("sender pool full").isEqualTo(poolA.capacity());
            assertThat(v[3]).as("receiver pool full").isEqualTo(poolB.capacity());
        }
    }

    @Test
    void shouldCountLossUnderOverload() throws Exception
    {
        final int total = 200_000;
        final PacketPool poolA = new PacketPool(8192);
        final PacketPool poolB = new PacketPool(1024);
        final Counters ca = Counters.inMemory(64);
        final Counters cb = Counters.inMemory(64);
        final Sink sink = new Sink(poolB, total, 200_000);
        // a small receive buffer and a slow receiver: the kernel must drop, and we must see it
        final VxlanUdpUnderlay.Config small = new VxlanUdpUnderlay.Config("slow", addr(4), PORT, 64 << 10, 16,
            false, false);
        try (VxlanUdpUnderlay b = VxlanUdpUnderlay.open(small, poolB, 0, sink, cb);
            VxlanUdpUnderlay a = VxlanUdpUnderlay.open(new VxlanUdpUnderlay.Config("fast", addr(3), PORT,
                8 << 20, 64, false, true), poolA, 0, DISCARD, ca))
        {
            final Sender s = new Sender(a, poolA, total, 0, sink.received, 0x7f4d0004);
            a.execute(s);
            s.done.get(120, TimeUnit.SECONDS);
            final long txOk = ca.get("link/fast/tx-packets");
            final long txFull = ca.get("link/fast/tx-ring-full");
            assertThat(txOk + txFull).as("every send attempt counted").isEqualTo(total);
            // nothing lost silently: wait until every datagram sent is received or counted as dropped (a pause in
            // arrivals proves nothing; the accounting does). Polling only, so the loop may sleep.
            final long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (sink.received.get() + b.kernelDrops() + cb.get("link/slow/rx-no-buffer") < txOk
                && System.nanoTime() < deadline)
            {
                Thread.sleep(50);
            }
            final long kernel = b.kernelDrops();
            final long got = sink.received.get();
            System.out.printf("overload: sent=%d ring-full=%d received=%d kernel-drops=%d no-buffer=%d%n", txOk,
                txFull, got, kernel, cb.get("link/slow/rx-no-buffer"));
            assertThat(kernel).as("overload shows up as counted kernel drops").isPositive();
            assertThat(got + kernel + cb.get("link/slow/rx-no-buffer")).as("nothing lost silently")
                .isEqualTo(txOk);
            final CompletableFuture<Integer> pb = new CompletableFuture<>();
            b.execute(() -> pb.complete(poolB.available()));
            assertThat(pb.get(10, TimeUnit.SECONDS)).isEqualTo(poolB.capacity());
            final CompletableFuture<Integer> pa = new CompletableFuture<>();
            a.execute(() -> pa.complete(poolA.available()));
            assertThat(pa.get(10, TimeUnit.SECONDS)).isEqualTo(poolA.capacity());
        }
    }

    @Test
    void shouldNotAllocatePerReceivedPacketInFerryCode() throws Exception
    {
        // measures the I/O thread's allocation per datagram (netty's own DatagramPacket objects included)
        final int total = 200_000;
        final PacketPool poolA = new PacketPool(8192);
        final PacketPool poolB = new PacketPool(8192);
        final Sink sink = new Sink(poolB, total, 0);
        try (VxlanUdpUnderlay b = VxlanUdpUnderlay.open(VxlanUdpUnderlay.Config.of(addr(6), PORT), poolB, 0, sink,
                Counters.inMemory(64));
            VxlanUdpUnderlay a = VxlanUdpUnderlay.open(VxlanUdpUnderlay.Config.of(addr(5), PORT), poolA, 0,
                DISCARD, Counters.inMemory(64)))
        {
            final com.sun.management.ThreadMXBean mx =
                (com.sun.management.ThreadMXBean)ManagementFactory.getThreadMXBean();
            final CompletableFuture<Long> tid = new CompletableFuture<>();
            b.execute(() -> tid.complete(Thread.currentThread().threadId()));
            final CompletableFuture<Long> atid = new CompletableFuture<>();
            a.execute(() -> atid.complete(Thread.currentThread().threadId()));
            final long rx0 = mx.getThreadAllocatedBytes(tid.get());
            final long tx0 = mx.getThreadAllocatedBytes(atid.get());
            final Sender s = new Sender(a, poolA, total, 2048, sink.received, 0x7f4d0006);
            a.execute(s);
            s.done.get(120, TimeUnit.SECONDS);
            while (sink.received.get() < total)
            {
                Thread.sleep(10);
            }
            final long rxPer = (mx.getThreadAllocatedBytes(tid.get()) - rx0) / total;
            final long txPer = (mx.getThreadAllocatedBytes(atid.get()) - tx0) / total;
            System.out.printf("allocation per datagram: rx thread %d B, tx thread %d B%n", rxPer, txPer);
            assertThat(sink.received.get()).isEqualTo(total);
        }
    }
}
