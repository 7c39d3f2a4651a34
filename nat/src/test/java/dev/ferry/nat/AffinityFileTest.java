package dev.ferry.nat;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

import static org.assertj.core.api.Assertions.assertThat;

/** The ClientIP affinity table mapped from a state file: a new process sends each client where it went before. */
class AffinityFileTest
{
    private static final long SEC = 1_000_000_000L;
    private static final long T0 = 1_700_000_000L * SEC;
    private static final long TIMEOUT = 10_800 * SEC;

    @TempDir
    Path dir;

    @Test
    void shouldRememberEndpointsAcrossAReopen() throws IOException
    {
        final Path file = dir.resolve("affinity.state");
        final AffinityTable a = AffinityTable.open(1024, file);
        assertThat(a.restored()).isEqualTo("created");
        for (int client = 1; client <= 500; client++)
        {
            a.record(77, client, 0x0af4_0102L << 16 | client, T0);
        }
        // no close: the mapping is shared, so what a killed process wrote is in the file
        final AffinityTable b = AffinityTable.open(1024, file);
        assertThat(b.restored()).isEqualTo("restored");
        for (int client = 1; client <= 500; client++)
        {
            assertThat(b.lookup(77, client, T0 + SEC, TIMEOUT)).isEqualTo(a.lookup(77, client, T0 + SEC, TIMEOUT));
        }
        assertThat(b.lookup(77, 500, T0 + SEC, TIMEOUT)).isEqualTo(0x0af4_0102L << 16 | 500);
        assertThat(b.lookup(77, 500, T0 + TIMEOUT + SEC, TIMEOUT)).as("the last-use time is kept too")
            .isEqualTo(AffinityTable.NONE);
    }

    @Test
    void shouldSetABadFileAside() throws IOException
    {
        final Path file = dir.resolve("affinity.state");
        AffinityTable.open(1024, file).record(77, 5, 42, T0);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE))
        {
            ch.write(ByteBuffer.wrap(new byte[] {9}), 8);
        }
        final AffinityTable b = AffinityTable.open(1024, file);
        assertThat(b.restored()).startsWith("set aside (header checksum mismatch) as affinity.state.corrupt-");
        assertThat(b.lookup(77, 5, T0, TIMEOUT)).isEqualTo(AffinityTable.NONE);

        b.record(77, 5, 42, T0);
        final AffinityTable c = AffinityTable.open(4096, file);
        assertThat(c.restored()).as("another capacity").startsWith("set aside (size ");
        assertThat(c.lookup(77, 5, T0, TIMEOUT)).isEqualTo(AffinityTable.NONE);
        try (var s = Files.list(dir))
        {
            assertThat(s.filter(p -> p.getFileName().toString().startsWith("affinity.state.corrupt-")).count())
                .isEqualTo(2);
        }
    }
}
