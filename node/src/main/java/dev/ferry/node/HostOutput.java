package dev.ferry.node;

import dev.ferry.core.DropReason;
import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;
import dev.ferry.core.Stage;
import dev.ferry.core.header.EthernetHeader;
import dev.ferry.core.stage.InterfaceOutput;
import dev.ferry.core.stage.Ip4Local;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * host-output: delivers packets addressed to this node up the host TAP ({@code ferry0}), so that the
 * host's own stack (kubelet, sshd, anything listening on the node IP) gets them.
 *
 * <p>Input: packets from ip4-local that are not echo requests. Next edge: {@code interface-output}, with the
 * Ethernet header rewritten to ferry's MAC on the host TAP to the kernel's MAC. Drops: a frame without the
 * Ethernet header in front (a bug upstream, counted).
 */
public final class HostOutput implements Stage
{
    /** Stage name (the one ip4-local's host edge names). */
    public static final String NAME = Ip4Local.HOST_OUTPUT;
    /** Next edge: transmit. */
    public static final int NEXT_OUTPUT = 0;

    /** Why host-output drops a packet. */
    public enum Drop implements DropReason
    {
        /** The IPv4 header does not sit behind a 14-byte Ethernet header. */
        NO_ETHERNET_HEADER(301, "no Ethernet header in front of the IPv4 packet");

        private final int id;
        private final String sentence;

        Drop(final int id, final String sentence)
        {
            this.id = id;
            this.sentence = sentence;
        }

        @Override
        public int id()
        {
            return id;
        }

        @Override
        public String sentence()
        {
            return sentence;
        }
    }

    private final PacketPool pool;
    private final int hostPort;
    private final long srcMac;
    private final long dstMac;
    private final EthernetHeader eth = new EthernetHeader();

    /**
     * @param pool     packet pool.
     * @param hostPort id of the host TAP port.
     * @param srcMac   ferry's MAC on the host TAP.
     * @param dstMac   the kernel's MAC on the host TAP.
     */
    public HostOutput(final PacketPool pool, final int hostPort, final long srcMac, final long dstMac)
    {
        this.pool = pool;
        this.hostPort = hostPort;
        this.srcMac = srcMac;
        this.dstMac = dstMac;
    }

    @Override
    public String name()
    {
        return NAME;
    }

    @Override
    public List<String> nextNames()
    {
        return List.of(InterfaceOutput.NAME);
    }

    @Override
    public List<Drop> dropReasons()
    {
        return List.of(Drop.values());
    }

    @Override
    public void process(final PacketVector in, final Next out)
    {
        // locals: the JIT keeps them in registers across the loop
        final PacketPool pool = this.pool;
        final MemorySegment mem = pool.memory();
        final EthernetHeader eth = this.eth;
        final int port = hostPort;
        final int n = in.count();
        for (int i = 0; i < n; i++)
        {
            final int h = in.get(i);
            if (pool.l3Offset(h) != EthernetHeader.LENGTH)
            {
                out.drop(h, Drop.NO_ETHERNET_HEADER);
                continue;
            }
            eth.wrap(mem, pool.frameOffset(h));
            eth.dst(dstMac).src(srcMac);
            pool.txPort(h, port);
            out.next(h, NEXT_OUTPUT);
        }
    }
}
