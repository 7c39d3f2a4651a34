package dev.ferry.node;

import java.io.IOException;

/**
 * Opens the node's ports. {@link TapPortFactory} opens the real ones (AF_PACKET uplink, FFM TAPs);
 * {@link MemoryPortFactory} keeps everything in memory.
 *
 * <p>Every method runs on the worker thread (the ports register their counters in the worker's
 * {@link dev.ferry.core.Counters}, whose single writer is the worker), except during {@link NodeDaemon#start()},
 * before the worker runs.
 */
public interface PortFactory
{
    /**
     * Opens the uplink: the NIC itself in packet mode.
     *
     * @param ifName  the NIC's name.
     * @param context pool, counters, clock and the port id.
     * @return the port.
     * @throws IOException when the NIC cannot be opened.
     */
    NodePort openUplink(String ifName, PortContext context) throws IOException;

    /**
     * Creates (or attaches again to) the host TAP ({@code ferry0}) in the node's namespace.
     *
     * @param name    interface name.
     * @param context pool, counters, clock and the port id.
     * @return the port.
     * @throws IOException when the TAP cannot be created.
     */
    NodePort openHostTap(String name, PortContext context) throws IOException;

    /**
     * Creates a pod's TAP in the node's namespace, named, addressed and sized as the attachment says, for the
     * CNI plugin to move into the pod's namespace; or, when {@code restore} is set, attaches again to the TAP
     * that a previous run of the node created (it may live in the pod's namespace under the pod's interface
     * name by now).
     *
     * @param pod     the attachment.
     * @param context pool, counters, clock and the port id.
     * @param restore whether this is a restart re-attaching to an existing TAP.
     * @return the port.
     * @throws IOException when the TAP cannot be created or found.
     */
    NodePort openPodTap(PodAttachment pod, PortContext context, boolean restore) throws IOException;

    /**
     * Whether the ports are real links, so that the node configures the host's side ({@code ferry0} addresses
     * and routes; in packet mode, taking the NIC from the kernel).
     *
     * @return true for live ports.
     */
    default boolean live()
    {
        return false;
    }
}
