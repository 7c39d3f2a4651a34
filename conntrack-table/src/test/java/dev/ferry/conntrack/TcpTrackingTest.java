package dev.ferry.conntrack;

import dev.ferry.core.ManualClock;
import dev.ferry.core.route.Ip4;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static dev.ferry.conntrack.ConntrackTable.MISS;
import static dev.ferry.conntrack.ConntrackTable.ORIGINAL;
import static dev.ferry.conntrack.ConntrackTable.REPLY;
import static dev.ferry.conntrack.ConntrackTable.TCP;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * TCP state sequences compared with what Linux's nf_conntrack_proto_tcp.c does: the expected states are read
 * off its {@code tcp_conntracks[dir][index][state]} table and the special cases in {@code nf_conntrack_tcp_packet}
 * (reopen, RST before reply, simultaneous open, challenge ACK). The comments name the table cell, e.g.
 * "ORIG ack sSR -> sES".
 */
class TcpTrackingTest
{
    private static final long SEC = 1_000_000_000L;
    private static final int FIN = 0x01;
    private static final int SYN = 0x02;
    private static final int RST = 0x04;
    private static final int PSH = 0x08;
    private static final int ACK = 0x10;
    private static final int CLIENT = Ip4.parse("10.244.1.3");
    private static final int VIP = Ip4.parse("10.96.0.10");
    private static final int BACKEND = Ip4.parse("10.244.2.5");

    private final ManualClock clock = new ManualClock(1_000_000 * SEC);
    private final ConntrackTable table = new ConntrackTable(ConntrackConfig.builder().capacity(64).build(), clock);
    private final int e = table.insert(0, TCP, CLIENT, VIP, 40000, 80, BACKEND, CLIENT, 8080, 40000);

    @AfterEach
    void close()
    {
        table.close();
    }

    /** Feeds packets as (direction, flags) pairs; returns the state name after each. */
    private List<String> feed(final int... dirFlags)
    {
        final List<String> states = new ArrayList<>();
        for (int i = 0; i < dirFlags.length; i += 2)
        {
            final boolean valid = table.update(e, dirFlags[i], dirFlags[i + 1], 60);
            states.add(valid ? TcpState.name(table.tcpState(e)) : "INVALID");
        }
        return states;
    }

    private long timeoutSeconds()
    {
        return (table.expiresAt(e) - clock.nanos()) / SEC;
    }

    private void handshake()
    {
        assertThat(feed(ORIGINAL, SYN, REPLY, SYN | ACK, ORIGINAL, ACK))
            .containsExactly("SYN_SENT", "SYN_RECV", "ESTABLISHED");
    }

    /**
     * nf_conntrack_proto_tcp.c {@code tcp_error}: a flag combination missing from {@code tcp_valid_flags} is
     * INVALID whatever the state: it opens nothing and changes nothing (SYN|FIN, SYN|FIN|PSH, SYN|RST, FIN
     * without ACK, no flags); PSH, ECE and CWR do not count.
     */
    @Test
    void shouldRefuseFlagCombinationsOutsideTcpValidFlags()
    {
        assertThat(feed(ORIGINAL, SYN | FIN, ORIGINAL, SYN | FIN | PSH, ORIGINAL, SYN | RST, ORIGINAL, FIN,
            ORIGINAL, 0)).containsOnly("INVALID");
        assertThat(table.tcpState(e)).isEqualTo(TcpState.NONE);
        assertThat(table.stats().invalid()).isEqualTo(5);
        handshake();
        assertThat(feed(REPLY, SYN | FIN, ORIGINAL, FIN | PSH)).containsOnly("INVALID");
        assertThat(feed(ORIGINAL, ACK | PSH | 0x40 | 0x80)).containsExactly("ESTABLISHED");
        for (int f = 0; f < 64; f++)
        {
            final int k = f & 0x37;
            final boolean kernel = k == SYN || k == (SYN | 0x20) || k == (SYN | ACK) || k == RST || k == (RST | ACK)
                || k == (FIN | ACK) || k == (FIN | ACK | 0x20) || k == ACK || k == (ACK | 0x20);
            assertThat(TcpState.validFlags(f)).as("flags 0x%02x", f).isEqualTo(kernel);
        }
    }

