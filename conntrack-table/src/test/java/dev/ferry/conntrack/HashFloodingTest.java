package dev.ferry.conntrack;

import dev.ferry.core.ManualClock;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue #13 class 6, conntrack hash flooding: with a hash seed the attacker knows, 64 crafted flows fill the
 * probe window of a chosen victim tuple, so the victim's flow fails as "table full" while 65 of 131,072 entries
 * are in use. The kernel keys its conntrack hash with a random secret ({@code nf_conntrack_hash_rnd}); so does
 * this table ({@link ConntrackConfig#hashSeed()}, from {@code SecureRandom} unless fixed), and the same crafted
 * flows then no longer reach the victim.
 */
class HashFloodingTest
{
    private static final int CAPACITY = 131_072;
    private static final int VICTIM_SRC = 0x0af40209;     // 10.244.2.9
    private static final int SERVICE = 0x0a60000a;        // 10.96.0.10
    private static final int VICTIM_SPORT = 40_000;
    private static final long KNOWN_SEED = 0x2545_F491_4F6C_DD1DL;

    /** @return 64 UDP source (address, port) pairs toward SERVICE:53 whose home slot is the victim's. */
    private static List<int[]> craft(final long seed)
    {
        final int home = ConntrackTable.homeSlot(ConntrackTable.hash(seed, 0, ConntrackTable.UDP, VICTIM_SRC,
            SERVICE, VICTIM_SPORT, 53), CAPACITY);
        final List<int[]> found = new ArrayList<>();
        for (int host = 0; host < 65_536 && found.size() < ConntrackTable.PROBE_LIMIT; host++)
        {
            final int src = 0x0af40000 | host;                       // the attacker's pod range, 10.244.0.0/16
            for (int sport = 1024; sport < 65_536 && found.size() < ConntrackTable.PROBE_LIMIT; sport++)
            {
                if (ConntrackTable.homeSlot(ConntrackTable.hash(seed, 0, ConntrackTable.UDP, src, SERVICE, sport,
                    53), CAPACITY) == home && src != VICTIM_SRC)
                {
                    found.add(new int[] {src, sport});
                }
            }
        }
        assertThat(found).hasSize(ConntrackTable.PROBE_LIMIT);
        return found;
    }

    /** Inserts the crafted flows, each answered and active after 2 s (assured, so early drop cannot remove it), then the victim. */
    private static int attack(final long seed, final List<int[]> crafted, final ConntrackStats[] stats)
    {
        final ManualClock clock = new ManualClock(1_000_000_000L);
        try (ConntrackTable t = new ConntrackTable(ConntrackConfig.builder().capacity(CAPACITY).hashSeed(seed)
            .build(), clock))
        {
            final List<Integer> flows = new ArrayList<>();
            for (final int[] a : crafted)
            {
                final int e = t.insert(0, ConntrackTable.UDP, a[0], SERVICE, a[1], 53, SERVICE, a[0], 53, a[1]);
                assertThat(e).isGreaterThanOrEqualTo(0);
                assertThat(t.update(e, ConntrackTable.ORIGINAL, 0, 40)).isTrue();
                assertThat(t.update(e, ConntrackTable.REPLY, 0, 40)).isTrue();
                flows.add(e);
            }
            clock.advance(3_000_000_000L); // still active after 2 s: the next packet makes each flow assured
            for (final int e : flows)
            {
                assertThat(t.update(e, ConntrackTable.ORIGINAL, 0, 40)).isTrue();
                assertThat(t.assured(e)).isTrue();
            }
            final int victim = t.insert(0, ConntrackTable.UDP, VICTIM_SRC, SERVICE, VICTIM_SPORT, 53, SERVICE,
                VICTIM_SRC, 53, VICTIM_SPORT);
            stats[0] = t.stats();
            return victim;
        }
    }

    @Test
    void shouldLetCraftedFlowsBlockAVictimOnlyWhenTheHashSeedIsKnown()
    {
        final List<int[]> crafted = craft(KNOWN_SEED);
        final ConntrackStats[] stats = new ConntrackStats[1];

        // the reported attack: a table whose seed the attacker knows (a fixed seed, as every node had before)
        assertThat(attack(KNOWN_SEED, crafted, stats)).as("victim refused while 64 of 131,072 entries are in use")
            .isEqualTo(-1);
        assertThat(stats[0].drop()).as("counted as table full").isEqualTo(1);

        // a table keyed with a random secret: the same flows land anywhere, the victim gets its entry
        final Set<Long> seeds = new HashSet<>();
        for (int i = 0; i < 8; i++)
        {
            final long secret = ConntrackConfig.defaults().hashSeed();
            assertThat(seeds.add(secret)).as("a new secret for every table").isTrue();
            assertThat(attack(secret, crafted, stats)).as("victim with secret %x", secret).isGreaterThanOrEqualTo(0);
            assertThat(stats[0].drop()).isZero();
        }
    }
}
