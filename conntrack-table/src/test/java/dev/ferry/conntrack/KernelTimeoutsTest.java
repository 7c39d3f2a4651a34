package dev.ferry.conntrack;

import dev.ferry.core.ManualClock;
import dev.ferry.core.route.Ip4;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static dev.ferry.conntrack.ConntrackTable.ICMP;
import static dev.ferry.conntrack.ConntrackTable.MISS;
import static dev.ferry.conntrack.ConntrackTable.ORIGINAL;
import static dev.ferry.conntrack.ConntrackTable.REPLY;
import static dev.ferry.conntrack.ConntrackTable.TCP;
import static dev.ferry.conntrack.ConntrackTable.UDP;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Every timeout the table applies, against Linux 6.x netfilter's defaults (and kube-proxy's two overrides, TCP
 * established 86400 s and close-wait 3600 s). Each test names the kernel file and timeout it follows.
 */
class KernelTimeoutsTest
{
    private static final long SEC = 1_000_000_000L;
    private static final int FIN = 0x01;
    private static final int SYN = 0x02;
    private static final int RST = 0x04;
    private static final int ACK = 0x10;
    private static final int CLIENT = Ip4.parse("10.244.1.3");
    private static final int VIP = Ip4.parse("10.96.0.10");
    private static final int DNS = Ip4.parse("10.244.2.7");
    private static final int BACKEND = Ip4.parse("10.244.2.5");
    private static final int EXTERNAL = Ip4.parse("203.0.113.9");
    private static final int NODE = Ip4.parse("192.168.1.10");

    private final ManualClock clock = new ManualClock(1_000_000 * SEC);
    private ConntrackTable table = new ConntrackTable(ConntrackConfig.builder().capacity(1024).build(), clock);

    @AfterEach
    void close()
    {
        table.close();
    }

    private int dnsFlow()
    {
        return table.insert(0, UDP, CLIENT, VIP, 5353, 53, DNS, CLIENT, 53, 5353);
    }

    private long left(final int e)
    {
        return table.expiresAt(e) - clock.nanos();
    }

    /**
     * nf_conntrack_proto_udp.c, nf_conntrack_udp_packet: with no reply seen, every packet refreshes the entry to
     * timeouts[UDP_CT_UNREPLIED] (nf_conntrack_udp_timeout, 30 s); it is never assured.
     */
    @Test
    void shouldKeepUnrepliedUdpFor30sFromItsLastPacket()
    {
        final int e = dnsFlow();
        assertThat(left(e)).isEqualTo(30 * SEC);
        clock.advance(10 * SEC);
        assertThat(table.update(e, ORIGINAL, 0, 60)).isTrue();
        assertThat(left(e)).isEqualTo(30 * SEC);
        assertThat(table.assured(e)).isFalse();

        clock.advance(30 * SEC - 1);
        assertThat(table.lookup(0, UDP, CLIENT, VIP, 5353, 53)).isEqualTo((long)e << 1);
        clock.advance(1);
        assertThat(table.lookup(0, UDP, CLIENT, VIP, 5353, 53)).isEqualTo(MISS);
        assertThat(table.expire(1024)).isEqualTo(1);
    }

    /**
     * nf_conntrack_proto_udp.c, nf_conntrack_udp_packet: a DNS query and its answer (a one-shot flow) stay at
     * timeouts[UDP_CT_UNREPLIED], 30 s, and are not assured: the reply itself is handled with the status read
     * before nf_conntrack_in sets IPS_SEEN_REPLY, and no packet follows. Before Linux 5.x's stream_ts this entry
     * got the stream timeout at once; so did ferry.
     */
    @Test
    void shouldExpireAnsweredOneShotUdpAfter30sNotAssured()
    {
        final int e = dnsFlow();
        assertThat(table.update(e, ORIGINAL, 0, 60)).isTrue();
        clock.advance(SEC / 100);
        assertThat(table.update(e, REPLY, 0, 120)).isTrue();

        assertThat(table.seenReply(e)).isTrue();
        assertThat(table.assured(e)).as("not assured at the first reply").isFalse();
        assertThat(left(e)).as("UDP_CT_UNREPLIED after the reply").isEqualTo(30 * SEC);
        clock.advance(30 * SEC);
        assertThat(table.expire(1024)).isEqualTo(1);
        assertThat(table.size()).isZero();
    }

