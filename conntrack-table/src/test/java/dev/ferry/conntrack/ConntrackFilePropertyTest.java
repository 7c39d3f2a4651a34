package dev.ferry.conntrack;

import dev.ferry.core.ManualClock;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Whatever inserts, updates, removals and time passing came before, a state file mapped back after a crash (a
 * copy of the live file) or after a clean close answers every lookup of every tuple as the table did.
 */
class ConntrackFilePropertyTest
{
    private static final long SEC = 1_000_000_000L;

    @Property(tries = 40)
    void shouldAnswerEveryLookupAsBeforeTheRestart(
        @ForAll @Size(max = 300) final List<@IntRange(min = 0, max = 511) Integer> ops,
        @ForAll final boolean clean) throws IOException
    {
        final Path dir = Files.createTempDirectory("ferry-ct-prop");
        final Path file = dir.resolve("conntrack.state");
        final Path copy = dir.resolve("crashed.state");
        final ManualClock clock = new ManualClock(1_700_000_000L * SEC);
        final ConntrackConfig config = ConntrackConfig.builder().capacity(64).build();
        final long[] before = new long[256 * 2];
        try
        {
            try (ConntrackTable t = ConntrackTable.open(config, clock, file))
            {
                for (final int op : ops)
                {
                    final int port = op & 0xff;
                    final long hit = t.lookup(0, op % 3 == 0 ? ConntrackTable.UDP : ConntrackTable.TCP, 1, 2, port, 80);
                    if ((op & 0x100) != 0 && hit != ConntrackTable.MISS)
                    {
                        t.remove(ConntrackTable.entryOf(hit));
                    }
                    else if (hit == ConntrackTable.MISS)
                    {
                        final int proto = op % 3 == 0 ? ConntrackTable.UDP : ConntrackTable.TCP;
                        final int e = t.insert(0, proto, 1, 2, port, 80, 3, 1, 8080, port);
                        if (e >= 0 && proto == ConntrackTable.TCP && !t.update(e, ConntrackTable.ORIGINAL, 0x02, 60))
                        {
                            t.remove(e);
                        }
                    }
                    clock.advance(op % 7 == 0 ? 5 * SEC : 0);
                }
                for (int port = 0; port < 256; port++)
                {
                    before[port * 2] = t.lookup(0, ConntrackTable.TCP, 1, 2, port, 80);
                    before[port * 2 + 1] = t.lookup(0, ConntrackTable.UDP, 3, 1, 8080, port);
                }
                if (!clean)
                {
                    Files.copy(file, copy);
                }
            }
            try (ConntrackTable t = ConntrackTable.open(config, clock, clean ? file : copy))
            {
                assertThat(t.restoreReport().invalid()).isZero();
                for (int port = 0; port < 256; port++)
                {
                    assertThat(t.lookup(0, ConntrackTable.TCP, 1, 2, port, 80)).as("tcp " + port)
                        .isEqualTo(before[port * 2]);
                    assertThat(t.lookup(0, ConntrackTable.UDP, 3, 1, 8080, port)).as("udp reply " + port)
                        .isEqualTo(before[port * 2 + 1]);
                }
            }
        }
        finally
        {
            try (var s = Files.list(dir))
            {
                for (final Path p : s.toList())
                {
                    Files.delete(p);
                }
            }
            Files.delete(dir);
        }
    }
}
