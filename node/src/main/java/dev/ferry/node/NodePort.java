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

    /** Releases the link: a TAP that is not persistent disappears. Called once, by the worker. */
    @Override
    void close();
}
