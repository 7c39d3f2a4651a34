package dev.ferry.core.workers;

import dev.ferry.core.PacketVector;

/**
 * One vector's packets sorted by owner: this worker's in one run, the others' (each with its owner) in another, in
 * arrival order within each run, so that a flow's packets keep their order whichever run they land in.
 *
 * <p>Why sort at all, and without a branch: with flows spread over the workers, "is it mine?" is a coin toss per
 * packet, and deciding it packet by packet made the graph's code and the ring's take turns and the branch predictor
 * miss half the time. {@link #add} places each handle with an index computed from a 0 or a 1, then the caller feeds
 * its graph from {@link #own} and the rings from {@link #away} in loops of their own (benchmarks README, session 15:
 * +5.5 % for two workers). A node's ownership stage and the scaling benchmark's lane, which models it, both use it.
 *
 * <p>One worker's thread only; {@link #clear()} before each vector. Allocates nothing after construction.
 */
public final class OwnerSort
{
    private static final int CAPACITY = PacketVector.CAPACITY;

    private final int me;
    /** This worker's handles from 0, the others' from {@link #CAPACITY}. */
    private final int[] handles = new int[2 * CAPACITY];
    private final int[] owners = new int[2 * CAPACITY];
    private int own;
    private int away;

    /**
     * @param me the worker whose packets go to {@link #own}.
     */
    public OwnerSort(final int me)
    {
        this.me = me;
    }

    /** Forgets the last vector. */
    public void clear()
    {
        own = 0;
        away = 0;
    }

    /**
     * Places one packet; at most {@link PacketVector#CAPACITY} between two {@link #clear()}s.
     *
     * @param handle the packet.
     * @param owner  the worker that owns its flow.
     */
    public void add(final int handle, final int owner)
    {
        final int other = owner == me ? 0 : 1;
        final int at = own + other * (CAPACITY + away - own);
        handles[at] = handle;
        owners[at] = owner;
        own += 1 - other;
        away += other;
    }

    /** @return packets this worker owns, since the last {@link #clear()}. */
    public int own()
    {
        return own;
    }

    /**
     * @param i 0 to {@link #own()} - 1, in arrival order.
     * @return the i-th packet this worker owns.
     */
    public int ownHandle(final int i)
    {
        return handles[i];
    }

    /** @return packets another worker owns, since the last {@link #clear()}. */
    public int away()
    {
        return away;
    }

    /**
     * @param i 0 to {@link #away()} - 1, in arrival order.
     * @return the i-th packet another worker owns.
     */
    public int awayHandle(final int i)
    {
        return handles[CAPACITY + i];
    }

    /**
     * @param i 0 to {@link #away()} - 1.
     * @return the owner of {@link #awayHandle(int) awayHandle(i)}.
     */
    public int awayOwner(final int i)
    {
        return owners[CAPACITY + i];
    }
}
