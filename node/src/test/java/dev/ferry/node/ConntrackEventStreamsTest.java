package dev.ferry.node;

import dev.ferry.conntrack.ConntrackConfig;
import dev.ferry.conntrack.ConntrackEvents;
import dev.ferry.conntrack.ConntrackFilter;
import dev.ferry.conntrack.ConntrackTable;
import dev.ferry.core.ManualClock;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The control thread's side of {@code show conntrack -E}: a full ring's losses reach every stream as a count,
 * each stream keeps what its filter selects, and a stream nobody polls ends and stops the recording.
 */
class ConntrackEventStreamsTest
{
    private static final long SEC = 1_000_000_000L;
    private static final ConntrackFilter UDP_ONLY = new ConntrackFilter(17, ConntrackFilter.ANY, ConntrackFilter.ANY,
        ConntrackFilter.ANY, ConntrackFilter.ANY, ConntrackFilter.ANY, ConntrackFilter.ANY);

    private static void flow(final ConntrackTable t, final int proto, final int sport)
    {
        final int e = t.insert(0, proto, 0x0af40102, 0x0a600050, sport, 80, 0x0af40203, 0x0af40102, 8080, sport);
        t.update(e, ConntrackTable.ORIGINAL, 0x02, 60);
    }

    @Test
    void shouldReportEventsLostToAFullRingThenCarryOn()
    {
        final ConntrackEvents ring = new ConntrackEvents(4);
        final ConntrackEventStreams streams = new ConntrackEventStreams(ring);
        try (ConntrackTable t = new ConntrackTable(ConntrackConfig.builder().capacity(64).build(), new ManualClock(1)))
        {
            t.events(ring);
            final long id = streams.open(ConntrackFilter.ALL, 0).id();
            for (int i = 0; i < 10; i++)
            {
                flow(t, ConntrackTable.TCP, 50000 + i);
            }
            final ConntrackEventStreams.Poll p = streams.poll(id, SEC);
            assertThat(p.events()).extracting(e -> e.entry().origSrcPort()).containsExactly(50000, 50001, 50002,
                50003);
            assertThat(p.lost()).isEqualTo(6);
            flow(t, ConntrackTable.TCP, 50010);
            final ConntrackEventStreams.Poll next = streams.poll(id, 2 * SEC);
            assertThat(next.lost()).isZero();
            assertThat(next.events()).extracting(e -> e.entry().origSrcPort()).containsExactly(50010);
        }
    }

    @Test
    void shouldStreamEveryWorkersShard()
    {
        final ConntrackEvents ring0 = new ConntrackEvents(64);
        final ConntrackEvents ring1 = new ConntrackEvents(64);
        final ConntrackEventStreams streams = new ConntrackEventStreams(java.util.List.of(ring0, ring1));
        try (ConntrackTable t0 = new ConntrackTable(ConntrackConfig.builder().capacity(64).build(), new ManualClock(1));
            ConntrackTable t1 = new ConntrackTable(ConntrackConfig.builder().capacity(64).build(), new ManualClock(1)))
        {
            t0.events(ring0);
            t1.events(ring1);
            final long id = streams.open(ConntrackFilter.ALL, 0).id();
            flow(t0, ConntrackTable.TCP, 50000);
            flow(t1, ConntrackTable.TCP, 50001);
            final ConntrackEventStreams.Poll p = streams.poll(id, SEC);
            assertThat(p.events()).extracting(e -> e.entry().origSrcPort()).containsExactlyInAnyOrder(50000, 50001);
        }
    }

    @Test
    void shouldFilterPerStreamAndEndAStreamNobodyPolls()
    {
        final ConntrackEvents ring = new ConntrackEvents(64);
        final ConntrackEventStreams streams = new ConntrackEventStreams(ring);
        try (ConntrackTable t = new ConntrackTable(ConntrackConfig.builder().capacity(64).build(), new ManualClock(1)))
        {
            t.events(ring);
            final long all = streams.open(ConntrackFilter.ALL, 0).id();
            final long udp = streams.open(UDP_ONLY, 0).id();
            flow(t, ConntrackTable.TCP, 51000);
            flow(t, ConntrackTable.UDP, 51001);
            assertThat(streams.poll(udp, SEC).events()).extracting(e -> e.entry().origSrcPort())
                .containsExactly(51001);
            assertThat(streams.poll(all, SEC).events()).hasSize(2);

            // only the UDP stream keeps polling: the other one ends after its lease
            final long late = SEC + ConntrackEventStreams.LEASE_NANOS + 1;
            streams.poll(udp, late - SEC);
            streams.pump(late);
            assertThat(streams.size()).isEqualTo(1);
            assertThatThrownBy(() -> streams.poll(all, late)).hasMessageContaining("no conntrack event stream");
            assertThat(ring.subscribed()).isTrue();
            streams.close(udp);
            assertThat(ring.subscribed()).as("nobody reads: the worker stops recording").isFalse();
        }
    }
}
