package dev.ferry.node;

import dev.ferry.core.PacketVector;
import dev.ferry.core.route.Ip4;
import dev.ferry.tapio.MemoryPort;
import dev.ferry.tapio.Port;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

import static dev.ferry.node.NodeFixture.POD_A;
import static dev.ferry.node.NodeFixture.POD_B;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * The readiness probe through the real worker and its real epoll set: the pod and host TAPs here are memory ports
 * behind an eventfd (readable while frames are queued, and each receive a {@code read()} on it, EAGAIN when empty,
 * as a TAP's), and the uplink is a memory port kept saturated. An empty TAP is then not read in thousands of busy
 * cycles, a frame on it is forwarded while the uplink stays saturated, a burst larger than a vector all arrives,
 * and a pod attached while the worker is busy is read as well. With {@code -Dferry.test.workers=2} worker 0 is the
 * saturated one (the uplink's frame is on its queue) and the frames here are queued on the TAPs' queue 0, which it
 * reads; pod B's flow owner may be worker 1, which then sends them on B's queue 1.
 */
class ReadinessPollNodeTest
{
    private static final Duration TIMEOUT = Duration.ofSeconds(10);
    private static final int POD_C = Ip4.parse("10.244.1.4");

    @TempDir
    Path dir;

    /** eventfd(2), read(2), write(2) through FFM. */
    @SuppressWarnings("restricted")
    private static final class Native
    {
        static final Linker LINKER = Linker.nativeLinker();
        static final MethodHandle EVENTFD = LINKER.downcallHandle(LINKER.defaultLookup().find("eventfd").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
        static final MethodHandle READ = LINKER.downcallHandle(LINKER.defaultLookup().find("read").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.ADDRESS,
                ValueLayout.JAVA_LONG));
        static final MethodHandle WRITE = LINKER.downcallHandle(LINKER.defaultLookup().find("write").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.ADDRESS,
                ValueLayout.JAVA_LONG));
        static final MethodHandle CLOSE = LINKER.downcallHandle(LINKER.defaultLookup().find("close").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
        static final int EFD_NONBLOCK = 0x800;
        static final int EFD_CLOEXEC = 0x80000;
    }

    /**
     * A TAP stand-in: a memory port whose descriptor is an eventfd holding "frames may be queued"; receive reads it
     * (the syscall a TAP's receive costs) and writes back what did not fit the vector, so that it stays readable
     * while frames wait, as a TAP's queue keeps its descriptor readable.
     */
    private static final class EventfdTap extends MemoryPortWrapper
    {
        final int fd;
        final AtomicLong receives = new AtomicLong();
        private final Arena arena = Arena.ofShared();
        private final MemorySegment rx = arena.allocate(8, 8);
        private final MemorySegment tx = arena.allocate(8, 8);

        EventfdTap(final MemoryPort queue)
        {
            super(queue);
            try
            {
                this.fd = (int)Native.EVENTFD.invokeExact(0, Native.EFD_NONBLOCK | Native.EFD_CLOEXEC);
            }
            catch (final Throwable e)
            {
                throw new IllegalStateException(e);
            }
            assertThat(fd).isNotNegative();
        }

        /** Queues a frame and makes the descriptor readable (test thread). */
        synchronized void enqueue(final byte[] frame)
        {
            queue.enqueue(frame);
            signal(1);
        }

        private synchronized void signal(final long n)
        {
            tx.set(ValueLayout.JAVA_LONG, 0, n);
            try
            {
                final long w = (long)Native.WRITE.invokeExact(fd, tx, 8L);
                assertThat(w).isEqualTo(8);
            }
            catch (final Throwable e)
            {
                throw new IllegalStateException(e);
            }
        }

        @Override
        public int receive(final PacketVector out)
        {
            receives.incrementAndGet();
            final long n;
            try
            {
                n = (long)Native.READ.invokeExact(fd, rx, 8L);
            }
            catch (final Throwable e)
            {
                throw new IllegalStateException(e);
            }
            if (n != 8)
            {
                return 0;
            }
            final int got = queue.receive(out);
            final int left = queue.pendingReceive();
            if (left > 0)
            {
                signal(left);
            }
            return got;
        }

        @Override
        public int fd()
        {
            return fd;
        }

        @Override
        public boolean receiveIsSyscall()
        {
            return true;
        }

        @Override
        public void close()
        {
            queue.close();
            try
            {
                final int r = (int)Native.CLOSE.invokeExact(fd);
                assertThat(r).isZero();
            }
            catch (final Throwable e)
            {
                throw new IllegalStateException(e);
            }
        }
    }

    /** Memory uplink; the host and pod TAPs behind eventfds, one per queue (a node of N workers opens N). */
    private static final class Factory implements PortFactory
    {
        final MemoryPortFactory memory = new MemoryPortFactory();
        final Map<String, EventfdTap> taps = new ConcurrentHashMap<>();

        @Override
        public Opened openUplink(final String ifName, final PortContext context)
        {
            return memory.openUplink(ifName, context);
        }

        @Override
        public Opened openHostTap(final String name, final PortContext context)
        {
            final Opened o = memory.openHostTap(name, context);
            return new Opened(remember(name, context.queue()), o.kind(), o.mac(), o.peerMac());
        }

        @Override
        public Port openPodTap(final PodAttachment pod, final PortContext context, final boolean restore)
            throws IOException
        {
            memory.openPodTap(pod, context, restore);
            return remember(pod.tapName(), context.queue());
        }

        private EventfdTap remember(final String name, final int queue)
        {
            final EventfdTap t = new EventfdTap(memory.port(name, queue));
            taps.put(queue == 0 ? name : name + "#" + queue, t);
            return t;
        }
    }

    @Test
    void shouldLeaveAnEmptyTapUnreadWhileTheUplinkIsSaturatedAndStillForwardEveryTapsFrames() throws Exception
    {
        final Factory factory = new Factory();
        final NodeConfig config = NodeConfig.defaults(NodeFixture.NODE, dir.resolve("api/ferry.sock"), "eth9")
            .withThreading(ThreadingMode.DEDICATED).withWorkers(NodeFixture.workers());
        final NodeDaemon daemon = NodeDaemon.builder(config).portFactory(factory)
            .initialTables(NodeFixture.tables(1, List.of(POD_A, POD_B, POD_C), List.of("10.244.2.0/24"))).build();
        daemon.start();
        try
        {
            daemon.attach(NodeFixture.attachRequest("ca", POD_A)).get();
            daemon.attach(NodeFixture.attachRequest("cb", POD_B)).get();
            final EventfdTap a = factory.taps.get("tap0af40102");
            final EventfdTap b = factory.taps.get("tap0af40103");
            final MemoryPort uplink = factory.memory.port("eth9", 0);
            // worker 0 reads every frame here (queue 0); with 2 workers B's flow owner may send it on B's queue 1
            final MemoryPortView toB = factory.memory.port("tap0af40103");
            final dev.ferry.core.Counters counters = daemon.worker(0).portContext(0).counters();

            // the uplink saturated: a frame for no one here (another MAC), replayed every cycle (repeat mode is set
            // before the frame is queued, or the worker, polling meanwhile, may consume it once)
            uplink.keepTransmitted(false).repeat(true).enqueue(new byte[] {2, 0, 0, 0, 0, 9, 2, 0, 0, 0, 0, 8, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
            NodeFixture.await("the worker busy on the uplink", () -> uplink.counters().rxPackets() > 100_000,
                TIMEOUT);
            final long cycles0 = counters.get(PortPoller.CYCLES);
            final long probes0 = counters.get(PortPoller.READY_PROBES);
            final long reads0 = a.receives.get() + b.receives.get();
            NodeFixture.await("thousands of busy cycles", () -> counters.get(PortPoller.CYCLES) - cycles0 > 5_000,
                TIMEOUT);
            assertThat(a.receives.get() + b.receives.get() - reads0).as("reads of empty TAPs in 5,000 busy cycles")
                .isZero();
            assertThat(counters.get(PortPoller.READY_PROBES) - probes0).as("a probe a cycle instead")
                .isGreaterThan(5_000);

            // a frame on a TAP while the uplink stays saturated: read once, forwarded
            a.enqueue(NodeFixture.udp(POD_A, POD_B, 1));
            NodeFixture.await("the frame forwarded beside the saturated uplink", () -> toB.txPackets() == 1,
                TIMEOUT);
            assertThat(a.receives.get() + b.receives.get() - reads0).as("reads for one frame").isBetween(1L, 2L);

            // a burst larger than a vector: a TAP that filled it is read again until all went through
            final int burst = PacketVector.CAPACITY * 2 + 17;
            for (int i = 0; i < burst; i++)
            {
                a.enqueue(NodeFixture.udp(POD_A, POD_B, 100 + i));
            }
            NodeFixture.await("the whole burst forwarded", () -> toB.txPackets() == 1 + burst, TIMEOUT);

            // a pod attached while the worker is busy joins the epoll set at the next probe
            daemon.attach(NodeFixture.attachRequest("cc", POD_C)).get();
            final EventfdTap c = factory.taps.get("tap0af40104");
            c.enqueue(NodeFixture.udp(POD_C, POD_B, 9));
            NodeFixture.await("the new pod's frame forwarded", () -> toB.txPackets() == 2 + burst, TIMEOUT);
            assertThat(uplink.counters().rxPackets()).as("the uplink kept being read").isGreaterThan(100_000);
        }
        finally
        {
            daemon.stop();
        }
        assertThat(daemon.leakedBuffers()).isZero();
    }
}