    /**
     * nf_conntrack_proto_udp.c, nf_conntrack_udp_packet: once a reply was seen, a packet before
     * ct->proto.udp.stream_ts (2 * HZ after the first packet; time_after, so exactly 2 s is still before)
     * refreshes to timeouts[UDP_CT_UNREPLIED] (30 s); the first one after it refreshes to
     * timeouts[UDP_CT_REPLIED] (nf_conntrack_udp_timeout_stream, 120 s) and sets IPS_ASSURED.
     */
    @Test
    void shouldAssureRepliedUdpOnlyWhenStillActiveAfter2s()
    {
        final int e = dnsFlow();
        assertThat(table.update(e, ORIGINAL, 0, 60)).isTrue();
        assertThat(table.update(e, REPLY, 0, 60)).isTrue();
        clock.advance(SEC);
        assertThat(table.update(e, ORIGINAL, 0, 60)).isTrue();
        assertThat(table.assured(e)).as("1 s").isFalse();
        assertThat(left(e)).isEqualTo(30 * SEC);
        clock.advance(SEC);
        assertThat(table.update(e, REPLY, 0, 60)).isTrue();
        assertThat(table.assured(e)).as("exactly 2 s").isFalse();
        assertThat(left(e)).isEqualTo(30 * SEC);

        clock.advance(1);
        assertThat(table.update(e, ORIGINAL, 0, 60)).isTrue();
        assertThat(table.assured(e)).as("after 2 s").isTrue();
        assertThat(left(e)).isEqualTo(120 * SEC);
        clock.advance(60 * SEC);
        assertThat(table.update(e, REPLY, 0, 60)).isTrue();
        assertThat(left(e)).as("a stream keeps UDP_CT_REPLIED").isEqualTo(120 * SEC);
        assertThat(table.assured(e)).isTrue();
    }

    /**
     * nf_conntrack_proto_udp.c, nf_conntrack_udp_packet: the first reply, even late, is handled before
     * IPS_SEEN_REPLY is set (nf_conntrack_core.c, nf_conntrack_in): timeouts[UDP_CT_UNREPLIED], not assured;
     * the next packet, past stream_ts, gets timeouts[UDP_CT_REPLIED] and IPS_ASSURED.
     */
    @Test
    void shouldNotAssureOnALateFirstReplyButOnTheNextPacket()
    {
        final int e = dnsFlow();
        clock.advance(5 * SEC);
        assertThat(table.update(e, REPLY, 0, 60)).isTrue();
        assertThat(table.assured(e)).isFalse();
        assertThat(left(e)).isEqualTo(30 * SEC);
        assertThat(table.update(e, ORIGINAL, 0, 60)).isTrue();
        assertThat(table.assured(e)).isTrue();
        assertThat(left(e)).isEqualTo(120 * SEC);
    }

    /**
     * nf_conntrack_proto_udp.c: UDP_CT_UNREPLIED and UDP_CT_REPLIED come from the configuration (kube-proxy's
     * udpTimeout and udpStreamTimeout write nf_conntrack_udp_timeout and nf_conntrack_udp_timeout_stream).
     */
    @Test
    void shouldUseConfiguredUdpTimeoutAndStreamTimeout()
    {
        table.close();
        table = new ConntrackTable(ConntrackConfig.fromSettings(Map.of("udpTimeout", 45L, "udpStreamTimeout", 180L,
            "max", 64L)), clock);
        final int e = dnsFlow();
        assertThat(table.update(e, REPLY, 0, 60)).isTrue();
        assertThat(left(e)).isEqualTo(45 * SEC);
        clock.advance(3 * SEC);
        assertThat(table.update(e, ORIGINAL, 0, 60)).isTrue();
        assertThat(left(e)).isEqualTo(180 * SEC);
    }

