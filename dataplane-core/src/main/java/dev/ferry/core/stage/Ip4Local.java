package dev.ferry.core.stage;

import dev.ferry.core.DropReason;
import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;
import dev.ferry.core.Stage;
import dev.ferry.core.header.Checksum;
import dev.ferry.core.header.IcmpHeader;
import dev.ferry.core.header.Ip4Header;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * ip4-local: packets addressed to this node (the pods' gateway, the node's addresses). Echo requests are
 * answered in place, as a router answers pings to its interface; everything else goes to the host stack
 * when a host port is attached ({@code host-output}, wired in by a live node) and is dropped otherwise.
 *
 * <p>Input: packets whose adjacency is LOCAL. Next edges: {@code ip4-lookup} (the echo reply),
 * {@code host-output}. Drops: truncated ICMP, bad ICMP checksum, fragments, traffic for the host when no host
 * stack is attached.
 */
public final class Ip4Local implements Stage
{
    /** Stage name. */
    public static final String NAME = "ip4-local";
    /** Next edge: route the reply. */
    public static final int NEXT_LOOKUP = 0;
    /** Next edge: up to the host stack. */
    public static final int NEXT_HOST = 1;
    /** Name of the host delivery stage (wired in by a live node). */
    public static final String HOST_OUTPUT = "host-output";

    /** Why ip4-local drops a packet. */
    public enum Drop implements DropReason
    {
        /** ICMP shorter than its header. */
        ICMP_TRUNCATED(23, "ICMP message truncated"),
        /** ICMP checksum does not verify. */
        ICMP_BAD_CHECKSUM(24, "bad ICMP checksum"),
        /** Fragmented packet for this node (no reassembly). */
        FRAGMENT(25, "fragment addressed to this node (no reassembly)"),
        /** Not ICMP echo, and no host stack is attached. */
        NO_HOST_STACK(26, "addressed to this node, and no host stack is attached");

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
    private final boolean hostAttached;
    private final Ip4Header ip = new Ip4Header();
    private final IcmpHeader icmp = new IcmpHeader();

    /**
     * @param pool         packet pool.
     * @param hostAttached whether a {@code host-output} stage exists; when false, non-echo traffic is dropped.
     */
    public Ip4Local(final PacketPool pool, final boolean hostAttached)
    {
        this.pool = pool;
        this.hostAttached = hostAttached;
    }

    @Override
    public String name()
    {
        return NAME;
    }

    @Override
    public List<String> nextNames()
    {
        return List.of(Ip4Lookup.NAME, HOST_OUTPUT);
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
        final int n = in.count();
        for (int i = 0; i < n; i++)
        {
            final int h = in.get(i);
            ip.wrap(mem, pool.frameOffset(h) + pool.l3Offset(h));
            if (ip.protocol() == Ip4Header.PROTO_ICMP && !ip.isFragment())
            {
                final int len = ip.payloadLength();
                if (len < IcmpHeader.LENGTH)
                {
                    out.drop(h, Drop.ICMP_TRUNCATED);
                    continue;
                }
                icmp.wrap(mem, ip.payloadOffset());
                if (icmp.type() == IcmpHeader.TYPE_ECHO_REQUEST)
                {
                    if (!icmp.checksumValid(len))
                    {
                        out.drop(h, Drop.ICMP_BAD_CHECKSUM);
                        continue;
                    }
                    answerEcho(h);
                    out.next(h, NEXT_LOOKUP);
                    continue;
                }
            }
            if (hostAttached)
            {
                out.next(h, NEXT_HOST);
            }
            else if (ip.isFragment())
            {
                out.drop(h, Drop.FRAGMENT);
            }
            else
            {
                out.drop(h, Drop.NO_HOST_STACK);
            }
        }
    }

    private void answerEcho(final int h)
    {
        final int src = ip.src();
        final int dst = ip.dst();
        ip.src(dst).dst(src).ttl(64).updateChecksum();
        icmp.checksum(Checksum.update16(icmp.checksum(), IcmpHeader.TYPE_ECHO_REQUEST << 8,
            IcmpHeader.TYPE_ECHO_REPLY << 8));
        icmp.type(IcmpHeader.TYPE_ECHO_REPLY);
        pool.flags(h, pool.flags(h) | PacketPool.FLAG_LOCAL_ORIGIN);
    }
}
