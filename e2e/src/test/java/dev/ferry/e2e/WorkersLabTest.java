package dev.ferry.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ferry.lab.Lab;
import dev.ferry.lab.LabSpec;
import dev.ferry.lab.Shell;
import dev.ferry.nodeapi.NodeApiClient;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 17's lab check of {@code workers: N}: the same lab twice in one run, its ferry nodes with one worker and
 * then with two, each time a 4-stream TCP iperf3 across the nodes and a UDP iperf3 of 1M datagrams with sequence
 * numbers from pod p11 (node 1) to pod p21 (node 2). Two workers must not reorder a flow (the flow's owner
 * transmits it, one ring per worker pair keeps order): no datagram out of order; TCP retransmits not far above one
 * worker's.
 *
 * <p>UDP: no datagram lost or duplicated, with either worker count, and every datagram accounted for by counters
 * outside ferry. Where a datagram can go missing between the two pods' sockets, and who counts it:
 * <pre>
 *   p11 iperf3 ─► p11 UDP (Udp OutDatagrams) ─► p11 eth0 = ferry's TAP: its queue full ─► TX dropped (kernel)
 *     ─► node 1 ferry (drops by reason, port rx/tx-dropped, handoff) ─► underlay ─► node 2 ferry (likewise)
 *     ─► p21 eth0 ─► p21 IP (InDelivers) ─► p21 UDP: socket buffer full ─► RcvbufErrors (kernel) ─► iperf3 server
 * </pre>
 * Before this test asserted it (issue 17, session 7), 1 worker lost 457 and 2 workers 69 of 1M, and nobody knew
 * where. Run by hand on this 2-core machine (200K datagrams, other builds loading it): every lost datagram was in
 * one of the two kernel counters, none in ferry: the receiving iperf3's socket buffer (the default 208 KiB holds
 * about 270 small datagrams, 14 ms of this stream: 1,867 and 5,767 RcvbufErrors), and the sending pod's TAP queue
 * (the kernel's 1,000 frames, 51 ms of this stream, while ferry's worker was off the core: 513 and 9,338 TX
 * dropped). Hence iperf3 {@code -w 4M} (the server's socket buffer; the kernel allows up to rmem_max, 4 MiB here)
 * and ferry's pod TAPs with {@code TapPortFactory.TAP_TX_QUEUE_LENGTH} (4,096) frames of queue. iperf3's
 * own count misses the tail (datagrams that reach p21 after the server has read the end of the test), so the
 * accounting uses p21's IP deliveries less its TCP segments and ICMP messages: every UDP datagram p11's kernel
 * sent reached p21's UDP layer.
 *
 * <p>A machine so loaded that ferry's worker is kept off its core for longer than the TAP queue lasts (210 ms of
 * this stream) still loses datagrams there; the assertion names the counter (at a load average of 14 on 2 cores,
 * 12 % of the stream was TX dropped, every one of them in that counter).
 */
@Tag("netns")
final class WorkersLabTest
{
    /** 1M datagrams of 64 bytes at 10 Mbit/s (about 19,500 a second, 51 s): a rate a 2-core machine running
     *  both nodes, their workers and iperf3 keeps up with. */
    private static final long DATAGRAMS = 1_000_000;
    private static final int DATAGRAM_BYTES = 64;
    private static final String UDP_RATE = "10M";
    /** The UDP server's socket buffer (iperf3 -w; the client passes it to the server): 4 MiB, which the kernel
     *  doubles for its overhead, holds about 10,000 small datagrams, half a second of this stream. */
    private static final String UDP_SOCKET_BUFFER = "4M";
    /** Drops that are not datagrams of the stream: ARP handled by the node. */
    private static final java.util.Set<String> NOT_DATAGRAM_DROPS = java.util.Set.of("arp", "neighbour-learn");

    /** What one lab run measured. */
    private record Run(int workers, double tcpBps, long retransmits, Udp udp)
    {
        String line()
        {
            return String.format("workers %d: TCP -P 4 %.3f Gb/s, %d retransmits; %s", workers, tcpBps / 1e9,
                retransmits, udp.line());
        }
    }

