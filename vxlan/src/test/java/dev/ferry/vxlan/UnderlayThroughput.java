package dev.ferry.vxlan;

import dev.ferry.core.Counters;
import dev.ferry.core.PacketPool;
import dev.ferry.core.header.Wire;

import java.net.InetAddress;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A simple throughput driver for the UDP underlay (not a test, not JMH): two channels on loopback, a sender
 * that keeps at most 4096 datagrams in flight, and the receiver's count over the run.
 *
 * <pre>
 *   java -cp ... dev.ferry.vxlan.UnderlayThroughput [packets] [payload] [batched|unbatched]
 * </pre>
 * "batched" flushes once per 256 packets and sends same-size runs with GSO, and the receiver uses GRO;
 * "unbatched" flushes every packet, no GSO, no GRO (recvmmsg still reads what is there).
 */
public final class UnderlayThroughput
{
    private UnderlayThroughput()
    {
    }

    public static void main(final String[] args) throws Exception
    {
        final int total = args.length > 0 ? Integer.parseInt(args[0]) : 2_000_000;
        final int payload = args.length > 1 ? Integer.parseInt(args[1]) : 100;
        final boolean batched = args.length <= 2 || "batched".equals(args[2]);
        final PacketPool poolA = new PacketPool(8192);
        final PacketPool poolB = new PacketPool(8192);
        final AtomicLong received = new AtomicLong();
        final VxlanUdpUnderlay.Receiver sink = new VxlanUdpUnderlay.Receiver()
        {
            @Override
            public void onDatagram(final int h)
            {
                poolB.free(h);
                received.lazySet(received.get() + 1);
            }

            @Override
            public void onBatchEnd()
            {
            }
        };
        final VxlanUdpUnderlay.Receiver none = new VxlanUdpUnderlay.Receiver()
        {
            @Override
            public void onDatagram(final int h)
            {
                poolA.free(h);
            }

            @Override
            public void onBatchEnd()
            {
            }
        };
        final InetAddress a = InetAddress.getByAddress(new byte[] {127, 77, 1, 1});
        final InetAddress b = InetAddress.getByAddress(new byte[] {127, 77, 1, 2});
        final int port = 18473;
        try (VxlanUdpUnderlay rx = VxlanUdpUnderlay.open(new VxlanUdpUnderlay.Config("rx", b, port, 8 << 20, 64,
                batched, batched), poolB, 0, sink, Counters.inMemory(64));
            VxlanUdpUnderlay tx = VxlanUdpUnderlay.open(new VxlanUdpUnderlay.Config("tx", a, port, 8 << 20, 64,
                batched, batched), poolA, 0, none, Counters.inMemory(64)))
        {
            final byte[] frame = new byte[8 + payload];
            Wire.u32(java.lang.foreign.MemorySegment.ofArray(frame), 0, VxlanHeader.FLAG_I_WORD);
            final CompletableFuture<Void> done = new CompletableFuture<>();
            final int flushEvery = batched ? 256 : 1;
            final Runnable send = new Runnable()
            {
                int next;

                @Override
                public void run()
                {
                    int burst = 0;
                    while (next < total && burst < 4096 && next - received.get() < 4096)
                    {
                        final int h = poolA.allocate();
                        poolA.write(h, frame, 0, frame.length);
                        poolA.aux(h, 0x7f4d0102);
                        tx.transmit(h);
                        next++;
                        if (++burst % flushEvery == 0)
                        {
                            tx.flush();
                        }
                    }
                    tx.flush();
                    if (next == total)
                    {
                        done.complete(null);
                    }
                    else if (burst == 0)
                    {
                        tx.schedule(this, 20_000);
                    }
                    else
                    {
                        tx.execute(this);
                    }
                }
            };
            final long t0 = System.nanoTime();
            tx.execute(send);
            done.get(300, TimeUnit.SECONDS);
            while (received.get() < total && System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(300))
            {
                Thread.sleep(1);
            }
            final double secs = (System.nanoTime() - t0) / 1e9;
            System.out.printf("%s payload=%dB packets=%d received=%d time=%.2fs rate=%.0f pps kernel-drops=%d%n",
                batched ? "batched(flush/256,GSO,GRO)" : "unbatched(flush/1)", payload, total, received.get(), secs,
                received.get() / secs, rx.kernelDrops());
        }
    }
}
