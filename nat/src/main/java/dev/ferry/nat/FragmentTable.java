package dev.ferry.nat;

/**
 * Shallow virtual reassembly of IPv4 fragments (VPP's {@code ip4-sv-reass}): per datagram, keyed by (source,
 * destination, protocol, IP id), it remembers the L4 ports that only the first fragment carries, so that every
 * fragment of the datagram gets the same NAT binding. Fragments are never copied or joined: each one is translated
 * and forwarded on its own, and the receiver reassembles.
 *
 * <pre>
 *  first fragment (offset 0) ──► context learns the ports ──► PASS, and every fragment held for it is released
 *  later fragment, ports known ──────────────────────────────► PASS (ports from the context)
 *  later fragment before the first ──────────────────────────► HOLD (bounded), released when the first arrives
 *  overlap, too many fragments, inconsistent end ────────────► the datagram is dropped (held ones too); the dead
 *                                                              context drops the rest of it until it times out
 * </pre>
 *
 * <p>Bounds, all fixed at construction (nothing allocates afterwards): {@code maxDatagrams} contexts,
 * {@code maxFragments} fragments per datagram (the byte ranges kept for the overlap check), {@code maxHeld} held
 * buffers in all, and {@code timeoutNanos} from a context's creation: an incomplete context is freed then, and its
 * held fragments dropped. A context whose bytes 0..end were all seen, without overlap, is freed at once. A full
 * table refuses new datagrams (as Linux does above {@code ipfrag_high_thresh}) rather than evicting live ones.
 *
 * <p>The hash of the key is keyed with a secret (the conntrack table's per-node secret), so that crafted datagrams
 * cannot all land in one chain. Worker thread only.
 */
final class FragmentTable
{
    /** The fragment goes on; {@link #ports(int)} of {@link #context()} holds its datagram's ports. */
    static final int PASS = 0;
    /** The fragment arrived before its datagram's first fragment: the table keeps its handle. */
    static final int HOLD = 1;
    /** An exact duplicate of a fragment already seen: drop it alone. */
    static final int DUPLICATE = 2;
    /** Overlaps another fragment of the datagram: drop the datagram. */
    static final int OVERLAP = 3;
    /** More than {@code maxFragments}: drop the datagram. */
    static final int TOO_MANY = 4;
    /** Inconsistent lengths (a second, different end; data beyond the end; a non-last fragment whose length is not
     *  a multiple of 8, or empty): drop the datagram. */
    static final int BAD_LENGTH = 5;
    /** A fragment of a datagram that was already dropped. */
    static final int DEAD = 6;
    /** No free context for a new datagram. */
    static final int TABLE_FULL = 7;
    /** No room to hold a fragment that came before its first fragment: the datagram is dropped. */
    static final int HOLD_FULL = 8;

    /** The ports of a datagram that the NAT does not translate (ICMP other than echo): never an echo's, whose two
     *  halves are equal. */
    static final int UNTRACKED_PORTS = 0x00010000;

    /** {@link #firstHeld(int)} and {@link #nextHeld(int)} at the end of a list; {@link #expired} with none. */
    static final int NONE = -1;

    private static final byte FREE = 0;
    private static final byte WAITING = 1;
    private static final byte KNOWN = 2;
    private static final byte DROPPED = 3;

    private final int capacity;
    private final int maxFragments;
    private final int maxHeld;
    private final long timeoutNanos;
    private final long secret;
    private final int mask;
    private final int[] bucket;
    private final int[] chain;
    private final byte[] state;
    private final int[] keySrc;
    private final int[] keyDst;
    private final int[] keyProtoId;
    private final int[] portsOf;
    private final long[] created;
    private final int[] end;
    private final int[] bytesSeen;
    private final int[] fragments;
    private final int[] rangeStart;
    private final int[] rangeEnd;
    private final int[] heldHead;
    private final int[] heldTail;
    private final int[] heldCount;
    private final int[] heldNext;
    // creation order, oldest first: expiry looks at the head only
    private final int[] ageNext;
    private final int[] agePrev;
    private int ageHead = NONE;
    private int ageTail = NONE;
    private int freeHead;
    private int inUse;
    private int held;
    private int context = NONE;

