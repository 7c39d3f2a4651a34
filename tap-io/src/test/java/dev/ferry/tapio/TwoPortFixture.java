package dev.ferry.tapio;

import dev.ferry.core.Counters;
import dev.ferry.core.ManualClock;
import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * What the tests of two packet sockets in one fanout group share (two workers' ports on one uplink): one pool, each
 * socket's counters, a clock and a vector; root to run, and every buffer back in the pool after each test.
 */
abstract class TwoPortFixture
{
    final PacketPool pool = new PacketPool(1024);
    final Counters counters0 = Counters.inMemory(64);
    final Counters counters1 = Counters.inMemory(64);
    final ManualClock clock = new ManualClock(1_000_000_000L);
    final PacketVector v = new PacketVector();

    @BeforeEach
    void root()
    {
        Netns.assumeRoot();
    }

    @AfterEach
    void poolIsFullAgain()
    {
        assertThat(pool.available()).as("buffers leaked").isEqualTo(pool.capacity());
        pool.close();
        counters0.close();
        counters1.close();
    }
}
