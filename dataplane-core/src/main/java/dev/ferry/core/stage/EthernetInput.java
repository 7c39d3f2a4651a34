package dev.ferry.core.stage;

import dev.ferry.core.DropReason;
import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;
import dev.ferry.core.Ports;
import dev.ferry.core.Stage;
import dev.ferry.core.header.EthernetHeader;
import dev.ferry.core.route.Ip4;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * ethernet-input: accepts frames addressed to the receiving port's MAC (or broadcast) and classifies them by
 * EtherType.
 *
 * <p>Input: frames from any port. Next edges: {@code arp}, {@code ip4-input}. Drops: runt frames, frames for
 * another MAC (a promiscuous port accepts any unicast), non-broadcast multicast, IPv6 (recognised, not yet
 * forwarded), 802.1Q-tagged frames (parsed; no VLANs are configured), other EtherTypes. Sets
 * {@link PacketPool#l3Offset(int)} for the next stage.
 */
public final class EthernetInput implements Stage
{
    /** Stage name. */
    public static final String NAME = "ethernet-input";
    /** Next edge: ARP. */
    public static final int NEXT_ARP = 0;
    /** Next edge: IPv4 input. */
    public static final int NEXT_IP4 = 1;

    /** Why ethernet-input drops a frame. */
    public enum Drop implements DropReason
    {
        /** Shorter than an Ethernet header. */
        RUNT(3, "frame shorter than an Ethernet header"),
        /** Destination MAC is neither ours nor broadcast. */
        NOT_FOR_US(4, "destination MAC is not this port's"),
        /** Group address other than broadcast. */
        MULTICAST(5, "multicast frame (not forwarded)"),
        /** IPv6 is recognised but not forwarded yet. */
        IP6_NOT_SUPPORTED(6, "IPv6 is not supported yet"),
        /** 802.1Q-tagged frame on an untagged port. */
        VLAN_TAGGED(7, "802.1Q-tagged frame on an untagged port"),
        /** Neither IPv4, ARP nor IPv6. */
        UNKNOWN_ETHERTYPE(8, "unknown EtherType");

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
    private final Ports ports;
    private final EthernetHeader eth = new EthernetHeader();

    /**
     * @param pool  packet pool.
     * @param ports ports (their MACs and promiscuous flags).
     */
    public EthernetInput(final PacketPool pool, final Ports ports)
    {
        this.pool = pool;
        this.ports = ports;
    }

    @Override
    public String name()
    {
        return NAME;
    }

    @Override
    public List<String> nextNames()
    {
        return List.of(Arp.NAME, Ip4Input.NAME);
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
        final int n = in.count();
        for (int i = 0; i < n; i++)
        {
            final int h = in.get(i);
            if (pool.length(h) < EthernetHeader.LENGTH)
            {
                out.drop(h, Drop.RUNT);
                continue;
            }
            eth.wrap(mem, pool.frameOffset(h));
            final long dst = eth.dst();
            final int rx = pool.rxPort(h);
            if (pool.traced(h))
            {
                out.traceDetail(h, dst, eth.src());
            }
            if (dst != EthernetHeader.BROADCAST)
            {
                if (EthernetHeader.isGroup(dst))
                {
                    out.drop(h, Drop.MULTICAST);
                    continue;
                }
                if (dst != ports.mac(rx) && !ports.promiscuous(rx))
                {
                    out.drop(h, Drop.NOT_FOR_US);
                    continue;
                }
            }
            final int type = eth.etherType();
            if (eth.tagged())
            {
                out.drop(h, Drop.VLAN_TAGGED);
                continue;
            }
            pool.l3Offset(h, EthernetHeader.LENGTH);
            switch (type)
            {
                case EthernetHeader.TYPE_IP4 -> out.next(h, NEXT_IP4);
                case EthernetHeader.TYPE_ARP -> out.next(h, NEXT_ARP);
                case EthernetHeader.TYPE_IP6 -> out.drop(h, Drop.IP6_NOT_SUPPORTED);
                default -> out.drop(h, Drop.UNKNOWN_ETHERTYPE);
            }
        }
    }

    @Override
    public String formatTrace(final long a, final long b)
    {
        return Ip4.formatMac(b) + " -> " + Ip4.formatMac(a);
    }
}