    /**
     * @param maxDatagrams datagrams tracked at once.
     * @param maxFragments fragments per datagram.
     * @param maxHeld      fragments held in all, waiting for their first fragment.
     * @param timeoutNanos how long a datagram may take, from its first fragment seen (any offset).
     * @param secret       keys the hash.
     * @param handles      packet handles range over 0..handles-1 (the pool's capacity).
     */
    FragmentTable(final int maxDatagrams, final int maxFragments, final int maxHeld, final long timeoutNanos,
        final long secret, final int handles)
    {
        if (maxDatagrams < 1 || maxFragments < 2 || maxHeld < 0 || timeoutNanos <= 0)
        {
            throw new IllegalArgumentException("fragment limits out of range");
        }
        this.capacity = maxDatagrams;
        this.maxFragments = maxFragments;
        this.maxHeld = maxHeld;
        this.timeoutNanos = timeoutNanos;
        this.secret = secret;
        final int buckets = Integer.highestOneBit(Math.max(2, maxDatagrams - 1)) << 1;
        this.mask = buckets - 1;
        this.bucket = new int[buckets];
        java.util.Arrays.fill(bucket, NONE);
        this.chain = new int[maxDatagrams];
        this.state = new byte[maxDatagrams];
        this.keySrc = new int[maxDatagrams];
        this.keyDst = new int[maxDatagrams];
        this.keyProtoId = new int[maxDatagrams];
        this.portsOf = new int[maxDatagrams];
        this.created = new long[maxDatagrams];
        this.end = new int[maxDatagrams];
        this.bytesSeen = new int[maxDatagrams];
        this.fragments = new int[maxDatagrams];
        this.rangeStart = new int[maxDatagrams * maxFragments];
        this.rangeEnd = new int[maxDatagrams * maxFragments];
        this.heldHead = new int[maxDatagrams];
        this.heldTail = new int[maxDatagrams];
        this.heldCount = new int[maxDatagrams];
        this.heldNext = new int[handles];
        this.ageNext = new int[maxDatagrams];
        this.agePrev = new int[maxDatagrams];
        for (int i = 0; i < maxDatagrams; i++)
        {
            chain[i] = i + 1 < maxDatagrams ? i + 1 : NONE;
        }
        freeHead = 0;
    }

    /**
     * Accounts one fragment to its datagram.
     *
     * @param src    IPv4 source.
     * @param dst    IPv4 destination.
     * @param proto  IP protocol.
     * @param id     IP identification.
     * @param offset fragment offset in bytes.
     * @param length fragment payload bytes.
     * @param more   the MF flag.
     * @param ports  the first fragment's L4 ports (source port in the high 16 bits); ignored for later fragments.
     * @param handle the fragment's packet handle (kept on {@link #HOLD}).
     * @param now    clock.
     * @return {@link #PASS}, {@link #HOLD} or why the fragment, or its whole datagram, is dropped. After
     *         {@link #PASS} of a first fragment, {@link #firstHeld(int)} of {@link #context()} lists the fragments to
     *         release; after a datagram drop, the ones to drop. Either way call {@link #settle(int)} next.
     */
    int add(final int src, final int dst, final int proto, final int id, final int offset, final int length,
        final boolean more, final int ports, final int handle, final long now)
    {
        final int protoId = proto << 16 | id;
        final int b = hash(src, dst, protoId);
        int c = bucket[b];
        while (c != NONE && (keySrc[c] != src || keyDst[c] != dst || keyProtoId[c] != protoId))
        {
            c = chain[c];
        }
        if (c == NONE)
        {
            c = create(b, src, dst, protoId, now);
            if (c == NONE)
            {
                context = NONE;
                return TABLE_FULL;
            }
        }
        context = c;
        if (state[c] == DROPPED)
        {
            return DEAD;
        }
        final int stop = offset + length;
        if (more && (length == 0 || (length & 7) != 0) || stop > 0xffff || end[c] >= 0 && stop > end[c]
            || !more && (end[c] >= 0 && stop != end[c] || stop < maxSeen(c)))
        {
            return kill(c, BAD_LENGTH);
        }
        final int base = c * maxFragments;
        for (int i = 0; i < fragments[c]; i++)
        {
            final int s = rangeStart[base + i];
            final int e = rangeEnd[base + i];
            if (s == offset && e == stop)
            {
                return DUPLICATE;
            }
            if (offset < e && s < stop)
            {
                return kill(c, OVERLAP);
            }
        }
        if (fragments[c] == maxFragments)
        {
            return kill(c, TOO_MANY);
        }
        final boolean first = offset == 0;
        if (!first && state[c] == WAITING)
        {
            if (held == maxHeld)
            {
                return kill(c, HOLD_FULL);
            }
            if (heldHead[c] == NONE)
            {
                heldHead[c] = handle;
            }
            else
            {
                heldNext[heldTail[c]] = handle;
            }
            heldTail[c] = handle;
            heldNext[handle] = NONE;
            heldCount[c]++;
            held++;
        }
        rangeStart[base + fragments[c]] = offset;
        rangeEnd[base + fragments[c]] = stop;
        fragments[c]++;
        bytesSeen[c] += length;
        if (!more)
        {
            end[c] = stop;
        }
        if (first)
        {
            portsOf[c] = ports;
            state[c] = KNOWN;
            return PASS;
        }
        return state[c] == KNOWN ? PASS : HOLD;
    }

