package dev.ferry.core;

/**
 * A vector of up to {@link #CAPACITY} packet handles: the unit of work that stages process (a VPP frame).
 */
public final class PacketVector
{
    /** Maximum packets in one vector. */
    public static final int CAPACITY = 256;

    private final int[] handles = new int[CAPACITY];
    private int count;

    /** @return packets in the vector. */
    public int count()
    {
        return count;
    }

    /** @return whether the vector is full. */
    public boolean isFull()
    {
        return count == CAPACITY;
    }

    /** @return whether the vector is empty. */
    public boolean isEmpty()
    {
        return count == 0;
    }

    /**
     * @param i position, below {@link #count()}.
     * @return the handle at that position.
     */
    public int get(final int i)
    {
        return handles[i];
    }

    /**
     * Appends a handle; the caller checks {@link #isFull()}.
     *
     * @param handle packet handle.
     */
    public void add(final int handle)
    {
        handles[count++] = handle;
    }

    /** Empties the vector (the handles are not freed). */
    public void clear()
    {
        count = 0;
    }

    /** @return the backing array, for stages that walk it with a local copy (read only). */
    public int[] handles()
    {
        return handles;
    }
}
