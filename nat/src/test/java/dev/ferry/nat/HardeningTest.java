package dev.ferry.nat;

import dev.ferry.core.header.IcmpHeader;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.route.Ip4Prefix;
import dev.ferry.core.tables.NodeTables;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static dev.ferry.nat.Harness.B1;
import static dev.ferry.nat.Harness.B2;
import static dev.ferry.nat.Harness.CLIENT;
import static dev.ferry.nat.Harness.EXTERNAL;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue #13: what a hostile pod can do to the NAT stages, each case following the kernel's rule.
 */
class HardeningTest
{
    private Harness net;

    @AfterEach
    void close()
    {
        if (net != null)
        {
            net.close();
        }
    }

    /**
     * Class 4. Linux's {@code nf_nat_l4proto_unique_tuple} tries at most {@code NF_NAT_MAX_ATTEMPTS} (128)
     * ports per new flow; a destination whose masquerade ports are all in use must cost no more than that per
     * new flow (it cost the whole range, up to 4,096 tuple checks, before), and the flow is dropped as
     * exhausted with the bound counted.
     */
    @Test
    void shouldTryAtMost128PortsPerNewFlowTowardAnExhaustedDestination()
    {
        net = new Harness(Nat.Options.defaults(42), 100_000);
        final NodeTables.ClusterSettings d = NodeTables.ClusterSettings.defaults();
        net.settings = new NodeTables.ClusterSettings(Ip4Prefix.parse("10.244.0.0/16"), d.serviceCidrs(), 1, 8472,
            30000, 32767, List.of(), false, List.of(), 20000, 21023, Map.of());
        net.publish();
        final int server = Ip4.parse("198.51.100.1");
        // fill the 1,024 ports toward server:53 (more flows than ports)
        for (int sport = 1; sport <= 3000; sport++)
        {
            net.send("pod-client", Harness.fromPod(CLIENT).ip4(CLIENT, server).udp(sport, 53)
                .payload(new byte[] {1}).build());
        }
        assertThat(net.flowCount()).as("the range is (nearly) full").isGreaterThan(1000);
        final long exhaustedBefore = net.counter(Nat.COUNTER_PORTS_EXHAUSTED);
        final long limitBefore = net.counter(Nat.COUNTER_PORT_PROBE_LIMIT);
        final long sessionsBefore = net.counter(Nat.COUNTER_SESSIONS_CREATED);
        int dropped = 0;
        for (int sport = 40000; sport < 40200; sport++)
        {
            final long probes = net.counter(Nat.COUNTER_PORT_PROBES);
            final List<Harness.Out> out = net.send("pod-client", Harness.fromPod(CLIENT).ip4(CLIENT, server)
                .udp(sport, 53).payload(new byte[] {1}).build());
            assertThat(net.counter(Nat.COUNTER_PORT_PROBES) - probes).as("ports tried for new flow %d", sport)
                .isLessThanOrEqualTo(PortAllocator.MAX_PROBES).isEqualTo(128);
            dropped += out.isEmpty() ? 1 : 0;
        }
        assertThat(dropped).isEqualTo(200);
        assertThat(net.counter(Nat.COUNTER_SESSIONS_CREATED)).isEqualTo(sessionsBefore);
        assertThat(net.counter(Nat.COUNTER_PORTS_EXHAUSTED) - exhaustedBefore).isEqualTo(200);
        assertThat(net.counter(Nat.COUNTER_PORT_PROBE_LIMIT) - limitBefore).isEqualTo(200);
        assertThat(net.drops()).containsEntry("stage/nat44-new/drop/ports-exhausted", 200 + exhaustedBefore);
    }

    /**
     * Class 9. Linux's {@code nf_conntrack_inet_error} relates an ICMP error to a flow only when its outer
     * destination is the destination of the flow's tuple in the error's direction, that is the quoted packet's
     * source ("outer daddr != inner" makes it INVALID, and kube-proxy drops INVALID). A pod that forges an error
     * quoting another pod's Service flow, sent anywhere else, must not get it translated (which revealed the
     * flow: the quote came back restored to client and ClusterIP).
     */
    @Test
    void shouldDropAForgedIcmpErrorQuotingAnotherPodsServiceFlow()
    {
        net = new Harness();
        final int vip = Ip4.parse("10.96.0.10");
        net.publish(Harness.clusterIp("web", vip, 6, 80, Harness.ready(B1, 8080, true)));
        final Harness.Out syn = net.sendOne("pod-client", Harness.fromPod(CLIENT).ip4(CLIENT, vip)
            .tcp(41000, 80, 0x02, 1, 0).build());
        assertThat(syn.port()).isEqualTo("pod-b1");
        // the flow as it travels after DNAT: CLIENT:41000 -> B1:8080; pod b2 quotes it in a forged error sent to
        // a collector outside the cluster
        final byte[] quote = Arrays.copyOfRange(syn.bytes(), 14, 14 + 20 + 8);
        final List<Harness.Out> forged = net.send("pod-b2", Harness.fromPod(B2).ip4(B2, EXTERNAL)
            .icmp(IcmpHeader.TYPE_DEST_UNREACHABLE, IcmpHeader.CODE_PORT_UNREACHABLE, 0).payload(quote).build());
        assertThat(forged).as("a forged error about another pod's flow goes nowhere").isEmpty();
        assertThat(net.counter("stage/nat44-in/drop/icmp-error-misdirected")).isEqualTo(1);

        // addressed to the quoted source, the same error is the backend's own and is translated for the client
        final Harness.Out err = net.sendOne("pod-b1", Harness.fromPod(B1).ip4(B1, CLIENT)
            .icmp(IcmpHeader.TYPE_DEST_UNREACHABLE, IcmpHeader.CODE_PORT_UNREACHABLE, 0).payload(quote).build());
        assertThat(err.port()).isEqualTo("pod-client");
        assertThat(err.pkt().src()).as("from the ClusterIP the client used").isEqualTo(vip);
        assertThat(err.pkt().inner().dst()).isEqualTo(vip);
        assertThat(net.counter("stage/nat44-in/drop/icmp-error-misdirected")).isEqualTo(1);
    }

