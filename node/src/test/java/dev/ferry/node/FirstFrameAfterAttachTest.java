package dev.ferry.node;

import dev.ferry.core.PacketVector;
import dev.ferry.core.route.Ip4;
import dev.ferry.nodeapi.AttachRequest;
import dev.ferry.tapio.MemoryPort;
import dev.ferry.tapio.Port;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static dev.ferry.node.NodeFixture.POD_A;
import static dev.ferry.node.NodeFixture.POD_B;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * A pod's first frame, sent the moment its attach returned, is forwarded even when the worker reads it in the duty
 * cycle that attached the pod's port, a cycle begun before the attach published the tables that know the port
 * (issue 17: ReadinessPollNodeTest's last step timed out now and then, the frame dropped by ip4-input as spoofed).
 *
 * <p>The interleaving is forced, not waited for: pod A's port (read before the new pod's in the cycle) stops the
 * worker in its receive once the new port is attached, and the control thread, which publishes the attach's tables
 * after the worker took the port, is held meanwhile by a second attach whose TAP does not open until released.
 */
class FirstFrameAfterAttachTest
{
    private static final Duration TIMEOUT = Duration.ofSeconds(10);
    private static final int POD_C = Ip4.parse("10.244.1.4");
    private static final int POD_D = Ip4.parse("10.244.1.5");
    private static final String TAP_A = "tap0af40102";
    private static final String TAP_B = "tap0af40103";
    private static final String TAP_C = "tap0af40104";
    private static final String TAP_D = "tap0af40105";

    @TempDir
    Path dir;

    /** Pod A's queue of worker 0: once armed, its first receive with pod C attached waits for the test. */
    private static final class GatedPort extends MemoryPortWrapper
    {
        final BooleanSupplier podCAttached;
        final CountDownLatch stopped = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);
        volatile boolean armed;

        GatedPort(final MemoryPort queue, final BooleanSupplier podCAttached)
        {
            super(queue);
            this.podCAttached = podCAttached;
        }

        @Override
        public int receive(final PacketVector out)
        {
            if (armed && podCAttached.getAsBoolean())
            {
                armed = false;
                stopped.countDown();
                try
                {
                    release.await(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
                }
                catch (final InterruptedException e)
                {
                    Thread.currentThread().interrupt();
                }
            }
            return queue.receive(out);
        }

        @Override
        public boolean wakeOnInput(final Runnable wake)
        {
            return queue.wakeOnInput(wake);
        }

        @Override
        public boolean inputQueued()
        {
            return queue.inputQueued();
        }
    }

    /** Memory ports; pod A's first queue gated; opening pod C's TAP queues pod D's attach, whose open waits. */
    private static final class Factory implements PortFactory
    {
        final MemoryPortFactory memory = new MemoryPortFactory();
        final CountDownLatch openD = new CountDownLatch(1);
        volatile NodeDaemon daemon;
        volatile GatedPort gate;
        volatile int podCId = -1;
        volatile CompletableFuture<PodAttachment> attachD;

        @Override
        public Opened openUplink(final String ifName, final PortContext context)
        {
            return memory.openUplink(ifName, context);
        }

        @Override
        public Opened openHostTap(final String name, final PortContext context)
        {
            return memory.openHostTap(name, context);
        }

        @Override
        public Port openPodTap(final PodAttachment pod, final PortContext context, final boolean restore)
            throws IOException
        {
            final Port port = memory.openPodTap(pod, context, restore);
            if (pod.tapName().equals(TAP_A) && context.queue() == 0)
            {
                // worker 0's own check, on its thread, that it attached pod C's queue
                final Worker w0 = daemon.worker(0);
                gate = new GatedPort((MemoryPort)port, () ->
                {
                    final int id = podCId;
                    return id >= 0 && id < w0.poller().slots() && w0.poller().attached(id);
                });
                return gate;
            }
            if (pod.tapName().equals(TAP_C) && context.queue() == 0)
            {
                podCId = context.id();
                // queued on the control thread now, so that it runs before pod C's attach publishes its tables
                attachD = daemon.attach(request("cd", POD_D));
            }
            if (pod.tapName().equals(TAP_D) && context.queue() == 0)
            {
                try
                {
                    openD.await(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
                }
                catch (final InterruptedException e)
                {
                    Thread.currentThread().interrupt();
                }
            }
            return port;
        }
    }

    private static AttachRequest request(final String container, final int ip)
    {
        return NodeFixture.attachRequest(container, ip);
    }

    private static long spoofed(final NodeDaemon daemon)
    {
        long n = 0;
        for (int w = 0; w < daemon.config().workers(); w++)
        {
            n += daemon.worker(w).portContext(0).counters().get("stage/ip4-input/drop/pod-source-spoofed");
        }
        return n;
    }

    @Test
    void shouldForwardAPodsFirstFrameReadInTheCycleThatAttachedItsPortBeforeItsTablesWerePublished()
        throws Exception
    {
        final Factory factory = new Factory();
        final NodeConfig config = NodeConfig.defaults(NodeFixture.NODE, dir.resolve("api/ferry.sock"), "eth9")
            .withThreading(ThreadingMode.DEDICATED).withWorkers(NodeFixture.workers());
        final NodeDaemon daemon = NodeDaemon.builder(config).portFactory(factory).initialTables(
            NodeFixture.tables(1, List.of(POD_A, POD_B, POD_C, POD_D), List.of("10.244.2.0/24"))).build();
        factory.daemon = daemon;
        daemon.start();
        try
        {
            daemon.attach(request("ca", POD_A)).get();
            daemon.attach(request("cb", POD_B)).get();
            final GatedPort gate = factory.gate;
            final MemoryPortView toB = factory.memory.port(TAP_B);

            gate.armed = true;
            final CompletableFuture<PodAttachment> attachC = daemon.attach(request("cc", POD_C));
            // worker 0 took pod C's port and stopped before reading it, in a cycle that began without its tables
            assertThat(gate.stopped.await(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)).as("worker 0 stopped").isTrue();
            assertThat(attachC).as("pod C's tables not published yet").isNotDone();
            factory.openD.countDown();
            attachC.get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);

            // the CNI plugin returned: the pod sends at once, and worker 0 reads it in the cycle it stopped in
            factory.memory.port(TAP_C, 0).enqueue(NodeFixture.udp(POD_C, POD_B, 7));
            gate.release.countDown();
            NodeFixture.await("pod C's first frame forwarded or dropped",
                () -> toB.txPackets() == 1 || spoofed(daemon) > 0, TIMEOUT);
            assertThat(spoofed(daemon)).as("frames ip4-input dropped as spoofed (their port unknown to the tables)")
                .isZero();
            assertThat(NodeFixture.seqOf(toB.drainTransmitted().get(0).bytes())).isEqualTo(7);
            factory.attachD.get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        }
        finally
        {
            factory.openD.countDown();
            if (factory.gate != null)
            {
                factory.gate.release.countDown();
            }
            daemon.stop();
        }
        assertThat(daemon.leakedBuffers()).isZero();
    }
}
