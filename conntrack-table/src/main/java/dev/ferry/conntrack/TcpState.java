package dev.ferry.conntrack;

/**
 * TCP connection-tracking states, numbered and named as netfilter's {@code enum tcp_conntrack}, and the
 * transition table of {@code nf_conntrack_proto_tcp.c} ({@code tcp_conntracks[dir][flag class][state]}).
 *
 * <p>The table is indexed by direction ({@link ConntrackTable#ORIGINAL}, {@link ConntrackTable#REPLY}), by the
 * flag class of the segment ({@link #flagClass(int)}: SYN, SYN-ACK, FIN, ACK, RST, NONE) and by the current
 * state. Two extra results exist besides the states: {@link #INVALID} (netfilter's {@code sIV}: the packet is
 * marked INVALID and does not touch the entry) and {@link #IGNORE} ({@code sIG}: the packet passes, the entry
 * keeps its state and timer, because conntrack may be out of sync with the end points).
 */
public final class TcpState
{
    /** Initial state: nothing seen yet. */
    public static final int NONE = 0;
    /** A SYN was seen in the original direction. */
    public static final int SYN_SENT = 1;
    /** A SYN-ACK was seen in reply. */
    public static final int SYN_RECV = 2;
    /** The handshake completed (the ACK of the SYN-ACK was seen). */
    public static final int ESTABLISHED = 3;
    /** A FIN was seen. */
    public static final int FIN_WAIT = 4;
    /** The first FIN was acknowledged. */
    public static final int CLOSE_WAIT = 5;
    /** FINs were seen in both directions; waiting for the last ACK. */
    public static final int LAST_ACK = 6;
    /** The last ACK was seen. */
    public static final int TIME_WAIT = 7;
    /** Closed by a RST. */
    public static final int CLOSE = 8;
    /** A SYN was seen in the reply direction too: simultaneous open. */
    public static final int SYN_SENT2 = 9;
    /** Result of a transition: the packet is invalid for the state (netfilter {@code sIV}). */
    public static final int INVALID = 10;
    /** Result of a transition: the packet is let through without changing the entry ({@code sIG}). */
    public static final int IGNORE = 11;

    /** Flag class: SYN without ACK. */
    public static final int SYN_SET = 0;
    /** Flag class: SYN with ACK. */
    public static final int SYNACK_SET = 1;
    /** Flag class: FIN (with or without ACK). */
    public static final int FIN_SET = 2;
    /** Flag class: ACK only. */
    public static final int ACK_SET = 3;
    /** Flag class: RST (whatever else is set). */
    public static final int RST_SET = 4;
    /** Flag class: none of SYN, FIN, ACK, RST. */
    public static final int NONE_SET = 5;

    // bit i set: flags i (FIN 0x01, SYN 0x02, RST 0x04, ACK 0x10, URG 0x20; PSH 0x08 masked off) are valid
    private static final long VALID_FLAGS = 1L << 0x02 | 1L << 0x22 | 1L << 0x12 | 1L << 0x04 | 1L << 0x14
        | 1L << 0x11 | 1L << 0x31 | 1L << 0x10 | 1L << 0x30;

    private static final String[] NAMES =
    {
        "NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE",
        "SYN_SENT2", "INVALID", "IGNORE",
    };

    private static final int NO = NONE;
    private static final int SS = SYN_SENT;
    private static final int SR = SYN_RECV;
    private static final int ES = ESTABLISHED;
    private static final int FW = FIN_WAIT;
    private static final int CW = CLOSE_WAIT;
    private static final int LA = LAST_ACK;
    private static final int TW = TIME_WAIT;
    private static final int CL = CLOSE;
    private static final int S2 = SYN_SENT2;
    private static final int IV = INVALID;
    private static final int IG = IGNORE;

