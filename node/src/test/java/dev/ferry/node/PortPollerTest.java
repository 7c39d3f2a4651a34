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
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The woken duty cycle (issue #11): after an epoll wait that only port descriptors ended, the next poll reads those
 * ports alone, and the one after reads every port again; the worker's eventfd or a timeout means every port.
 */
class PortPollerTest
{
    private final PacketPool pool = new PacketPool(64);
    private final Counters counters = Counters.inMemory(256);
    private final List<Integer> seen = new ArrayList<>();
    private final MemoryPort[] ports = new MemoryPort[3];
    private PortPoller poller;
    private Graph graph;

    @BeforeEach
    void ports()
    {
        graph = RxPortGraph.of(pool, counters, seen);
        poller = new PortPoller(pool, counters, () ->
        {
        });
        for (int id = 0; id < ports.length; id++)
        {
            ports[id] = new MemoryPort("p" + id, id, pool, counters).enqueue(new byte[60]);
            poller.attach(id, ports[id], 0);
        }
    }

    @AfterEach
    void close()
    {
        poller.closeAll();
        pool.close();
        counters.close();
    }

    @Test
    void shouldReadOnlyTheReadyPortsOnTheCycleAfterAWakeThenEveryPort()
    {
        poller.woken(new long[] {2}, 1);
        assertThat(poll()).isEqualTo(1);
        assertThat(seen).containsExactly(2);
        assertThat(poller.portsRead()).isEqualTo(1);

        assertThat(poll()).isEqualTo(2);
        assertThat(seen).containsExactlyInAnyOrder(2, 0, 1);
        assertThat(poller.portsRead()).isEqualTo(3);
    }

    @Test
    void shouldReadEveryPortWhenTheEventfdOrATimeoutEndedTheWait()
    {
        poller.woken(new long[] {1, Epoll.WAKE_TOKEN}, 2);
        assertThat(poll()).isEqualTo(3);

        ports[0].enqueue(new byte[60]);
        poller.woken(new long[0], 0);
        assertThat(poll()).isEqualTo(1);
        assertThat(poller.portsRead()).isEqualTo(3);
    }

    @Test
    void shouldSkipAReadyPortDetachedMeanwhileAndReadEveryPortForAnUnknownToken()
    {
        poller.detach(1, false);
        poller.woken(new long[] {1}, 1);
        assertThat(poll()).isZero();
        poller.woken(new long[] {0, 99}, 2);
        assertThat(poll()).isEqualTo(2);
    }

    private int poll()
    {
        final int n = poller.poll(new PacketVector(), graph);
        graph.run();
        return n;
    }
}
