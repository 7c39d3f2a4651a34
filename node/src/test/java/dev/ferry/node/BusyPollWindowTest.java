package dev.ferry.node;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.LongRange;
import org.junit.jupiter.api.Test;

import static dev.ferry.node.BusyPollWindow.BASE_NANOS;
import static dev.ferry.node.BusyPollWindow.BLOCK;
import static dev.ferry.node.BusyPollWindow.SPIN;
import static dev.ferry.node.BusyPollWindow.YIELD;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The adaptive busy-poll window's state machine, driven by a fake clock (ns). */
class BusyPollWindowTest
{
    private static final long US = 1_000L;
    private static final long MS = 1_000_000L;

    /** Drives one idle period: empty cycles from {@code from} until the window says block or {@code until}. */
    private static long idleUntil(final BusyPollWindow w, final long from, final long until)
    {
        long t = from;
        while (t < until)
        {
            if (w.next(t) == BLOCK)
            {
                w.blocked();
                return t;
            }
            t += US;
        }
        return until;
    }

    @Test
    void shouldSpinThenYieldThenBlockAfterWork()
    {
        final BusyPollWindow w = new BusyPollWindow(10_000, 0);
        w.worked(0);

        assertThat(w.next(5 * US)).as("a burst's next frame is microseconds away").isEqualTo(SPIN);
        assertThat(w.next(50 * US)).as("give the core away between polls").isEqualTo(YIELD);
        assertThat(w.next(BASE_NANOS)).as("the base window has passed").isEqualTo(BLOCK);
    }

    @Test
    void shouldBlockAtOnceWithNoTrafficEver()
    {
        final BusyPollWindow w = new BusyPollWindow(10_000, 5 * MS);

        assertThat(w.next(5 * MS)).as("an idle node does not burn a core").isEqualTo(BLOCK);
    }

    @Test
    void shouldBlockAtOnceWhenTheWindowIsZero()
    {
        final BusyPollWindow w = new BusyPollWindow(0, 0);
        w.worked(MS);

        assertThat(w.next(MS)).isEqualTo(BLOCK);
        w.blocked();
        w.worked(2 * MS);
        assertThat(w.next(2 * MS)).isEqualTo(BLOCK);
        assertThat(w.window()).isZero();
    }

    @Test
    void shouldGrowToCoverAGapItMissedAndThenCatchTheNextOne()
    {
        final BusyPollWindow w = new BusyPollWindow(10_000, 0);
        w.worked(0);
        final long blockedAt = idleUntil(w, 0, MS);
        assertThat(blockedAt).isEqualTo(BASE_NANOS);

        // the answer came 400 µs after the request left: the worker had blocked, a wake-up it paid for
        w.worked(400 * US);
        assertThat(w.window()).isEqualTo(800 * US);

        // the next answer, 400 µs later again, is found by polling
        assertThat(idleUntil(w, 400 * US, 800 * US)).as("still polling when the answer comes").isEqualTo(800 * US);
        w.worked(800 * US);
        assertThat(w.next(1_500 * US)).isEqualTo(YIELD);
    }

    @Test
    void shouldPollThroughPeriodicTrafficShorterThanTheMaximum()
    {
        // 200 pings/s: a frame every 5 ms, maximum 10 ms: one wake-up, then none
        final BusyPollWindow w = new BusyPollWindow(10_000, 0);
        int wakeups = 0;
        long t = 0;
        for (int i = 0; i < 100; i++)
        {
            w.worked(t);
            final long next = t + 5 * MS;
            if (idleUntil(w, t + US, next) < next)
            {
                wakeups++;
            }
            t = next;
        }

        assertThat(wakeups).isEqualTo(1);
        assertThat(w.window()).isEqualTo(10 * MS);
    }

    @Test
    void shouldShrinkBackToTheBaseWhenTrafficTurnsSparse()
    {
        final BusyPollWindow w = new BusyPollWindow(10_000, 0);
        w.worked(0);
        idleUntil(w, US, 4 * MS);
        w.worked(4 * MS);
        assertThat(w.window()).isEqualTo(8 * MS);

        long t = 4 * MS;
        for (int i = 0; i < 40; i++)
        {
            final long blockedAt = idleUntil(w, t + US, t + 200 * MS);
            assertThat(blockedAt - t).as("blocks after the window, never later").isLessThanOrEqualTo(w.window() + US);
            t += 200 * MS;
            w.worked(t);
        }

        assertThat(w.window()).as("a frame every 200 ms does not keep a core busy").isEqualTo(BASE_NANOS);
    }

