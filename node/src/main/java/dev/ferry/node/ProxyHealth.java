package dev.ferry.node;

import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Locale;
import java.util.function.LongSupplier;

/**
 * The node's health as kube-proxy judges its own ({@code pkg/proxy/healthcheck/proxy_health.go}): the tables are
 * healthy while no change has waited longer than the health timeout to be applied, and the worker is alive while
 * its heartbeat (one per duty cycle) is recent.
 *
 * <ul>
 *   <li>{@link #updated()}: tables were applied (kube-proxy's {@code Updated}); clears the pending change.</li>
 *   <li>{@link #queuedUpdate()}: a change is known and not yet applied (kube-proxy's {@code QueuedUpdate}):
 *       a refused push, or a start without tables. Only the oldest pending change counts.</li>
 *   <li>Healthy unless a change has been pending for {@code healthTimeout} or longer. A node that has
 *       applied nothing and has no change pending is healthy, as kube-proxy is while it starts.</li>
 * </ul>
 *
 * <p>kube-proxy's {@code nodeEligible} (false once the Node is being deleted or is tainted
 * {@code ToBeDeletedByClusterAutoscaler}) comes with the tables: the agent watches the Node and sets
 * {@code tables.node.eligible}. Thread-safe: the control thread reports, the healthz server's thread reads.
 */
final class ProxyHealth
{
    /** kube-proxy's healthTimeout is twice its sync period (2 × 30 s). */
    static final long DEFAULT_HEALTH_TIMEOUT_MS = 60_000;
    /** How stale the worker's heartbeat may be: an idle worker still runs a duty cycle every few ms. */
    static final long WORKER_TIMEOUT_MS = 5_000;
    private static final long WORKER_TIMEOUT_NANOS = WORKER_TIMEOUT_MS * 1_000_000L;

    // Go's time.Time.String() layout, "2006-01-02 15:04:05.999999999 -0700 MST", in UTC
    private static final DateTimeFormatter GO_TIME = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss", Locale.ROOT)
        .withZone(ZoneOffset.UTC);

    private final LongSupplier wallMillis;
    private final LongSupplier nanos;
    private final LongSupplier heartbeatNanos;
    private final long healthTimeoutMillis;
    private long lastUpdatedMillis;
    private volatile boolean nodeEligible = true;
    private long oldestPendingMillis = -1;

    /**
     * @param wallMillis          the wall clock (ms since the epoch).
     * @param nanos               the monotonic clock the worker's heartbeat is read against.
     * @param heartbeatNanos      the worker's last duty cycle on {@code nanos}, or 0 before it ran.
     * @param healthTimeoutMillis how long a change may stay pending.
     */
    ProxyHealth(final LongSupplier wallMillis, final LongSupplier nanos, final LongSupplier heartbeatNanos,
        final long healthTimeoutMillis)
    {
        this.wallMillis = wallMillis;
        this.nanos = nanos;
        this.heartbeatNanos = heartbeatNanos;
        this.healthTimeoutMillis = healthTimeoutMillis;
    }

    /**
     * Sets kube-proxy's {@code nodeEligible} from the applied tables (control thread).
     *
     * @param eligible false while the Node is being deleted or tainted ToBeDeletedByClusterAutoscaler.
     */
    void nodeEligible(final boolean eligible)
    {
        nodeEligible = eligible;
    }

    /** @return kube-proxy's {@code nodeEligible}: true until tables say otherwise. */
    boolean nodeEligible()
    {
        return nodeEligible;
    }

    /** Tables were applied: the node is in sync now. */
    synchronized void updated()
    {
        oldestPendingMillis = -1;
        lastUpdatedMillis = wallMillis.getAsLong();
    }

    /** A change is waiting to be applied; keeps the time of the oldest. */
    synchronized void queuedUpdate()
    {
        if (oldestPendingMillis < 0)
        {
            oldestPendingMillis = wallMillis.getAsLong();
        }
    }

    /** @return the state now. */
    synchronized Status status()
    {
        final long now = wallMillis.getAsLong();
        final boolean inSync = oldestPendingMillis < 0 || now - oldestPendingMillis < healthTimeoutMillis;
        final long beat = heartbeatNanos.getAsLong();
        final boolean workerAlive = beat != 0 && nanos.getAsLong() - beat < WORKER_TIMEOUT_NANOS;
        return new Status(inSync && workerAlive, inSync, workerAlive, lastUpdatedMillis, now);
    }

    /**
     * @param healthy     tables in sync and the worker alive.
     * @param inSync      no change pending for the health timeout or longer.
     * @param workerAlive the worker's heartbeat is recent.
     * @param lastUpdated wall time of the last applied tables (ms), 0 before any.
     * @param now         wall time of this answer (ms).
     */
    record Status(boolean healthy, boolean inSync, boolean workerAlive, long lastUpdated, long now)
    {
        /**
         * kube-proxy's /healthz body: {@code lastUpdated} is the current time while healthy.
         *
         * @param nodeEligible whether the node is eligible for load balancer traffic.
         * @return the JSON body.
         */
        String healthzBody(final boolean nodeEligible)
        {
            return times() + ", \"nodeEligible\": " + nodeEligible + "}";
        }

        /** @return kube-proxy's /livez body (no nodeEligible). */
        String livezBody()
        {
            return times() + "}";
        }

        // the fields both bodies open with, as kube-proxy spaces them
        private String times()
        {
            return "{\"lastUpdated\": \"" + goTime(healthy ? now : lastUpdated) + "\",\"currentTime\": \""
                + goTime(now) + "\"";
        }
    }

    /**
     * @param millis ms since the epoch; 0 is Go's zero time.
     * @return the time as Go's {@code time.Time.String()} prints it in UTC (no monotonic suffix).
     */
    static String goTime(final long millis)
    {
        if (millis == 0)
        {
            return "0001-01-01 00:00:00 +0000 UTC";
        }
        final Instant t = Instant.ofEpochMilli(millis);
        final StringBuilder s = new StringBuilder(GO_TIME.format(t));
        final int ms = (int)Math.floorMod(millis, 1000L);
        if (ms != 0)
        {
            // Go's .999999999 prints the fraction without trailing zeros
            String frac = String.format(Locale.ROOT, "%03d", ms);
            while (frac.endsWith("0"))
            {
                frac = frac.substring(0, frac.length() - 1);
            }
            s.append('.').append(frac);
        }
        return s.append(" +0000 UTC").toString();
    }
}
