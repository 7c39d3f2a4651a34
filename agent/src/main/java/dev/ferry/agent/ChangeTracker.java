package dev.ferry.agent;

import java.util.HashMap;
import java.util.Map;

/**
 * The objects that changed since the last sync, each with the time of its earliest unsynced change (kube-proxy's
 * {@code EndpointsChangeTracker} and {@code ServiceChangeTracker}, reduced to what a full rebuild needs).
 *
 * <p>Sources call {@link #record} from their callback threads; the sync takes the whole set at once. The times
 * give the network-programming latency: from an object's change to the node's acknowledgement of the tables
 * that contain it. A failed push puts its changes back with {@link #restore}, so their latency keeps counting.
 */
public final class ChangeTracker
{
    private final Map<String, Long> pending = new HashMap<>();

    /**
     * Records a change.
     *
     * @param key       the object ("Kind namespace/name").
     * @param changedAt when it changed (epoch nanoseconds); the earliest unsynced time is kept.
     */
    public synchronized void record(final String key, final long changedAt)
    {
        pending.merge(key, changedAt, Math::min);
    }

    /** @return the pending changes, and forget them. */
    public synchronized Map<String, Long> take()
    {
        final Map<String, Long> out = Map.copyOf(pending);
        pending.clear();
        return out;
    }

    /**
     * Puts back changes that a failed sync took.
     *
     * @param changes what {@link #take()} returned.
     */
    public synchronized void restore(final Map<String, Long> changes)
    {
        for (final Map.Entry<String, Long> e : changes.entrySet())
        {
            pending.merge(e.getKey(), e.getValue(), Math::min);
        }
    }

    /** @return how many objects are waiting for a sync. */
    public synchronized int size()
    {
        return pending.size();
    }
}