    /**
     * The UDP stream as iperf3 and the kernels saw it.
     *
     * @param sent          the client's count of datagrams.
     * @param lost          the server's: gaps in the sequence up to there.
     * @param outOfOrder    the server's.
     * @param podUdpOut     p11's Udp OutDatagrams (the stream, and iperf3's one datagram to set it up).
     * @param podTxDropped  p11 eth0 TX dropped: the TAP's queue was full (ferry did not read it in time).
     * @param podUdpArrived p21's IP deliveries less TCP segments and ICMP messages: the datagrams that reached its
     *                      UDP layer.
     * @param rcvbufErrors  p21's Udp RcvbufErrors: the server's socket buffer was full.
     * @param udpInErrors   p21's Udp InErrors (RcvbufErrors, checksum and memory errors).
     * @param ferryDrops    both nodes' drops over the UDP run, by stage and reason, ARP's left out; port
     *                      rx/tx-dropped.
     */
    private record Udp(long sent, long lost, long outOfOrder, long podUdpOut,
        long podTxDropped, long podUdpArrived, long rcvbufErrors, long udpInErrors, Map<String, Long> ferryDrops)
    {
        String line()
        {
            return String.format("UDP %d datagrams sent, %d lost, %d out of order; p11 Udp"
                + " OutDatagrams %d, p11 eth0 TX dropped %d, p21 UDP arrivals %d, p21 RcvbufErrors %d, InErrors %d;"
                + " ferry drops %s", sent, lost, outOfOrder, podUdpOut, podTxDropped, podUdpArrived,
                rcvbufErrors, udpInErrors, ferryDrops);
        }
    }

    @BeforeEach
    void needsTheLab()
    {
        LabFixture.assumeRootAndTools();
    }

    @Test
    void shouldKeepEveryFlowInOrderOnTwoWorkersAsOnOne() throws IOException
    {
        final Run one = run(1);
        final Run two = run(2);
        System.out.println(one.line());
        System.out.println(two.line());
        assertThat(two.tcpBps()).as("TCP across nodes with 2 workers").isPositive();
        assertThat(two.retransmits()).as("retransmits with 2 workers against 1 (%d)", one.retransmits())
            .isLessThanOrEqualTo(Math.max(100, 3 * one.retransmits()));
        for (final Run r : List.of(one, two))
        {
            final Udp u = r.udp();
            final String w = r.workers() + " worker(s): " + u.line();
            assertThat(u.sent()).as("datagrams the client sent, " + w).isEqualTo(DATAGRAMS);
            assertThat(u.ferryDrops()).as("ferry's drops, " + w).isEmpty();
            assertThat(u.podTxDropped()).as("p11's TAP queue overflowed (ferry's worker did not read it in time; a"
                + " machine loaded beyond the queue's 210 ms?), " + w).isZero();
            assertThat(u.podUdpArrived()).as("datagrams that reached p21's UDP layer against those p11's sent, " + w)
                .isEqualTo(u.podUdpOut());
            assertThat(u.rcvbufErrors()).as("p21's socket buffer overflowed, " + w).isZero();
            assertThat(u.udpInErrors()).as("p21's UDP input errors, " + w).isZero();
            assertThat(u.lost()).as("datagrams lost, " + w).isZero();
            assertThat(u.outOfOrder()).as("datagrams out of order, " + w).isZero();
        }
    }

    private static Run run(final int workers) throws IOException
    {
        final String before = System.getProperty("ferry.test.workers");
        System.setProperty("ferry.test.workers", String.valueOf(workers));
        Lab lab = null;
        try
        {
            lab = LabFixture.up(Lab.Node2.FERRY);
            final String server = lab.spec().pod("p21").ip();
            final String ns = lab.spec().podNs("p11");
            final JsonNode tcp = iperf3(ns, "-c", server, "-p", String.valueOf(LabSpec.IPERF_PORT), "-P", "4", "-t",
                "3", "-J");
            final Counters start = Counters.read(lab);
            final JsonNode udp = iperf3(ns, "-c", server, "-p", String.valueOf(LabSpec.IPERF_PORT), "-u", "-b",
                UDP_RATE, "-l", String.valueOf(DATAGRAM_BYTES), "-n", String.valueOf(DATAGRAMS * DATAGRAM_BYTES),
                "-w", UDP_SOCKET_BUFFER, "-J");
            final Counters after = Counters.read(lab);
            final JsonNode sum = udp.path("end").path("sum");
            long outOfOrder = 0;
            for (final JsonNode s : udp.path("end").path("streams"))
            {
                outOfOrder += s.path("udp").path("out_of_order").asLong();
            }
            final Udp u = new Udp(sum.path("packets").asLong(), sum.path("lost_packets").asLong(),
                outOfOrder, after.delta(start, "p11", "Udp.OutDatagrams"),
                after.delta(start, "p11", "eth0.tx_dropped"),
                after.delta(start, "p21", "Ip.InDelivers") - after.delta(start, "p21", "Tcp.InSegs")
                    - after.delta(start, "p21", "Icmp.InMsgs"),
                after.delta(start, "p21", "Udp.RcvbufErrors"), after.delta(start, "p21", "Udp.InErrors"),
                after.ferryDrops(start));
            return new Run(workers, tcp.path("end").path("sum_received").path("bits_per_second").asDouble(),
                tcp.path("end").path("sum_sent").path("retransmits").asLong(), u);
        }
        finally
        {
            LabFixture.down(lab);
            if (before == null)
            {
                System.clearProperty("ferry.test.workers");
            }
            else
            {
                System.setProperty("ferry.test.workers", before);
            }
        }
    }

