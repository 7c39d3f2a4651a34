package dev.ferry.node;

import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The health decision, against kube-proxy's {@code pkg/proxy/healthcheck/proxy_health.go}: {@code Updated} clears
 * the pending change and stamps lastUpdated; {@code QueuedUpdate} keeps only the oldest pending change; unhealthy
 * once that change has waited {@code healthTimeout} or longer ({@code currentTime.Sub(oldest) < healthTimeout} is
 * healthy); healthy while starting with nothing pending. Plus ferry's own condition: the worker's heartbeat.
 */
class ProxyHealthTest
{
    private static final long T0 = 1_700_000_000_000L;
    private static final long TIMEOUT = 60_000;

    private final AtomicLong wall = new AtomicLong(T0);
    private final AtomicLong nanos = new AtomicLong(1_000_000_000L);
    private final AtomicLong beat = new AtomicLong(1_000_000_000L);
    private final ProxyHealth health = new ProxyHealth(wall::get, nanos::get, beat::get, TIMEOUT);

    @Test
    void shouldBeHealthyWhileNothingIsPendingEvenBeforeAnyUpdate()
    {
        final ProxyHealth.Status s = health.status();

        assertThat(s.healthy()).as("kube-proxy is healthy while it starts").isTrue();
        assertThat(s.healthzBody(true)).as("healthy: lastUpdated is the current time").isEqualTo(
            "{\"lastUpdated\": \"2023-11-14 22:13:20 +0000 UTC\",\"currentTime\": \"2023-11-14 22:13:20 +0000 UTC\","
                + " \"nodeEligible\": true}");
    }

    @Test
    void shouldTurnUnhealthyWhenAQueuedChangeWaitsTheWholeTimeout()
    {
        health.updated();
        wall.addAndGet(1_000);
        health.queuedUpdate();
        wall.addAndGet(TIMEOUT - 1);
        assertThat(health.status().healthy()).as("pending, but not late yet").isTrue();

        wall.addAndGet(1);
        final ProxyHealth.Status late = health.status();
        assertThat(late.healthy()).as("pending for exactly healthTimeout").isFalse();
        assertThat(late.inSync()).isFalse();
        assertThat(late.healthzBody(true)).as("unhealthy: lastUpdated is the last update").isEqualTo(
            "{\"lastUpdated\": \"2023-11-14 22:13:20 +0000 UTC\",\"currentTime\": \"2023-11-14 22:14:21 +0000 UTC\","
                + " \"nodeEligible\": true}");
        assertThat(late.livezBody()).isEqualTo(
            "{\"lastUpdated\": \"2023-11-14 22:13:20 +0000 UTC\",\"currentTime\": \"2023-11-14 22:14:21 +0000 UTC\"}");

        health.updated();
        assertThat(health.status().healthy()).as("an applied update clears the pending change").isTrue();
    }

    @Test
    void shouldKeepTheOldestPendingChange()
    {
        health.queuedUpdate();
        wall.addAndGet(TIMEOUT / 2);
        health.queuedUpdate();
        wall.addAndGet(TIMEOUT / 2);

        assertThat(health.status().healthy()).as("a later change does not restart the clock").isFalse();
    }

    @Test
    void shouldNeedARecentWorkerHeartbeat()
    {
        nanos.addAndGet(ProxyHealth.WORKER_TIMEOUT_MS * 1_000_000L - 1);
        assertThat(health.status().workerAlive()).isTrue();

        nanos.addAndGet(1);
        final ProxyHealth.Status stuck = health.status();
        assertThat(stuck.workerAlive()).as("no duty cycle for " + ProxyHealth.WORKER_TIMEOUT_MS + " ms").isFalse();
        assertThat(stuck.inSync()).isTrue();
        assertThat(stuck.healthy()).isFalse();

        beat.set(0);
        nanos.set(1);
        assertThat(health.status().workerAlive()).as("a worker that never ran").isFalse();
    }

    @Test
    void shouldPrintTimesAsGoDoes()
    {
        assertThat(ProxyHealth.goTime(0)).as("Go's zero time").isEqualTo("0001-01-01 00:00:00 +0000 UTC");
        assertThat(ProxyHealth.goTime(T0 + 120)).as("fraction without trailing zeros")
            .isEqualTo("2023-11-14 22:13:20.12 +0000 UTC");
        assertThat(ProxyHealth.goTime(T0 + 7)).isEqualTo("2023-11-14 22:13:20.007 +0000 UTC");
    }
}
