package dev.ferry.conntrack;

import dev.ferry.core.ManualClock;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The longest probe runs the table allows: with a known hash seed, {@value #FLOWS} flows whose original tuples share
 * one home slot fill most of the {@value ConntrackTable#PROBE_LIMIT}-slot probe window (the rest is left for reply
 * tuples that land in it, so that nothing is dropped early). Every flow is still found, from both directions
 * and through the batched lookup; removing flows from the front, the middle and the end of the run (backward-shift
 * deletion moves the others) leaves every remaining flow found and every removed one gone; the freed places take
 * new flows again.
 */
class LongProbeTest
{
    private static final int CAPACITY = 1024;
    private static final long SEED = 0x5DEE_CE66_DL;
    private static final int SERVICE = 0x0a60000a;   // 10.96.0.10
    private static final int BACKEND = 0x0af40909;   // 10.244.9.9
    private static final int FLOWS = ConntrackTable.PROBE_LIMIT - 8;

    /** @return FLOWS (source address, source port) pairs toward SERVICE:53 that share a home slot. */
    private static List<int[]> colliding()
    {
        final int home = ConntrackTable.homeSlot(ConntrackTable.hash(SEED, 0, ConntrackTable.UDP, 0x0af40000,
            SERVICE, 1024, 53), CAPACITY);
        final List<int[]> found = new ArrayList<>();
        for (int host = 0; host < 256 && found.size() < FLOWS; host++)
        {
            for (int sport = 1024; sport < 65_536 && found.size() < FLOWS; sport++)
            {
                if (ConntrackTable.homeSlot(ConntrackTable.hash(SEED, 0, ConntrackTable.UDP, 0x0af40000 | host,
                    SERVICE, sport, 53), CAPACITY) == home)
                {
                    found.add(new int[] {0x0af40000 | host, sport});
                }
            }
        }
        assertThat(found).hasSize(FLOWS);
        return found;
    }

    private static int insert(final ConntrackTable t, final int[] c)
    {
        return t.insert(0, ConntrackTable.UDP, c[0], SERVICE, c[1], 53, BACKEND, c[0], 53, c[1]);
    }

    private static long lookupOrig(final ConntrackTable t, final int[] c)
    {
        return t.lookup(0, ConntrackTable.UDP, c[0], SERVICE, c[1], 53);
    }

    private static long lookupReply(final ConntrackTable t, final int[] c)
    {
        return t.lookup(0, ConntrackTable.UDP, BACKEND, c[0], 53, c[1]);
    }

    /** Looks every flow up in the batched form: all hashes, one prefetch, then the hashed lookups. */
    private static long[] batched(final ConntrackTable t, final List<int[]> flows)
    {
        final long[] hashes = new long[flows.size()];
        for (int i = 0; i < hashes.length; i++)
        {
            hashes[i] = t.hash(0, ConntrackTable.UDP, flows.get(i)[0], SERVICE, flows.get(i)[1], 53);
        }
        t.prefetch(hashes, hashes.length);
        final long[] r = new long[hashes.length];
        for (int i = 0; i < hashes.length; i++)
        {
            r[i] = t.lookup(hashes[i], 0, ConntrackTable.UDP, flows.get(i)[0], SERVICE, flows.get(i)[1], 53);
        }
        return r;
    }

    @Test
    void shouldFindAndDeleteAcrossAFullProbeWindow()
    {
        final List<int[]> flows = colliding();
        try (ConntrackTable t = new ConntrackTable(ConntrackConfig.builder().capacity(CAPACITY).hashSeed(SEED)
            .build(), new ManualClock(1L)))
        {
            final int[] entry = new int[flows.size()];
            for (int i = 0; i < flows.size(); i++)
            {
                entry[i] = insert(t, flows.get(i));
                assertThat(entry[i]).as("flow %d of one probe window", i).isGreaterThanOrEqualTo(0);
            }
            assertThat(t.stats().drop()).isZero();
            assertThat(t.stats().earlyDrop()).isZero();
            final long[] all = batched(t, flows);
            for (int i = 0; i < flows.size(); i++)
            {
                assertThat(lookupOrig(t, flows.get(i))).as("flow %d at probe distance %d", i, i)
                    .isEqualTo((long)entry[i] << 1);
                assertThat(all[i]).as("batched flow %d", i).isEqualTo((long)entry[i] << 1);
                assertThat(lookupReply(t, flows.get(i))).isEqualTo((long)entry[i] << 1 | 1);
            }

            // remove the head of the run, every third flow, and the tail: the others shift back
            final boolean[] removed = new boolean[flows.size()];
            for (int i = 0; i < flows.size(); i++)
            {
                if (i == 0 || i % 3 == 1 || i == flows.size() - 1)
                {
                    t.remove(entry[i]);
                    removed[i] = true;
                }
            }
            final long[] after = batched(t, flows);
            for (int i = 0; i < flows.size(); i++)
            {
                final long want = removed[i] ? ConntrackTable.MISS : (long)entry[i] << 1;
                assertThat(lookupOrig(t, flows.get(i))).as("flow %d after removals", i).isEqualTo(want);
                assertThat(after[i]).as("batched flow %d after removals", i).isEqualTo(want);
                assertThat(lookupReply(t, flows.get(i))).isEqualTo(removed[i] ? ConntrackTable.MISS : want | 1);
            }

            // the removed flows come back into the freed places
            for (int i = 0; i < flows.size(); i++)
            {
                if (removed[i])
                {
                    entry[i] = insert(t, flows.get(i));
                    assertThat(entry[i]).as("flow %d again", i).isGreaterThanOrEqualTo(0);
                }
            }
            final long[] again = batched(t, flows);
            for (int i = 0; i < flows.size(); i++)
            {
                assertThat(again[i]).as("flow %d at the end", i).isEqualTo((long)entry[i] << 1);
            }
            assertThat(t.size()).isEqualTo(flows.size());
            assertThat(t.stats().earlyDrop()).isZero();
        }
    }
}