    private String seg(final int dir, final int flags, final int seq, final int ack, final int len)
    {
        return table.updateTcp(e, dir, flags, seq, ack, 502, len, 40 + len) ? TcpState.name(table.tcpState(e))
            : "INVALID";
    }

    /**
     * nf_conntrack_proto_tcp.c, {@code nf_conntrack_tcp_packet} case {@code TCP_CONNTRACK_CLOSE}: once the
     * receiver has acknowledged, a RST before its {@code td_maxack} is INVALID ("invalid rst"); a RST at exactly
     * {@code td_maxack} closes; another in-window RST keeps ESTABLISHED ("keep established state to allow a
     * possible challenge ACK"); beyond the window ({@code tcp_in_window}) it is INVALID.
     */
    @Test
    void shouldCloseOnlyOnARstAtTheExpectedSequence()
    {
        assertThat(seg(ORIGINAL, SYN, 1000, 0, 0)).isEqualTo("SYN_SENT");
        assertThat(seg(REPLY, SYN | ACK, 5000, 1001, 0)).isEqualTo("SYN_RECV");
        assertThat(seg(ORIGINAL, ACK, 1001, 5001, 0)).isEqualTo("ESTABLISHED");
        assertThat(seg(ORIGINAL, ACK | PSH, 1001, 5001, 100)).isEqualTo("ESTABLISHED");
        assertThat(seg(REPLY, ACK, 5001, 1101, 0)).isEqualTo("ESTABLISHED");
        final long invalidBefore = table.stats().invalid();

        // toward the server (it acknowledged up to 1101): before it, far beyond the window, in window but inexact
        assertThat(seg(ORIGINAL, RST, 1000, 0, 0)).as("before td_maxack").isEqualTo("INVALID");
        assertThat(seg(ORIGINAL, RST, 1101 + 0x7000_0000, 0, 0)).as("beyond the window").isEqualTo("INVALID");
        assertThat(seg(ORIGINAL, RST | ACK, 1101 + 70_000, 5001, 0)).as("in window, not exact")
            .isEqualTo("ESTABLISHED");
        assertThat(table.stats().invalid() - invalidBefore).isEqualTo(2);
        assertThat(timeoutSeconds()).as("still the established timeout").isEqualTo(86_400);
        // toward the client (it acknowledged up to 5001)
        assertThat(seg(REPLY, RST, 4000, 0, 0)).isEqualTo("INVALID");
        assertThat(table.tcpState(e)).isEqualTo(TcpState.ESTABLISHED);
        // the exact one closes
        assertThat(seg(REPLY, RST, 5001, 0, 0)).isEqualTo("CLOSE");
    }

    /** The same rule's second exact case: a RST right after the sender's own data ("RST is part of a train"). */
    @Test
    void shouldCloseOnARstAtTheEndOfTheSendersData()
    {
        seg(ORIGINAL, SYN, 1000, 0, 0);
        seg(REPLY, SYN | ACK, 5000, 1001, 0);
        seg(ORIGINAL, ACK, 1001, 5001, 0);
        assertThat(seg(REPLY, ACK | PSH, 5001, 1001, 19)).isEqualTo("ESTABLISHED");
        assertThat(seg(REPLY, RST | ACK, 5020, 1001, 0)).isEqualTo("CLOSE");
    }

