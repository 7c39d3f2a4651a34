package dev.ferry.nat;


/**
 * The connection-tracking operations that the NAT stages use: exactly the shape of
 * {@code dev.ferry.conntrack.ConntrackTable}, so that the stages can be tested with a plain map and run
 * with the off-heap table. A flow's two tuples are netfilter's: the reply tuple is what replies look like
 * after NAT, so a translation is the difference between the tuples. ICMP echo puts the identifier in both
 * port fields.
 */
interface FlowTable
{
    /** Direction of a packet that matches the original tuple. */
    int ORIGINAL = 0;
    /** Direction of a packet that matches the reply tuple. */
    int REPLY = 1;
    /** Lookup result: no entry. */
    long MISS = -1;

    /** Called when an entry leaves the table (closed, timed out, flushed, evicted). */
    interface RemovalListener
    {
        /**
         * @param table the table.
         * @param entry the entry, still readable during the call.
         */
        void removed(FlowTable table, int entry);
    }

    long lookup(int zone, int proto, int srcIp, int dstIp, int srcPort, int dstPort);

    /**
     * The hash a batched lookup precomputes ({@link #prefetch}); a table without batching returns 0.
     *
     * @return the tuple's hash in this table.
     */
    default long hash(final int zone, final int proto, final int srcIp, final int dstIp, final int srcPort,
        final int dstPort)
    {
        return 0;
    }

    /**
     * Brings what lookups of these hashes read into the cache, for a batch at once; changes nothing that a lookup
     * returns. A table without batching ignores it.
     *
     * @param hashes {@link #hash} of each tuple about to be looked up.
     * @param n      how many to use.
     */
    default void prefetch(final long[] hashes, final int n)
    {
    }

    /**
     * {@link #lookup} of a tuple whose {@link #hash} the caller kept from the batch: the same answer without hashing
     * again. The hash must be of exactly this tuple (a table that compares the full key answers a wrong one with a
     * miss, never another flow).
     *
     * @param hash    {@link #hash} of this tuple.
     * @param zone    conntrack zone.
     * @param proto   IP protocol.
     * @param srcIp   source address.
     * @param dstIp   destination address.
     * @param srcPort source port.
     * @param dstPort destination port.
     * @return as {@link #lookup}.
     */
    default long lookup(final long hash, final int zone, final int proto, final int srcIp, final int dstIp,
        final int srcPort, final int dstPort)
    {
        return lookup(zone, proto, srcIp, dstIp, srcPort, dstPort);
    }

    /**
     * After the lookups of a batch: brings what the updates and rewrites of the entries found read into the cache, for
     * the batch at once. Changes nothing. A table without batching ignores it.
     *
     * @param results {@link #lookup} results of the batch ({@link #MISS} ones are skipped).
     * @param n       how many to use.
     */
    default void prefetchEntries(final long[] results, final int n)
    {
    }

    /**
     * Whether an entry a lookup found earlier in the batch would still be found now: a RST accounted since may have
     * ended its life. A table whose lookups find such an entry until it is removed says true.
     *
     * @param e entry index.
     * @return whether the entry is live now.
     */
    default boolean liveNow(final int e)
    {
        return true;
    }

    /**
     * @return whether {@link #prefetch} and {@link #prefetchEntries} save more than they cost (the table is too large
     *         to stay in the caches); false for a table without batching.
     */
    default boolean prefetchPays()
    {
        return false;
    }

    int insert(int zone, int proto, int oSrc, int oDst, int oSport, int oDport, int rSrc, int rDst, int rSport,
        int rDport);

    boolean tupleInUse(int zone, int proto, int src, int dst, int sport, int dport);

    int origSrc(int e);

    int origDst(int e);

    int origSrcPort(int e);

    int origDstPort(int e);

    int replySrc(int e);

    int replyDst(int e);

    int replySrcPort(int e);

    int replyDstPort(int e);

    int protocol(int e);

    /**
     * @param e a TCP entry being removed.
     * @return whether it expired after a full TIME_WAIT of at least 2 × MSL in the table, so that its
     *         translated port needs no further quarantine.
     */
    boolean servedTimeWait(int e);

    /**
     * @return whether a TCP segment with these flags would reopen entry {@code e} in place (a SYN on a TIME_WAIT
     *         entry): nat44-in removes it then and sends the SYN to nat44-new, as netfilter kills and recreates
     *         the entry. A table that never reopens answers false.
     */
    default boolean reopens(final int e, final int direction, final int tcpFlags)
    {
        return false;
    }

    boolean update(int entry, int direction, int tcpFlags, int bytes);

    /**
     * {@link #update} for a TCP segment whose sequence numbers are known (the conntrack table applies the RST
     * rule with them); a table that does not track sequence numbers ignores them.
     *
     * @param entry     entry.
     * @param direction direction.
     * @param tcpFlags  flags.
     * @param seq       sequence number.
     * @param ack       acknowledgement number.
     * @param window    advertised window.
     * @param segLen    payload length.
     * @param bytes     IP length.
     * @return false when the segment is invalid for the entry.
     */
    default boolean updateTcp(final int entry, final int direction, final int tcpFlags, final int seq, final int ack,
        final int window, final int segLen, final int bytes)
    {
        return update(entry, direction, tcpFlags, bytes);
    }

    void remove(int e);

    int expire(int budget);

    /**
     * Removes the UDP entries bound to any of the given (frontend, endpoint) pairs: original destination equal to
     * the frontend and reply source equal to the endpoint, both as {@code ip << 16 | port}. One scan of the
     * table, whatever the number of pairs.
     *
     * @param frontends frontends, sorted together with {@code endpoints} by frontend, then endpoint.
     * @param endpoints endpoints.
     * @param count     pairs used from the arrays.
     * @return entries removed.
     */
    int flushUdpBindings(long[] frontends, long[] endpoints, int count);

    void removalListener(RemovalListener l);

    /**
     * Whether a sorted pair list holds a pair (binary search; for {@link #flushUdpBindings} implementations).
     *
     * @return whether {@code (frontend, endpoint)} is among the first {@code count} pairs.
     */
    static boolean containsPair(final long[] frontends, final long[] endpoints, final int count, final long frontend,
        final long endpoint)
    {
        int lo = 0;
        int hi = count - 1;
        while (lo <= hi)
        {
            final int mid = (lo + hi) >>> 1;
            final int c = frontends[mid] != frontend ? Long.compare(frontends[mid], frontend)
                : Long.compare(endpoints[mid], endpoint);
            if (c == 0)
            {
                return true;
            }
            if (c < 0)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }
        return false;
    }
}
