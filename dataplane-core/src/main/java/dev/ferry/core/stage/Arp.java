package dev.ferry.core.stage;

import dev.ferry.core.DropReason;
import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;
import dev.ferry.core.Ports;
import dev.ferry.core.Stage;
import dev.ferry.core.header.ArpHeader;
import dev.ferry.core.header.EthernetHeader;
import dev.ferry.core.header.Wire;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.tables.Fib;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.tables.Snapshot;
import dev.ferry.core.tables.TablesRef;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * arp: answers ARP requests for the pods' gateway address and the other addresses of this node's pod CIDR (on
 * pod ports: proxy ARP, since the pod's subnet is on-link for it), for the gateway (on the host port) and for the
 * node's own addresses (on the uplink), rewriting the request into the reply in place.
 *
 * <p>Input: ARP frames from ethernet-input. Next edge: {@code interface-output} (the reply, out of the port it
 * came in on). Drops: truncated, not Ethernet/IPv4, requests for addresses we do not own, replies and other
 * operations (counted; the node learns underlay neighbours elsewhere).
 */
public final class Arp implements Stage
{
    /** Stage name. */
    public static final String NAME = "arp";
    /** Next edge: transmit the reply. */
    public static final int NEXT_OUTPUT = 0;

    /** Why arp drops a frame. */
    public enum Drop implements DropReason
    {
        /** Too short for an ARP packet. */
        TRUNCATED(9, "ARP packet truncated"),
        /** Hardware/protocol types are not Ethernet/IPv4. */
        NOT_ETHERNET_IP4(10, "ARP for a hardware or protocol other than Ethernet/IPv4"),
        /** The target address is not one that this port answers for. */
        NOT_OUR_ADDRESS(11, "ARP request for an address we do not own"),
        /** A reply (or another operation). */
        NOT_A_REQUEST(12, "ARP reply or unknown operation (not a request)"),
        /** Gratuitous ARP. */
        GRATUITOUS(13, "gratuitous ARP"),
        /** On a pod port: sender MAC, Ethernet source or sender IP (other than a 0.0.0.0 probe) not the pod's. */
        POD_SOURCE_SPOOFED(37, "pod ARP from an IPv4 address or MAC that is not its own");

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
    private final TablesRef<Snapshot> tables;
    private final EthernetHeader eth = new EthernetHeader();
    private final ArpHeader arp = new ArpHeader();

    /**
     * @param pool   packet pool.
     * @param ports  ports.
     * @param tables the tables (gateway and node addresses).
     */
    public Arp(final PacketPool pool, final Ports ports, final TablesRef<Snapshot> tables)
    {
        this.pool = pool;
        this.ports = ports;
        this.tables = tables;
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
        final PacketPool pool = this.pool;
        final MemorySegment mem = pool.memory();
        final Snapshot snapshot = tables.lvCurrent();
        final NodeTables.NodeInfo node = snapshot.tables().node();
        final Fib fib = snapshot.fib();
        final int n = in.count();
        for (int i = 0; i < n; i++)
        {
            final int h = in.get(i);
            final int l3 = pool.l3Offset(h);
            if (pool.length(h) < l3 + ArpHeader.LENGTH)
            {
                out.drop(h, Drop.TRUNCATED);
                continue;
            }
            final long base = pool.frameOffset(h);
            arp.wrap(mem, base + l3);
            if (!arp.isEthernetIp4())
            {
                out.drop(h, Drop.NOT_ETHERNET_IP4);
                continue;
            }
            if (arp.operation() != ArpHeader.OP_REQUEST)
            {
                out.drop(h, Drop.NOT_A_REQUEST);
                continue;
            }
            final int target = arp.targetIp();
            final int sender = arp.senderIp();
            if (target == sender)
            {
                out.drop(h, Drop.GRATUITOUS);
                continue;
            }
            final int rx = pool.rxPort(h);
            final long podMac = fib.podMac(rx);
            if (podMac != Fib.NOT_A_POD && (podMac == Fib.UNBOUND_POD || arp.senderMac() != podMac
                || Wire.u48(mem, base + EthernetHeader.SRC_OFFSET) != podMac
                || sender != fib.podIp(rx) && sender != 0))
            {
                out.drop(h, Drop.POD_SOURCE_SPOOFED);
                continue;
            }
            if (!answersFor(node, ports.get(rx).kind(), target))
            {
                out.traceDetail(h, target, 0);
                out.drop(h, Drop.NOT_OUR_ADDRESS);
                continue;
            }
            final long ourMac = ports.mac(rx);
            final long senderMac = arp.senderMac();
            arp.operation(ArpHeader.OP_REPLY)
                .targetMac(senderMac).targetIp(sender)
                .senderMac(ourMac).senderIp(target);
            eth.wrap(mem, base).dst(senderMac).src(ourMac);
            pool.txPort(h, rx);
            out.traceDetail(h, target, ourMac);
            out.next(h, NEXT_OUTPUT);
        }
    }

    private static boolean answersFor(final NodeTables.NodeInfo node, final Ports.Kind kind, final int target)
    {
        if (kind == Ports.Kind.HOST)
        {
            return target == node.gatewayIp();
        }
        if (kind == Ports.Kind.POD)
        {
            // proxy ARP: a pod sees its /24 as on-link (as on flannel's bridge), but every frame goes through
            // ferry, so ferry answers for the gateway and for the other addresses of this node's pod CIDR
            return target == node.gatewayIp() || (node.podCidr() != null && node.podCidr().contains(target));
        }
        if (target == node.publicIp())
        {
            return true;
        }
        final List<Integer> addrs = node.addresses();
        for (int i = 0; i < addrs.size(); i++)
        {
            if (addrs.get(i) == target)
            {
                return true;
            }
        }
        return false;
    }

    @Override
    public String formatTrace(final long a, final long b)
    {
        return b == 0 ? "who-has " + Ip4.format((int)a) + ": not ours"
            : "reply " + Ip4.format((int)a) + " is-at " + Ip4.formatMac(b);
    }
}
