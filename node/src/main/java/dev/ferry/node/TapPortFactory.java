package dev.ferry.node;

import dev.ferry.core.Ports;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.workers.OwnerProgram;
import dev.ferry.tapio.FanoutSteering;
import dev.ferry.tapio.NativeException;
import dev.ferry.tapio.PacketSocketPort;
import dev.ferry.tapio.Port;
import dev.ferry.tapio.TapPort;
import dev.ferry.tapio.TapQueueModeException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.logging.Logger;

/**
 * The live ports of a node, over tap-io: the NIC through AF_PACKET ({@link PacketSocketPort}), the host TAP and
 * the pods' TAPs through {@code /dev/net/tun} ({@link TapPort}).
 *
 * <pre>
 *   pod TAP   created persistent in the node's namespace as tap + 8 hex digits of the pod IP,
 *             device MAC = the pod's MAC, MTU = the pod MTU; ferry's side answers as the pod gateway MAC.
 *             IFF_VNET_HDR with checksum offload and TSO: 64 KB TCP superframes both ways.
 *             txqueuelen {@link #TAP_TX_QUEUE_LENGTH}: what the pod sends while its worker is off the core.
 *             The CNI plugin moves it into the pod's namespace and renames it (eth0); the fd keeps working.
 *             On restart: attached again by name, in the node's namespace if still there, else in the pod's
 *             namespace under the pod's interface name.
 *   host TAP  ferry0, persistent, up, kernel side MAC {@link #HOST_PEER_MAC}, ferry side {@link #HOST_MAC}.
 *   uplink    AF_PACKET on the NIC; ferry's MAC on it is the NIC's own MAC. PACKET_VNET_HDR where the kernel takes
 *             it: runs of VXLAN datagrams leave as UDP GSO superframes, received superframes are split at the port.
 *   workers   with several, every device is opened once per worker: TAPs (pods', ferry0) with IFF_MULTI_QUEUE, one
 *             queue each; the uplink as one AF_PACKET socket each in the link's fanout group, steered by a classic
 *             BPF program that names each frame's owner worker (PACKET_FANOUT_CBPF, {@link UplinkSteering}; the
 *             kernel's PACKET_FANOUT_HASH where the kernel refuses it).
 * </pre>
 */
public final class TapPortFactory implements PortFactory
{
    private static final Logger LOG = Logger.getLogger("dev.ferry.node");
    /** ferry's MAC on the host TAP (the host's next hop for pods and Services). */
    public static final long HOST_MAC = Ip4.parseMac("0e:fe:00:00:00:01");
    /** The kernel's MAC on the host TAP. */
    public static final long HOST_PEER_MAC = Ip4.parseMac("0e:fe:00:00:00:02");
    /**
     * The transmit queue length of the TAPs ferry creates (pods', ferry0), per queue: what the kernel holds for a
     * worker that is off its core before it drops what the pod sends (pod interface TX {@code dropped}). The
     * kernel's 1,000 is 51 ms of 64-byte datagrams at 10 Mbit/s; on a loaded 2-core lab node that lost 0.3 to 5 %
     * of a UDP stream there (issue 17). 4,096 frames is 210 ms at that rate; what a stalled queue can pin is
     * 4,096 superframes at worst (256 MiB), 4 MiB of small datagrams.
     */
    public static final int TAP_TX_QUEUE_LENGTH = 4096;

    @Override
    public boolean live()
    {
        return true;
    }

    /**
     * The uplink's fanout group steered by the ownership rule ({@code PACKET_FANOUT_CBPF}, {@link UplinkSteering}):
     * on unless {@code -Dferry.uplink.steering=false}, a diagnostic switch for A/B measurements (the kernel's flow
     * hash, as before it existed).
     */
    static final boolean STEERING = !"false".equals(System.getProperty("ferry.uplink.steering"));

    private FanoutSteering uplinkSteering;

    @Override
    public FanoutSteering uplinkSteering()
    {
        return uplinkSteering;
    }

    @Override
    public Opened openUplink(final String ifName, final PortContext c) throws IOException
    {
        final long mac = interfaceMac(ifName);
        // neighbour-learn sees the underlay's ARP before ethernet-input
        final PacketSocketPort.Options options = new PacketSocketPort.Options().entryStage(NeighbourLearn.NAME);
        if (c.multiQueue())
        {
            // one socket per worker, the link's frames split between them by flow
            options.fanout(PacketSocketPort.fanoutGroup(ifName));
            if (STEERING)
            {
                // each socket's place is its worker: the program answers the owner worker, the slot table its socket
                if (uplinkSteering == null)
                {
                    uplinkSteering = new FanoutSteering(OwnerProgram.flowHash());
                }
                options.fanoutSteering(uplinkSteering).fanoutMember(c.queue());
            }
        }
        final PacketSocketPort p = PacketSocketPort.open(ifName, c.id(), c.pool(), c.counters(), c.clock(), options);
        return new Opened(p, Ports.Kind.UPLINK, mac, 0);
    }

