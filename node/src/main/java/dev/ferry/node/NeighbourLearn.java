package dev.ferry.node;

import dev.ferry.core.DropReason;
import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;
import dev.ferry.core.Stage;
import dev.ferry.core.header.ArpHeader;
import dev.ferry.core.header.EthernetHeader;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.route.Ip4Prefix;
import dev.ferry.core.stage.EthernetInput;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.tables.Snapshot;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * neighbour-learn: the uplink's entry stage in packet mode. Learns underlay neighbours from ARP: the sender of
 * every ARP request or reply whose sender address is on the node's underlay subnet (or is a remote node's VTEP).
 * Replies addressed to this node end here (they answered our requests); everything else goes on to
 * ethernet-input, where the core arp stage answers requests for the node's addresses.
 *
 * <p>Input: frames from the uplink. Next edge: {@code ethernet-input}. Drops: {@code arp-reply-learned} (an
 * answer consumed, counted so that {@code show stats} shows resolution at work).
 */
final class NeighbourLearn implements Stage
{
    /** Stage name. */
    static final String NAME = "neighbour-learn";
    static final int NEXT_ETHERNET = 0;

    /** Why neighbour-learn ends a frame. */
    enum Drop implements DropReason
    {
        /** An ARP reply for this node: its job is done once learned. */
        ARP_REPLY_LEARNED(302, "ARP reply for this node (neighbour learned)");

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

    private final Neighbours neighbours;
    private final EthernetHeader eth = new EthernetHeader();
    private final ArpHeader arp = new ArpHeader();

    NeighbourLearn(final Neighbours neighbours)
    {
        this.neighbours = neighbours;
    }

    @Override
    public String name()
    {
        return NAME;
    }

    @Override
    public List<String> nextNames()
    {
        return List.of(EthernetInput.NAME);
    }

    @Override
    public List<Drop> dropReasons()
    {
        return List.of(Drop.values());
    }

    @Override
    public void process(final PacketVector in, final Next out)
    {
        final PacketPool pool = neighbours.pool();
        final MemorySegment mem = pool.memory();
        final Snapshot s = neighbours.tables().lvCurrent();
        final NodeTables t = s == null ? null : s.tables();
        final Ip4Prefix subnet = t == null ? null : t.node().underlayPrefix();
        final int self = t == null ? 0 : t.node().publicIp();
        final int n = in.count();
        for (int i = 0; i < n; i++)
        {
            final int h = in.get(i);
            final long base = pool.frameOffset(h);
            if (t == null || pool.length(h) < EthernetHeader.LENGTH + ArpHeader.LENGTH
                || eth.wrap(mem, base).etherType() != EthernetHeader.TYPE_ARP)
            {
                out.next(h, NEXT_ETHERNET);
                continue;
            }
            arp.wrap(mem, base + EthernetHeader.LENGTH);
            final int sender = arp.senderIp();
            if (arp.isEthernetIp4() && sender != 0 && sender != self
                && (subnet != null && subnet.contains(sender) || isVtep(t, sender)))
            {
                neighbours.learn(sender, arp.senderMac());
                out.traceDetail(h, sender & 0xffffffffL, arp.senderMac());
                if (arp.operation() == ArpHeader.OP_REPLY && arp.targetIp() == self)
                {
                    out.drop(h, Drop.ARP_REPLY_LEARNED);
                    continue;
                }
            }
            out.next(h, NEXT_ETHERNET);
        }
    }

    private static boolean isVtep(final NodeTables t, final int addr)
    {
        final List<NodeTables.RemoteNode> remotes = t.remoteNodes();
        for (int r = 0; r < remotes.size(); r++)
        {
            if (remotes.get(r).publicIp() == addr)
            {
                return true;
            }
        }
        return false;
    }

    @Override
    public String formatTrace(final long a, final long b)
    {
        return "learned " + Ip4.format((int)a) + " is-at " + Ip4.formatMac(b);
    }
}
