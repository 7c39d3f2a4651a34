package dev.ferry.node;

import dev.ferry.core.Counters;
import dev.ferry.core.Graph;
import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;
import dev.ferry.tapio.Epoll;
import dev.ferry.tapio.MemoryPort;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Busy cycles with the readiness probe (issue #11/#12 profile): a TAP whose receive is a syscall is read only when
 * the probe reports it ready, while a port that looks at memory (the uplink ring) is read every cycle; a frame on
 * any port is forwarded by the next cycle, a TAP that filled the vector is read again, and no port is read twice
 * in a cycle. The probe here is level-triggered like epoll on a TAP: ready while frames are queued.
 */
class PortPollerReadinessTest
{
    private static final int UPLINK = 0;

    private final PacketPool pool = new PacketPool(1024);
    private final Counters counters = Counters.inMemory(256);
    private final List<Integer> seen = new ArrayList<>();
    private final List<Tap> taps = new ArrayList<>();
    private final Set<Integer> unwatched = new HashSet<>();
    private MemoryPort uplink;
    private PortPoller poller;
    private Graph graph;
    private int probes;
    /** Reports every ready TAP twice when set: the poller must still read each once. */
    private boolean duplicates;

    /** A TAP stand-in: a memory port whose receive counts as a syscall, with a descriptor number. */
    private static final class Tap extends MemoryPortWrapper
    {
        final int id;
        int receives;

        Tap(final MemoryPort queue, final int id)
        {
            super(queue);
            this.id = id;
        }

        @Override
        public int receive(final PacketVector out)
        {
            receives++;
            return queue.receive(out);
        }

        @Override
        public int fd()
        {
            return 100 + id;
        }

        @Override
        public boolean receiveIsSyscall()
        {
            return true;
        }
    }

    @BeforeEach
    void ports()
    {
        graph = RxPortGraph.of(pool, counters, seen);
        poller = new PortPoller(pool, counters, () ->
        {
        });
        poller.readiness(new PortPoller.Readiness()
        {
            @Override
            public int readyNow(final long[] tokens)
            {
                probes++;
                int n = 0;
                tokens[n++] = Epoll.WAKE_TOKEN;
                tokens[n++] = 77;
                for (final Tap t : taps)
                {
                    if (t.queue.pendingReceive() > 0 && !unwatched.contains(t.id))
                    {
                        tokens[n++] = t.id;
                        if (duplicates)
                        {
                            tokens[n++] = t.id;
                        }
                    }
                }
                return n;
            }

            @Override
            public boolean watches(final int id, final int fd)
            {
                return fd >= 0 && !unwatched.contains(id);
            }
        });
        uplink = new MemoryPort("uplink", UPLINK, pool, counters);
        poller.attach(UPLINK, uplink, 0);
    }

    private Tap tap(final int id)
    {
        final Tap t = new Tap(new MemoryPort("tap" + id, id, pool, counters), id);
        taps.add(t);
        poller.attach(id, t, 0);
        return t;
    }

    @AfterEach
    void close()
    {
        poller.closeAll();
        assertThat(pool.available()).as("buffers leaked").isEqualTo(pool.capacity());
        pool.close();
        counters.close();
    }

    @Test
    void shouldNotReadAnEmptyTapWhileTheUplinkIsBusyYetForwardItsFrameInTheNextCycle()
    {
        final Tap a = tap(1);
        final Tap b = tap(2);
        uplink.enqueue(new byte[60]).repeat(true);
        for (int i = 0; i < 100; i++)
        {
            assertThat(poll()).isEqualTo(PacketVector.CAPACITY);
        }
        assertThat(a.receives).as("reads of an empty TAP in 100 busy cycles").isZero();
        assertThat(b.receives).isZero();
        assertThat(probes).isEqualTo(100);
        assertThat(counters.get(PortPoller.READY_PROBES)).isEqualTo(100);
        assertThat(counters.get(PortPoller.SYSCALL_READS)).isZero();
        assertThat(counters.get(PortPoller.CYCLES)).isEqualTo(100);
        assertThat(poller.portsRead()).as("only the uplink ring").isEqualTo(1);

        // a frame on a TAP while the uplink stays saturated: read and forwarded by the very next cycle
        b.queue.enqueue(new byte[60]);
        seen.clear();
        poll();
        assertThat(seen).as("the TAP's frame beside the uplink's vector").contains(2);
        assertThat(seen.stream().filter(p -> p == UPLINK).count()).isEqualTo(PacketVector.CAPACITY);
        assertThat(b.receives).isEqualTo(1);
        assertThat(a.receives).isZero();
        assertThat(counters.get(PortPoller.SYSCALL_READS)).isEqualTo(1);
    }

    @Test
    void shouldReadATapThatFilledTheVectorAgainUntilItIsEmpty()
    {
        final Tap a = tap(1);
        tap(2);
        for (int i = 0; i < PacketVector.CAPACITY + 44; i++)
        {
            a.queue.enqueue(new byte[60]);
        }
        assertThat(poll()).isEqualTo(PacketVector.CAPACITY);
        assertThat(poll()).as("the rest, in the next cycle").isEqualTo(44);
        assertThat(poll()).isZero();
        assertThat(a.receives).as("read while it had frames, not after").isEqualTo(2);
        assertThat(uplink.counters().rxPackets()).isZero();
    }

    @Test
    void shouldReadEachReadyTapOnceAPerCycleAndIgnoreTheWakeTokenAndUnknownTokens()
    {
        duplicates = true;
        final Tap a = tap(1);
        final Tap b = tap(2);
        a.queue.enqueue(new byte[60]).enqueue(new byte[60]);
        b.queue.enqueue(new byte[60]);
        uplink.enqueue(new byte[60]);
        assertThat(poll()).isEqualTo(4);
        assertThat(a.receives).isEqualTo(1);
        assertThat(b.receives).isEqualTo(1);
        assertThat(poller.portsRead()).isEqualTo(3);
        assertThat(seen).containsExactlyInAnyOrder(1, 1, 2, UPLINK);
    }

    @Test
    void shouldReadATapTheProbeDoesNotWatchYetEveryCycle()
    {
        final Tap a = tap(1);
        final Tap b = tap(2);
        unwatched.add(2);
        for (int i = 0; i < 10; i++)
        {
            poll();
        }
        assertThat(a.receives).isZero();
        assertThat(b.receives).as("not in the epoll set: read directly").isEqualTo(10);
        b.queue.enqueue(new byte[60]);
        assertThat(poll()).isEqualTo(1);
    }

    @Test
    void shouldReadASingleTapDirectlyWithoutAProbe()
    {
        final Tap a = tap(1);
        for (int i = 0; i < 10; i++)
        {
            poll();
        }
        assertThat(probes).as("one TAP: a read costs what a probe costs").isZero();
        assertThat(a.receives).isEqualTo(10);
        assertThat(counters.get(PortPoller.SYSCALL_READS)).isEqualTo(10);

        // a second TAP turns the probe on; detaching it turns it off again
        tap(2);
        poll();
        assertThat(probes).isEqualTo(1);
        poller.detach(2, false);
        taps.removeLast();
        poll();
        assertThat(probes).isEqualTo(1);
        assertThat(a.receives).isEqualTo(11);
    }

    @Test
    void shouldReadOnlyTheWokenPortsInTheCycleAfterAWakeWithoutAProbe()
    {
        final Tap a = tap(1);
        final Tap b = tap(2);
        b.queue.enqueue(new byte[60]);
        poller.woken(new long[] {2}, 1);
        assertThat(poll()).isEqualTo(1);
        assertThat(probes).isZero();
        assertThat(a.receives).isZero();
        assertThat(b.receives).isEqualTo(1);
    }

    private int poll()
    {
        final int n = poller.poll(new PacketVector(), graph);
        graph.run();
        return n;
    }
}
