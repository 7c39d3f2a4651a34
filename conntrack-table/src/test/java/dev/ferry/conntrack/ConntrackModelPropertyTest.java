package dev.ferry.conntrack;

import dev.ferry.core.ManualClock;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Random insert / remove / lookup sequences give the same answers as a {@link HashMap} model of the two
 * tuples of each flow. Addresses and ports come from small ranges so that tuples collide often, and the table
 * is small so that probe runs wrap around the slot array and backward-shift deletion is exercised. The hash secret
 * is drawn too: the keyed hash must keep lookups exact under any secret. Every lookup is also made in the batched
 * form ({@link ConntrackTable#hash}, {@link ConntrackTable#prefetch}, then the lookup with the hash), which must
 * answer the same; at the end, nat44-in's form ({@link ConntrackTable#prefetchEntries} after the lookups) and
 * {@link ConntrackTable#liveNow} for every entry index.
 */
class ConntrackModelPropertyTest
{
    record Tuple(int zone, int proto, int src, int dst, int sport, int dport)
    {
    }

    /** One operation: kind 0 = insert, 1 = remove the n-th live flow, 2 = lookup. */
    record Op(int kind, Tuple a, Tuple b, int n)
    {
    }

    @Provide
    Arbitrary<List<Op>> ops()
    {
        final Arbitrary<Tuple> tuples = Combinators.combine(
            Arbitraries.of(0, 1),
            Arbitraries.of(ConntrackTable.TCP, ConntrackTable.UDP),
            Arbitraries.integers().between(0, 3).map(i -> 0x0af40100 + i),
            Arbitraries.integers().between(0, 3).map(i -> 0x0a600000 + i),
            Arbitraries.integers().between(1000, 1005),
            Arbitraries.integers().between(80, 81)).as(Tuple::new);
        final Arbitrary<Op> op = Combinators.combine(Arbitraries.integers().between(0, 2), tuples, tuples,
            Arbitraries.integers().between(0, 1000)).as(Op::new);
        return op.list().ofMinSize(1).ofMaxSize(400);
    }

    @Property(tries = 300)
    void tableAnswersLikeAHashMap(@ForAll("ops") final List<Op> ops, @ForAll final long hashSeed)
    {
        final int capacity = 64;
        try (ConntrackTable table = new ConntrackTable(ConntrackConfig.builder().capacity(capacity)
            .hashSeed(hashSeed).build(),
            new ManualClock(1L)))
        {
            final Map<Tuple, Long> model = new HashMap<>();
            final Map<Integer, Tuple[]> flows = new HashMap<>();
            final List<Integer> live = new ArrayList<>();
            for (final Op o : ops)
            {
                final Tuple orig = o.a();
                final Tuple reply = new Tuple(orig.zone(), orig.proto(), o.b().src(), o.b().dst(), o.b().sport(),
                    o.b().dport());
                switch (o.kind())
                {
                    case 0 ->
                    {
                        if (live.size() == capacity)
                        {
                            continue;
                        }
                        final int e = table.insert(orig.zone(), orig.proto(), orig.src(), orig.dst(), orig.sport(),
                            orig.dport(), reply.src(), reply.dst(), reply.sport(), reply.dport());
                        final boolean clash = model.containsKey(orig) || model.containsKey(reply)
                            || orig.equals(reply);
                        if (clash)
                        {
                            assertThat(e).as("insert over a taken tuple").isEqualTo(-1);
                        }
                        else
                        {
                            assertThat(e).as("insert of free tuples").isGreaterThanOrEqualTo(0);
                            assertThat(flows).doesNotContainKey(e);
                            model.put(orig, (long)e << 1);
                            model.put(reply, (long)e << 1 | 1);
                            flows.put(e, new Tuple[] {orig, reply});
                            live.add(e);
                        }
                    }
                    case 1 ->
                    {
                        if (live.isEmpty())
                        {
                            continue;
                        }
                        final int e = live.remove(o.n() % live.size());
                        final Tuple[] t = flows.remove(e);
                        model.remove(t[0]);
                        model.remove(t[1]);
                        table.remove(e);
                    }
                    default ->
                    {
                        final long got = table.lookup(orig.zone(), orig.proto(), orig.src(), orig.dst(),
                            orig.sport(), orig.dport());
                        assertThat(got).as("lookup %s", orig).isEqualTo(model.getOrDefault(orig, -1L));
                        final long h = table.hash(orig.zone(), orig.proto(), orig.src(), orig.dst(), orig.sport(),
                            orig.dport());
                        table.prefetch(new long[] {h}, 1);
                        assertThat(table.lookup(h, orig.zone(), orig.proto(), orig.src(), orig.dst(), orig.sport(),
                            orig.dport())).as("hashed lookup %s", orig).isEqualTo(got);
                    }
                }
                assertThat(table.size()).isEqualTo(live.size());
            }
            // the batched form, as nat44-in uses it: hash every tuple, prefetch them together, then look up
            final List<Tuple> keys = new ArrayList<>(model.keySet());
            final long[] hashes = new long[keys.size()];
            for (int i = 0; i < hashes.length; i++)
            {
                final Tuple t = keys.get(i);
                hashes[i] = table.hash(t.zone(), t.proto(), t.src(), t.dst(), t.sport(), t.dport());
            }
            table.prefetch(hashes, hashes.length);
            for (int i = 0; i < hashes.length; i++)
            {
                final Tuple t = keys.get(i);
                assertThat(table.lookup(t.zone(), t.proto(), t.src(), t.dst(), t.sport(), t.dport()))
                    .as("final lookup %s", t).isEqualTo(model.get(t));
                assertThat(table.lookup(hashes[i], t.zone(), t.proto(), t.src(), t.dst(), t.sport(), t.dport()))
                    .as("final hashed lookup %s", t).isEqualTo(model.get(t));
            }
            // nat44-in's form: slot lines, the lookups, then the entry lines of the results (misses among them,
            // skipped); nothing changes, and every result's entry is live now, every removed flow's is not
            table.prefetch(hashes, hashes.length);
            final long[] results = new long[hashes.length + 1];
            for (int i = 0; i < hashes.length; i++)
            {
                final Tuple t = keys.get(i);
                results[i] = table.lookup(hashes[i], t.zone(), t.proto(), t.src(), t.dst(), t.sport(), t.dport());
            }
            results[hashes.length] = ConntrackTable.MISS;
            table.prefetchEntries(results, results.length);
            for (int i = 0; i < hashes.length; i++)
            {
                assertThat(results[i]).isEqualTo(model.get(keys.get(i)));
                assertThat(table.liveNow(ConntrackTable.entryOf(results[i]))).isTrue();
            }
            for (int e = 0; e < capacity; e++)
            {
                assertThat(table.liveNow(e)).as("entry %d live now", e).isEqualTo(flows.containsKey(e));
            }
            assertThat(table.stats().earlyDrop()).isZero();
            assertThat(table.stats().drop()).isZero();
        }
    }
}
