package dev.ferry.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ferry.lab.Lab;
import dev.ferry.lab.LabSpec;
import dev.ferry.lab.Shell;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.io.IOException;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 17's lab check of {@code workers: N}: the same lab twice in one run, its ferry nodes with one worker and
 * then with two, each time a 4-stream TCP iperf3 across the nodes and a UDP iperf3 of 1M datagrams with sequence
 * numbers. Two workers must not reorder a flow (the flow's owner transmits it, one ring per worker pair keeps
 * order): no datagram out of order; losses and TCP retransmits not far above one worker's (generously: the machine
 * is shared, and iperf3 itself competes with the workers for its two cores; a quiet machine should lose none).
 */
@Tag("netns")
final class WorkersLabTest
{
    /** 1M datagrams of 64 bytes at 10 Mbit/s (about 19,500 a second, 51 s): a rate a 2-core machine running
     *  both nodes, their workers and iperf3 keeps up with (at 40 Mbit/s one worker already lost half while other
     *  builds loaded the machine). */
    private static final long DATAGRAMS = 1_000_000;
    private static final int DATAGRAM_BYTES = 64;
    private static final String UDP_RATE = "10M";

    /** What one lab run measured. */
    private record Run(int workers, double tcpBps, long retransmits, long udpPackets, long udpLost,
        long udpOutOfOrder)
    {
        String line()
        {
            return String.format("workers %d: TCP -P 4 %.3f Gb/s, %d retransmits; UDP %d datagrams, %d lost, %d out of"
                + " order", workers, tcpBps / 1e9, retransmits, udpPackets, udpLost, udpOutOfOrder);
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
        assertThat(two.udpPackets()).as("datagrams counted by the server").isEqualTo(DATAGRAMS);
        assertThat(one.udpOutOfOrder()).as("datagrams out of order with 1 worker").isZero();
        assertThat(two.udpOutOfOrder()).as("datagrams out of order with 2 workers").isZero();
        // loss is the machine's as much as ferry's: on a shared 2-core machine one worker already lost 0.7 % at
        // this rate while builds ran beside it, two 6.7 % (both nodes' four workers and iperf3 on two cores; a
        // flow whose queue is not its owner's crosses a ring, and a full ring drops, counted). Bounded, not zero
        assertThat(two.udpLost()).as("datagrams lost with 2 workers (1 worker lost %d)", one.udpLost())
            .isLessThanOrEqualTo(Math.max(DATAGRAMS / 50, 3 * one.udpLost()));
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
            final JsonNode udp = iperf3(ns, "-c", server, "-p", String.valueOf(LabSpec.IPERF_PORT), "-u", "-b",
                UDP_RATE, "-l", String.valueOf(DATAGRAM_BYTES), "-n", String.valueOf(DATAGRAMS * DATAGRAM_BYTES),
                "-J");
            final JsonNode sum = udp.path("end").path("sum");
            long outOfOrder = 0;
            for (final JsonNode s : udp.path("end").path("streams"))
            {
                outOfOrder += s.path("udp").path("out_of_order").asLong();
            }
            return new Run(workers, tcp.path("end").path("sum_received").path("bits_per_second").asDouble(),
                tcp.path("end").path("sum_sent").path("retransmits").asLong(), sum.path("packets").asLong(),
                sum.path("lost_packets").asLong(), outOfOrder);
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
}
