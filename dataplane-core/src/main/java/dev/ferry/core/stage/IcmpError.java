package dev.ferry.core.stage;

import dev.ferry.core.Clock;
import dev.ferry.core.DropReason;
import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;
import dev.ferry.core.Ports;
import dev.ferry.core.Stage;
import dev.ferry.core.header.IcmpHeader;
import dev.ferry.core.header.Ip4Header;
import dev.ferry.core.header.Wire;
import dev.ferry.core.route.Ip4Prefix;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.tables.Snapshot;
import dev.ferry.core.tables.TablesRef;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * icmp-error: turns the offending packet, in its own buffer, into an ICMP error back to its sender
 * (time exceeded, destination unreachable, fragmentation needed with the next-hop MTU).
 *
 * <pre>
 *  before:  [eth][offending IP header + data ...]
 *  after:   [eth][IP: us -&gt; sender][ICMP type/code/mtu][offending IP header + data, up to 576 bytes in all]
 * </pre>
 *
 * <p>The requesting stage stores type, code and MTU with {@link #request}. Rules from RFC 1812 4.3.2.7: no
 * error about an ICMP error, a non-first fragment, or a packet from or to a broadcast/multicast or
 * unspecified address. Errors are rate limited by a token bucket (like Linux
 * {@code net.ipv4.icmp_msgs_per_sec} 1000 and burst 50) driven by the injected clock.
 *
 * <p>Input: packets marked by another stage. Next edge: {@code ip4-lookup} (the error is routed back), or the
 * first NAT stage when Services are wired in (the error is translated back first).
 * Drops: suppressed by the rules above, rate limited.
 */
public final class IcmpError implements Stage
{
    /** Stage name. */
    public static final String NAME = "icmp-error";
    /** Next edge: route the error. */
    public static final int NEXT_LOOKUP = 0;
    /** Largest ICMP error datagram, as RFC 1812 allows. */
    public static final int MAX_ERROR_DATAGRAM = 576;

    /** Why icmp-error sends no error. */
    public enum Drop implements DropReason
    {
        /** The offending packet is itself an ICMP error. */
        ERROR_ABOUT_ERROR(29, "no ICMP error about an ICMP error"),
        /** Not the first fragment. */
        LATER_FRAGMENT(30, "no ICMP error about a non-first fragment"),
        /** Broadcast, multicast or unspecified source or destination. */
        NOT_UNICAST(31, "no ICMP error for a non-unicast packet"),
        /** Token bucket empty. */
        RATE_LIMITED(32, "ICMP error rate limited"),
        /** The buffer has no room after the packet for the error's headers and a minimal quote. */
        NO_ROOM(35, "no room in the buffer for the ICMP error");

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
    private final Clock clock;
    private final long nanosPerToken;
    private final long burst;
    private final String nextStage;
    private final Ip4Header ip = new Ip4Header();
    private final IcmpHeader icmp = new IcmpHeader();
    private long tokens;
    private long lastRefill;
    private int ipId;

    /**
     * @param pool          packet pool.
     * @param ports         ports (to pick the source address by receiving port).
     * @param tables        the tables.
     * @param clock         time for the rate limiter.
     * @param ratePerSecond errors allowed per second.
     * @param burst         errors allowed in a burst.
     */
    public IcmpError(final PacketPool pool, final Ports ports, final TablesRef<Snapshot> tables, final Clock clock,
        final int ratePerSecond, final int burst)
    {
        this(pool, ports, tables, clock, ratePerSecond, burst, Ip4Lookup.NAME);
    }

    /**
     * An icmp-error whose errors go to a named stage instead of {@code ip4-lookup}: with Services, the first
     * NAT stage, so that an error about a translated packet is translated back like any related packet.
     *
     * @param pool          packet pool.
     * @param ports         ports.
     * @param tables        the tables.
     * @param clock         time for the rate limiter.
     * @param ratePerSecond errors allowed per second.
     * @param burst         errors allowed in a burst.
     * @param nextStage     the stage that receives the errors.
     */
    public IcmpError(final PacketPool pool, final Ports ports, final TablesRef<Snapshot> tables, final Clock clock,
        final int ratePerSecond, final int burst, final String nextStage)
    {
        this.nextStage = nextStage;
        this.pool = pool;
        this.ports = ports;
        this.tables = tables;
        this.clock = clock;
        this.nanosPerToken = 1_000_000_000L / Math.max(1, ratePerSecond);
        this.burst = burst;
        this.tokens = burst;
        this.lastRefill = Long.MIN_VALUE;
    }

    /**
     * @param pool   packet pool.
     * @param ports  ports.
     * @param tables the tables.
     * @param clock  time for the rate limiter.
     */
    public IcmpError(final PacketPool pool, final Ports ports, final TablesRef<Snapshot> tables, final Clock clock)
    {
        this(pool, ports, tables, clock, 1000, 50);
    }

    /**
     * Marks a packet for icmp-error: the caller then sends it along its edge to this stage.
     *
     * @param pool the pool.
     * @param h    packet handle.
     * @param type ICMP type.
     * @param code ICMP code.
     * @param mtu  next-hop MTU for fragmentation needed, else 0.
     */
    public static void request(final PacketPool pool, final int h, final int type, final int code, final int mtu)
    {
        pool.aux(h, (type << 24) | (code << 16) | (mtu & 0xffff));
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
        final NodeTables.NodeInfo node = tables.lvCurrent().tables().node();
        final int n = in.count();
        for (int i = 0; i < n; i++)
        {
            final int h = in.get(i);
            final long frame = pool.frameOffset(h);
            final int l3 = pool.l3Offset(h);
            ip.wrap(mem, frame + l3);
            final DropReason suppressed = suppressed(mem, node);
            if (suppressed != null)
            {
                out.drop(h, suppressed);
                continue;
            }
            final int hdrs = Ip4Header.MIN_LENGTH + IcmpHeader.LENGTH;
            // the error grows the packet by its headers: quote only what fits between l3 and the buffer's end
            // (a frame decapsulated several times starts near that end), and at least the header and 8 bytes
            final int room = pool.bufferSize() - pool.headroomOf(h) - l3 - hdrs;
            final int quoted = Math.min(Math.min(ip.totalLength(), pool.length(h) - l3),
                Math.min(room, MAX_ERROR_DATAGRAM - hdrs));
            if (quoted < ip.headerLength() + 8)
            {
                out.drop(h, Drop.NO_ROOM);
                continue;
            }
            if (!takeToken())
            {
                out.drop(h, Drop.RATE_LIMITED);
                continue;
            }
            final int request = pool.aux(h);
            final int type = request >>> 24;
            final int code = request >>> 16 & 0xff;
            final int mtu = request & 0xffff;
            final int origSrc = ip.src();
            final int origTos = ip.tos();
            final int rx = pool.rxPort(h);
            final int ourAddr = rx >= 0 && ports.get(rx).kind() == Ports.Kind.POD ? node.gatewayIp()
                : node.primaryAddress();

            // move the quoted datagram behind the new IP and ICMP headers (regions overlap: copy is a memmove)
            final long l3Abs = frame + l3;
            MemorySegment.copy(mem, l3Abs, mem, l3Abs + hdrs, quoted);
            final int total = hdrs + quoted;
            pool.length(h, l3 + total);

            ip.wrap(mem, l3Abs).versionAndHeaderLength(Ip4Header.MIN_LENGTH).tos((origTos & 0x1c) | 0xc0)
                .totalLength(total).identification(ipId++ & 0xffff).flagsAndFragment(0).ttl(64)
                .protocol(Ip4Header.PROTO_ICMP).src(ourAddr).dst(origSrc).updateChecksum();
            icmp.wrap(mem, l3Abs + Ip4Header.MIN_LENGTH).type(type).code(code).restOfHeader(mtu)
                .updateChecksum(IcmpHeader.LENGTH + quoted);
            pool.flags(h, pool.flags(h) | PacketPool.FLAG_LOCAL_ORIGIN);
            // an error about a TSO superframe is a plain ICMP packet: no segment size, no partial checksum
            pool.clearOffload(h);
            out.traceDetail(h, ((long)type << 8) | code, mtu);
            out.next(h, NEXT_LOOKUP);
        }
    }

    private DropReason suppressed(final MemorySegment mem, final NodeTables.NodeInfo node)
    {
        final int src = ip.src();
        final int dst = ip.dst();
        if (src == 0 || src == -1 || dst == -1 || (src >>> 28) == 0xe || (dst >>> 28) == 0xe
            || isSubnetBroadcast(node.podCidr(), dst) || isSubnetBroadcast(node.underlayPrefix(), dst)
            || isSubnetBroadcast(node.podCidr(), src) || isSubnetBroadcast(node.underlayPrefix(), src))
        {
            return Drop.NOT_UNICAST;
        }
        if (ip.isLaterFragment())
        {
            return Drop.LATER_FRAGMENT;
        }
        if (ip.protocol() == Ip4Header.PROTO_ICMP && ip.payloadLength() >= 1)
        {
            final int t = Wire.u8(mem, ip.payloadOffset());
            if (t != IcmpHeader.TYPE_ECHO_REQUEST && t != IcmpHeader.TYPE_ECHO_REPLY && t != 13 && t != 14)
            {
                return Drop.ERROR_ABOUT_ERROR;
            }
        }
        return null;
    }

    /** Whether {@code addr} is the directed broadcast address of {@code prefix} (RFC 1812 4.3.2.7). */
    private static boolean isSubnetBroadcast(final Ip4Prefix prefix, final int addr)
    {
        return prefix != null && prefix.length() < 31 && prefix.contains(addr)
            && (addr | Ip4Prefix.mask(prefix.length())) == -1;
    }

    private boolean takeToken()
    {
        final long now = clock.nanos();
        if (lastRefill == Long.MIN_VALUE)
        {
            lastRefill = now;
        }
        else if (now > lastRefill)
        {
            final long add = (now - lastRefill) / nanosPerToken;
            if (add > 0)
            {
                tokens = Math.min(burst, tokens + add);
                lastRefill += add * nanosPerToken;
            }
        }
        if (tokens <= 0)
        {
            return false;
        }
        tokens--;
        return true;
    }

    @Override
    public String formatTrace(final long a, final long b)
    {
        return "ICMP type " + (a >>> 8) + " code " + (a & 0xff) + (b != 0 ? " mtu " + b : "");
    }
}
