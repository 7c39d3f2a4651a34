package dev.ferry.core.stage;

import dev.ferry.core.DropReason;
import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;
import dev.ferry.core.Stage;
import dev.ferry.core.header.Checksum;
import dev.ferry.core.header.EthernetHeader;
import dev.ferry.core.header.Ip4Header;
import dev.ferry.core.header.Wire;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.tables.Fib;
import dev.ferry.core.tables.Snapshot;
import dev.ferry.core.tables.TablesRef;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * ip4-input: validates an IPv4 header before anything trusts it (RFC 1812 section 5.2.2).
 *
 * <p>Input: IPv4 frames from ethernet-input (l3 offset set). Next edge: one, by default {@code ip4-lookup};
 * a graph with Services names the first NAT stage instead. Drops, each under its own reason: truncated
 * header, version not 4, IHL below 5 or beyond the frame, total length below the header, total length
 * beyond the frame, bad header checksum, TTL zero, a fragment that ends beyond 65,535 bytes. Ethernet padding
 * past the total length is trimmed.
 */
public final class Ip4Input implements Stage
{
    /** Stage name. */
    public static final String NAME = "ip4-input";
    /** The one next edge. */
    public static final int NEXT = 0;

    /** Why ip4-input drops a packet. */
    public enum Drop implements DropReason
    {
        /** Frame too short for a 20-byte header. */
        TRUNCATED(14, "IPv4 header truncated"),
        /** Version field is not 4. */
        BAD_VERSION(15, "IPv4 version is not 4"),
        /** IHL below 5, or options beyond the frame. */
        BAD_HEADER_LENGTH(16, "IPv4 header length (IHL) invalid"),
        /** Total length smaller than the header. */
        BAD_TOTAL_LENGTH(17, "IPv4 total length smaller than the header"),
        /** Total length larger than the frame. */
        LENGTH_EXCEEDS_FRAME(18, "IPv4 total length larger than the frame"),
        /** Header checksum does not verify. */
        BAD_CHECKSUM(19, "bad IPv4 header checksum"),
        /** TTL is already zero. */
        TTL_ZERO(20, "IPv4 TTL is zero"),
        /** Source address is multicast, broadcast or loopback (martian). */
        MARTIAN_SOURCE(21, "martian source address"),
        /** On a pod port: the IPv4 or Ethernet source is not the pod's own (Calico's and Cilium's rule). */
        POD_SOURCE_SPOOFED(36, "pod sent from an IPv4 address or MAC that is not its own"),
        /** From a pod to 255.255.255.255, multicast, 240/4, 127/8 or 0/8: never routed or masqueraded. */
        POD_MARTIAN_DESTINATION(38, "pod sent to a broadcast, multicast, loopback, 0/8 or reserved address"),
        /** Unicast IPv4 in an Ethernet broadcast frame: not routed or translated (Linux forwards only frames
         *  addressed to it). */
        L2_BROADCAST(39, "unicast IPv4 in an Ethernet broadcast frame"),
        /** A fragment whose offset plus payload ends beyond 65,535 bytes (the "ping of death"): no datagram can
         *  hold it, and a reassembler would overflow. */
        FRAGMENT_BEYOND_64K(40, "IPv4 fragment ends beyond 65535 bytes (offset + length)");

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
    private final String nextStage;
    private final TablesRef<Snapshot> tables;
    private final Ip4Header ip = new Ip4Header();

    /**
     * @param pool      packet pool.
     * @param nextStage name of the stage valid packets go to ({@code ip4-lookup}, or the first NAT stage).
     */
    public Ip4Input(final PacketPool pool, final String nextStage)
    {
        this(pool, nextStage, null);
    }

    /**
     * An ip4-input that also validates pod sources: on a pod port only the pod's own MAC and IPv4 address.
     *
     * @param pool      packet pool.
     * @param nextStage name of the stage valid packets go to.
     * @param tables    the tables (which pod each port belongs to), or null for no source validation.
     */
    public Ip4Input(final PacketPool pool, final String nextStage, final TablesRef<Snapshot> tables)
    {
        this.pool = pool;
        this.nextStage = nextStage;
        this.tables = tables;
    }

    /**
     * @param pool packet pool; valid packets go to {@code ip4-lookup}.
     */
    public Ip4Input(final PacketPool pool)
    {
        this(pool, Ip4Lookup.NAME);
    }