    @Test
    void shouldKeepTheAnswerTimeOfASparseRequestResponseFlow()
    {
        // a ping every 200 ms (beyond the maximum) whose reply comes 400 µs after the request left
        final BusyPollWindow w = new BusyPollWindow(10_000, 0);
        int replyWakeups = 0;
        long t = 0;
        for (int i = 0; i < 20; i++)
        {
            w.worked(t);
            if (idleUntil(w, t + US, t + 400 * US) < t + 400 * US)
            {
                replyWakeups++;
            }
            w.worked(t + 400 * US);
            final long blockedAt = idleUntil(w, t + 401 * US, t + 200 * MS);
            assertThat(blockedAt - t).as("polls about the answer time, not the maximum").isLessThan(2 * MS);
            t += 200 * MS;
        }

        assertThat(replyWakeups).as("only the first reply waits for a wake-up").isLessThanOrEqualTo(2);
    }

    @Test
    void shouldDoubleOnEveryMissSoThatAJitteryAnswerIsCaughtAgain()
    {
        final BusyPollWindow w = new BusyPollWindow(10_000, 0);
        w.worked(0);
        idleUntil(w, US, MS);
        w.worked(300 * US);
        assertThat(w.window()).isEqualTo(600 * US);
        // the next answer came later than the window (a loaded machine): the worker blocked again
        idleUntil(w, 301 * US, 1_000 * US);
        w.worked(1_000 * US);
        assertThat(w.window()).isEqualTo(1_400 * US);
        idleUntil(w, 1_001 * US, 1_500 * US);
        w.worked(1_500 * US);
        assertThat(w.window()).as("caught: 2 x 500 us is below the window, which fades by 1/16")
            .isEqualTo(1_400 * US - 1_400 * US / 16);
    }

    @Test
    void shouldBlockWhenAYieldLostTheCoreAndLearnNothingFromThatGap()
    {
        final BusyPollWindow w = new BusyPollWindow(10_000, 0);
        w.worked(0);
        idleUntil(w, US, MS);
        w.worked(4 * MS);
        assertThat(w.window()).isEqualTo(8 * MS);

        assertThat(w.next(4 * MS + 50 * US)).isEqualTo(YIELD);
        w.yielded(10 * US);
        assertThat(w.next(4 * MS + 61 * US)).as("a short yield: the core is ours, poll on").isEqualTo(YIELD);
        w.yielded(3 * MS);
        assertThat(w.next(7 * MS + 61 * US)).as("another thread ran a slice: block, do not poll on")
            .isEqualTo(BLOCK);
        w.blocked();
        w.worked(7 * MS + 500 * US);
        assertThat(w.window()).as("the gap after a contended yield neither grows nor shrinks the window")
            .isEqualTo(8 * MS);
        assertThat(w.next(7 * MS + 600 * US)).as("the next idle period polls again").isEqualTo(YIELD);
    }

    @Property
    void shouldStayWithinItsBounds(@ForAll @LongRange(min = 0, max = 1_000_000) final long maxMicros,
        @ForAll("gaps") final long[] gaps)
    {
        final BusyPollWindow w = new BusyPollWindow(maxMicros, 0);
        long t = 0;
        for (final long gap : gaps)
        {
            w.worked(t);
            final long step = Math.max(1, gap / 8);
            final long blockedAt = idleUntil(w, t + 1, t + gap);
            assertThat(blockedAt - t).isLessThanOrEqualTo(maxMicros * US + step + US);
            t += gap;
            assertThat(w.window()).isBetween(Math.min(BASE_NANOS, maxMicros * US), maxMicros * US);
        }
    }

    @net.jqwik.api.Provide
    net.jqwik.api.Arbitrary<long[]> gaps()
    {
        return net.jqwik.api.Arbitraries.longs().between(1, 50 * MS).array(long[].class).ofMaxSize(30);
    }

    @Test
    void shouldRefuseAWindowOutOfRange()
    {
        assertThatThrownBy(() -> new BusyPollWindow(-1, 0)).hasMessageContaining("busyPollMicros: -1 is out of range");
        assertThatThrownBy(() -> BusyPollWindow.check(1_000_001))
            .hasMessageContaining("busyPollMicros: 1000001 is out of range 0..1000000");
    }
}