    @Test
    void shouldFollowNormalOpenAndClose()
    {
        assertThat(feed(ORIGINAL, SYN)).containsExactly("SYN_SENT");          // ORIG syn sNO -> sSS
        assertThat(timeoutSeconds()).isEqualTo(120);
        assertThat(table.seenReply(e)).isFalse();
        assertThat(feed(REPLY, SYN | ACK)).containsExactly("SYN_RECV");       // REPLY synack sSS -> sSR
        assertThat(timeoutSeconds()).isEqualTo(60);
        assertThat(table.assured(e)).isFalse();
        assertThat(feed(ORIGINAL, ACK)).containsExactly("ESTABLISHED");       // ORIG ack sSR -> sES
        assertThat(table.assured(e)).as("assured after the 3-way handshake").isTrue();
        assertThat(timeoutSeconds()).isEqualTo(86400);

        assertThat(feed(ORIGINAL, PSH | ACK, REPLY, PSH | ACK,
            ORIGINAL, FIN | ACK,                                               // ORIG fin sES -> sFW
            REPLY, ACK,                                                        // REPLY ack sFW -> sCW
            REPLY, FIN | ACK,                                                  // REPLY fin sCW -> sLA
            ORIGINAL, ACK))                                                    // ORIG ack sLA -> sTW
            .containsExactly("ESTABLISHED", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT");
        assertThat(timeoutSeconds()).isEqualTo(120);
        assertThat(table.packets(e, ORIGINAL)).isEqualTo(5);
        assertThat(table.packets(e, REPLY)).isEqualTo(4);
        assertThat(table.bytes(e, ORIGINAL)).isEqualTo(300);
        assertThat(table.stats().invalid()).isZero();

        clock.advance(120 * SEC);
        assertThat(table.expire(64)).isEqualTo(1);
        assertThat(table.size()).isZero();
    }

    @Test
    void shouldTimeOutPerState()
    {
        handshake();
        feed(ORIGINAL, FIN | ACK);
        assertThat(timeoutSeconds()).as("FIN_WAIT").isEqualTo(120);
        feed(REPLY, ACK);
        assertThat(timeoutSeconds()).as("CLOSE_WAIT, kube-proxy's 1 h").isEqualTo(3600);
        feed(REPLY, FIN | ACK);
        assertThat(timeoutSeconds()).as("LAST_ACK").isEqualTo(30);
    }

    @Test
    void shouldCloseOnRstAndKeepTheEntryTenSeconds()
    {
        handshake();

        assertThat(feed(REPLY, RST | ACK)).containsExactly("CLOSE");          // REPLY rst sES -> sCL
        assertThat(timeoutSeconds()).isEqualTo(10);
        assertThat(table.assured(e)).isTrue();
        assertThat(table.lookup(0, TCP, CLIENT, VIP, 40000, 80)).isNotEqualTo(MISS);
        assertThat(feed(ORIGINAL, ACK)).containsExactly("CLOSE");             // ORIG ack sCL -> sCL
        clock.advance(10 * SEC);
        assertThat(table.expire(64)).isEqualTo(1);
    }

    @Test
    void shouldDeleteAtOnceWhenOnlyReplyIsRst()
    {
        // nf_conntrack_tcp_packet: "If only reply is a RST, we can consider ourselves not to have an
        // established connection ... delete the conntrack immediately". The RST itself is still accepted.
        assertThat(feed(ORIGINAL, SYN, REPLY, RST | ACK)).containsExactly("SYN_SENT", "CLOSE");

        assertThat(table.lookup(0, TCP, CLIENT, VIP, 40000, 80)).isEqualTo(MISS);
        assertThat(table.expire(64)).isEqualTo(1);
        assertThat(table.size()).isZero();
    }

    @Test
    void shouldFollowSimultaneousClose()
    {
        handshake();

        assertThat(feed(ORIGINAL, FIN | ACK,                                  // ORIG fin sES -> sFW
            REPLY, FIN | ACK,                                                  // REPLY fin sFW -> sLA
            ORIGINAL, ACK,                                                     // ORIG ack sLA -> sTW
            REPLY, ACK))                                                       // REPLY ack sTW -> sTW
            .containsExactly("FIN_WAIT", "LAST_ACK", "TIME_WAIT", "TIME_WAIT");
        assertThat(timeoutSeconds()).isEqualTo(120);
    }

    @Test
    void shouldFollowSimultaneousOpen()
    {
        assertThat(feed(ORIGINAL, SYN,                                        // ORIG syn sNO -> sSS
            REPLY, SYN,                                                        // REPLY syn sSS -> sS2
            ORIGINAL, SYN | ACK,                                               // ORIG synack sS2 -> sSR
            REPLY, SYN | ACK,                                                  // REPLY synack sSR -> sIG
            REPLY, ACK))                          // REPLY ack sSR -> sSR, ESTABLISHED in simultaneous open
            .containsExactly("SYN_SENT", "SYN_SENT2", "SYN_RECV", "SYN_RECV", "ESTABLISHED");
        assertThat(table.assured(e)).isTrue();
    }

    @Test
    void shouldRefreshOnRetransmittedSyn()
    {
        feed(ORIGINAL, SYN);
        clock.advance(3 * SEC);

        assertThat(feed(ORIGINAL, SYN)).containsExactly("SYN_SENT");          // ORIG syn sSS -> sSS
        assertThat(timeoutSeconds()).isEqualTo(120);
        assertThat(table.packets(e, ORIGINAL)).isEqualTo(2);
        assertThat(feed(REPLY, SYN | ACK, ORIGINAL, ACK)).containsExactly("SYN_RECV", "ESTABLISHED");
    }

    @Test
    void shouldReopenOnSynInTimeWait()
    {
        handshake();
        feed(ORIGINAL, FIN | ACK, REPLY, FIN | ACK, ORIGINAL, ACK);
        assertThat(table.tcpState(e)).isEqualTo(TcpState.TIME_WAIT);
        table.mark(e, 7);

        // ORIG syn sTW -> sSS with a FIN seen: netfilter deletes the entry and starts a new connection.
        assertThat(feed(ORIGINAL, SYN)).containsExactly("SYN_SENT");

        assertThat(table.assured(e)).isFalse();
        assertThat(table.seenReply(e)).isFalse();
        assertThat(table.packets(e, ORIGINAL)).as("counters start again").isEqualTo(1);
        assertThat(table.packets(e, REPLY)).isZero();
        assertThat(table.mark(e)).as("the NAT binding stays").isEqualTo(7);
        assertThat(timeoutSeconds()).isEqualTo(120);
        handshakeAfterReopen();
    }

    private void handshakeAfterReopen()
    {
        assertThat(feed(REPLY, SYN | ACK, ORIGINAL, ACK)).containsExactly("SYN_RECV", "ESTABLISHED");
        assertThat(table.assured(e)).isTrue();
    }

    @Test
    void shouldReopenAfterClientAbortButNotAfterServerReset()
    {
        handshake();
        feed(ORIGINAL, RST);
        // ORIG syn sCL -> sSS, and the last packet was a RST from the same side: reopen.
        assertThat(feed(ORIGINAL, SYN)).containsExactly("SYN_SENT");
        handshakeAfterReopen();

        feed(REPLY, RST);
        // the server reset it: the SYN falls through to "ignore" and the entry keeps its state.
        assertThat(feed(ORIGINAL, SYN)).containsExactly("CLOSE");
        assertThat(timeoutSeconds()).isEqualTo(10);
    }

    @Test
    void shouldIgnoreSynInEstablishedAndResyncOnTheSynAck()
    {
        handshake();
        final long packets = table.packets(e, ORIGINAL);

        assertThat(feed(ORIGINAL, SYN)).containsExactly("ESTABLISHED");      // ORIG syn sES -> sIG
        assertThat(table.packets(e, ORIGINAL)).as("ignored packets are not accounted").isEqualTo(packets);
        // REPLY synack sES -> sIG, but it answers the SYN we ignored: the end points restarted, follow them.
        assertThat(feed(REPLY, SYN | ACK, ORIGINAL, ACK)).containsExactly("SYN_RECV", "ESTABLISHED");
    }

    /**
     * An ignored packet (KEEP: {@code TCP_CONNTRACK_IGNORE}, and the RFC 5961 challenge ACK) neither refreshes the
     * timeout nor counts: {@code nf_conntrack_tcp_packet} returns NF_ACCEPT before {@code nf_ct_refresh_acct}. So
     * {@code updateTcp} returning before the expiry and the counters on KEEP is the kernel's behaviour, not a bug:
     * a peer cannot keep a dead entry alive with SYNs the state machine ignores.
     */
    @Test
    void shouldNeitherRefreshNorCountAnIgnoredPacket()
    {
        handshake();
        clock.advance(1000 * SEC);
        final long expires = table.expiresAt(e);
        final long packets = table.packets(e, ORIGINAL);
        final long bytes = table.bytes(e, ORIGINAL);

        assertThat(table.update(e, ORIGINAL, SYN, 60)).as("accepted, ignored").isTrue();
        assertThat(table.updateTcp(e, ORIGINAL, SYN, 1000, 0, 65535, 0, 60)).as("the segment form too").isTrue();

        assertThat(table.tcpState(e)).isEqualTo(TcpState.ESTABLISHED);
        assertThat(table.expiresAt(e)).as("no timeout refresh").isEqualTo(expires);
        assertThat(table.packets(e, ORIGINAL)).as("not counted").isEqualTo(packets);
        assertThat(table.bytes(e, ORIGINAL)).as("not counted").isEqualTo(bytes);
        // the next accepted packet refreshes and counts as usual
        assertThat(table.updateTcp(e, ORIGINAL, ACK, 1000, 2000, 65535, 0, 40)).isTrue();
        assertThat(table.expiresAt(e)).isEqualTo(clock.nanos() + 86400 * SEC);
        assertThat(table.packets(e, ORIGINAL)).isEqualTo(packets + 1);
    }

    @Test
    void shouldMarkPacketsInvalidForTheirState()
    {
        assertThat(feed(ORIGINAL, SYN | ACK)).containsExactly("INVALID");     // ORIG synack sNO -> sIV
        assertThat(feed(ORIGINAL, FIN)).containsExactly("INVALID");           // ORIG fin sNO -> sIV
        assertThat(feed(ORIGINAL, SYN)).containsExactly("SYN_SENT");
        assertThat(feed(ORIGINAL, ACK)).containsExactly("INVALID");           // ORIG ack sSS -> sIV
        assertThat(feed(REPLY, FIN | ACK)).containsExactly("INVALID");        // REPLY fin sSS -> sIV
        assertThat(feed(ORIGINAL, PSH)).containsExactly("INVALID");           // none -> sIV
        assertThat(feed(REPLY, ACK)).as("REPLY ack sSS -> sIG").containsExactly("SYN_SENT");
        handshakeAfterReopen();
        assertThat(feed(REPLY, SYN)).containsExactly("INVALID");              // REPLY syn sES -> sIV
        assertThat(feed(ORIGINAL, SYN | ACK)).containsExactly("INVALID");     // ORIG synack sES -> sIV

        assertThat(table.stats().invalid()).isEqualTo(7);
        assertThat(table.packets(e, ORIGINAL)).as("invalid packets are not accounted").isEqualTo(2);
        assertThat(table.tcpState(e)).isEqualTo(TcpState.ESTABLISHED);
    }

    @Test
    void shouldPickUpMidStreamWithShortTimeoutUntilReplySeen()
    {
        assertThat(feed(ORIGINAL, ACK)).containsExactly("ESTABLISHED");       // ORIG ack sNO -> sES (loose)
        assertThat(table.assured(e)).isFalse();
        assertThat(timeoutSeconds()).as("capped at the unacknowledged timeout").isEqualTo(300);
        assertThat(feed(REPLY, ACK, ORIGINAL, ACK)).containsExactly("ESTABLISHED", "ESTABLISHED");
        assertThat(table.assured(e)).isTrue();
        assertThat(timeoutSeconds()).isEqualTo(86400);
    }

    @Test
    void shouldIgnoreChallengeAckInLastAck()
    {
        handshake();
        feed(ORIGINAL, FIN | ACK, REPLY, FIN | ACK);
        assertThat(table.tcpState(e)).isEqualTo(TcpState.LAST_ACK);

        // a new SYN in LAST_ACK is ignored; the server's RFC 5961 challenge ACK must not close the entry.
        assertThat(feed(ORIGINAL, SYN, REPLY, ACK)).containsExactly("LAST_ACK", "LAST_ACK");
        assertThat(feed(ORIGINAL, ACK)).containsExactly("TIME_WAIT");
    }

    @Test
    void shouldClassifyFlagsAsNetfilter()
    {
        assertThat(TcpState.flagClass(SYN)).isEqualTo(TcpState.SYN_SET);
        assertThat(TcpState.flagClass(SYN | ACK)).isEqualTo(TcpState.SYNACK_SET);
        assertThat(TcpState.flagClass(FIN | ACK | PSH)).isEqualTo(TcpState.FIN_SET);
        assertThat(TcpState.flagClass(RST | ACK | SYN)).isEqualTo(TcpState.RST_SET);
        assertThat(TcpState.flagClass(ACK | PSH)).isEqualTo(TcpState.ACK_SET);
        assertThat(TcpState.flagClass(PSH)).isEqualTo(TcpState.NONE_SET);
        assertThat(TcpState.name(TcpState.SYN_SENT2)).isEqualTo("SYN_SENT2");
    }
}
