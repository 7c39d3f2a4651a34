package dev.ferry.conntrack;

/**
 * The 32-bit state word of an entry, and netfilter's TCP tracking as a pure function over it.
 *
 * <pre>
 *  bit 15     12 11     10 9        8         7        6          5          4         3    0
 *     | LIVE | . | last class | last dir | challenge | sim open | close init | seen reply | assured | TCP state |
 * </pre>
 *
 * <p>{@link #trackTcp} follows {@code nf_conntrack_tcp_packet} minus window tracking: it looks up
 * {@link TcpState#next}, then applies the special cases of the kernel (reopen from TIME_WAIT/CLOSE, ignored
 * packets and resync on a SYN-ACK answering an ignored SYN, RFC 5961 challenge ACK in LAST_ACK, simultaneous
 * open, RST before any reply, mid-stream pickup, assured promotion). It returns the new word, the timeout to
 * arm and what the table must do, packed in one int so that the hot path allocates nothing.
 */
final class StateWord
{
    static final int STATE_MASK = 0xf;
    static final int ASSURED = 1 << 4;
    static final int SEEN_REPLY = 1 << 5;
    static final int CLOSE_INIT = 1 << 6;
    static final int SIM_OPEN = 1 << 7;
    static final int CHALLENGE = 1 << 8;
    static final int LAST_DIR = 1 << 9;
    static final int LAST_CLASS_SHIFT = 10;
    static final int LAST_CLASS_MASK = 0x7 << LAST_CLASS_SHIFT;
    static final int LIVE = 1 << 15;

    /** The word of a new entry: live, TCP state NONE, no packet seen. */
    static final int NEW = LIVE | TcpState.NONE_SET << LAST_CLASS_SHIFT;

    /** Action: store the word, arm the timeout, account the packet. */
    static final int ACCEPT = 0;
    /** Action: the packet is invalid; change nothing. */
    static final int INVALID = 1;
    /** Action: store the word only (ignored packet): no timeout refresh, no accounting. */
    static final int KEEP = 2;
    /** Action: store the word, account the packet, and expire the entry now. */
    static final int KILL = 3;
    /** Action: the connection starts again: clear the counters, then as {@link #ACCEPT}. */
    static final int REOPEN = 4;

    /** Timeout slot past the TCP states: the unacknowledged cap of a picked-up connection. */
    static final int TIMEOUT_UNACK = 10;

    /** The bits that make a word an assured, replied ESTABLISHED connection, where {@link #ackInEstablished} holds. */
    static final int ESTABLISHED_ASSURED_MASK = STATE_MASK | SEEN_REPLY | ASSURED;
    /** Those bits' value in such a word. */
    static final int ESTABLISHED_ASSURED = TcpState.ESTABLISHED | SEEN_REPLY | ASSURED;

    private StateWord()
    {
    }

    /**
     * What {@link #trackTcp} gives for a segment of class {@link TcpState#ACK_SET} (ACK without SYN, FIN or RST) on
     * a word of {@link #ESTABLISHED_ASSURED}: the segment nearly every packet of a connection is. Accepted, the
     * timeout of ESTABLISHED, and the word with its last class and direction noted; the table's hot path takes this
     * without the state machine's table and special cases (the same result, checked for every such word by
     * StateWordTest).
     *
     * @param st  the current word, {@link #ESTABLISHED_ASSURED} under {@link #ESTABLISHED_ASSURED_MASK}.
     * @param dir packet direction.
     * @return the new word.
     */
    static int ackInEstablished(final int st, final int dir)
    {
        return withLast(st, dir, TcpState.ACK_SET);
    }

    static int action(final int result)
    {
        return result >>> 24;
    }

    static int timeoutSlot(final int result)
    {
        return result >>> 16 & 0xff;
    }

    static int word(final int result)
    {
        return result & 0xffff;
    }

    private static int result(final int action, final int timeoutSlot, final int word)
    {
        return action << 24 | timeoutSlot << 16 | word & 0xffff;
    }

    private static int withLast(final int s, final int dir, final int flagClass)
    {
        return s & ~(LAST_DIR | LAST_CLASS_MASK) | (dir == ConntrackTable.REPLY ? LAST_DIR : 0)
            | flagClass << LAST_CLASS_SHIFT;
    }

