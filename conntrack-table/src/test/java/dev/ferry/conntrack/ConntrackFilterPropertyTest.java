package dev.ferry.conntrack;

import dev.ferry.core.ManualClock;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * conntrack(8)'s filters over a table and its bounded walk: {@code -p/-s/-d/--sport/--dport} select on the
 * original tuple and {@code -r/-q} on the reply tuple, every given field must match, ports select only TCP and
 * UDP; a walk in steps visits every live entry once, deleting as it goes, and a deletion runs the removal
 * listener as expiry does.
 */
class ConntrackFilterPropertyTest
{
    // a small address and port space, so that filters often match
    private static final int[] ADDRS = {0x0af40102, 0x0af40103, 0x0a60000a, 0x0af40205};
    private static final int[] PORTS = {53, 80, 40000, 40001};
    private static final int[] PROTOS = {ConntrackTable.TCP, ConntrackTable.UDP, ConntrackTable.ICMP};

    /** One flow to insert: indexes into the small spaces above; the reply is DNATed to replySrc. */
    record Flow(int proto, int src, int dst, int sport, int dport, int replySrc)
    {
    }

    @Provide
    Arbitrary<List<Flow>> flows()
    {
        final Arbitrary<Integer> i = Arbitraries.integers().between(0, 3);
        return net.jqwik.api.Combinators.combine(Arbitraries.integers().between(0, 2), i, i, i, i, i)
            .as(Flow::new).list().ofMaxSize(60);
    }

    @Provide
    Arbitrary<ConntrackFilter> filters()
    {
        final Arbitrary<Long> addr = Arbitraries.of(-1L, (long)ADDRS[0], (long)ADDRS[1], (long)ADDRS[2],
            (long)ADDRS[3]);
        final Arbitrary<Integer> port = Arbitraries.of(-1, PORTS[0], PORTS[1], PORTS[2]);
        final Arbitrary<Integer> proto = Arbitraries.of(-1, ConntrackTable.TCP, ConntrackTable.UDP,
            ConntrackTable.ICMP);
        return net.jqwik.api.Combinators.combine(proto, addr, addr, port, port, addr, addr)
            .as(ConntrackFilter::new);
    }

    /** The reference: conntrack-tools' semantics written out on a flow. */
    private static boolean selects(final ConntrackFilter f, final ConntrackEntry e)
    {
        final boolean ported = e.protocol() == ConntrackTable.TCP || e.protocol() == ConntrackTable.UDP;
        return (f.protocol() < 0 || f.protocol() == e.protocol())
            && (f.origSrc() < 0 || (int)f.origSrc() == e.origSrc())
            && (f.origDst() < 0 || (int)f.origDst() == e.origDst())
            && (f.origSport() < 0 || ported && f.origSport() == e.origSrcPort())
            && (f.origDport() < 0 || ported && f.origDport() == e.origDstPort())
            && (f.replySrc() < 0 || (int)f.replySrc() == e.replySrc())
            && (f.replyDst() < 0 || (int)f.replyDst() == e.replyDst());
    }

    private static ConntrackTable fill(final List<Flow> flows, final ManualClock clock)
    {
        final ConntrackTable t = new ConntrackTable(ConntrackConfig.builder().capacity(256).build(), clock);
        for (final Flow f : flows)
        {
            final int proto = PROTOS[f.proto()];
            final int sport = proto == ConntrackTable.ICMP ? 7 : PORTS[f.sport()];
            final int dport = proto == ConntrackTable.ICMP ? 7 : PORTS[f.dport()];
            // reply: from the DNAT target back to the client (a duplicate tuple is refused, as in a node)
            t.insert(0, proto, ADDRS[f.src()], ADDRS[f.dst()], sport, dport, ADDRS[f.replySrc()], ADDRS[f.src()],
                dport, sport);
        }
        return t;
    }

    @Property(tries = 300)
    void aWalkInStepsSelectsExactlyWhatConntrackWould(@ForAll("flows") final List<Flow> flows,
        @ForAll("filters") final ConntrackFilter filter, @ForAll @IntRange(min = 1, max = 9) final int step)
    {
        final ManualClock clock = new ManualClock(1L);
        try (ConntrackTable t = fill(flows, clock))
        {
            final List<ConntrackEntry> all = new ArrayList<>();
            for (int from = 0; from >= 0; )
            {
                from = t.entries(from, 1000, all);
            }
            final List<ConntrackEntry> expected = all.stream().filter(e -> selects(filter, e)).toList();

            final List<ConntrackEntry> listed = new ArrayList<>();
            for (int from = 0; from >= 0; )
            {
                from = t.walk(from, step, (table, e) ->
                {
                    assertThat(filter.matches(table, e)).as("live and copied entries agree")
                        .isEqualTo(filter.matches(table.copy(e)));
                    if (filter.matches(table, e))
                    {
                        listed.add(table.copy(e));
                    }
                });
            }
            assertThat(listed).as("listed in " + step + "-index steps").containsExactlyElementsOf(expected);
        }
    }

    @Property(tries = 300)
    void deletingInStepsRemovesTheSelectedEntriesAndTellsTheRemovalListener(
        @ForAll("flows") final List<Flow> flows, @ForAll("filters") final ConntrackFilter filter,
        @ForAll @IntRange(min = 1, max = 9) final int step)
    {
        final ManualClock clock = new ManualClock(1L);
        try (ConntrackTable t = fill(flows, clock))
        {
            final List<ConntrackEntry> before = new ArrayList<>();
            t.entries(0, 1000, before);
            final Set<ConntrackEntry> removedSeen = new HashSet<>();
            t.removalListener((table, e) -> removedSeen.add(table.copy(e)));
            int deleted = 0;
            for (int from = 0; from >= 0; )
            {
                final int[] n = new int[1];
                from = t.walk(from, step, (table, e) ->
                {
                    if (filter.matches(table, e))
                    {
                        table.remove(e);
                        n[0]++;
                    }
                });
                deleted += n[0];
            }
            final List<ConntrackEntry> after = new ArrayList<>();
            t.entries(0, 1000, after);
            assertThat(after).as("what stays").containsExactlyElementsOf(before.stream()
                .filter(e -> !selects(filter, e)).toList());
            assertThat(deleted).isEqualTo(before.size() - after.size()).isEqualTo(t.stats().deleted())
                .isEqualTo(removedSeen.size());
            assertThat(removedSeen).as("the removal listener saw each deleted entry")
                .containsExactlyInAnyOrderElementsOf(before.stream().filter(e -> selects(filter, e)).toList());
            for (final ConntrackEntry e : removedSeen)
            {
                assertThat(t.lookup(0, e.protocol(), e.origSrc(), e.origDst(), e.origSrcPort(), e.origDstPort()))
                    .as("a deleted flow is a miss").isEqualTo(ConntrackTable.MISS);
            }
        }
    }

    @Property(tries = 50)
    void refusesFieldsOutOfRange(@ForAll @IntRange(min = 65536, max = 1_000_000) final int port)
    {
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> new ConntrackFilter(-1, -1, -1, port, -1, -1, -1))
            .isInstanceOf(IllegalArgumentException.class);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> new ConntrackFilter(256, -1, -1, -1, -1, -1, -1))
            .isInstanceOf(IllegalArgumentException.class);
    }
}
