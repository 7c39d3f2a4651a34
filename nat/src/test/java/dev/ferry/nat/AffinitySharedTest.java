package dev.ferry.nat;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CyclicBarrier;

import static org.assertj.core.api.Assertions.assertThat;

/** The ClientIP affinity table one node's workers share: one endpoint per client whichever worker asks first. */
class AffinitySharedTest
{
    private static final long SEC = 1_000_000_000L;
    private static final long T0 = 1_700_000_000L * SEC;
    private static final long TIMEOUT = 10_800 * SEC;
    private static final int CLIENTS = 50_000;

    @TempDir
    Path dir;

    @Test
    void shouldGiveTwoWorkersRacingForTheSameClientsOneEndpointEach() throws Exception
    {
        // two threads ask for the same clients in the same order, at once: each records its own endpoint for a
        // client it finds no entry for, under the lock (as nat44-new does), and both must end with the same one
        // 2^20 entries for 50,000 clients: no set of eight fills, so no entry is evicted during the race
        final AffinityTable table = AffinityTable.inMemory(1 << 20, "in memory");
        final long[][] got = new long[2][CLIENTS];
        final CyclicBarrier start = new CyclicBarrier(2);
        final Thread[] threads = new Thread[2];
        final Throwable[] failed = new Throwable[2];
        for (int t = 0; t < 2; t++)
        {
            final int me = t;
            threads[t] = new Thread(() ->
            {
                try
                {
                    start.await();
                    for (int c = 0; c < CLIENTS; c++)
                    {
                        table.lock();
                        try
                        {
                            long ep = table.lookup(7, c + 1, T0, TIMEOUT);
                            if (ep == AffinityTable.NONE)
                            {
                                ep = (long)me << 16 | 8080;
                                table.record(7, c + 1, ep, T0);
                            }
                            got[me][c] = ep;
                        }
                        finally
                        {
                            table.unlock();
                        }
                    }
                }
                catch (final Throwable e)
                {
                    failed[me] = e;
                }
            }, "ferry-affinity-" + t);
            threads[t].start();
        }
        for (final Thread t : threads)
        {
            t.join();
        }
        assertThat(failed).containsOnlyNulls();
        for (int c = 0; c < CLIENTS; c++)
        {
            assertThat(got[1][c]).as("client %d", c + 1).isEqualTo(got[0][c]);
            assertThat(table.lookup(7, c + 1, T0, TIMEOUT)).isEqualTo(got[0][c]);
        }
    }

    @Test
    void shouldTakeInPerWorkerFilesKeepingTheEntryUsedLast() throws IOException
    {
        final AffinityTable w0 = AffinityTable.open(1024, dir.resolve("affinity.state.0"));
        final AffinityTable w1 = AffinityTable.open(4096, dir.resolve("affinity.state.1"));
        w0.record(77, 5, 0x0af4_0105L << 16 | 80, T0);
        w1.record(77, 5, 0x0af4_0106L << 16 | 80, T0 + SEC);
        w0.record(77, 6, 0x0af4_0107L << 16 | 80, T0 + 2 * SEC);
        w1.record(77, 6, 0x0af4_0108L << 16 | 80, T0 + SEC);
        for (int c = 100; c < 300; c++)
        {
            (c % 2 == 0 ? w0 : w1).record(78, c, c, T0);
        }
        final AffinityTable shared = AffinityTable.open(Nat.DEFAULT_AFFINITY_CAPACITY, dir.resolve("affinity.state"));

        assertThat(shared.mergeFrom(dir.resolve("affinity.state.0"))).isEqualTo(102);
        assertThat(shared.mergeFrom(dir.resolve("affinity.state.1"))).as("client 6's older entry not taken")
            .isEqualTo(101);

        assertThat(shared.lookup(77, 5, T0 + 3 * SEC, TIMEOUT)).as("worker 1's, used last")
            .isEqualTo(0x0af4_0106L << 16 | 80);
        assertThat(shared.lookup(77, 6, T0 + 3 * SEC, TIMEOUT)).as("worker 0's, used last")
            .isEqualTo(0x0af4_0107L << 16 | 80);
        for (int c = 100; c < 300; c++)
        {
            assertThat(shared.lookup(78, c, T0, TIMEOUT)).isEqualTo(c);
        }
        assertThat(shared.lookup(77, 5, T0 + SEC + TIMEOUT + 1, TIMEOUT)).as("the last-use time came along")
            .isEqualTo(AffinityTable.NONE);
    }

    @Test
    void shouldTakeNothingFromAFileThatIsNotAnAffinityStateFile() throws IOException
    {
        final AffinityTable shared = AffinityTable.inMemory(1024, "in memory");
        final Path junk = dir.resolve("affinity.state.0");
        Files.write(junk, new byte[4096]);
        assertThat(shared.mergeFrom(junk)).isEqualTo(-1);
        Files.write(junk, new byte[3]);
        assertThat(shared.mergeFrom(junk)).isEqualTo(-1);
        final Path torn = dir.resolve("affinity.state.1");
        AffinityTable.open(1024, torn).record(77, 5, 42, T0);
        Files.write(torn, java.util.Arrays.copyOf(Files.readAllBytes(torn), 1000));
        assertThat(shared.mergeFrom(torn)).as("cut short").isEqualTo(-1);
        assertThat(shared.lookup(77, 5, T0, TIMEOUT)).isEqualTo(AffinityTable.NONE);
    }
}
