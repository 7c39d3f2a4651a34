package dev.ferry.conntrack;

import dev.ferry.core.ManualClock;
import org.junit.jupiter.api.Test;

import java.lang.management.ManagementFactory;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The hot-path methods allocate nothing: measured with the JVM's per-thread allocation counter across a
 * million warmed lookups and updates (half of the lookups batched: hash, prefetch, lookup with the hash; and a mix
 * of inserts, removes and expiry).
 */
class AllocationFreeTest
{
    private static final int FLOWS = 10_000;
    private static final int OPS = 1_000_000;

    private static long allocated()
    {
        return ((com.sun.management.ThreadMXBean)ManagementFactory.getThreadMXBean())
            .getCurrentThreadAllocatedBytes();
    }

    private static long run(final ConntrackTable table, final ManualClock clock, final long[] hashes)
    {
        long sink = 0;
        for (int i = 0; i < OPS; i++)
        {
            final int f = i % FLOWS;
            final int dir = i & 1;
            if ((i & 63) == 0)
            {
                // the batched form for the next 64 original-direction tuples, as nat44-in makes it
                for (int k = 0; k < hashes.length; k++)
                {
                    final int g = (f + k) % FLOWS;
                    hashes[k] = table.hash(0, ConntrackTable.TCP, 0x0af40000 + g, 0x0a600001, 1024 + g, 80);
                }
                table.prefetch(hashes, hashes.length);
            }
            final long r = dir == 0
                ? table.lookup(hashes[i & 63], 0, ConntrackTable.TCP, 0x0af40000 + f, 0x0a600001, 1024 + f, 80)
                : table.lookup(0, ConntrackTable.TCP, 0x0af50000 + f, 0x0af40000 + f, 8080, 1024 + f);
            if (r != ConntrackTable.MISS)
            {
                sink += table.update(ConntrackTable.entryOf(r), ConntrackTable.directionOf(r), 0x10, 100) ? 1 : 0;
            }
            if ((i & 1023) == 0)
            {
                clock.advance(1000);
                sink += table.expire(64);
                final int e = table.insert(0, ConntrackTable.UDP, 0x0b000000, 0x0b000001, 5, 53, 0x0b000001,
                    0x0b000000, 53, 5);
                table.remove(e);
            }
        }
        return sink;
    }

    @Test
    void shouldNotAllocateOnLookupUpdateInsertRemoveExpire()
    {
        final ManualClock clock = new ManualClock(1L);
        try (ConntrackTable table = new ConntrackTable(ConntrackConfig.builder().capacity(32_768).build(), clock))
        {
            for (int f = 0; f < FLOWS; f++)
            {
                final int e = table.insert(0, ConntrackTable.TCP, 0x0af40000 + f, 0x0a600001, 1024 + f, 80,
                    0x0af50000 + f, 0x0af40000 + f, 8080, 1024 + f);
                table.update(e, ConntrackTable.ORIGINAL, 0x02, 60);
                table.update(e, ConntrackTable.REPLY, 0x12, 60);
            }
            table.removalListener((t, e) ->
            {
            });
            final long[] hashes = new long[64];
            run(table, clock, hashes);
            run(table, clock, hashes);

            final long before = allocated();
            final long sink = run(table, clock, hashes);
            final long bytes = allocated() - before;
            System.out.println("allocated " + bytes + " bytes over " + OPS + " lookups+updates");

            assertThat(sink).as("every lookup hit and every update was valid").isGreaterThanOrEqualTo(OPS);
            assertThat((double)bytes / OPS).as("bytes allocated per operation (%d in total)", bytes)
                .isLessThan(1.0);
            assertThat(table.size()).isEqualTo(FLOWS);
        }
    }
}
