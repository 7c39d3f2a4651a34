package dev.ferry.tapio;

import dev.ferry.core.PacketVector;
import dev.ferry.core.TxSink;

/**
 * A link of the dataplane, the one contract between the worker and I/O: a TAP ({@link TapPort}), an AF_PACKET
 * socket ({@link PacketSocketPort}), memory ({@link MemoryPort}) or a node's tunnel socket. The port is opened
 * with the worker's pool and its id, and from then on it alone receives, transmits, flushes and counts.
 *
 * <pre>
 *   open(name, id, pool, counters) ──► receive(vector): pool buffers, rx port and timestamp stamped once,
 *                                       port/NAME/rx-* counted once
 *   graph ──transmit(h)──► written or queued, port/NAME/tx-* counted once ──flush()──► batch out
 * </pre>
 *
 * <p>Every method except {@link #name()} and {@link #counters()} is called by the single thread that owns the
 * pool (the worker); the port's {@link PortCounters} are written by that thread only.
 */
public interface Port extends TxSink, AutoCloseable
{
    /** @return the port's name in counters and {@code show ports}, e.g. "tap0af40105". */
    String name();

    /** @return the port's counters ({@code port/NAME/...}). */
    PortCounters counters();

    /**
     * Receives up to one vector without blocking: allocates buffers from the pool, fills them, stamps each with
     * this port as rx port and a receive time, counts them, and appends their handles to {@code out}.
     *
     * @param out where handles go; the port stops when it is full, the port is empty or the pool is.
     * @return frames added.
     */
    int receive(PacketVector out);

    /**
     * Takes a frame for transmission. The port owns the buffer from now on and frees it once written, or
     * dropped and counted.
     *
     * @param handle packet handle.
     */
    @Override
    void transmit(int handle);

    /**
     * The descriptor that becomes readable when {@link #receive} has frames, for the worker's epoll wait; -1 when
     * the port has none (memory, a socket served by another thread). It may change while the port lives (an
     * AF_PACKET socket reopened after its link came back).
     *
     * @return the descriptor, or -1.
     */
    default int fd()
    {
        return -1;
    }

    /**
     * Changes whenever {@link #fd()} names a new descriptor, also one that got the number of the closed one: a closed
     * descriptor leaves an epoll set by itself, so a watcher that compares numbers only would keep a reopened port
     * out of its set.
     *
     * @return a count that grows with each descriptor the port opened (0 for a port whose descriptor never changes).
     */
    default long fdGeneration()
    {
        return 0;
    }

    /**
     * Whether {@link #receive} costs a system call even when nothing is queued (a TAP's {@code read}, which mostly
     * answers EAGAIN), so that a busy worker should read the port only when its {@link #fd()} is readable. A port
     * that finds its frames in user space (an AF_PACKET ring, memory) is cheaper to look at than to ask the kernel
     * about, and answers false.
     *
     * @return whether an empty receive is a system call.
     */
    default boolean receiveIsSyscall()
    {
        return false;
    }

    /**
     * For a port without a descriptor whose frames another thread queues (a ring filled by a socket's I/O thread,
     * a memory port fed by a test): the port keeps {@code wake} and calls it, on the queuing thread, after each
     * frame it queues, so that a worker blocked in epoll wakes at once. A port that cannot do this returns false,
     * and the worker then caps its waits.
     *
     * @param wake what to call after queuing input (cheap: it reads a flag, and writes an eventfd only when the
     *             worker is blocked).
     * @return whether the port will call it.
     */
    default boolean wakeOnInput(final Runnable wake)
    {
        return false;
    }

    /**
     * Whether frames queued by another thread wait for {@link #receive} (see {@link #wakeOnInput}); the worker
     * looks once more after it has announced that it will block, so that no wake is lost.
     *
     * @return whether input is queued; false for a port with a descriptor.
     */
    default boolean inputQueued()
    {
        return false;
    }

    /**
     * The graph stage where received frames enter, or null for the graph's usual entry (ethernet-input).
     *
     * @return a stage name, or null.
     */
    default String entryStage()
    {
        return null;
    }

    /**
     * Whether {@link #transmit} takes offload superframes and partial checksums ({@code PacketPool.gsoSize},
     * {@code checksumPartial}) and hands them on whole: a TAP with TSO, an uplink with the virtio header (which cuts
     * them itself when its link refuses them). For any other port the sender segments superframes and completes
     * checksums in software first.
     *
     * @return whether the port takes superframes.
     */
    default boolean acceptsOffload()
    {
        return false;
    }

    /** Idle-time upkeep (a link check); called when a duty cycle found nothing to do. */
    default void maintain()
    {
    }

    /** Releases the link for good (a pod's TAP on CNI DEL, even a persistent one); called instead of close. */
    default void remove()
    {
        close();
    }

    /** Releases the link: a persistent TAP stays for the next run to attach again. Idempotent. */
    @Override
    void close();
}
