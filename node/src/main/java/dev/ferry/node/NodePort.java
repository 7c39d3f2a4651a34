package dev.ferry.node;

import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;
import dev.ferry.core.Ports;
import dev.ferry.core.header.EthernetHeader;

/**
 * One of the node's links as the worker sees it: a pod TAP, the AF_PACKET uplink, the host TAP, a VXLAN
 * UDP socket, or memory (tests). The FFM ports of {@code tap-io} adapt to this interface.
 *
 * <p>Every method except {@link #name()}, {@link #kind()}, {@link #mac()} and {@link #peerMac()} is called
 * only by the worker thread that owns the packet pool.
 */
public interface NodePort extends AutoCloseable
{
    /** @return interface name, e.g. "tap0af40105". */
    String name();

    /** @return what the port connects to. */
    Ports.Kind kind();

    /** @return the MAC of ferry's side of the link. */
    long mac();

    /**
     * The MAC of the far side, where ferry must address frames (the host TAP's kernel MAC). Ports whose far
     * side accepts any destination return broadcast.
     *
     * @return the far side's MAC.
     */
    default long peerMac()
    {
        return EthernetHeader.BROADCAST;
    }

    /**
     * Receives up to one vector: allocates buffers from the pool, fills them, and appends their handles to
     * {@code out} until it is full or the port has nothing more. Never blocks.
     *
     * @param pool the worker's pool.
     * @param out  where handles go; the port stops when it is full or the pool is empty.
     * @return frames received.
     */
    int receive(PacketPool pool, PacketVector out);

    /**
     * Takes a frame for transmission. The port owns the buffer from now on and frees it once written (or
     * dropped, counted by the port).
     *
     * @param pool   the worker's pool.
     * @param handle the frame.
     */
    void transmit(PacketPool pool, int handle);

    /** Writes out anything batched by {@link #transmit}; called once per graph run. */
    default void flush()
    {
    }

    /**
     * The descriptor that becomes readable when {@link #receive} has frames, for the worker's epoll wait; -1 when
     * the port has none (memory, a socket served by another thread), in which case the worker waits at most
     * {@link EpollIdleStrategy#SHORT_WAIT_MS} before it polls again. May change while the port lives (an
     * AF_PACKET socket reopened after its link came back).
     *
     * @return the descriptor, or -1.
     */
    default int fd()
    {
        return -1;
    }

    /**
     * The stage where received frames enter the graph, or null for {@code ethernet-input}. The VXLAN UDP socket
     * enters at {@code vxlan-decap}, the uplink in packet mode at {@code neighbour-learn}.
     *
     * @return a stage name, or null.
     */
    default String entryStage()
    {
        return null;
    }

    /** Idle-time upkeep (a link check); called by the worker when a duty cycle found nothing to do. */
    default void maintain()
    {
    }

    /**
     * Releases the link for good: a pod's TAP is deleted (CNI DEL), whether persistent or not. Called once, by
     * the worker, instead of {@link #close()}.
     */
    default void remove()
    {
        close();
    }

    /**
     * Releases the link: a TAP that is not persistent disappears, a persistent one stays for the next run of the
     * node to attach again. Called once, by the worker.
     */
    @Override
    void close();
}
