package dev.ferry.agent;

import dev.ferry.core.ManualClock;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

class BoundedFrequencyRunnerTest
{
    private static final long MS = 1_000_000L;
    private final ManualClock clock = new ManualClock(1_000_000 * MS);
    private final List<Long> runs = new ArrayList<>();
    private final BoundedFrequencyRunner runner = new BoundedFrequencyRunner("test", () -> runs.add(clock.nanos()),
        100 * MS, 10_000 * MS, 2, clock);

    private long start()
    {
        return clock.nanos();
    }

    @Test
    void shouldRunOnceAtStartForTheInitialSync()
    {
        final long t0 = start();
        final long next = runner.poll(clock.nanos());
        assertThat(runs).as("initial run").containsExactly(t0);
        assertThat(next).as("next look: the periodic resync").isEqualTo(t0 + 10_000 * MS);
        runner.poll(clock.nanos());
        assertThat(runs).as("nothing asked, nothing run").hasSize(1);
    }

    @Test
    void shouldAllowABurstThenOneRunPerMinInterval()
    {
        final long t0 = start();
        runner.poll(t0);
        runner.run();
        runner.poll(t0);
        assertThat(runs).as("second token of the burst spent at once").hasSize(2);
        runner.run();
        final long next = runner.poll(t0);
        assertThat(runs).as("no token left: the request waits").hasSize(2);
        assertThat(next).as("the next token comes one min interval later").isEqualTo(t0 + 100 * MS);
        clock.advance(50 * MS);
        runner.poll(clock.nanos());
        assertThat(runs).hasSize(2);
        clock.advance(50 * MS);
        runner.poll(clock.nanos());
        assertThat(runs).as("run when the token arrives").hasSize(3).endsWith(t0 + 100 * MS);
    }

    @Test
    void shouldCoalesceManyRequestsIntoOneRun()
    {
        final long t0 = start();
        runner.poll(t0);
        runner.run();
        runner.poll(t0);
        for (int i = 0; i < 1000; i++)
        {
            runner.run();
        }
        clock.advance(100 * MS);
        runner.poll(clock.nanos());
        runner.poll(clock.nanos());
        assertThat(runs).as("1000 requests in one window make one run").hasSize(3);
    }

    @Test
    void shouldRunAtTheMaxIntervalWithoutRequests()
    {
        final long t0 = start();
        runner.poll(t0);
        clock.advance(9_999 * MS);
        runner.poll(clock.nanos());
        assertThat(runs).hasSize(1);
        clock.advance(MS);
        final long next = runner.poll(clock.nanos());
        assertThat(runs).as("periodic resync").hasSize(2);
        assertThat(next).isEqualTo(clock.nanos() + 10_000 * MS);
    }

    @Test
    void shouldRetryAfterTheGivenDelayEvenWithoutTokens()
    {
        final AtomicInteger calls = new AtomicInteger();
        final BoundedFrequencyRunner r = new BoundedFrequencyRunner("retry", calls::incrementAndGet, 1_000 * MS,
            60_000 * MS, 1, clock);
        r.poll(clock.nanos());
        r.retryAfter(200 * MS);
        assertThat(r.poll(clock.nanos())).as("next look at the retry time").isEqualTo(clock.nanos() + 200 * MS);
        clock.advance(200 * MS);
        r.poll(clock.nanos());
        assertThat(calls).as("retried after 200 ms although min interval is 1 s").hasValue(2);
    }

    @Test
    void shouldRunOnItsOwnThreadWhenAsked() throws Exception
    {
        final AtomicInteger calls = new AtomicInteger();
        final BoundedFrequencyRunner r = new BoundedFrequencyRunner("thread", calls::incrementAndGet, 10 * MS,
            60_000 * MS, 1, dev.ferry.core.Clock.system());
        final Thread t = r.start();
        try
        {
            K8s.await("initial run", () -> calls.get() == 1, java.time.Duration.ofSeconds(5));
            r.run();
            K8s.await("requested run", () -> calls.get() == 2, java.time.Duration.ofSeconds(5));
        }
        finally
        {
            r.stop();
            t.join(5_000);
        }
        assertThat(t.isAlive()).as("loop stopped").isFalse();
    }
}
