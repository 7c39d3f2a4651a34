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
 * The table against a model that also keeps time: UDP flows with their expiry, seen-reply and assured state as
 * Linux's {@code nf_conntrack_udp_packet} sets them, looked up from both directions (directly and batched), updated,
 * removed, swept by {@link ConntrackTable#expire(int)}, and inserted into a full table (early drop). The clock moves
 * in random steps and also to exactly one nanosecond before, at and after a flow's expiry, so that every lookup on
 * either side of an expiry (and of the 4.3 s units a slot keeps the expiry in) must answer as the model does. The
 * tables are small, so that they fill up and early drop must pick an expired flow first, never an assured one.
 */
class ConntrackExpiryModelPropertyTest
{
    private static final long SECOND = 1_000_000_000L;
    private static final long UDP_TIMEOUT = 30 * SECOND;
    private static final long UDP_STREAM_TIMEOUT = 120 * SECOND;

    record Tuple(int src, int dst, int sport, int dport)
    {
    }

    /**
     * One operation: kind 0 = insert, 1 = remove the n-th flow, 2 = look up (and on a hit update) from direction
     * {@code dir}, 3 = clock step of {@code step} ns, 4 = clock to the n-th flow's expiry + {@code dir - 1}, 5 = sweep.
     */
    record Op(int kind, Tuple a, Tuple b, int n, int dir, long step)
    {
    }

    static final class Flow
    {
        final int entry;
        final Tuple orig;
        final Tuple reply;
        long expiresAt;
        long firstSeen;
        boolean seenReply;
        boolean assured;

        Flow(final int entry, final Tuple orig, final Tuple reply, final long now)
        {
            this.entry = entry;
            this.orig = orig;
            this.reply = reply;
            this.expiresAt = now + UDP_TIMEOUT;
            this.firstSeen = now;
        }
    }

    @Provide
    Arbitrary<List<Op>> ops()
    {
        final Arbitrary<Tuple> tuples = Combinators.combine(
            Arbitraries.integers().between(0, 3).map(i -> 0x0af40100 + i),
            Arbitraries.integers().between(0, 2).map(i -> 0x0a600000 + i),
            Arbitraries.integers().between(1000, 1004),
            Arbitraries.integers().between(53, 54)).as(Tuple::new);
        final Arbitrary<Long> steps = Arbitraries.oneOf(
            Arbitraries.longs().between(0, 3 * SECOND),
            Arbitraries.longs().between(0, 130 * SECOND),
            Arbitraries.of(1L << 32, (1L << 32) - 1, 2 * SECOND + 1));
        final Arbitrary<Op> op = Combinators.combine(
            Arbitraries.frequencyOf(
                net.jqwik.api.Tuple.of(4, Arbitraries.just(0)), net.jqwik.api.Tuple.of(1, Arbitraries.just(1)),
                net.jqwik.api.Tuple.of(6, Arbitraries.just(2)), net.jqwik.api.Tuple.of(2, Arbitraries.just(3)),
                net.jqwik.api.Tuple.of(1, Arbitraries.just(4)), net.jqwik.api.Tuple.of(1, Arbitraries.just(5))),
            tuples, tuples, Arbitraries.integers().between(0, 1000), Arbitraries.integers().between(0, 2), steps)
            .as(Op::new);
        return op.list().ofMinSize(1).ofMaxSize(300);
    }

    /** Tables of 16 and 64 slots: a probe range (64 slots at most) covers the whole table, so early drop is exact. */
    @Provide
    Arbitrary<Integer> capacities()
    {
        return Arbitraries.of(4, 16);
    }

    @Provide
    Arbitrary<Long> starts()
    {
        return Arbitraries.of(0L, 1L, (1L << 32) - 7, 1_700_000_000_000_000_000L, -5 * SECOND);
    }

    @Property(tries = 400)
    void tableAnswersLikeATimedModel(@ForAll("ops") final List<Op> ops, @ForAll("starts") final long start,
        @ForAll("capacities") final int capacity, @ForAll final long hashSeed)
    {
        final ManualClock clock = new ManualClock(start);
        final ConntrackConfig config = ConntrackConfig.builder().capacity(capacity).hashSeed(hashSeed).build();
        assertThat(config.udp() * SECOND).isEqualTo(UDP_TIMEOUT);
        assertThat(config.udpStream() * SECOND).isEqualTo(UDP_STREAM_TIMEOUT);
        try (ConntrackTable table = new ConntrackTable(config, clock))
        {
            final Map<Tuple, Flow> byTuple = new HashMap<>();
            final Map<Integer, Flow> byEntry = new HashMap<>();
            final List<Flow> flows = new ArrayList<>();
            final List<Integer> removed = new ArrayList<>();
            table.removalListener((t, e) -> removed.add(e));
            for (final Op o : ops)
            {
                final long now = clock.nanos();
                removed.clear();
                switch (o.kind())
                {
                    case 0 ->
                    {
                        final Tuple orig = o.a();
                        final Tuple reply = o.b();
                        final Flow onOrig = byTuple.get(orig);
                        final Flow onReply = byTuple.get(reply);
                        final boolean taken = orig.equals(reply) || onOrig != null && onOrig.expiresAt > now
                            || onReply != null && onReply.expiresAt > now;
                        final int e = table.insert(0, ConntrackTable.UDP, orig.src(), orig.dst(), orig.sport(),
                            orig.dport(), reply.src(), reply.dst(), reply.sport(), reply.dport());
                        if (taken)
                        {
                            assertThat(e).as("insert over a live tuple").isEqualTo(-1);
                            // the original tuple is cleared first: its expired owner is gone even so
                            if (!orig.equals(reply) && onOrig != null && onOrig.expiresAt <= now)
                            {
                                assertThat(removed).containsExactly(onOrig.entry);
                                forget(onOrig, byTuple, byEntry, flows);
                            }
                            else
                            {
                                assertThat(removed).isEmpty();
                            }
                            assertThat(table.size()).isEqualTo(flows.size());
                            continue;
                        }
                        // the expired owners of its tuples go first, then (table full) one early-dropped victim
                        int expected = 0;
                        for (final Flow f : new Flow[] {onOrig, onReply})
                        {
                            if (f != null && byEntry.containsKey(f.entry))
                            {
                                assertThat(removed).as("expired owner replaced").contains(f.entry);
                                forget(f, byTuple, byEntry, flows);
                                expected++;
                            }
                        }
                        final boolean full = flows.size() == capacity;
                        final boolean anyExpired = flows.stream().anyMatch(f -> f.expiresAt <= now);
                        final boolean anyDroppable = flows.stream().anyMatch(f -> f.expiresAt <= now || !f.assured);
                        if (full && !anyDroppable)
                        {
                            assertThat(e).as("full of assured flows").isEqualTo(-1);
                            assertThat(removed).hasSize(expected);
                            continue;
                        }
                        assertThat(e).as("insert").isGreaterThanOrEqualTo(0);
                        if (full)
                        {
                            assertThat(removed).hasSize(expected + 1);
                            final Flow victim = byEntry.get(removed.get(removed.size() - 1));
                            assertThat(victim).as("early-drop victim is a flow").isNotNull();
                            if (anyExpired)
                            {
                                assertThat(victim.expiresAt).as("an expired flow goes first").isLessThanOrEqualTo(now);
                            }
                            else
                            {
                                assertThat(victim.assured).as("never an assured flow").isFalse();
                            }
                            forget(victim, byTuple, byEntry, flows);
                        }
                        else
                        {
                            assertThat(removed).hasSize(expected);
                        }
                        final Flow f = new Flow(e, orig, reply, now);
                        byTuple.put(orig, f);
                        byTuple.put(reply, f);
                        byEntry.put(e, f);
                        flows.add(f);
                    }
                    case 1 ->
                    {
                        if (flows.isEmpty())
                        {
                            continue;
                        }
                        final Flow f = flows.get(o.n() % flows.size());
                        table.remove(f.entry);
                        assertThat(removed).containsExactly(f.entry);
                        forget(f, byTuple, byEntry, flows);
                    }
                    case 2 ->
                    {
                        final Tuple t = flows.isEmpty() || o.n() % 3 == 0 ? o.a()
                            : o.dir() == 0 ? flows.get(o.n() % flows.size()).orig
                            : flows.get(o.n() % flows.size()).reply;
                        final Flow f = byTuple.get(t);
                        final long want = f == null || f.expiresAt <= now ? ConntrackTable.MISS
                            : (long)f.entry << 1 | (t.equals(f.orig) ? 0 : 1);
                        final long got = table.lookup(0, ConntrackTable.UDP, t.src(), t.dst(), t.sport(), t.dport());
                        assertThat(got).as("lookup %s at %d", t, now).isEqualTo(want);
                        final long h = table.hash(0, ConntrackTable.UDP, t.src(), t.dst(), t.sport(), t.dport());
                        table.prefetch(new long[] {h}, 1);
                        assertThat(table.lookup(h, 0, ConntrackTable.UDP, t.src(), t.dst(), t.sport(), t.dport()))
                            .as("batched lookup %s", t).isEqualTo(want);
                        assertThat(table.tupleInUse(0, ConntrackTable.UDP, t.src(), t.dst(), t.sport(), t.dport()))
                            .isEqualTo(want != ConntrackTable.MISS);
                        if (f != null)
                        {
                            // an entry kept from an earlier lookup (nat44-in's batch) is live exactly when found
                            assertThat(table.liveNow(f.entry)).as("live now %s at %d", t, now)
                                .isEqualTo(want != ConntrackTable.MISS);
                        }
                        if (want != ConntrackTable.MISS)
                        {
                            final int dir = (int)want & 1;
                            assertThat(table.update(f.entry, dir, 0, 100)).isTrue();
                            if (f.seenReply && now - f.firstSeen > 2 * SECOND)
                            {
                                f.assured = true;
                                f.expiresAt = now + UDP_STREAM_TIMEOUT;
                            }
                            else
                            {
                                f.expiresAt = now + UDP_TIMEOUT;
                            }
                            f.seenReply |= dir == ConntrackTable.REPLY;
                            assertThat(table.expiresAt(f.entry)).isEqualTo(f.expiresAt);
                            assertThat(table.assured(f.entry)).isEqualTo(f.assured);
                        }
                    }
                    case 3 -> clock.set(now + o.step());
                    case 4 ->
                    {
                        if (!flows.isEmpty())
                        {
                            clock.set(flows.get(o.n() % flows.size()).expiresAt + o.dir() - 1);
                        }
                    }
                    default ->
                    {
                        final int n = table.expire(o.n() % 40);
                        assertThat(removed).hasSize(n);
                        for (final int e : new ArrayList<>(removed))
                        {
                            final Flow f = byEntry.get(e);
                            assertThat(f).isNotNull();
                            assertThat(f.expiresAt).as("swept only when expired").isLessThanOrEqualTo(now);
                            forget(f, byTuple, byEntry, flows);
                        }
                    }
                }
                assertThat(table.size()).as("size after %s", o).isEqualTo(flows.size());
            }
            // every flow of the model, from both directions, in one batch as nat44-in makes them
            final long now = clock.nanos();
            final List<Tuple> keys = new ArrayList<>(byTuple.keySet());
            final long[] hashes = new long[keys.size()];
            for (int i = 0; i < hashes.length; i++)
            {
                final Tuple t = keys.get(i);
                hashes[i] = table.hash(0, ConntrackTable.UDP, t.src(), t.dst(), t.sport(), t.dport());
            }
            table.prefetch(hashes, hashes.length);
            for (int i = 0; i < hashes.length; i++)
            {
                final Tuple t = keys.get(i);
                final Flow f = byTuple.get(t);
                final long want = f.expiresAt <= now ? ConntrackTable.MISS
                    : (long)f.entry << 1 | (t.equals(f.orig) ? 0 : 1);
                assertThat(table.lookup(hashes[i], 0, ConntrackTable.UDP, t.src(), t.dst(), t.sport(), t.dport()))
                    .as("final lookup %s", t).isEqualTo(want);
            }
        }
    }

    private static void forget(final Flow f, final Map<Tuple, Flow> byTuple, final Map<Integer, Flow> byEntry,
        final List<Flow> flows)
    {
        byTuple.remove(f.orig, f);
        byTuple.remove(f.reply, f);
        byEntry.remove(f.entry);
        flows.remove(f);
    }
}