    @Override
    public String name()
    {
        return NAME;
    }

    @Override
    public List<String> nextNames()
    {
        return List.of(nextStage);
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
        final Ip4Header ip = this.ip;
        final Snapshot snapshot = tables == null ? null : tables.lvCurrent();
        // before the first tables no pod is bound and nothing can be routed: validation starts with them
        final Fib fib = snapshot == null ? null : snapshot.fib();
        final int n = in.count();
        for (int i = 0; i < n; i++)
        {
            final int h = in.get(i);
            final int l3 = pool.l3Offset(h);
            final int l3Len = pool.length(h) - l3;
            if (l3Len < Ip4Header.MIN_LENGTH)
            {
                out.drop(h, Drop.TRUNCATED);
                continue;
            }
            ip.wrap(mem, pool.frameOffset(h) + l3);
            if (ip.version() != 4)
            {
                out.drop(h, Drop.BAD_VERSION);
                continue;
            }
            final int ihl = ip.headerLength();
            if (ihl < Ip4Header.MIN_LENGTH || ihl > l3Len)
            {
                out.drop(h, Drop.BAD_HEADER_LENGTH);
                continue;
            }
            final int total = ip.totalLength();
            if (total < ihl)
            {
                out.drop(h, Drop.BAD_TOTAL_LENGTH);
                continue;
            }
            if (total > l3Len)
            {
                out.drop(h, Drop.LENGTH_EXCEEDS_FRAME);
                continue;
            }
            // a header without options is summed in five loads and no loop (Checksum.sum20); checksumValid was a
            // call into the general loop per packet (the JIT would not inline it here: compiled too big)
            final long ipOff = ip.offset();
            final long headerSum = ihl == Ip4Header.MIN_LENGTH ? Checksum.sum20(mem, ipOff)
                : Checksum.sum(mem, ipOff, ihl);
            if (Checksum.fold(headerSum) != 0xffff)
            {
                out.drop(h, Drop.BAD_CHECKSUM);
                continue;
            }
            if (ip.ttl() == 0)
            {
                out.drop(h, Drop.TTL_ZERO);
                continue;
            }
            if (ip.fragmentOffset() + total - ihl > 0xffff)
            {
                out.drop(h, Drop.FRAGMENT_BEYOND_64K);
                continue;
            }
            final int src = ip.src();
            final int srcTop = src >>> 24;
            // 0/8 only toward the limited broadcast (a DHCP client), as Linux allows
            if (srcTop >= 224 || srcTop == 127 || srcTop == 0 && ip.dst() != -1)
            {
                out.drop(h, Drop.MARTIAN_SOURCE);
                continue;
            }
            final int dst = ip.dst();
            if (dst != -1 && Wire.u48(mem, pool.frameOffset(h)) == EthernetHeader.BROADCAST)
            {
                out.drop(h, Drop.L2_BROADCAST);
                continue;
            }
            if (fib != null)
            {
                final long podMac = fib.podMac(pool.rxPort(h));
                if (podMac != Fib.NOT_A_POD)
                {
                    if (podMac == Fib.UNBOUND_POD || src != fib.podIp(pool.rxPort(h))
                        || Wire.u48(mem, pool.frameOffset(h) + EthernetHeader.SRC_OFFSET) != podMac)
                    {
                        out.drop(h, Drop.POD_SOURCE_SPOOFED);
                        continue;
                    }
                    final int dstTop = dst >>> 24;
                    // 224/4 multicast, 240/4 reserved and 255.255.255.255, 127/8, 0/8
                    if (dstTop >= 224 || dstTop == 127 || dstTop == 0)
                    {
                        out.drop(h, Drop.POD_MARTIAN_DESTINATION);
                        continue;
                    }
                }
            }
            if (total < l3Len)
            {
                // Ethernet pads short frames to 60 bytes; the padding is not part of the datagram
                pool.length(h, l3 + total);
            }
            if (pool.traced(h))
            {
                // the arguments read the header again: only for traced packets
                out.traceDetail(h, ((long)src << 32) | (dst & 0xffffffffL), ((long)ip.protocol() << 8) | ip.ttl());
            }
            out.next(h, NEXT);
        }
    }

    @Override
    public String formatTrace(final long a, final long b)
    {
        return Ip4.format((int)(a >>> 32)) + " -> " + Ip4.format((int)a) + " proto " + (b >>> 8) + " ttl "
            + (b & 0xff);
    }
}