    /**
     * Class 7, flags. netfilter's {@code tcp_error} refuses flag combinations missing from {@code tcp_valid_flags}
     * (nf_conntrack_proto_tcp.c) before looking at any state: SYN|FIN and SYN|FIN|PSH opened Service flows, and
     * must not; neither may SYN|RST, FIN without ACK or a segment with no flag, to a Service or between pods.
     */
    @Test
    void shouldDropInvalidTcpFlagCombinationsWithoutOpeningAFlow()
    {
        net = new Harness();
        final int vip = Ip4.parse("10.96.0.10");
        net.publish(Harness.clusterIp("web", vip, 6, 80, Harness.ready(B1, 8080, true)));
        final int[] invalid = {0x03, 0x0b, 0x06, 0x01, 0x00, 0x07, 0x29};
        int sport = 42000;
        for (final int flags : invalid)
        {
            assertThat(net.send("pod-client", Harness.fromPod(CLIENT).ip4(CLIENT, vip).tcp(sport++, 80, flags, 1, 0)
                .build())).as("flags 0x%02x to a Service", flags).isEmpty();
            assertThat(net.send("pod-client", Harness.fromPod(CLIENT).ip4(CLIENT, B2).tcp(sport++, 22, flags, 1, 0)
                .build())).as("flags 0x%02x to a pod", flags).isEmpty();
        }
        assertThat(net.flowCount()).as("no flow opened").isZero();
        assertThat(net.counter(Nat.COUNTER_SESSIONS_CREATED)).isZero();
        assertThat(net.counter("stage/nat44-in/drop/tcp-flags-invalid")).isEqualTo(2L * invalid.length);
        // the valid ones still work: SYN|PSH is a SYN (PSH is ignored by the kernel's table)
        assertThat(net.send("pod-client", Harness.fromPod(CLIENT).ip4(CLIENT, vip).tcp(sport, 80, 0x0a, 1, 0).build()))
            .hasSize(1);
        assertThat(net.flowCount()).isEqualTo(1);
    }

    /**
     * Class 7, RST. A RST with any sequence number closed an ESTABLISHED Service flow, and after the 10 s of
     * CLOSE the connection went to another backend. netfilter ({@code nf_conntrack_tcp_packet}, CLOSE case)
     * closes only on a RST at the receiver's {@code td_maxack}; an earlier one is INVALID and dropped; an
     * in-window inexact one passes (the endpoint answers with a challenge ACK) and leaves the flow ESTABLISHED.
     */
    @Test
    void shouldKeepAnEstablishedServiceFlowAgainstASpoofedRst()
    {
        net = new Harness();
        final int vip = Ip4.parse("10.96.0.10");
        net.publish(Harness.clusterIp("web", vip, 6, 80, Harness.ready(B1, 8080, true)));
        net.sendOne("pod-client", Harness.fromPod(CLIENT).ip4(CLIENT, vip).tcp(41000, 80, 0x02, 1000, 0).build());
        net.sendOne("pod-b1", Harness.fromPod(B1).ip4(B1, CLIENT).tcp(8080, 41000, 0x12, 5000, 1001).build());
        net.sendOne("pod-client", Harness.fromPod(CLIENT).ip4(CLIENT, vip).tcp(41000, 80, 0x10, 1001, 5001).build());
        final int e = (int)(net.ct.lookup(0, 6, CLIENT, vip, 41000, 80) >>> 1);
        assertThat(net.ct.tcpState(e)).isEqualTo(dev.ferry.conntrack.TcpState.ESTABLISHED);

        // forged toward the backend with a sequence number before what it acknowledged: dropped, counted
        assertThat(net.send("pod-client", Harness.fromPod(CLIENT).ip4(CLIENT, vip).tcp(41000, 80, 0x04, 77, 0)
            .build())).isEmpty();
        assertThat(net.counter("stage/nat44-in/drop/invalid")).isEqualTo(1);
        // in window but not exact: delivered (the backend may send a challenge ACK), the flow stays established
        assertThat(net.send("pod-client", Harness.fromPod(CLIENT).ip4(CLIENT, vip).tcp(41000, 80, 0x04, 1500, 0)
            .build())).hasSize(1);
        assertThat(net.ct.tcpState(e)).isEqualTo(dev.ferry.conntrack.TcpState.ESTABLISHED);
        net.clock.advance(11_000_000_000L);
        final Harness.Out data = net.sendOne("pod-client", Harness.fromPod(CLIENT).ip4(CLIENT, vip)
            .tcp(41000, 80, 0x18, 1001, 5001).payload(new byte[] {1}).build());
        assertThat(data.port()).as("the same connection, the same backend").isEqualTo("pod-b1");
        assertThat(net.ct.tcpState(e)).isEqualTo(dev.ferry.conntrack.TcpState.ESTABLISHED);
    }
}