    @Override
    public Opened openHostTap(final String name, final PortContext c) throws IOException
    {
        TapPort tap;
        try
        {
            tap = TapPort.open(name, c.id(), c.pool(), c.counters(), c.clock(), hostTapOptions(c.multiQueue()));
        }
        catch (final TapQueueModeException e)
        {
            // made by a node with another worker count: the host TAP is the node's own (no pod holds it, and the
            // node writes its addresses and routes at the first tables), so it is made again in this node's mode
            final String mode = e.deviceMultiQueue() ? "multi-queue" : "single-queue";
            LOG.warning(() -> "host TAP " + name + " was made " + mode + " by a node with another worker count:"
                + " deleted and made again");
            TapPort.open(name, c.id(), c.pool(), c.counters(), c.clock(),
                new TapPort.Options().multiQueue(e.deviceMultiQueue())).remove();
            tap = TapPort.open(name, c.id(), c.pool(), c.counters(), c.clock(), hostTapOptions(c.multiQueue()));
        }
        return new Opened(tap, Ports.Kind.HOST, HOST_MAC, HOST_PEER_MAC);
    }

    private static TapPort.Options hostTapOptions(final boolean multiQueue)
    {
        return new TapPort.Options().mac(HOST_PEER_MAC).persistent(true).up(true).multiQueue(multiQueue)
            .txQueueLength(TAP_TX_QUEUE_LENGTH);
    }

    @Override
    public Port openPodTap(final PodAttachment pod, final PortContext c, final boolean restore)
        throws IOException
    {
        return openPodTap(pod, c, restore, null);
    }

    @Override
    public Port openPodTap(final PodAttachment pod, final PortContext c, final boolean restore,
        final Port firstQueue) throws IOException
    {
        if (firstQueue instanceof TapPort first && c.multiQueue() && !first.multiQueue())
        {
            // worker 0 found the TAP single-queue: it alone reads it, this worker writes to it
            return TapPort.transmitOnly(first, c.id(), c.pool(), c.counters(), c.clock());
        }
        // the virtio-net header and offloads: the pod's TCP hands over 64 KB superframes, and takes them whole
        final TapPort.Options options = new TapPort.Options().persistent(true).portName(pod.tapName())
            .vnetHeader(TapPort.VNET_HDR).offloads(true).multiQueue(c.multiQueue()).txQueueLength(TAP_TX_QUEUE_LENGTH);
        if (!restore || exists(pod.tapName()))
        {
            // a new pod, or a restart before the CNI plugin moved the TAP: it is in the node's namespace
            return openPod(pod.tapName(), pod.tapName(), c, options.mac(pod.mac()).mtu(pod.mtu()), restore, false);
        }
        final Path ns = Path.of(pod.netns());
        if (!Files.exists(ns))
        {
            throw new IOException("the pod's network namespace " + ns + " is gone");
        }
        // moved and renamed by the CNI plugin: attach inside the pod's namespace under its interface name
        return openPod(pod.ifName(), pod.tapName() + " (" + pod.ifName() + " in " + ns + ")", c,
            options.namespace(ns), restore, false);
    }

    /**
     * Opens a pod's TAP with the virtio header; on a restart, a persistent TAP that an older ferry created
     * differently is attached as it is: without the virtio header (it refuses those flags, EINVAL) and without
     * offloads until the pod is recreated; or in its own queue mode when the node's worker count changed (one
     * queue of a multi-queue TAP for a node of one worker; a single-queue TAP for worker 0 of several, the others
     * writing to it through {@link TapPort#transmitOnly}), with a warning.
     */
    private static TapPort openPod(final String name, final String label, final PortContext c,
        final TapPort.Options options, final boolean restore, final boolean modeChanged) throws IOException
    {
        try
        {
            return TapPort.open(name, c.id(), c.pool(), c.counters(), c.clock(), options);
        }
        catch (final TapQueueModeException e)
        {
            if (!restore || modeChanged)
            {
                throw e;
            }
            final boolean many = e.deviceMultiQueue();
            LOG.warning(() -> "pod TAP " + label + " was made " + (many ? "multi-queue" : "single-queue") + " by a node"
                + " with " + (many ? "several workers" : "one worker") + ": attached in that mode"
                + (many ? "" : " (worker 0 reads it, every worker writes to it)")
                + "; recreate the pod to have it made for this node's workers");
            return openPod(name, label, c, options.multiQueue(e.deviceMultiQueue()), true, true);
        }
        catch (final NativeException e)
        {
            if (!restore || !e.getMessage().contains("TUNSETIFF"))
            {
                throw e;
            }
            return TapPort.open(name, c.id(), c.pool(), c.counters(), c.clock(),
                options.vnetHeader(0).offloads(false));
        }
    }

    private static boolean exists(final String ifName)
    {
        return Files.exists(Path.of("/sys/class/net", ifName));
    }

    /**
     * Reads an interface's MAC in this process's namespace.
     *
     * @param ifName interface name.
     * @return the MAC as 48 bits.
     * @throws IOException when there is no such interface.
     */
    static long interfaceMac(final String ifName) throws IOException
    {
        final Path f = Path.of("/sys/class/net", ifName, "address");
        if (!Files.exists(f))
        {
            throw new IOException("uplink " + ifName + ": no such interface");
        }
        return Ip4.parseMac(Files.readString(f).trim());
    }
}
