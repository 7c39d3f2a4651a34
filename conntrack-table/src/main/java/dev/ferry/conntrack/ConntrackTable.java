package dev.ferry.conntrack;

import dev.ferry.core.Clock;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * The connection-tracking table: an off-heap hash table of flows, each found from both of its directions, in
 * netfilter's tuple model. An entry holds two tuples: the <em>original</em> one (the first packet as it
 * arrived) and the <em>reply</em> one (what replies look like on the wire, after NAT). The NAT binding is
 * the difference between the two: a DNAT target is the reply tuple's source, an SNAT address and port are
 * the reply tuple's destination. Each entry also holds its TCP state, flags (assured, seen reply), an expiry
 * time, packet and byte counters per direction, and an opaque {@link #mark(int) mark} for the NAT.
 *
 * <pre>
 *   lookup(tuple) ──► slot array (32 B per slot, 2 per line, 4 per entry) ··► entry record (128 B, 2 lines)
 *                     [src dst | ports USED dist zone+proto |              line 0: both tuples, proto+zone,
 *                      entry&lt;&lt;1|dir, expiry&gt;&gt;32 | hash]                      state, mark, expiry, packets
 *                     linear probing from a line's first slot,            line 1: bytes, TCP sequence
 *                     load &lt;= 1/2, at most 64 probes, backward-shift deletion (no tombstones)
 * </pre>
 *
 * <p>A hit reads one cache line: the slot holds the whole key, the entry reference and the entry's expiry in units
 * of 4.3 s; the entry is read only by the packet's update (state, counters, the other tuple for the rewrite) and by a
 * lookup whose expiry falls in now's unit. Batched lookups ({@link #hash}, {@link #prefetch}, then {@link #lookup} per
 * packet) load the slot lines of a whole batch before probing, and for updates the entry lines too, so that their
 * cache misses overlap. The slots and (without a
 * state file) the entries live in huge pages when the kernel grants them ({@link ConntrackConfig#hugePages()},
 * {@link #memory()}).
 *
 * <p>The hash is keyed with a secret derived from {@link ConntrackConfig#hashSeed()} (random unless the
 * configuration fixes it), so that tuples cannot be chosen to share one probe window.
 *
 * <p>A lookup hashes the tuple and walks the slots from the home slot comparing the key in each slot. Probe
 * distances are bounded ({@value #PROBE_LIMIT} slots); an insert that finds the table full, or no free slot in its
 * probe range, removes a non-assured entry of that range (early drop, as netfilter does) or fails and counts a drop.
 *
 * <p>Time comes from the injected {@link Clock}, read once per call (replay drives it from packet timestamps;
 * a node should pass a clock that the worker caches once per vector, so that a read costs a field load). An
 * entry whose time is up is a miss for {@link #lookup} and {@link #tupleInUse} even before the sweep removes
 * it, and an insert over its tuples replaces it. Expiry is incremental: {@link #expire(int)} examines a
 * bounded number of entries from a rotating cursor.
 *
 * <p>TCP follows netfilter's state table ({@link TcpState}) with its special cases (reopen from TIME_WAIT or
 * after an abort, simultaneous open, RST before any reply, challenge ACK in LAST_ACK, resync on a SYN-ACK
 * that answers an ignored SYN). Sequence numbers are only used for netfilter's RST rule ({@link #updateTcp});
 * there is no full window tracking, so data segments that netfilter would find out of window are accepted, and
 * the retransmission and unacknowledged-data timeouts are not applied (the unacknowledged timeout only caps a
 * connection picked up mid-stream until a reply is seen, as netfilter does).
 *
 * <p>ICMP echo uses the identifier in place of both ports: pass it as source and destination port for the
 * request and for the reply alike.
 *
 * <p>Threading: one thread (the worker) owns the table. The hot-path methods ({@link #lookup},
 * {@link #update}, {@link #insert}, {@link #remove}, {@link #expire(int)}, {@link #tupleInUse} and the
 * accessors) allocate nothing. {@link #dump}, {@link #forEach} and {@link #flushUdpEndpoint} scan the whole
 * table and belong to the control side, run on the worker through its command queue.
 */
public final class ConntrackTable implements AutoCloseable
{
    /** Direction of a packet that looks like the first packet of its flow. */
    public static final int ORIGINAL = 0;
    /** Direction of a packet that looks like a reply. */
    public static final int REPLY = 1;
    /** What {@link #lookup} returns when no entry matches. */
    public static final long MISS = -1;

    /** Protocol number of TCP. */
    public static final int TCP = 6;
    /** Protocol number of UDP. */
    public static final int UDP = 17;
    /** Protocol number of ICMP. */
    public static final int ICMP = 1;

    /** Most slots a probe examines; also the range that early drop scans. */
    public static final int PROBE_LIMIT = 64;
    // a slot: 32 bytes, two per cache line; a home slot is always the first of its line
    private static final int SLOT_SHIFT = 5;
    /** Slot bytes 0-7: source address (high half) and destination address (low half), the key's first half. */
    private static final int S_ADDR = 0;
    /** Slot bytes 8-15: ports (high half), then USED, the probe distance and zone+protocol (low half). */
    private static final int S_PORTS = 8;
    /** Slot bytes 16-23: entry&lt;&lt;1|direction (high half), the entry's coarse expiry (low half). */
    private static final int S_REF = 16;
    /** Slot bytes 24-31: the full keyed hash (the batch finds its way by it; a move needs no rehash). */
    private static final int S_HASH = 24;
    /** Set in every occupied slot's {@link #S_PORTS} word, so that an empty slot is 0. */
    private static final long USED = 0x8000_0000L;
    private static final int DIST_SHIFT = 24;
    /** The probe distance: 6 bits, below {@link #PROBE_LIMIT}. */
    private static final long DIST_MASK = 0x3FL << DIST_SHIFT;
    /**
     * A slot keeps {@code expiresAt >> 32} (units of 4.3 s): a hit whose unit is after now's is live without reading
     * the entry, one before it is expired, and only one in the same unit reads the exact time in the entry.
     */
    private static final int EXPIRY_SHIFT = 32;
    /**
     * Live entries from which {@link #prefetchPays()} says yes: each flow's lines (its 128-byte entry, a slot line per
     * direction) take 256 bytes, so 2048 flows are 512 KB, about what a core's L2 cache holds.
     */
    static final int PREFETCH_MIN_ENTRIES = 2048;

    // unaligned layouts: every offset here is a multiple of the field size by construction (slots of 32 bytes,
    // entries of 128 in a 64-byte-aligned block), so an access is the same single load or store either way, and an
    // aligned layout only adds an address check to each of the dozens of accesses a hit makes
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED;

    private static final int ENTRY_SHIFT = 7;
    private static final long ENTRY_BYTES = 1L << ENTRY_SHIFT;
    private static final int TUPLE_BYTES = 12;
    private static final int O_SRC = 0;
    private static final int O_DST = 4;
    private static final int O_PORTS = 8;
    private static final int O_PZ = 24;
    private static final int O_STATE = 28;
    private static final int O_MARK = 32;
    private static final int O_NEXT_FREE = 36;
    private static final int O_EXPIRES = 40;
    private static final int O_PACKETS = 48;
    private static final int O_BYTES = 64;
    // TCP sequence tracking per direction (line 1): td_end, td_maxack, td_maxwin, flags; 16 bytes each
    private static final int O_SEQ = 80;
    private static final int SEQ_END = 0;
    private static final int SEQ_MAXACK = 4;
    private static final int SEQ_MAXWIN = 8;
    private static final int SEQ_FLAGS = 12;
    private static final int SEQ_SEEN = 1;
    private static final int SEQ_MAXACK_SET = 2;
    /** Largest window scale (RFC 7323): the bound on a window this table does not see the scale of. */
    private static final int MAX_WSCALE = 14;
    /**
     * Line 1, bytes 112-119: the clock time of the flow's first packet (insert or reopen). UDP uses it as the
     * kernel uses {@code ct->proto.udp.stream_ts} (first packet + 2 s). Bytes 120-127 are free.
     */
    private static final int O_FIRST_SEEN = 112;
    /** {@code nf_conntrack_proto_udp.c}: a replied UDP flow is a stream once active 2 s after its first packet. */
    private static final long UDP_STREAM_AFTER = 2 * 1_000_000_000L;

    private static final long NANOS = 1_000_000_000L;
    /** TCP flags FIN, SYN, RST and ACK: a segment whose class is {@link TcpState#ACK_SET} has ACK alone of them. */
    private static final int PLAIN_ACK_MASK = 0x17;
    private static final int PLAIN_ACK = 0x10;
    /** State word bits whose change is an UPDATE event: TCP state, seen reply, assured. */
    private static final int EVENT_BITS = StateWord.STATE_MASK | StateWord.SEEN_REPLY | StateWord.ASSURED;
    private static final RemovalListener NO_LISTENER = (t, e) ->
    {
    };

    private final Arena arena;
    /** The state file the entries are mapped from, or null for an in-memory table. */
    private final ConntrackFile file;
    private final MemorySegment slots;
    private final MemorySegment entries;
    private final int slotMask;
    private final int probeLimit;
    private final int capacity;
    private final Clock clock;
    private final ConntrackConfig config;
    /** Which memory the table got (kind and fallback reason), for {@link #memory()}. */
    private final String memory;
    private final long[] tcpTimeouts = new long[11];
    private final long udpTimeout;
    private final long udpStreamTimeout;
    private final long icmpTimeout;
    private final long genericTimeout;
    private final long key0;
    private final long key1;

    private RemovalListener listener = NO_LISTENER;
    /** Where events go while someone reads them ({@code show conntrack -E}), or null. */
    private ConntrackEvents events;
    // an inserted entry whose NEW event waits for its first packet, so that NEW shows the state after it
    // (netfilter reports NEW when the entry is confirmed, after the first packet): -1 for none
    private int pendingNew = -1;
    private RestoreReport restoreReport;
    private long now;
    private int size;
    private int highWater;
    private int freeHead = -1;
    private int cursor;
    /** Where {@link #prefetch} stores what it loaded, so that the loads stay. */
    private long prefetchSink;

    private long found;
    private long inserted;
    private long deleted;
    private long earlyDrop;
    private long drop;
    private long searchMiss;
    private long invalid;
    private long insertFailed;

    /**
     * Allocates the table off-heap: 128 bytes per entry and 128 bytes of slots per entry (4 slots of 32 bytes).
     *
     * @param config capacity (rounded up to a power of two) and timeouts.
     * @param clock  time source; replay drives it from packet timestamps.
     */
    public ConntrackTable(final ConntrackConfig config, final Clock clock)
    {
        this(config, clock, Arena.ofShared(), null, null);
    }

    /**
     * A table whose entry records live in {@code mappedEntries} (a mapped state file, see {@link ConntrackFile});
     * the slot index is always in memory and rebuilt from the entries by {@link #restore}.
     */
    ConntrackTable(final ConntrackConfig config, final Clock clock, final Arena arena,
        final MemorySegment mappedEntries, final ConntrackFile file)
    {
        this.config = config;
        this.clock = clock;
        this.capacity = roundedCapacity(config.capacity());
        final int slotCount = capacity * 4;
        this.slotMask = slotCount - 1;
        this.probeLimit = Math.min(PROBE_LIMIT, slotCount);
        this.arena = arena;
        this.file = file;
        final TableMemory.Block slotMemory = TableMemory.allocate(arena, (long)slotCount << SLOT_SHIFT,
            config.hugePages());
        this.slots = slotMemory.segment();
        if (mappedEntries != null)
        {
            this.entries = mappedEntries;
            this.memory = "slots: " + slotMemory.kind() + "; entries: the mapped state file (4 KiB pages)";
        }
        else
        {
            final TableMemory.Block entryMemory = TableMemory.allocate(arena, (long)capacity * ENTRY_BYTES,
                config.hugePages());
            this.entries = entryMemory.segment();
            this.memory = slotMemory.kind().equals(entryMemory.kind()) ? slotMemory.kind()
                : "slots: " + slotMemory.kind() + "; entries: " + entryMemory.kind();
        }
        tcpTimeouts[TcpState.NONE] = config.tcpSynSent() * NANOS;
        tcpTimeouts[TcpState.SYN_SENT] = config.tcpSynSent() * NANOS;
        tcpTimeouts[TcpState.SYN_RECV] = config.tcpSynRecv() * NANOS;
        tcpTimeouts[TcpState.ESTABLISHED] = config.tcpEstablished() * NANOS;
        tcpTimeouts[TcpState.FIN_WAIT] = config.tcpFinWait() * NANOS;
        tcpTimeouts[TcpState.CLOSE_WAIT] = config.tcpCloseWait() * NANOS;
        tcpTimeouts[TcpState.LAST_ACK] = config.tcpLastAck() * NANOS;
        tcpTimeouts[TcpState.TIME_WAIT] = config.tcpTimeWait() * NANOS;
        tcpTimeouts[TcpState.CLOSE] = config.tcpClose() * NANOS;
        tcpTimeouts[TcpState.SYN_SENT2] = config.tcpSynSent() * NANOS;
        tcpTimeouts[StateWord.TIMEOUT_UNACK] =
            Math.min(config.tcpUnacknowledged(), config.tcpEstablished()) * NANOS;
        this.udpTimeout = config.udp() * NANOS;
        this.udpStreamTimeout = config.udpStream() * NANOS;
        this.icmpTimeout = config.icmp() * NANOS;
        this.genericTimeout = config.generic() * NANOS;
        this.key0 = mix64(config.hashSeed());
        this.key1 = mix64(config.hashSeed() + 0x9E37_79B9_7F4A_7C15L);
        this.now = clock.nanos();
    }

    // ---------------------------------------------------------------------------------------------------------
    // hot path

    /**
     * Finds the entry of a packet's tuple, in either direction. Zero allocation.
     *
     * @param zone    conntrack zone (0..65535).
     * @param proto   IP protocol number.
     * @param srcIp   source address.
     * @param dstIp   destination address.
     * @param srcPort source port (ICMP: echo identifier).
     * @param dstPort destination port (ICMP: echo identifier).
     * @return {@code (entry << 1) | direction}, or {@link #MISS}; see {@link #entryOf} and {@link #directionOf}.
     */
    public long lookup(final int zone, final int proto, final int srcIp, final int dstIp, final int srcPort,
        final int dstPort)
    {
        final int pz = pz(zone, proto);
        final int ports = ports(srcPort, dstPort);
        return lookupHashed(hash(pz, srcIp, dstIp, ports), pz, srcIp, dstIp, ports);
    }

    /**
     * The keyed hash of a tuple, as {@link #lookup} computes it: the first step of a batched lookup ({@link #prefetch},
     * then {@link #lookup(long, int, int, int, int, int, int)} per packet). Zero allocation.
     *
     * @param zone    conntrack zone.
     * @param proto   IP protocol number.
     * @param srcIp   source address.
     * @param dstIp   destination address.
     * @param srcPort source port.
     * @param dstPort destination port.
     * @return the hash; meaningful to this table only (it is keyed with the table's secret).
     */
    public long hash(final int zone, final int proto, final int srcIp, final int dstIp, final int srcPort,
        final int dstPort)
    {
        return hash(pz(zone, proto), srcIp, dstIp, ports(srcPort, dstPort));
    }

    /**
     * Brings the lines that lookups of these hashes will read into the cache, for a whole vector at once: the home
     * slot line of every hash (a hit near home reads nothing else), as a run of independent loads, so that their
     * cache misses overlap (Java has no prefetch instruction; this is how VPP's bihash and DPDK's bulk lookup pipeline
     * a batch). Changes nothing, so stale or wrong hashes cost only the loads. Zero allocation.
     *
     * @param hashes {@link #hash} of each tuple about to be looked up.
     * @param n      how many of {@code hashes} to use.
     */
    public void prefetch(final long[] hashes, final int n)
    {
        final MemorySegment slots = this.slots;
        final int count = Math.min(n, hashes.length);
        long sink = 0;
        for (int i = 0; i < count; i++)
        {
            sink ^= slots.get(LONG, ((long)home(hashes[i]) << SLOT_SHIFT) + S_HASH);
        }
        // a field store keeps the loads: the JIT cannot drop what feeds it
        prefetchSink = sink;
    }

    /**
     * @return whether batching lookups through {@link #prefetch} is worth its cost now: with fewer than
     *         {@value #PREFETCH_MIN_ENTRIES} live entries the lines a lookup reads stay in the caches, and hashing a
     *         batch twice only adds work.
     */
    public boolean prefetchPays()
    {
        return size >= PREFETCH_MIN_ENTRIES;
    }

    /**
     * The second stage of a batched lookup for packets that go on to {@link #update} their entry (nat44-in): once the
     * lookups of a batch are done, loads both lines of every found entry (state, expiry, the other tuple, counters,
     * TCP sequence tracking) as a run of independent loads, so that their cache misses overlap instead of each update
     * waiting for its own. It needs no probe: the lookup already found the entry.
     * Changes nothing. Zero allocation.
     *
     * @param results {@link #lookup} results ({@link #MISS} ones are skipped).
     * @param n       how many of {@code results} to use.
     */
    public void prefetchEntries(final long[] results, final int n)
    {
        final MemorySegment entries = this.entries;
        final int count = Math.min(n, results.length);
        final long limit = (long)capacity << 1;
        long sink = 0;
        for (int i = 0; i < count; i++)
        {
            final long r = results[i];
            if (r >= 0 && r < limit)
            {
                final long b = base((int)(r >>> 1));
                sink ^= entries.get(LONG, b + O_EXPIRES) ^ entries.get(LONG, b + O_BYTES);
            }
        }
        prefetchSink = sink;
    }

    /**
     * Whether an entry is live now: in use and its time not up. A lookup result kept while other packets of the same
     * batch were accounted is still good exactly when this holds (an update only ever shortens an entry's life to now,
     * when a RST kills it).
     *
     * @param entry entry index.
     * @return whether {@link #lookup} would still find the entry.
     */
    public boolean liveNow(final int entry)
    {
        final long b = base(entry);
        return (entries.get(INT, b + O_STATE) & StateWord.LIVE) != 0
            && entries.get(LONG, b + O_EXPIRES) > clock.nanos();
    }

    /**
     * {@link #lookup(int, int, int, int, int, int)} with the tuple's {@link #hash} already computed (a batched
     * lookup). A hash of another tuple gives {@link #MISS}, never another flow's entry: the key is compared in full.
     *
     * @param hash    {@link #hash} of this tuple.
     * @param zone    conntrack zone.
     * @param proto   IP protocol number.
     * @param srcIp   source address.
     * @param dstIp   destination address.
     * @param srcPort source port.
     * @param dstPort destination port.
     * @return as {@link #lookup(int, int, int, int, int, int)}.
     */
    public long lookup(final long hash, final int zone, final int proto, final int srcIp, final int dstIp,
        final int srcPort, final int dstPort)
    {
        return lookupHashed(hash, pz(zone, proto), srcIp, dstIp, ports(srcPort, dstPort));
    }

    private long lookupHashed(final long h, final int pz, final int srcIp, final int dstIp, final int ports)
    {
        final int pos = probe(h, pz, srcIp, dstIp, ports);
        if (pos >= 0)
        {
            final long w = slots.get(LONG, ((long)pos << SLOT_SHIFT) + S_REF);
            if (live(w, clock.nanos()))
            {
                found++;
                return w >>> 32;
            }
        }
        searchMiss++;
        return MISS;
    }

    /**
     * Whether the entry a slot's {@link #S_REF} word refers to is live at {@code t}, from the coarse expiry in the slot
     * (the slot keeps it equal to {@code expiresAt >> 32}); the entry is read only when the two fall in one unit.
     */
    private boolean live(final long w, final long t)
    {
        final int ahead = (int)w - (int)(t >> EXPIRY_SHIFT);
        return ahead > 0 || ahead == 0 && entries.get(LONG, base((int)(w >>> 33)) + O_EXPIRES) > t;
    }

    /**
     * @param lookupResult a result of {@link #lookup} other than {@link #MISS}.
     * @return the entry index.
     */
    public static int entryOf(final long lookupResult)
    {
        return (int)(lookupResult >>> 1);
    }

    /**
     * @param lookupResult a result of {@link #lookup} other than {@link #MISS}.
     * @return {@link #ORIGINAL} or {@link #REPLY}.
     */
    public static int directionOf(final long lookupResult)
    {
        return (int)lookupResult & 1;
    }

    /**
     * Whether a tuple is taken by a live entry in either direction (port allocation). Not counted in stats.
     *
     * @param zone    conntrack zone.
     * @param proto   IP protocol number.
     * @param src     source address.
     * @param dst     destination address.
     * @param srcPort source port.
     * @param dstPort destination port.
     * @return whether a live entry has this tuple as its original or reply tuple.
     */
    public boolean tupleInUse(final int zone, final int proto, final int src, final int dst, final int srcPort,
        final int dstPort)
    {
        final int pz = pz(zone, proto);
        final int ports = ports(srcPort, dstPort);
        final int pos = probe(hash(pz, src, dst, ports), pz, src, dst, ports);
        return pos >= 0 && live(slots.get(LONG, ((long)pos << SLOT_SHIFT) + S_REF), clock.nanos());
    }

    /**
     * Creates an entry for a new flow, indexed by both tuples. A TCP entry starts in {@link TcpState#NONE}: call
     * {@link #update} with the first packet next, and {@link #remove} the entry if that returns false (netfilter
     * creates no entry for a packet that cannot open a connection).
     *
     * @param zone         conntrack zone.
     * @param proto        IP protocol number.
     * @param origSrc      original source.
     * @param origDst      original destination.
     * @param origSrcPort  original source port.
     * @param origDstPort  original destination port.
     * @param replySrc     reply source (the DNAT target, or the original destination).
     * @param replyDst     reply destination (the SNAT address, or the original source).
     * @param replySrcPort reply source port.
     * @param replyDstPort reply destination port (the SNAT port, or the original source port).
     * @return the entry index, or -1 when the table is full and nothing could be dropped early (counted as
     *         drop), or when either tuple is already in use by a live entry (counted as insert failed: pick
     *         another port).
     */
    public int insert(final int zone, final int proto,
        final int origSrc, final int origDst, final int origSrcPort, final int origDstPort,
        final int replySrc, final int replyDst, final int replySrcPort, final int replyDstPort)
    {
        final long t = clock.nanos();
        now = t;
        final int pz = pz(zone, proto);
        final int op = ports(origSrcPort, origDstPort);
        final int rp = ports(replySrcPort, replyDstPort);
        if (origSrc == replySrc && origDst == replyDst && op == rp)
        {
            insertFailed++;
            return -1;
        }
        final long ho = hash(pz, origSrc, origDst, op);
        final long hr = hash(pz, replySrc, replyDst, rp);
        if (!clearIfExpired(ho, pz, origSrc, origDst, op) || !clearIfExpired(hr, pz, replySrc, replyDst, rp))
        {
            insertFailed++;
            return -1;
        }
        if (size == capacity && !earlyDrop(home(ho), -1))
        {
            drop++;
            return -1;
        }
        final int e = allocate();
        final long b = base(e);
        entries.set(INT, b + O_SRC, origSrc);
        entries.set(INT, b + O_DST, origDst);
        entries.set(INT, b + O_PORTS, op);
        entries.set(INT, b + TUPLE_BYTES + O_SRC, replySrc);
        entries.set(INT, b + TUPLE_BYTES + O_DST, replyDst);
        entries.set(INT, b + TUPLE_BYTES + O_PORTS, rp);
        entries.set(INT, b + O_PZ, pz);
        entries.set(INT, b + O_STATE, StateWord.NEW);
        entries.set(INT, b + O_MARK, 0);
        entries.set(LONG, b + O_EXPIRES, t + initialTimeout(proto & 0xff));
        entries.set(LONG, b + O_FIRST_SEEN, t);
        clearCounters(b);
        clearSequence(b);
        size++;
        if (!place(ho, e << 1, e))
        {
            release(e);
            drop++;
            return -1;
        }
        if (!place(hr, e << 1 | 1, e))
        {
            unlink(e, ORIGINAL);
            release(e);
            drop++;
            return -1;
        }
        inserted++;
        flushNew();
        final ConntrackEvents ev = events;
        if (ev != null && ev.subscribed())
        {
            pendingNew = e;
        }
        return e;
    }

    /**
     * Accounts one packet to an entry: counters, TCP state machine, timeout refresh, assured promotion.
     *
     * <p>TCP: the transition comes from {@link TcpState#next}; an INVALID packet returns false and changes
     * nothing (as netfilter marks it INVALID), an ignored one returns true and changes nothing. A RST before
     * any reply kills the entry (it expires now); a SYN in the original direction on a TIME_WAIT entry, or on a
     * CLOSE entry that this side aborted, reopens it in place (netfilter deletes and recreates the entry; here
     * the tuples and the NAT binding stay, counters and flags start again; the NAT asks {@link #reopens} first and
     * removes the entry instead, so that the new connection is translated afresh). An entry becomes assured when the
     * ACK that completes the handshake is seen. UDP, as Linux's {@code nf_conntrack_udp_packet}: each packet
     * refreshes the entry to the UDP timeout; a packet that arrives after a reply was seen (the reply itself does
     * not count) and more than 2 s after the flow's first packet refreshes it to the stream timeout and makes it
     * assured. ICMP and other protocols: refreshed, never assured.
     *
     * @param entry     entry index.
     * @param direction {@link #ORIGINAL} or {@link #REPLY}.
     * @param tcpFlags  the TCP flags byte (ignored for other protocols).
     * @param bytes     the packet's length at the IP layer (as conntrack accounting counts).
     * @return false when the packet is invalid for the entry's state (or the entry is not live).
     */
    public boolean update(final int entry, final int direction, final int tcpFlags, final int bytes)
    {
        return update(entry, direction, tcpFlags, bytes, false, 0, 0, 0, 0);
    }

    /**
     * Accounts one TCP segment whose sequence numbers are known, as {@link #update(int, int, int, int)} does,
     * and also applies netfilter's RST rule ({@code nf_conntrack_tcp_packet}, case {@code TCP_CONNTRACK_CLOSE}):
     * once the receiver of a RST has acknowledged something, a RST whose sequence number is before the highest
     * acknowledgement the receiver sent ({@code td_maxack}) is INVALID; one equal to it (or equal to the end of
     * the sender's own data, the "RST after data" train) closes the connection; any other RST within the window
     * passes but leaves an ESTABLISHED connection as it was, so that the peer can answer it with a challenge ACK
     * (RFC 5961); beyond the window it is INVALID. The window is the largest one the receiver advertised, scaled
     * by the largest factor (14) since the scale negotiated in the SYNs is not known here: looser than the
     * kernel's {@code tcp_in_window} bound, never tighter.
     *
     * @param entry     entry index.
     * @param direction {@link #ORIGINAL} or {@link #REPLY}.
     * @param tcpFlags  the TCP flags byte.
     * @param seq       the sequence number.
     * @param ack       the acknowledgement number (used when ACK is set).
     * @param window    the advertised window, unscaled.
     * @param segLen    the payload length.
     * @param bytes     the packet's length at the IP layer.
     * @return false when the segment is invalid for the entry (or the entry is not live).
     */
    public boolean updateTcp(final int entry, final int direction, final int tcpFlags, final int seq, final int ack,
        final int window, final int segLen, final int bytes)
    {
        return update(entry, direction, tcpFlags, bytes, true, seq, ack, window, segLen);
    }

    private boolean update(final int entry, final int direction, final int tcpFlags, final int bytes,
        final boolean segment, final int seq, final int ack, final int window, final int segLen)
    {
        final long t = clock.nanos();
        final long b = base(entry);
        final int st = entries.get(INT, b + O_STATE);
        if ((st & StateWord.LIVE) == 0)
        {
            return false;
        }
        if (pendingNew >= 0 && pendingNew != entry)
        {
            flushNew();
        }
        final int proto = entries.get(INT, b + O_PZ) & 0xff;
        if (proto == TCP)
        {
            // an ACK (no SYN, FIN or RST) on an assured ESTABLISHED connection: nearly every packet, kept small
            if ((st & StateWord.ESTABLISHED_ASSURED_MASK) == StateWord.ESTABLISHED_ASSURED
                && (tcpFlags & PLAIN_ACK_MASK) == PLAIN_ACK)
            {
                return ackInEstablished(b, st, direction, tcpFlags, bytes, t, segment, seq, ack, window, segLen);
            }
            return updateTcp(b, st, direction, tcpFlags, bytes, t, segment, seq, ack, window, segLen);
        }
        int s = st;
        if (direction == REPLY)
        {
            s |= StateWord.SEEN_REPLY;
        }
        final long timeout;
        if (proto == UDP)
        {
            // nf_conntrack_udp_packet (Linux 6.x): the status read before this packet decides, since
            // nf_conntrack_in sets IPS_SEEN_REPLY only after the protocol handler ran. Replied and still active
            // after stream_ts (first packet + 2 s): UDP_CT_REPLIED and ASSURED; otherwise UDP_CT_UNREPLIED.
            if ((st & StateWord.SEEN_REPLY) != 0 && t - entries.get(LONG, b + O_FIRST_SEEN) > UDP_STREAM_AFTER)
            {
                s |= StateWord.ASSURED;
                timeout = udpStreamTimeout;
            }
            else
            {
                timeout = udpTimeout;
            }
        }
        else
        {
            timeout = proto == ICMP ? icmpTimeout : genericTimeout;
        }
        entries.set(INT, b + O_STATE, s);
        expires(entry, t + timeout);
        account(b, direction, bytes);
        changed(entry, ((s ^ st) & EVENT_BITS) != 0);
        return true;
    }

    /**
     * {@link #updateTcp(long, int, int, int, int, long, boolean, int, int, int, int)} for a plain ACK on an assured
     * ESTABLISHED entry ({@link StateWord#ackInEstablished}): the entry ends as that method leaves it (the flags
     * are valid, there is no RST to judge, the state and its events stay; the state word is stored only when it
     * changes), without the state machine's rare cases, so that the common packet's path stays short.
     */
    private boolean ackInEstablished(final long b, final int st, final int dir, final int tcpFlags, final int bytes,
        final long t, final boolean segment, final int seq, final int ack, final int window, final int segLen)
    {
        if (segment)
        {
            trackSequence(b, dir, tcpFlags, seq, ack, window, segLen, false);
        }
        final int word = StateWord.ackInEstablished(st, dir);
        if (word != st)
        {
            entries.set(INT, b + O_STATE, word);
        }
        final int e = (int)(b >>> ENTRY_SHIFT);
        expires(e, t + tcpTimeouts[TcpState.ESTABLISHED]);
        account(b, dir, bytes);
        changed(e, false);
        return true;
    }

    private boolean updateTcp(final long b, final int st, final int dir, final int tcpFlags, final int bytes,
        final long t, final boolean segment, final int seq, final int ack, final int window, final int segLen)
    {
        if (!TcpState.validFlags(tcpFlags))
        {
            invalid++;
            return false;
        }
        boolean keepState = false;
        if (segment && (tcpFlags & 0x04) != 0)
        {
            final int rst = rstVerdict(b, st, dir, seq);
            if (rst == RST_INVALID)
            {
                invalid++;
                return false;
            }
            keepState = rst == RST_KEEP;
        }
        final int r = StateWord.trackTcp(st, dir, tcpFlags);
        final int action = StateWord.action(r);
        if (action == StateWord.INVALID)
        {
            invalid++;
            return false;
        }
        if (segment)
        {
            trackSequence(b, dir, tcpFlags, seq, ack, window, segLen, action == StateWord.REOPEN);
        }
        if (keepState)
        {
            // an in-window RST that is not exact: the connection stays as it was (challenge ACK)
            account(b, dir, bytes);
            return true;
        }
        final int word = StateWord.word(r);
        entries.set(INT, b + O_STATE, word);
        final boolean changed = ((word ^ st) & EVENT_BITS) != 0;
        if (action == StateWord.KEEP)
        {
            changed((int)(b >>> ENTRY_SHIFT), changed);
            return true;
        }
        if (action == StateWord.REOPEN)
        {
            clearCounters(b);
            entries.set(LONG, b + O_FIRST_SEEN, t);
        }
        final long timeout = action == StateWord.KILL ? 0 : tcpTimeouts[StateWord.timeoutSlot(r)];
        expires((int)(b >>> ENTRY_SHIFT), t + timeout);
        account(b, dir, bytes);
        changed((int)(b >>> ENTRY_SHIFT), changed);
        return true;
    }

    /**
     * Removes a live entry (no-op when it is not live); the removal listener runs first.
     *
     * @param entry entry index.
     */
    public void remove(final int entry)
    {
        if (entry >= 0 && entry < highWater && (entries.get(INT, base(entry) + O_STATE) & StateWord.LIVE) != 0)
        {
            removeEntry(entry);
        }
    }

    /**
     * Incremental expiry: examines at most {@code budget} entries from a rotating cursor and removes those whose
     * time is up.
     *
     * @param budget entries to examine.
     * @return entries removed.
     */
    public int expire(final int budget)
    {
        flushNew();
        final long t = clock.nanos();
        final int hw = highWater;
        final int n = Math.min(budget, hw);
        int c = cursor;
        int removed = 0;
        for (int i = 0; i < n; i++)
        {
            if (c >= hw)
            {
                c = 0;
            }
            final long b = base(c);
            if ((entries.get(INT, b + O_STATE) & StateWord.LIVE) != 0 && entries.get(LONG, b + O_EXPIRES) <= t)
            {
                removeEntry(c);
                removed++;
            }
            c++;
        }
        cursor = c;
        return removed;
    }

    /**
     * Incremental expiry with the configured {@link ConntrackConfig#sweepBudget()}.
     *
     * @return entries removed.
     */
    public int expire()
    {
        return expire(config.sweepBudget());
    }

    /**
     * Sets where events go ({@code conntrack -E}): the table writes one into it for each new entry, each change
     * of TCP state, seen-reply or assured, and each removal, while it is {@link ConntrackEvents#subscribed}.
     *
     * @param ring the ring, or null for none.
     */
    public void events(final ConntrackEvents ring)
    {
        events = ring;
    }

    private void flushNew()
    {
        final int e = pendingNew;
        if (e >= 0)
        {
            pendingNew = -1;
            event(ConntrackEvents.NEW, e);
        }
    }

    /** After a packet: the entry's pending NEW (with its state now), else an UPDATE when its state changed. */
    private void changed(final int e, final boolean changed)
    {
        if (pendingNew == e)
        {
            flushNew();
        }
        else if (changed)
        {
            event(ConntrackEvents.UPDATE, e);
        }
    }

    // one volatile read per event when nobody subscribed; the record itself allocates nothing
    private void event(final int type, final int e)
    {
        final ConntrackEvents ev = events;
        if (ev != null && ev.subscribed())
        {
            ev.publish(type, this, e, Math.max(0, entries.get(LONG, base(e) + O_EXPIRES) - clock.nanos()) / NANOS);
        }
    }

    /**
     * Sets the listener told about every removed entry (replaces the previous one).
     *
     * @param l the listener, or null for none.
     */
    public void removalListener(final RemovalListener l)
    {
        listener = l == null ? NO_LISTENER : l;
    }

    // ---------------------------------------------------------------------------------------------------------
    // control side

    /**
     * kube-proxy's stale-UDP flush: removes the UDP entries whose reply source (the endpoint) is ip:port. Scans
     * the whole table.
     *
     * @param ip   endpoint address.
     * @param port endpoint port.
     * @return entries removed.
     */
    public int flushUdpEndpoint(final int ip, final int port)
    {
        int removed = 0;
        for (int e = 0; e < highWater; e++)
        {
            final long b = base(e);
            if ((entries.get(INT, b + O_STATE) & StateWord.LIVE) != 0 && (entries.get(INT, b + O_PZ) & 0xff) == UDP
                && entries.get(INT, b + TUPLE_BYTES + O_SRC) == ip
                && entries.get(INT, b + TUPLE_BYTES + O_PORTS) >>> 16 == (port & 0xffff))
            {
                removeEntry(e);
                removed++;
            }
        }
        return removed;
    }

    /**
     * Visits every live entry, in entry order.
     *
     * @param v the visitor; it may remove the entry it visits.
     * @return entries visited.
     */
    public int forEach(final EntryVisitor v)
    {
        int n = 0;
        for (int e = 0; e < highWater; e++)
        {
            if (isLive(e))
            {
                v.visit(this, e);
                n++;
            }
        }
        return n;
    }

    /**
     * Visits the live entries among the next {@code budget} entry indexes from {@code from} on, in entry order:
     * bounded work for a control command on the owner thread (list, count, delete a chunk at a time). Entries
     * keep their index while others come and go, so a walk resumed at the returned index sees every entry that
     * stayed live once.
     *
     * @param from   the entry index to start at (0 first).
     * @param budget entry indexes to examine at most (live or not), at least 1.
     * @param v      the visitor; it may remove the entry it visits (the removal listener runs, as on expiry).
     * @return the index to continue at, or -1 when the table has been walked to its end.
     */
    public int walk(final int from, final int budget, final EntryVisitor v)
    {
        final int end = (int)Math.min((long)Math.max(0, from) + Math.max(1, budget), highWater);
        for (int e = Math.max(0, from); e < end; e++)
        {
            if (isLive(e))
            {
                v.visit(this, e);
            }
        }
        return end >= highWater ? -1 : end;
    }

    /**
     * Copies one live entry as plain values, as of the clock's current time (the owner thread).
     *
     * @param entry a live entry.
     * @return the copy.
     */
    public ConntrackEntry copy(final int entry)
    {
        return ConntrackFormat.copy(this, entry, clock.nanos());
    }

    /**
     * Writes the flow table in {@code conntrack -L} style, one line per live entry. Call it from the thread that
     * owns the table, or when that thread is stopped.
     *
     * @param out where to write.
     * @throws IOException when writing fails.
     */
    public void dump(final Appendable out) throws IOException
    {
        final StringBuilder line = new StringBuilder(256);
        for (int from = 0; from >= 0; )
        {
            final List<ConntrackEntry> chunk = new ArrayList<>();
            from = entries(from, 4096, chunk);
            for (final ConntrackEntry c : chunk)
            {
                line.setLength(0);
                ConntrackFormat.line(c, line);
                out.append(line).append('\n');
            }
        }
    }

    /**
     * Copies up to {@code max} live entries, from entry index {@code from} on, as plain values (the owner thread:
     * bounded work, no formatting); another thread formats them ({@link ConntrackEntry#format()}). Call again
     * with the returned index until it is -1.
     *
     * @param from the entry index to start at (0 first).
     * @param max  how many entries to copy at most.
     * @param out  where the copies go.
     * @return the index to continue at, or -1 when the table has been walked to its end.
     */
    public int entries(final int from, final int max, final List<ConntrackEntry> out)
    {
        final long t = clock.nanos();
        int copied = 0;
        for (int e = Math.max(0, from); e < highWater; e++)
        {
            if (isLive(e))
            {
                if (copied == max)
                {
                    return e;
                }
                out.add(ConntrackFormat.copy(this, e, t));
                copied++;
            }
        }
        return -1;
    }

    /**
     * @param entry entry index.
     * @return one {@link #dump} line for the entry, without the newline, as of the clock's current time.
     */
    public String format(final int entry)
    {
        return ConntrackFormat.copy(this, entry, clock.nanos()).format();
    }

    /** @return live entries. */
    public int size()
    {
        return size;
    }

    /**
     * @return which memory the table got ({@link ConntrackConfig#hugePages()} and what the kernel granted), e.g.
     *         {@code transparent huge pages (160 MiB of 160 MiB in huge pages now)}, {@code hugetlb (...)}, or
     *         {@code 4 KiB pages (REASON)}; with a state file, for the slots and the entries apart. Reads
     *         {@code /proc/self/smaps} ({@link #hugePageBytes()}): control side only.
     */
    public String memory()
    {
        if (memory.startsWith("4 KiB"))
        {
            return memory;
        }
        final long huge = hugePageBytes();
        final long total = slots.byteSize() + (file == null ? entries.byteSize() : 0);
        return huge < 0 ? memory : memory + " (" + size(huge) + " of " + size(total) + " in huge pages now)";
    }

    private static String size(final long bytes)
    {
        return bytes >= 1L << 20 ? (bytes >> 20) + " MiB" : (bytes >> 10) + " KiB";
    }

    /**
     * @return bytes of the table the kernel backs with huge pages right now ({@code AnonHugePages} and hugetlb in
     *         {@code /proc/self/smaps}), or -1 when that cannot be read. Reads a proc file: control side only.
     */
    public long hugePageBytes()
    {
        return file == null ? TableMemory.hugeBytes(slots, entries) : TableMemory.hugeBytes(slots);
    }

    /** @return maximum entries (the configured capacity rounded up to a power of two). */
    public int capacity()
    {
        return capacity;
    }

    /** @return the configuration. */
    public ConntrackConfig config()
    {
        return config;
    }

    /** @return a snapshot of the counters (read on the owning thread for exact values). */
    public ConntrackStats stats()
    {
        return new ConntrackStats(found, inserted, deleted, earlyDrop, drop, searchMiss, invalid, insertFailed);
    }

    /**
     * Opens a table whose entries live in a memory-mapped state file, so that a restarted process finds its flows
     * again ({@link ConntrackFile} describes the format). A compatible file is mapped back: its hash secret
     * replaces {@code config}'s seed, every entry is validated and the slot index is rebuilt from the entries
     * that pass; entries keep their expiry times (the clock counts nanoseconds since the epoch, so the times mean
     * the same in the new process). A file that is incompatible (magic, version, entry size, capacity) or
     * corrupt (header checksum, size, entries checksum of a clean shutdown) is renamed aside to
     * {@code NAME.corrupt-<epoch ms>} and a new table starts empty; it is never half-read.
     *
     * @param config capacity and timeouts.
     * @param clock  time source, nanoseconds since the epoch.
     * @param path   the state file (created when absent; its directory must exist).
     * @return the table; {@link #restoreReport()} says what was found.
     * @throws IOException when the file cannot be created or mapped.
     */
    public static ConntrackTable open(final ConntrackConfig config, final Clock clock, final java.nio.file.Path path)
        throws IOException
    {
        return ConntrackFile.open(config, clock, path);
    }

    /** @return what opening the state file found, or null for an in-memory table. */
    public RestoreReport restoreReport()
    {
        return restoreReport;
    }

    /**
     * What {@link #open} found in the state file.
     *
     * @param outcome    {@code created}, {@code restored}, or {@code set aside: REASON}.
     * @param setAside   the path the old file was renamed to, or null.
     * @param restored   live entries mapped back.
     * @param expired    entries whose time was up (dropped).
     * @param invalid    entries that failed validation (dropped).
     * @param cleanClose whether the previous process closed the file cleanly (entries checksum verified).
     */
    public record RestoreReport(String outcome, java.nio.file.Path setAside, int restored, int expired,
        int invalid, boolean cleanClose)
    {
    }

    /**
     * The structural validation pass of a mapped-back file: every entry below {@code limit} is checked (live bit,
     * protocol and zone word, TCP state, expiry no later than the longest timeout from now, two distinct tuples,
     * neither tuple already indexed) and indexed again; entries that fail are counted and freed, expired ones
     * dropped. Rebuilds size, high water and the free list. Runs once, before the table is shared.
     *
     * @param limit entries to examine (the capacity after a crash; the recorded high water after a clean close).
     * @return {restored, expired, invalid}.
     */
    int[] restore(final int limit)
    {
        final long t = clock.nanos();
        now = t;
        long longest = Math.max(Math.max(udpTimeout, udpStreamTimeout), Math.max(icmpTimeout, genericTimeout));
        for (final long v : tcpTimeouts)
        {
            longest = Math.max(longest, v);
        }
        final long latest = t + longest + NANOS;
        int restored = 0;
        int expired = 0;
        int invalid = 0;
        int last = -1;
        for (int e = 0; e < Math.min(limit, capacity); e++)
        {
            final long b = base(e);
            final int st = entries.get(INT, b + O_STATE);
            if (st == 0)
            {
                continue;
            }
            if ((st & StateWord.LIVE) == 0)
            {
                entries.set(INT, b + O_STATE, 0);
                continue;
            }
            final long expires = entries.get(LONG, b + O_EXPIRES);
            if (expires <= t)
            {
                entries.set(INT, b + O_STATE, 0);
                expired++;
                continue;
            }
            if (!plausible(b, st, expires, latest) || !index(e))
            {
                entries.set(INT, b + O_STATE, 0);
                invalid++;
                continue;
            }
            restored++;
            last = e;
        }
        highWater = last + 1;
        size = restored;
        freeHead = -1;
        for (int e = highWater - 1; e >= 0; e--)
        {
            if (!isLive(e))
            {
                entries.set(INT, base(e) + O_NEXT_FREE, freeHead);
                freeHead = e;
            }
        }
        return new int[] {restored, expired, invalid};
    }

    private boolean plausible(final long b, final int st, final long expires, final long latest)
    {
        final int pz = entries.get(INT, b + O_PZ);
        final int proto = pz & 0xff;
        if (pz >>> 24 != 0 || (st & ~0xffff) != 0 || expires > latest
            || entries.get(LONG, b + O_FIRST_SEEN) > latest)
        {
            return false;
        }
        if (proto == TCP ? (st & StateWord.STATE_MASK) > TcpState.SYN_SENT2 : (st & StateWord.STATE_MASK) != 0)
        {
            return false;
        }
        return entries.get(INT, b + O_SRC) != entries.get(INT, b + TUPLE_BYTES + O_SRC)
            || entries.get(INT, b + O_DST) != entries.get(INT, b + TUPLE_BYTES + O_DST)
            || entries.get(INT, b + O_PORTS) != entries.get(INT, b + TUPLE_BYTES + O_PORTS);
    }

    /** Indexes both tuples of a restored entry, without early drop; false (nothing indexed) on a clash. */
    private boolean index(final int e)
    {
        final long b = base(e);
        final int pz = entries.get(INT, b + O_PZ);
        for (int dir = ORIGINAL; dir <= REPLY; dir++)
        {
            final long k = b + dir * TUPLE_BYTES;
            final int src = entries.get(INT, k + O_SRC);
            final int dst = entries.get(INT, k + O_DST);
            final int ports = entries.get(INT, k + O_PORTS);
            final long h = hash(pz, src, dst, ports);
            final int pos = probe(h, pz, src, dst, ports) >= 0 ? -1 : freeSlot(h);
            if (pos < 0)
            {
                if (dir == REPLY)
                {
                    unlink(e, ORIGINAL);
                }
                return false;
            }
            setSlot(pos, h, e << 1 | dir);
        }
        return true;
    }

    static int roundedCapacity(final int configured)
    {
        return Integer.highestOneBit(configured) == configured ? configured : Integer.highestOneBit(configured) << 1;
    }

    void restoreReport(final RestoreReport report)
    {
        this.restoreReport = report;
    }

    /**
     * Closes the table. A table opened from a state file ({@link #open}) first marks the file clean, with a
     * checksum of the entries, so that the next start can verify it.
     */
    @Override
    public void close()
    {
        try
        {
            if (file != null)
            {
                file.closeClean(entries, highWater, clock.nanos());
            }
        }
        finally
        {
            arena.close();
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // accessors

    /**
     * @param entry entry index.
     * @return whether the entry is in use.
     */
    public boolean isLive(final int entry)
    {
        return (entries.get(INT, base(entry) + O_STATE) & StateWord.LIVE) != 0;
    }

    /**
     * @param entry entry index.
     * @return original source address.
     */
    public int origSrc(final int entry)
    {
        return entries.get(INT, base(entry) + O_SRC);
    }

    /**
     * @param entry entry index.
     * @return original destination address.
     */
    public int origDst(final int entry)
    {
        return entries.get(INT, base(entry) + O_DST);
    }

    /**
     * @param entry entry index.
     * @return original source port.
     */
    public int origSrcPort(final int entry)
    {
        return entries.get(INT, base(entry) + O_PORTS) >>> 16;
    }

    /**
     * @param entry entry index.
     * @return original destination port.
     */
    public int origDstPort(final int entry)
    {
        return entries.get(INT, base(entry) + O_PORTS) & 0xffff;
    }

    /**
     * @param entry entry index.
     * @return reply source address (where replies come from: the DNAT target).
     */
    public int replySrc(final int entry)
    {
        return entries.get(INT, base(entry) + TUPLE_BYTES + O_SRC);
    }

    /**
     * @param entry entry index.
     * @return reply destination address (where replies go: the SNAT address, or the original source).
     */
    public int replyDst(final int entry)
    {
        return entries.get(INT, base(entry) + TUPLE_BYTES + O_DST);
    }

    /**
     * @param entry entry index.
     * @return reply source port.
     */
    public int replySrcPort(final int entry)
    {
        return entries.get(INT, base(entry) + TUPLE_BYTES + O_PORTS) >>> 16;
    }

    /**
     * @param entry entry index.
     * @return reply destination port.
     */
    public int replyDstPort(final int entry)
    {
        return entries.get(INT, base(entry) + TUPLE_BYTES + O_PORTS) & 0xffff;
    }

    /**
     * @param entry entry index.
     * @return IP protocol number.
     */
    public int protocol(final int entry)
    {
        return entries.get(INT, base(entry) + O_PZ) & 0xff;
    }

    /**
     * @param entry entry index.
     * @return conntrack zone.
     */
    public int zone(final int entry)
    {
        return entries.get(INT, base(entry) + O_PZ) >>> 8;
    }

    /**
     * @param entry entry index.
     * @return TCP state ({@link TcpState}); {@link TcpState#NONE} for other protocols.
     */
    public int tcpState(final int entry)
    {
        return entries.get(INT, base(entry) + O_STATE) & StateWord.STATE_MASK;
    }

    /**
     * Whether a TCP segment with these flags would reopen the entry in place (a SYN in the original direction on a
     * TIME_WAIT entry, or on a CLOSE entry this side aborted), without changing anything: a NAT that wants
     * netfilter's outcome (the old entry killed, the SYN translated afresh) removes the entry instead.
     *
     * @param entry     entry index of a live TCP entry.
     * @param direction {@link #ORIGINAL} or {@link #REPLY}.
     * @param tcpFlags  the TCP flags byte.
     * @return whether {@link #updateTcp} would reopen it.
     */
    public boolean reopens(final int entry, final int direction, final int tcpFlags)
    {
        final int st = entries.get(INT, base(entry) + O_STATE);
        return (st & StateWord.LIVE) != 0 && protocol(entry) == TCP
            && StateWord.action(StateWord.trackTcp(st, direction, tcpFlags)) == StateWord.REOPEN;
    }

    /**
     * @param entry entry index.
     * @return whether the entry is assured (exempt from early drop).
     */
    public boolean assured(final int entry)
    {
        return (entries.get(INT, base(entry) + O_STATE) & StateWord.ASSURED) != 0;
    }

    /**
     * @param entry entry index.
     * @return whether a packet was seen in the reply direction.
     */
    public boolean seenReply(final int entry)
    {
        return (entries.get(INT, base(entry) + O_STATE) & StateWord.SEEN_REPLY) != 0;
    }

    /**
     * @param entry entry index.
     * @return expiry time in the clock's nanoseconds.
     */
    public long expiresAt(final int entry)
    {
        return entries.get(LONG, base(entry) + O_EXPIRES);
    }

    /**
     * @param entry     entry index.
     * @param direction {@link #ORIGINAL} or {@link #REPLY}.
     * @return packets counted in that direction.
     */
    public long packets(final int entry, final int direction)
    {
        return entries.get(LONG, base(entry) + O_PACKETS + ((long)direction << 3));
    }

    /**
     * @param entry     entry index.
     * @param direction {@link #ORIGINAL} or {@link #REPLY}.
     * @return bytes counted in that direction.
     */
    public long bytes(final int entry, final int direction)
    {
        return entries.get(LONG, base(entry) + O_BYTES + ((long)direction << 3));
    }

    /**
     * @param entry entry index.
     * @return the opaque mark the NAT stored (0 when none).
     */
    public int mark(final int entry)
    {
        return entries.get(INT, base(entry) + O_MARK);
    }

    /**
     * Stores an opaque value with the entry (e.g. the Service and backend it was balanced to).
     *
     * @param entry entry index.
     * @param value the mark.
     */
    public void mark(final int entry, final int value)
    {
        entries.set(INT, base(entry) + O_MARK, value);
    }

    // ---------------------------------------------------------------------------------------------------------
    // internals

    private static long base(final int entry)
    {
        return (long)entry << ENTRY_SHIFT;
    }

    private static int pz(final int zone, final int proto)
    {
        return (zone & 0xffff) << 8 | proto & 0xff;
    }

    private static int ports(final int srcPort, final int dstPort)
    {
        return (srcPort & 0xffff) << 16 | dstPort & 0xffff;
    }

    /**
     * The keyed hash of a tuple: both 64-bit halves of the 16-byte key (addresses; ports, zone and protocol) are
     * xored with 128 bits of secret derived from {@link ConntrackConfig#hashSeed()}, then mixed by two
     * multiply-xorshift rounds. Without the secret, which tuples share a probe window cannot be computed.
     */
    private long hash(final int pz, final int src, final int dst, final int ports)
    {
        return hash(key0, key1, pz, src, dst, ports);
    }

    /**
     * @return the hash of a tuple under a seed, as a table with that {@link ConntrackConfig#hashSeed()} computes
     *         it (tests craft colliding tuples with it).
     */
    static long hash(final long seed, final int zone, final int proto, final int src, final int dst,
        final int srcPort, final int dstPort)
    {
        return hash(mix64(seed), mix64(seed + 0x9E37_79B9_7F4A_7C15L), pz(zone, proto), src, dst,
            ports(srcPort, dstPort));
    }

    /** @return the home slot of a hash in a table of {@code capacity} entries (a power of two). */
    static int homeSlot(final long hash, final int capacity)
    {
        return (int)hash & (capacity * 4 - 1) & ~1;
    }

    /** @return the home slot of a hash: the first slot of a cache line, so that a hit near home reads one line. */
    private int home(final long h)
    {
        return (int)h & slotMask & ~1;
    }

    private static long hash(final long k0, final long k1, final int pz, final int src, final int dst,
        final int ports)
    {
        final long a = ((long)src << 32 | dst & 0xffff_ffffL) ^ k0;
        final long c = ((long)ports << 32 | pz & 0xffff_ffffL) ^ k1;
        long h = a * 0x9E37_79B9_7F4A_7C15L;
        h = Long.rotateLeft(h, 31) ^ c;
        h *= 0xBF58_476D_1CE4_E5B9L;
        h ^= h >>> 29;
        h *= 0x94D0_49BB_1331_11EBL;
        h ^= h >>> 32;
        h ^= k0;
        h *= 0xBF58_476D_1CE4_E5B9L;
        return h ^ h >>> 31;
    }

    private static long mix64(final long seed)
    {
        long z = seed + 0x9E37_79B9_7F4A_7C15L;
        z = (z ^ z >>> 30) * 0xBF58_476D_1CE4_E5B9L;
        z = (z ^ z >>> 27) * 0x94D0_49BB_1331_11EBL;
        return z ^ z >>> 31;
    }

    private static long addrKey(final int src, final int dst)
    {
        return (long)src << 32 | dst & 0xffff_ffffL;
    }

    private static long portsKey(final int ports, final int pz)
    {
        return (long)ports << 32 | USED | pz & 0xff_ffffL;
    }

    /**
     * @return the slot position holding the tuple, or -1 when absent. The key is compared in the slot itself: a
     *         probe reads slot lines only.
     */
    private int probe(final long h, final int pz, final int src, final int dst, final int ports)
    {
        final MemorySegment slots = this.slots;
        final long ka = addrKey(src, dst);
        final long kp = portsKey(ports, pz);
        final int mask = slotMask;
        int i = home(h);
        for (int d = 0; d < probeLimit; d++)
        {
            final long a = (long)i << SLOT_SHIFT;
            final long p = slots.get(LONG, a + S_PORTS);
            if (p == 0)
            {
                return -1;
            }
            if ((p & ~DIST_MASK) == kp && slots.get(LONG, a + S_ADDR) == ka)
            {
                return i;
            }
            i = i + 1 & mask;
        }
        return -1;
    }

    /** @return the slot position of one direction of a live entry (found by its reference), or -1. */
    private int slotOf(final int e, final int dir)
    {
        final long k = base(e) + dir * TUPLE_BYTES;
        final long h = hash(entries.get(INT, base(e) + O_PZ), entries.get(INT, k + O_SRC),
            entries.get(INT, k + O_DST), entries.get(INT, k + O_PORTS));
        final int ref = e << 1 | dir;
        final int mask = slotMask;
        int i = home(h);
        for (int d = 0; d < probeLimit; d++)
        {
            final long a = (long)i << SLOT_SHIFT;
            if (slots.get(LONG, a + S_PORTS) == 0)
            {
                return -1;
            }
            if ((int)(slots.get(LONG, a + S_REF) >>> 32) == ref)
            {
                return i;
            }
            i = i + 1 & mask;
        }
        return -1;
    }

    /**
     * Sets an entry's expiry time, and the coarse copy in both of its slots when that changes (once per 4.3 s of a
     * steady flow, or when a state change shortens the timeout): the copy must always equal {@code expiresAt >> 32}.
     */
    private void expires(final int e, final long value)
    {
        final long at = base(e) + O_EXPIRES;
        final long old = entries.get(LONG, at);
        entries.set(LONG, at, value);
        if (old >> EXPIRY_SHIFT != value >> EXPIRY_SHIFT)
        {
            for (int dir = ORIGINAL; dir <= REPLY; dir++)
            {
                final int pos = slotOf(e, dir);
                if (pos >= 0)
                {
                    final long a = ((long)pos << SLOT_SHIFT) + S_REF;
                    slots.set(LONG, a, slots.get(LONG, a) & 0xffff_ffff_0000_0000L | coarse(value));
                }
            }
        }
    }

    private static long coarse(final long expiresAt)
    {
        return expiresAt >> EXPIRY_SHIFT & 0xffff_ffffL;
    }

    private boolean clearIfExpired(final long h, final int pz, final int src, final int dst, final int ports)
    {
        final int pos = probe(h, pz, src, dst, ports);
        if (pos < 0)
        {
            return true;
        }
        final int e = (int)(slots.get(LONG, ((long)pos << SLOT_SHIFT) + S_REF) >>> 33);
        if (entries.get(LONG, base(e) + O_EXPIRES) > now)
        {
            return false;
        }
        removeEntry(e);
        return true;
    }

    private boolean place(final long h, final int ref, final int self)
    {
        int pos = freeSlot(h);
        if (pos < 0)
        {
            if (!earlyDrop(home(h), self))
            {
                return false;
            }
            pos = freeSlot(h);
            if (pos < 0)
            {
                return false;
            }
        }
        setSlot(pos, h, ref);
        return true;
    }

    /** Writes a slot: the key (read from the entry), the distance from its home slot, the reference, the hash. */
    private void setSlot(final int pos, final long h, final int ref)
    {
        final long b = base(ref >>> 1);
        final long k = b + (ref & 1) * TUPLE_BYTES;
        final long dist = pos - home(h) & slotMask;
        final long a = (long)pos << SLOT_SHIFT;
        slots.set(LONG, a + S_ADDR, addrKey(entries.get(INT, k + O_SRC), entries.get(INT, k + O_DST)));
        slots.set(LONG, a + S_PORTS, portsKey(entries.get(INT, k + O_PORTS), entries.get(INT, b + O_PZ))
            | dist << DIST_SHIFT);
        slots.set(LONG, a + S_REF, (long)ref << 32 | coarse(entries.get(LONG, b + O_EXPIRES)));
        slots.set(LONG, a + S_HASH, h);
    }

    private int freeSlot(final long h)
    {
        final int mask = slotMask;
        int i = home(h);
        for (int d = 0; d < probeLimit; d++)
        {
            if (slots.get(LONG, ((long)i << SLOT_SHIFT) + S_PORTS) == 0)
            {
                return i;
            }
            i = i + 1 & mask;
        }
        return -1;
    }

    /**
     * Removes one entry referenced from the probe range starting at {@code home}: an expired one if any, else
     * the first non-assured one. Never {@code self}.
     */
    private boolean earlyDrop(final int home, final int self)
    {
        final int mask = slotMask;
        int victim = -1;
        int i = home;
        for (int d = 0; d < probeLimit; d++)
        {
            final long a = (long)i << SLOT_SHIFT;
            i = i + 1 & mask;
            if (slots.get(LONG, a + S_PORTS) == 0)
            {
                continue;
            }
            final int e = (int)(slots.get(LONG, a + S_REF) >>> 33);
            if (e == self)
            {
                continue;
            }
            final long b = base(e);
            if (entries.get(LONG, b + O_EXPIRES) <= now)
            {
                victim = e;
                break;
            }
            if (victim < 0 && (entries.get(INT, b + O_STATE) & StateWord.ASSURED) == 0)
            {
                victim = e;
            }
        }
        if (victim < 0)
        {
            return false;
        }
        removeEntry(victim);
        earlyDrop++;
        return true;
    }

    private void removeEntry(final int e)
    {
        if (pendingNew == e)
        {
            // never confirmed (its first packet was refused, or none came): netfilter reports no NEW, no DESTROY
            pendingNew = -1;
        }
        else
        {
            flushNew();
            event(ConntrackEvents.DESTROY, e);
        }
        listener.removed(this, e);
        unlink(e, ORIGINAL);
        unlink(e, REPLY);
        release(e);
        deleted++;
    }

    private void unlink(final int e, final int dir)
    {
        final int pos = slotOf(e, dir);
        if (pos >= 0)
        {
            deleteSlot(pos);
        }
    }

    /** Backward-shift deletion (Knuth's algorithm R) using the stored probe distances. */
    private void deleteSlot(final int pos)
    {
        final MemorySegment slots = this.slots;
        final int mask = slotMask;
        int hole = pos;
        int j = pos + 1 & mask;
        while (true)
        {
            final long a = (long)j << SLOT_SHIFT;
            final long p = slots.get(LONG, a + S_PORTS);
            if (p == 0)
            {
                break;
            }
            final int dist = (int)((p & DIST_MASK) >>> DIST_SHIFT);
            final int gap = j - hole & mask;
            if (dist >= gap)
            {
                final long to = (long)hole << SLOT_SHIFT;
                slots.set(LONG, to + S_ADDR, slots.get(LONG, a + S_ADDR));
                slots.set(LONG, to + S_PORTS, p - ((long)gap << DIST_SHIFT));
                slots.set(LONG, to + S_REF, slots.get(LONG, a + S_REF));
                slots.set(LONG, to + S_HASH, slots.get(LONG, a + S_HASH));
                hole = j;
            }
            j = j + 1 & mask;
        }
        final long a = (long)hole << SLOT_SHIFT;
        slots.set(LONG, a + S_ADDR, 0L);
        slots.set(LONG, a + S_PORTS, 0L);
        slots.set(LONG, a + S_REF, 0L);
        slots.set(LONG, a + S_HASH, 0L);
    }

    private int allocate()
    {
        final int e;
        if (freeHead >= 0)
        {
            e = freeHead;
            freeHead = entries.get(INT, base(e) + O_NEXT_FREE);
        }
        else
        {
            e = highWater++;
        }
        return e;
    }

    private void release(final int e)
    {
        final long b = base(e);
        entries.set(INT, b + O_STATE, 0);
        entries.set(INT, b + O_NEXT_FREE, freeHead);
        freeHead = e;
        size--;
    }

    private static final int RST_CLOSE = 0;
    private static final int RST_KEEP = 1;
    private static final int RST_INVALID = 2;

    /** netfilter's RST rule; see {@link #updateTcp}. */
    private int rstVerdict(final long b, final int st, final int dir, final int seq)
    {
        final long rcv = b + O_SEQ + (1 - dir) * 16L;
        if ((entries.get(INT, rcv + SEQ_FLAGS) & SEQ_MAXACK_SET) == 0)
        {
            return RST_CLOSE;
        }
        final int maxack = entries.get(INT, rcv + SEQ_MAXACK);
        if (seq - maxack < 0)
        {
            return RST_INVALID;
        }
        final long snd = b + O_SEQ + dir * 16L;
        if (seq == maxack || (entries.get(INT, snd + SEQ_FLAGS) & SEQ_SEEN) != 0
            && seq == entries.get(INT, snd + SEQ_END))
        {
            return RST_CLOSE;
        }
        final long maxwin = (long)Math.max(1, entries.get(INT, rcv + SEQ_MAXWIN)) << MAX_WSCALE;
        if ((seq - maxack & 0xffff_ffffL) > maxwin)
        {
            return RST_INVALID;
        }
        return (st & StateWord.STATE_MASK) == TcpState.ESTABLISHED ? RST_KEEP : RST_CLOSE;
    }

    /** Records a segment's end, acknowledgement and window for its direction (td_end, td_maxack, td_maxwin). */
    private void trackSequence(final long b, final int dir, final int tcpFlags, final int seq, final int ack,
        final int window, final int segLen, final boolean reopen)
    {
        if (reopen)
        {
            clearSequence(b);
        }
        final long snd = b + O_SEQ + dir * 16L;
        final int f = entries.get(INT, snd + SEQ_FLAGS);
        final int end = seq + Math.max(0, segLen) + ((tcpFlags & 0x02) != 0 ? 1 : 0) + ((tcpFlags & 0x01) != 0 ? 1 : 0);
        int nf = f;
        if ((f & SEQ_SEEN) == 0 || end - entries.get(INT, snd + SEQ_END) > 0)
        {
            entries.set(INT, snd + SEQ_END, end);
            nf |= SEQ_SEEN;
        }
        if ((tcpFlags & 0x10) != 0 && (tcpFlags & 0x04) == 0
            && ((f & SEQ_MAXACK_SET) == 0 || ack - entries.get(INT, snd + SEQ_MAXACK) > 0))
        {
            entries.set(INT, snd + SEQ_MAXACK, ack);
            nf |= SEQ_MAXACK_SET;
        }
        if (window > entries.get(INT, snd + SEQ_MAXWIN))
        {
            entries.set(INT, snd + SEQ_MAXWIN, window);
        }
        entries.set(INT, snd + SEQ_FLAGS, nf);
    }

    private void clearSequence(final long b)
    {
        entries.set(LONG, b + O_SEQ, 0L);
        entries.set(LONG, b + O_SEQ + 8, 0L);
        entries.set(LONG, b + O_SEQ + 16, 0L);
        entries.set(LONG, b + O_SEQ + 24, 0L);
    }

    private void clearCounters(final long b)
    {
        entries.set(LONG, b + O_PACKETS, 0L);
        entries.set(LONG, b + O_PACKETS + 8, 0L);
        entries.set(LONG, b + O_BYTES, 0L);
        entries.set(LONG, b + O_BYTES + 8, 0L);
    }

    private void account(final long b, final int dir, final int bytes)
    {
        final long p = b + O_PACKETS + ((long)dir << 3);
        entries.set(LONG, p, entries.get(LONG, p) + 1);
        final long y = b + O_BYTES + ((long)dir << 3);
        entries.set(LONG, y, entries.get(LONG, y) + (bytes & 0xffff_ffffL));
    }

    private long initialTimeout(final int proto)
    {
        return switch (proto)
        {
            case TCP -> tcpTimeouts[TcpState.SYN_SENT];
            case UDP -> udpTimeout;
            case ICMP -> icmpTimeout;
            default -> genericTimeout;
        };
    }
}