    private static JsonNode iperf3(final String ns, final String... args) throws IOException
    {
        final String[] cmd = new String[args.length + 1];
        cmd[0] = "iperf3";
        System.arraycopy(args, 0, cmd, 1, args.length);
        final Shell.Result r = Shell.inNetns(60_000, ns, cmd);
        final JsonNode j = new ObjectMapper().readTree(r.out().isBlank() ? "{}" : r.out());
        assertThat(j.path("error").asText("")).as("iperf3 error").isEmpty();
        assertThat(r.exit()).as(r.err()).isZero();
        return j;
    }

    /**
     * The counters of one moment: each pod's {@code /proc/net/snmp} and eth0 statistics (kernel, outside ferry) and
     * both nodes' drops and port drops (ferry).
     */
    private record Counters(Map<String, Long> values)
    {
        static Counters read(final Lab lab) throws IOException
        {
            final Map<String, Long> v = new TreeMap<>();
            for (final String pod : List.of("p11", "p21"))
            {
                final String ns = lab.spec().podNs(pod);
                snmp(v, pod, Shell.inNetns(10_000, ns, "cat", "/proc/net/snmp").out());
                for (final String stat : List.of("tx_dropped", "rx_dropped"))
                {
                    final Shell.Result r = Shell.inNetns(10_000, ns, "cat", "/sys/class/net/eth0/statistics/" + stat);
                    assertThat(r.exit()).as(r.err()).isZero();
                    v.put(pod + ".eth0." + stat, Long.parseLong(r.out().trim()));
                }
            }
            for (final LabSpec.Node n : lab.spec().nodes())
            {
                try (NodeApiClient c = NodeApiClient.connect(lab.socket(n.name())))
                {
                    final JsonNode stats = c.showJson("stats");
                    for (final JsonNode d : stats.path("drops"))
                    {
                        if (!NOT_DATAGRAM_DROPS.contains(d.path("node").asText()))
                        {
                            v.merge("ferry." + n.name() + ".drop." + d.path("node").asText() + ": "
                                + d.path("reason").asText(), d.path("count").asLong(), Long::sum);
                        }
                    }
                    for (final JsonNode p : stats.path("ports"))
                    {
                        v.put("ferry." + n.name() + ".port." + p.path("name").asText() + ".rxDropped",
                            p.path("rxDropped").asLong());
                        v.put("ferry." + n.name() + ".port." + p.path("name").asText() + ".txDropped",
                            p.path("txDropped").asLong());
                    }
                }
            }
            return new Counters(v);
        }

        /** {@code /proc/net/snmp}: a line of names, then a line of values, per protocol ("Udp: InDatagrams ..."). */
        private static void snmp(final Map<String, Long> into, final String pod, final String text)
        {
            final String[] lines = text.split("\n");
            for (int i = 0; i + 1 < lines.length; i += 2)
            {
                final String[] names = lines[i].trim().split("\\s+");
                final String[] values = lines[i + 1].trim().split("\\s+");
                final String proto = names[0].replace(":", "");
                for (int k = 1; k < Math.min(names.length, values.length); k++)
                {
                    into.put(pod + "." + proto + "." + names[k], Long.parseLong(values[k]));
                }
            }
        }

        long delta(final Counters before, final String pod, final String name)
        {
            final String key = pod + "." + name;
            assertThat(values).as("counter " + key).containsKey(key);
            return values.get(key) - before.values().getOrDefault(key, 0L);
        }

        /** @return ferry's counters that grew since {@code before}, with how much. */
        Map<String, Long> ferryDrops(final Counters before)
        {
            final Map<String, Long> grew = new TreeMap<>();
            values.forEach((k, n) ->
            {
                final long d = n - before.values().getOrDefault(k, 0L);
                if (k.startsWith("ferry.") && d != 0)
                {
                    grew.put(k, d);
                }
            });
            return grew;
        }
    }
}
