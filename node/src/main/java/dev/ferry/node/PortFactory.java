package dev.ferry.node;

import dev.ferry.core.Ports;
import dev.ferry.tapio.FanoutSteering;
import dev.ferry.tapio.Port;

import java.io.IOException;

/**
 * Opens the node's ports. {@link TapPortFactory} opens the real ones (AF_PACKET uplink, FFM TAPs);
 * {@link MemoryPortFactory} keeps everything in memory.
 *
 * <p>Ports are opened on the control thread (or during {@link NodeDaemon#start()}, before the worker runs) and
 * handed to the worker with a {@link WorkerCommand.Attach}; they register their counters at open (registration is
 * synchronized) and from then on only the worker writes them.
 */
public interface PortFactory
{
    /**
     * An opened uplink or host TAP with what the node registers about it in {@link Ports}.
     *
     * @param port    the port.
     * @param kind    what it connects to.
     * @param mac     ferry's MAC on the link.
     * @param peerMac the far side's MAC (the host TAP's kernel side), or 0.
     */
    record Opened(Port port, Ports.Kind kind, long mac, long peerMac)
    {
        /** @return the port's name. */
        public String name()
        {
            return port.name();
        }
    }

    /**
     * Opens the uplink: the NIC itself in packet mode; its frames enter the graph at {@code neighbour-learn}.
     *
     * @param ifName  the NIC's name.
     * @param context pool, counters, clock and the port id.
     * @return the port.
     * @throws IOException when the NIC cannot be opened.
     */
    Opened openUplink(String ifName, PortContext context) throws IOException;

    /**
     * The program that steers the uplink's fanout group, once {@link #openUplink} opened it for several workers
     * (each socket with its worker as place), for the node to keep in step with the tables ({@code UplinkSteering}).
     *
     * @return the group's program holder, or null (one worker, socket mode, memory ports, steering switched off).
     */
    default FanoutSteering uplinkSteering()
    {
        return null;
    }

    /**
     * Creates (or attaches again to) the host TAP ({@code ferry0}) in the node's namespace.
     *
     * @param name    interface name.
     * @param context pool, counters, clock and the port id.
     * @return the port.
     * @throws IOException when the TAP cannot be created.
     */
    Opened openHostTap(String name, PortContext context) throws IOException;

    /**
     * Creates a pod's TAP in the node's namespace, named, addressed and sized as the attachment says, for the
     * CNI plugin to move into the pod's namespace; or, when {@code restore} is set, attaches again to the TAP
     * that a previous run of the node created (it may live in the pod's namespace under the pod's interface
     * name by now). The port is named (in counters) by the attachment's TAP name either way.
     *
     * @param pod     the attachment.
     * @param context pool, counters, clock and the port id.
     * @param restore whether this is a restart re-attaching to an existing TAP.
     * @return the port.
     * @throws IOException when the TAP cannot be created or found.
     */
    Port openPodTap(PodAttachment pod, PortContext context, boolean restore) throws IOException;

    /**
     * {@link #openPodTap(PodAttachment, PortContext, boolean)} for one worker's queue of a node of several, told
     * the queue worker 0 opened: a restored TAP that an older node made in the other queue mode is opened in its own
     * mode (a single-queue TAP: read by worker 0 only, the others write to it through ports of their own).
     *
     * @param pod        the attachment.
     * @param context    pool, counters, clock, the port id and the worker's queue.
     * @param restore    whether this is a restart re-attaching to an existing TAP.
     * @param firstQueue the port worker 0 opened for this TAP, or null when this is worker 0's.
     * @return the port.
     * @throws IOException when the TAP cannot be created or found.
     */
    default Port openPodTap(final PodAttachment pod, final PortContext context, final boolean restore,
        final Port firstQueue) throws IOException
    {
        return openPodTap(pod, context, restore);
    }

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
