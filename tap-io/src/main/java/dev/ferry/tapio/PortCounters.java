package dev.ferry.tapio;

import dev.ferry.core.Counters;

/**
 * The counters of one port, registered as {@code port/NAME/...} (Snabb's {@code links/<name>/<c>.counter}): the
 * only place a frame is counted on its way in or out. The thread that owns the port is the single writer; other
 * threads read with acquire loads.
 *
 * <pre>
 *   rx-packets rx-bytes        frames handed to the graph
 *   rx-no-buffer               the pool was empty (the frame stays in the kernel or the queue)
 *   rx-errors                  read errors, offload superframes, oversize or truncated frames
 *   tx-packets tx-bytes        frames written
 *   tx-errors                  write errors
 *   tx-dropped                 link down, device queue full
 *   link-down link-up          transitions of a link that went away and came back
 * </pre>
 */
public final class PortCounters
{
    private final Counters counters;
    private final String name;
    private final int rxPackets;
    private final int rxBytes;
    private final int rxNoBuffer;
    private final int rxErrors;
    private final int txPackets;
    private final int txBytes;
    private final int txErrors;
    private final int txDropped;
    private final int linkDown;
    private final int linkUp;

    /**
     * Registers the counters of a port (any thread: registration is synchronized).
     *
     * @param counters where they live.
     * @param name     the port's name.
     */
    public PortCounters(final Counters counters, final String name)
    {
        this.counters = counters;
        this.name = name;
        rxPackets = register("rx-packets");
        rxBytes = register("rx-bytes");
        rxNoBuffer = register("rx-no-buffer");
        rxErrors = register("rx-errors");
        txPackets = register("tx-packets");
        txBytes = register("tx-bytes");
        txErrors = register("tx-errors");
        txDropped = register("tx-dropped");
        linkDown = register("link-down");
        linkUp = register("link-up");
    }

    /**
     * Registers a counter of this port beyond the common ones (a tunnel port's ring overflows).
     *
     * @param suffix the last part of the name.
     * @return the counter id in {@link #counters()}.
     */
    public int register(final String suffix)
    {
        return counters.register("port/" + name + "/" + suffix);
    }

    /** @return the port's name in counter names. */
    public String name()
    {
        return name;
    }

    /** @return where the counters live. */
    public Counters counters()
    {
        return counters;
    }

    /**
     * Counts received frames.
     *
     * @param packets frames.
     * @param bytes   their bytes.
     */
    public void rx(final int packets, final long bytes)
    {
        counters.add(rxPackets, packets);
        counters.add(rxBytes, bytes);
    }

    /** Counts a receive that found the pool empty. */
    public void rxNoBuffer()
    {
        counters.increment(rxNoBuffer);
    }

    /** Counts a frame that could not be received. */
    public void rxError()
    {
        counters.increment(rxErrors);
    }

    /**
     * Counts a written frame.
     *
     * @param bytes its length.
     */
    public void tx(final int bytes)
    {
        counters.increment(txPackets);
        counters.add(txBytes, bytes);
    }

    /**
     * Counts written frames (the segments of a superframe sent as one message).
     *
     * @param packets frames.
     * @param bytes   their bytes together.
     */
    public void tx(final int packets, final long bytes)
    {
        counters.add(txPackets, packets);
        counters.add(txBytes, bytes);
    }

    /**
     * Counts frames that a write failed on.
     *
     * @param packets frames.
     */
    public void txErrors(final int packets)
    {
        counters.add(txErrors, packets);
    }

    /**
     * Counts frames dropped because the link is down or its queue is full.
     *
     * @param packets frames.
     */
    public void txDropped(final int packets)
    {
        counters.add(txDropped, packets);
    }

    /** Counts the link going away. */
    public void linkDown()
    {
        counters.increment(linkDown);
    }

    /** Counts the link coming back. */
    public void linkUp()
    {
        counters.increment(linkUp);
    }

    /** @return frames received. */
    public long rxPackets()
    {
        return counters.getAcquire(rxPackets);
    }

    /** @return bytes received. */
    public long rxBytes()
    {
        return counters.getAcquire(rxBytes);
    }

    /** @return receives that found the pool empty. */
    public long rxNoBufferCount()
    {
        return counters.getAcquire(rxNoBuffer);
    }

    /** @return frames that could not be received. */
    public long rxErrorCount()
    {
        return counters.getAcquire(rxErrors);
    }

    /** @return frames written. */
    public long txPackets()
    {
        return counters.getAcquire(txPackets);
    }

    /** @return bytes written. */
    public long txBytes()
    {
        return counters.getAcquire(txBytes);
    }

    /** @return frames a write failed on. */
    public long txErrorCount()
    {
        return counters.getAcquire(txErrors);
    }

    /** @return frames dropped (link down, queue full). */
    public long txDroppedCount()
    {
        return counters.getAcquire(txDropped);
    }

    /** @return times the link went away. */
    public long linkDowns()
    {
        return counters.getAcquire(linkDown);
    }
}
