package dev.ferry.bench;

import dev.ferry.core.DropReason;
import dev.ferry.core.PacketVector;
import dev.ferry.core.Stage;

/**
 * The next edges of one stage called directly, without the graph runner: collects every packet the stage
 * passes on into {@link #vector} (whatever the edge), counts packets per next edge, and counts drops, transmits
 * and injections without freeing anything (the benchmark owns the buffers). Zero allocation.
 */
final class EdgeCounter implements Stage.Next
{
    /** Packets passed on, in order; the benchmark clears it. */
    final PacketVector vector = new PacketVector();
    private final long[] perEdge = new long[8];
    private long drops;
    private long other;
    private DropReason lastDrop;

    @Override
    public void next(final int handle, final int nextIndex)
    {
        vector.add(handle);
        perEdge[nextIndex]++;
    }

    @Override
    public void drop(final int handle, final DropReason reason)
    {
        vector.add(handle);
        drops++;
        lastDrop = reason;
    }

    @Override
    public void traceDetail(final int handle, final long a, final long b)
    {
    }

    @Override
    public void transmit(final int handle)
    {
        vector.add(handle);
        other++;
    }

    @Override
    public void inject(final int handle, final int nextIndex)
    {
        vector.add(handle);
        other++;
    }

    /**
     * @param nextIndex a next edge of the stage.
     * @return packets passed on through that edge so far.
     */
    long on(final int nextIndex)
    {
        return perEdge[nextIndex];
    }

    /** @return packets dropped so far. */
    long drops()
    {
        return drops;
    }

    /**
     * Fails when anything but {@code edge} was taken (nothing at all passes): the benchmark must measure the
     * path it names.
     *
     * @param stage name of the stage, for the message.
     * @param edge  the only next edge expected.
     * @throws IllegalStateException naming what else happened.
     */
    void requireOnly(final String stage, final int edge)
    {
        long elsewhere = other;
        for (int i = 0; i < perEdge.length; i++)
        {
            elsewhere += i == edge ? 0 : perEdge[i];
        }
        if (drops != 0 || elsewhere != 0)
        {
            throw new IllegalStateException(stage + ": " + perEdge[edge] + " packets on edge " + edge + ", "
                + elsewhere + " elsewhere, " + drops + " dropped" + (lastDrop == null ? "" : " (last: "
                + lastDrop.describe() + ")"));
        }
    }
}
