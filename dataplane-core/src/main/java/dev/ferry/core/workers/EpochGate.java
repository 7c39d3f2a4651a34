package dev.ferry.core.workers;

import java.lang.invoke.VarHandle;
import java.util.ArrayDeque;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * When an old table snapshot may be freed: only after every worker has passed an epoch that began after the
 * new snapshot was published (quiescent-state-based reclamation, as RCU and VPP's worker barrier give).
 *
 * <p>The rule, in three parts:
 * <ol>
 *   <li>Workers: at the start of each duty cycle, {@link #enter(int)} <em>before</em> reading the tables
 *       reference, and keep no reference to a snapshot from one duty cycle to the next. Before blocking idle
 *       (epoll), {@link #quiesce(int)}: a sleeping worker holds no snapshot and must not stall reclamation.</li>
 *   <li>Control: publish the new snapshot (the reference swap) first, then {@link #retire} the old one. Retiring
 *       advances the global epoch to {@code r} and tags the old snapshot with it.</li>
 *   <li>{@link #reclaim()} frees a snapshot tagged {@code r} once every worker has announced an epoch of at least
 *       {@code r}, or is quiescent. A worker that announced {@code r} read the epoch after the swap, so its read
 *       of the reference that follows sees the new snapshot.</li>
 * </ol>
 * The announcement is a volatile store and a full fence before the worker's acquire load of the reference: the
 * store must not pass that load, or a worker waking from quiescence could read the old snapshot while the
 * control thread still sees it quiescent. One fence per duty cycle (a vector of packets), not per packet.
 *
 * <p>The slots are not padded: each worker writes its own once per duty cycle, so sharing a line costs one
 * transfer per cycle, not per packet.
 */
public final class EpochGate
{
    /** A worker's slot while it holds no snapshot (idle, or not started). */
    public static final long QUIESCENT = Long.MAX_VALUE;

    private final AtomicLong epoch = new AtomicLong();
    private final AtomicLongArray announced;
    private final ArrayDeque<Retired> retired = new ArrayDeque<>();

    private record Retired(long epoch, AutoCloseable snapshot)
    {
    }

    /**
     * @param workers worker count; every worker starts quiescent.
     */
    public EpochGate(final int workers)
    {
        announced = new AtomicLongArray(workers);
        for (int w = 0; w < workers; w++)
        {
            announced.set(w, QUIESCENT);
        }
    }

    /**
     * Worker side, once per duty cycle before reading the tables reference: announces that this worker holds no
     * snapshot read before the current epoch.
     *
     * @param worker the calling worker.
     */
    public void enter(final int worker)
    {
        announced.set(worker, epoch.get());
        // the caller's next load is an acquire load of the tables reference, which may move above a volatile
        // store: the full fence keeps it after the announcement (store-load order)
        VarHandle.fullFence();
    }

    /**
     * Worker side, before blocking idle: this worker holds no snapshot until its next {@link #enter(int)}.
     *
     * @param worker the calling worker.
     */
    public void quiesce(final int worker)
    {
        announced.set(worker, QUIESCENT);
    }

    /**
     * Control side, after the new snapshot is published: tags the old one for freeing.
     *
     * @param old the snapshot no worker will find in the reference from now on; closed by {@link #reclaim()}.
     */
    public synchronized void retire(final AutoCloseable old)
    {
        retired.addLast(new Retired(epoch.incrementAndGet(), old));
    }

    /**
     * Control side: frees every retired snapshot that no worker can still hold, oldest first.
     *
     * @return snapshots freed by this call.
     */
    public synchronized int reclaim()
    {
        long oldest = QUIESCENT;
        for (int w = 0; w < announced.length(); w++)
        {
            oldest = Math.min(oldest, announced.get(w));
        }
        int freed = 0;
        while (!retired.isEmpty() && retired.peekFirst().epoch() <= oldest)
        {
            final AutoCloseable s = retired.pollFirst().snapshot();
            try
            {
                s.close();
            }
            catch (final Exception e)
            {
                throw new IllegalStateException("closing a retired snapshot failed", e);
            }
            freed++;
        }
        return freed;
    }

    /** @return retired snapshots not yet freed. */
    public synchronized int pending()
    {
        return retired.size();
    }

    /** @return the current epoch (control side, for views and tests). */
    public long epoch()
    {
        return epoch.get();
    }
}