    /**
     * One TCP packet against an entry's state word.
     *
     * @param st       the current word.
     * @param dir      packet direction.
     * @param tcpFlags TCP flags byte.
     * @return packed action, timeout slot (a TCP state, or {@link #TIMEOUT_UNACK}) and new word.
     */
    static int trackTcp(final int st, final int dir, final int tcpFlags)
    {
        final int index = TcpState.flagClass(tcpFlags);
        final int lastIndex = (st & LAST_CLASS_MASK) >>> LAST_CLASS_SHIFT;
        final boolean lastSameDir = ((st & LAST_DIR) != 0) == (dir == ConntrackTable.REPLY);
        int old = st & STATE_MASK;
        int next = TcpState.next(dir, index, old);
        int s = st;
        boolean ignore = false;
        switch (next)
        {
            case TcpState.SYN_SENT ->
            {
                if (old >= TcpState.TIME_WAIT)
                {
                    // TIME_WAIT or CLOSE: reopen (RFC 1122) when the old connection was closed with FINs or
                    // aborted by a RST from this side; netfilter kills the entry and starts a new one. A SYN
                    // from the reply side would start a connection the other way round: left ignored.
                    if (dir == ConntrackTable.ORIGINAL
                        && ((st & CLOSE_INIT) != 0 || lastSameDir && lastIndex == TcpState.RST_SET))
                    {
                        return result(REOPEN, TcpState.SYN_SENT,
                            LIVE | TcpState.SYN_SENT | TcpState.SYN_SET << LAST_CLASS_SHIFT);
                    }
                    ignore = true;
                }
            }
            case TcpState.IGNORE -> ignore = true;
            case TcpState.INVALID ->
            {
                return result(INVALID, 0, st);
            }
            case TcpState.TIME_WAIT ->
            {
                // RFC 5961: a challenge ACK answering an ignored SYN must not be taken as the last ACK.
                if (old == TcpState.LAST_ACK && index == TcpState.ACK_SET && !lastSameDir
                    && lastIndex == TcpState.SYN_SET && (st & CHALLENGE) != 0)
                {
                    return result(KEEP, 0, st & ~CHALLENGE);
                }
            }
            case TcpState.SYN_SENT2 -> s |= SIM_OPEN;
            case TcpState.SYN_RECV ->
            {
                if (dir == ConntrackTable.REPLY && index == TcpState.ACK_SET && (st & SIM_OPEN) != 0)
                {
                    next = TcpState.ESTABLISHED;
                }
            }
            default ->
            {
            }
        }
        if (ignore)
        {
            if (index == TcpState.SYNACK_SET && lastIndex == TcpState.SYN_SET && !lastSameDir)
            {
                // the SYN-ACK answers a SYN that we ignored: the end points are in sync, get in sync with them
                // (netfilter also checks that it acknowledges that SYN's sequence number).
                old = TcpState.SYN_SENT;
                next = TcpState.SYN_RECV;
            }
            else
            {
                s = withLast(s, dir, index) & ~CHALLENGE;
                if (index == TcpState.SYN_SET && dir == ConntrackTable.ORIGINAL && old == TcpState.LAST_ACK)
                {
                    s |= CHALLENGE;
                }
                return result(KEEP, 0, s);
            }
        }
        return accept(withLast(s, dir, index) & ~STATE_MASK | next, old, next, dir, index);
    }

    private static int accept(final int word, final int old, final int next, final int dir, final int index)
    {
        int s = word;
        if (old != next && next == TcpState.FIN_WAIT)
        {
            s |= CLOSE_INIT;
        }
        int timeout = index == TcpState.RST_SET ? TcpState.CLOSE : next;
        if ((s & SEEN_REPLY) == 0)
        {
            if (index == TcpState.RST_SET)
            {
                // "If only reply is a RST, we can consider ourselves not to have an established connection"
                return result(KILL, timeout, s);
            }
            if (next == TcpState.ESTABLISHED)
            {
                timeout = TIMEOUT_UNACK; // picked up mid-stream: short timeout until a reply is seen
            }
        }
        else if ((s & ASSURED) == 0 && (old == TcpState.SYN_RECV || old == TcpState.ESTABLISHED)
            && next == TcpState.ESTABLISHED)
        {
            s |= ASSURED;
        }
        if (dir == ConntrackTable.REPLY)
        {
            s |= SEEN_REPLY;
        }
        return result(ACCEPT, timeout, s);
    }
}