    /** @return the context of the last {@link #add}, or {@link #NONE} when the table was full. */
    int context()
    {
        return context;
    }

    /**
     * @param c a context.
     * @return its datagram's L4 ports (source port in the high 16 bits).
     */
    int ports(final int c)
    {
        return portsOf[c];
    }

    /**
     * @param c a context.
     * @return the first of its held fragments' handles, or {@link #NONE}.
     */
    int firstHeld(final int c)
    {
        return heldHead[c];
    }

    /**
     * @param handle a held handle.
     * @return the next held handle of the same datagram, or {@link #NONE}.
     */
    int nextHeld(final int handle)
    {
        return heldNext[handle];
    }

    /**
     * Forgets the context's held list (the caller handed those packets on), and frees the context when its datagram
     * is complete: every byte from 0 to its end seen, without overlap.
     *
     * @param c a context.
     */
    void settle(final int c)
    {
        held -= heldCount[c];
        heldCount[c] = 0;
        heldHead[c] = NONE;
        heldTail[c] = NONE;
        if (state[c] == KNOWN && end[c] >= 0 && bytesSeen[c] == end[c])
        {
            free(c);
        }
    }

    /**
     * The oldest context whose time is up, if any: the caller drops its held fragments and then calls
     * {@link #expire(int)}.
     *
     * @param now clock.
     * @return the context, or {@link #NONE}.
     */
    int expired(final long now)
    {
        final int c = ageHead;
        return c != NONE && now - created[c] >= timeoutNanos ? c : NONE;
    }

    /**
     * Frees a timed-out context (after its held fragments were dropped).
     *
     * @param c the context {@link #expired(long)} gave.
     * @return whether the datagram had not been dropped before (an incomplete datagram timed out).
     */
    boolean expire(final int c)
    {
        final boolean live = state[c] != DROPPED;
        settle(c);
        if (state[c] != FREE)
        {
            free(c);
        }
        return live;
    }

    /** @return contexts in use. */
    int inUse()
    {
        return inUse;
    }

    /** @return fragments held in all. */
    int held()
    {
        return held;
    }

    /** @return the most contexts. */
    int capacity()
    {
        return capacity;
    }

    private int kill(final int c, final int why)
    {
        state[c] = DROPPED;
        return why;
    }

    private int maxSeen(final int c)
    {
        int m = 0;
        final int base = c * maxFragments;
        for (int i = 0; i < fragments[c]; i++)
        {
            m = Math.max(m, rangeEnd[base + i]);
        }
        return m;
    }

    private int create(final int b, final int src, final int dst, final int protoId, final long now)
    {
        final int c = freeHead;
        if (c == NONE)
        {
            return NONE;
        }
        freeHead = chain[c];
        chain[c] = bucket[b];
        bucket[b] = c;
        keySrc[c] = src;
        keyDst[c] = dst;
        keyProtoId[c] = protoId;
        state[c] = WAITING;
        portsOf[c] = 0;
        created[c] = now;
        end[c] = -1;
        bytesSeen[c] = 0;
        fragments[c] = 0;
        heldHead[c] = NONE;
        heldTail[c] = NONE;
        heldCount[c] = 0;
        agePrev[c] = ageTail;
        ageNext[c] = NONE;
        if (ageTail == NONE)
        {
            ageHead = c;
        }
        else
        {
            ageNext[ageTail] = c;
        }
        ageTail = c;
        inUse++;
        return c;
    }

    private void free(final int c)
    {
        final int b = hash(keySrc[c], keyDst[c], keyProtoId[c]);
        if (bucket[b] == c)
        {
            bucket[b] = chain[c];
        }
        else
        {
            int p = bucket[b];
            while (chain[p] != c)
            {
                p = chain[p];
            }
            chain[p] = chain[c];
        }
        if (agePrev[c] == NONE)
        {
            ageHead = ageNext[c];
        }
        else
        {
            ageNext[agePrev[c]] = ageNext[c];
        }
        if (ageNext[c] == NONE)
        {
            ageTail = agePrev[c];
        }
        else
        {
            agePrev[ageNext[c]] = agePrev[c];
        }
        state[c] = FREE;
        chain[c] = freeHead;
        freeHead = c;
        inUse--;
    }

    private int hash(final int src, final int dst, final int protoId)
    {
        long k = ((src & 0xffffffffL) << 32 | (dst & 0xffffffffL)) ^ secret;
        k = (k ^ (k >>> 33)) * 0xff51afd7ed558ccdL;
        k ^= (protoId & 0xffffffffL) * 0x9e3779b97f4a7c15L;
        k = (k ^ (k >>> 29)) * 0xc4ceb9fe1a85ec53L;
        k ^= secret >>> 17;
        return (int)(k ^ (k >>> 32)) & mask;
    }
}
