package dev.ferry.node;

import dev.ferry.core.Clock;
import dev.ferry.core.Counters;
import dev.ferry.core.PacketPool;

import java.io.IOException;

/**
 * Opens the node's ports. {@code tap-io} provides the real one (AF_PACKET uplink, FFM TAPs);
 * {@link MemoryPortFactory} keeps everything in memory.
 */
public interface PortFactory
{
    /**
     * Hands the factory the daemon's pool, counters and clock before any port is opened (ports that own a ring
     * or a descriptor copy frames into that pool). The default ignores them.
     *
     * @param pool     the worker's packet pool.
     * @param counters the worker's counters.
     * @param clock    time.
     */
    default void bind(final PacketPool pool, final Counters counters, final Clock clock)
    {
    }

    /**
     * Opens the uplink: the NIC itself in packet mode.
     *
     * @param ifName the NIC's name.
     * @return the port.
     * @throws IOException when the NIC cannot be opened.
     */
    NodePort openUplink(String ifName) throws IOException;

    /**
     * Creates the host TAP ({@code ferry0}) in the node's namespace.
     *
     * @param name interface name.
     * @return the port.
     * @throws IOException when the TAP cannot be created.
     */
    NodePort openHostTap(String name) throws IOException;

    /**
     * Creates a pod's TAP and moves it into the pod's namespace, named and addressed as the attachment says.
     *
     * @param pod the attachment.
     * @return the port.
     * @throws IOException when the TAP cannot be created or moved.
     */
    NodePort openPodTap(PodAttachment pod) throws IOException;

    /**
     * Takes back a pod's TAP after a node restart: the device is already in the pod's namespace under the
     * attachment's interface name. The default creates a new one, as {@link #openPodTap} does.
     *
     * @param pod the attachment recorded by the previous run.
     * @return the port.
     * @throws IOException when the TAP cannot be opened.
     */
    default NodePort reopenPodTap(final PodAttachment pod) throws IOException
    {
        return openPodTap(pod);
    }
}