    /**
     * nf_conntrack_core.c, early_drop: only entries without IPS_ASSURED are dropped to make room, so a replied
     * UDP flow that has not become a stream (a DNS exchange) stays evictable.
     */
    @Test
    void shouldEarlyDropARepliedUdpFlowThatIsNotYetAStream()
    {
        table.close();
        table = new ConntrackTable(ConntrackConfig.builder().capacity(2).build(), clock);
        final int stream = table.insert(0, UDP, CLIENT, DNS, 1000, 53, DNS, CLIENT, 53, 1000);
        table.update(stream, REPLY, 0, 60);
        final int oneShot = table.insert(0, UDP, CLIENT, DNS, 1001, 53, DNS, CLIENT, 53, 1001);
        table.update(oneShot, REPLY, 0, 60);
        clock.advance(3 * SEC);
        table.update(stream, ORIGINAL, 0, 60);
        assertThat(table.assured(stream)).isTrue();
        assertThat(table.assured(oneShot)).isFalse();

        assertThat(table.insert(0, UDP, CLIENT, DNS, 1002, 53, DNS, CLIENT, 53, 1002)).isGreaterThanOrEqualTo(0);

        assertThat(table.stats().earlyDrop()).isEqualTo(1);
        assertThat(table.tupleInUse(0, UDP, CLIENT, DNS, 1001, 53)).as("the one-shot flow was dropped").isFalse();
        assertThat(table.tupleInUse(0, UDP, CLIENT, DNS, 1000, 53)).isTrue();
    }

    /**
     * nf_conntrack_proto_icmp.c, nf_conntrack_icmp_packet: every packet refreshes to
     * nf_conntrack_icmp_timeout (30 s); ICMP is never assured.
     */
    @Test
    void shouldRefreshIcmpTo30sAndNeverAssure()
    {
        final int e = table.insert(0, ICMP, CLIENT, EXTERNAL, 9, 9, EXTERNAL, NODE, 9, 9);
        assertThat(left(e)).isEqualTo(30 * SEC);
        clock.advance(5 * SEC);
        assertThat(table.update(e, REPLY, 0, 84)).isTrue();
        clock.advance(5 * SEC);
        assertThat(table.update(e, ORIGINAL, 0, 84)).isTrue();
        assertThat(left(e)).isEqualTo(30 * SEC);
        assertThat(table.assured(e)).isFalse();
    }

    /**
     * nf_conntrack_proto_generic.c, nf_generic_timeout: other protocols refresh to
     * nf_conntrack_generic_timeout (600 s) and are never assured.
     */
    @Test
    void shouldRefreshOtherProtocolsTo600sAndNeverAssure()
    {
        final int gre = table.insert(0, 47, CLIENT, EXTERNAL, 0, 0, EXTERNAL, CLIENT, 0, 0);
        assertThat(left(gre)).isEqualTo(600 * SEC);
        clock.advance(100 * SEC);
        assertThat(table.update(gre, REPLY, 0, 100)).isTrue();
        clock.advance(100 * SEC);
        assertThat(table.update(gre, ORIGINAL, 0, 100)).isTrue();
        assertThat(left(gre)).isEqualTo(600 * SEC);
        assertThat(table.assured(gre)).isFalse();
    }