    /**
     * netfilter's {@code tcp_conntracks} (Linux 6.x), flattened as [dir][class][state]. Columns are the old
     * state: NO, SS, SR, ES, FW, CW, LA, TW, CL, S2.
     */
    private static final byte[] TABLE = table(new int[][]
    {
        // ORIGINAL
        { SS, SS, IG, IG, IG, IG, IG, SS, SS, S2 }, // syn: new, retransmitted SYN, reopen from TW/CLOSE
        { IV, IV, SR, IV, IV, IV, IV, IV, IV, SR }, // syn-ack: only in simultaneous open
        { IV, IV, FW, FW, LA, LA, LA, TW, CL, IV }, // fin
        { ES, IV, ES, ES, CW, CW, TW, TW, CL, IV }, // ack: NONE -> ESTABLISHED is mid-stream pickup
        { IV, CL, CL, CL, CL, CL, CL, CL, CL, CL }, // rst
        { IV, IV, IV, IV, IV, IV, IV, IV, IV, IV }, // none
        // REPLY
        { IV, S2, IV, IV, IV, IV, IV, SS, IV, S2 }, // syn: simultaneous open
        { IV, SR, IG, IG, IG, IG, IG, IG, IG, SR }, // syn-ack: the normal answer to a SYN
        { IV, IV, FW, FW, LA, LA, LA, TW, CL, IV }, // fin
        { IV, IG, SR, ES, CW, CW, TW, TW, CL, IG }, // ack
        { IV, CL, CL, CL, CL, CL, CL, CL, CL, CL }, // rst
        { IV, IV, IV, IV, IV, IV, IV, IV, IV, IV }, // none
    });

    private TcpState()
    {
    }

    private static byte[] table(final int[][] rows)
    {
        final byte[] t = new byte[2 * 6 * 10];
        for (int r = 0; r < rows.length; r++)
        {
            for (int s = 0; s < 10; s++)
            {
                t[r * 10 + s] = (byte)rows[r][s];
            }
        }
        return t;
    }

    /**
     * The flag class of a segment, as netfilter's {@code get_conntrack_index}: RST first, then SYN (with or
     * without ACK), then FIN, then ACK.
     *
     * @param tcpFlags the TCP flags byte (FIN 0x01, SYN 0x02, RST 0x04, ACK 0x10).
     * @return one of the {@code *_SET} classes.
     */
    public static int flagClass(final int tcpFlags)
    {
        if ((tcpFlags & 0x04) != 0)
        {
            return RST_SET;
        }
        if ((tcpFlags & 0x02) != 0)
        {
            return (tcpFlags & 0x10) != 0 ? SYNACK_SET : SYN_SET;
        }
        if ((tcpFlags & 0x01) != 0)
        {
            return FIN_SET;
        }
        return (tcpFlags & 0x10) != 0 ? ACK_SET : NONE_SET;
    }

    /**
     * Whether a TCP flags byte is a combination that netfilter accepts at all: its {@code tcp_valid_flags}
     * table in {@code nf_conntrack_proto_tcp.c}, indexed by the flags without ECE, CWR and PSH. SYN, SYN|URG,
     * SYN|ACK, RST, RST|ACK, FIN|ACK, FIN|ACK|URG, ACK and ACK|URG pass; everything else (SYN|FIN, SYN|RST, FIN
     * without ACK, no flag at all, ...) is INVALID before any state is looked at ({@code tcp_error}), so it never
     * opens or changes a flow.
     *
     * @param tcpFlags the flags byte.
     * @return whether the combination is valid.
     */
    public static boolean validFlags(final int tcpFlags)
    {
        return (VALID_FLAGS >>> (tcpFlags & 0x37) & 1L) != 0;
    }


    /**
     * Looks up the transition table.
     *
     * @param direction {@link ConntrackTable#ORIGINAL} or {@link ConntrackTable#REPLY}.
     * @param flagClass the segment's class from {@link #flagClass(int)}.
     * @param state     the current state, {@link #NONE} to {@link #SYN_SENT2}.
     * @return the next state, or {@link #INVALID} or {@link #IGNORE}.
     */
    public static int next(final int direction, final int flagClass, final int state)
    {
        return TABLE[(direction * 6 + flagClass) * 10 + state];
    }

    /**
     * @param state a state (or {@link #INVALID} / {@link #IGNORE}).
     * @return its netfilter name, e.g. "ESTABLISHED".
     */
    public static String name(final int state)
    {
        return state >= 0 && state < NAMES.length ? NAMES[state] : "UNKNOWN";
    }
}