    /**
     * nf_conntrack_proto_tcp.c, tcp_timeouts[]: SYN_SENT 2 min, SYN_RECV 60 s, ESTABLISHED 5 days (kube-proxy
     * sets nf_conntrack_tcp_timeout_established to 86400 s), FIN_WAIT 2 min, CLOSE_WAIT 60 s (kube-proxy sets
     * nf_conntrack_tcp_timeout_close_wait to 3600 s), LAST_ACK 30 s, TIME_WAIT 2 min, along a full connection.
     */
    @Test
    void shouldApplyTcpTimeoutsOfEachStateAlongAConnection()
    {
        final int e = table.insert(0, TCP, CLIENT, VIP, 40000, 80, BACKEND, CLIENT, 8080, 40000);
        final int[][] steps = {
            {ORIGINAL, SYN, TcpState.SYN_SENT, 120},
            {REPLY, SYN | ACK, TcpState.SYN_RECV, 60},
            {ORIGINAL, ACK, TcpState.ESTABLISHED, 86_400},
            {ORIGINAL, FIN | ACK, TcpState.FIN_WAIT, 120},
            {REPLY, ACK, TcpState.CLOSE_WAIT, 3600},
            {REPLY, FIN | ACK, TcpState.LAST_ACK, 30},
            {ORIGINAL, ACK, TcpState.TIME_WAIT, 120},
        };
        for (final int[] s : steps)
        {
            clock.advance(SEC);
            assertThat(table.update(e, s[0], s[1], 60)).isTrue();
            assertThat(TcpState.name(table.tcpState(e))).isEqualTo(TcpState.name(s[2]));
            assertThat(left(e)).as(TcpState.name(s[2])).isEqualTo(s[3] * SEC);
        }
        clock.advance(120 * SEC);
        assertThat(table.expire(1024)).isEqualTo(1);
    }

    /**
     * nf_conntrack_proto_tcp.c, tcp_timeouts[TCP_CONNTRACK_SYN_SENT2] (2 min): a simultaneous open, a SYN
     * answered by a SYN without ACK.
     */
    @Test
    void shouldGiveSimultaneousOpenTheSynSent2Timeout()
    {
        final int e = table.insert(0, TCP, CLIENT, VIP, 40000, 80, BACKEND, CLIENT, 8080, 40000);
        assertThat(table.update(e, ORIGINAL, SYN, 60)).isTrue();
        clock.advance(SEC);
        assertThat(table.update(e, REPLY, SYN, 60)).isTrue();
        assertThat(table.tcpState(e)).isEqualTo(TcpState.SYN_SENT2);
        assertThat(left(e)).isEqualTo(120 * SEC);
    }

    /**
     * nf_conntrack_proto_tcp.c, nf_conntrack_tcp_packet: a RST sets timeouts[TCP_CONNTRACK_CLOSE] (10 s).
     */
    @Test
    void shouldGiveAResetConnectionTheCloseTimeout()
    {
        final int e = table.insert(0, TCP, CLIENT, VIP, 40000, 80, BACKEND, CLIENT, 8080, 40000);
        table.update(e, ORIGINAL, SYN, 60);
        table.update(e, REPLY, SYN | ACK, 60);
        table.update(e, ORIGINAL, ACK, 60);
        clock.advance(SEC);
        assertThat(table.update(e, ORIGINAL, RST | ACK, 40)).isTrue();
        assertThat(table.tcpState(e)).isEqualTo(TcpState.CLOSE);
        assertThat(left(e)).isEqualTo(10 * SEC);
    }

    /**
     * nf_conntrack_proto_tcp.c, tcp_timeouts[TCP_CONNTRACK_UNACK] (5 min): the kernel caps the timeout while
     * data is unacknowledged (tcp_in_window sets IP_CT_TCP_FLAG_DATA_UNACKNOWLEDGED). Without full window
     * tracking ferry takes "no reply seen yet" as that signal: an entry picked up mid-stream
     * (nf_conntrack_tcp_loose) whose peer has not answered gets at most 300 s, not the established timeout.
     */
    @Test
    void shouldCapAnUnansweredMidStreamPickupAtTheUnacknowledgedTimeout()
    {
        final int e = table.insert(0, TCP, CLIENT, VIP, 40000, 80, BACKEND, CLIENT, 8080, 40000);
        assertThat(table.update(e, ORIGINAL, ACK, 60)).isTrue();
        assertThat(table.tcpState(e)).isEqualTo(TcpState.ESTABLISHED);
        assertThat(left(e)).isEqualTo(300 * SEC);
    }
}
