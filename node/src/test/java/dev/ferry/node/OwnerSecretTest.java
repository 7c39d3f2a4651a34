package dev.ferry.node;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The ownership secret survives a restart (so a restored conntrack shard keeps meeting its flows), is drawn anew for
 * another worker count or a damaged file, and never stops a node from starting.
 */
class OwnerSecretTest
{
    @TempDir
    Path dir;

    @Test
    void shouldKeepTheSecretAcrossARestartInAFileOnlyRootReads() throws IOException
    {
        final Path state = dir.resolve("state");
        final long first = OwnerSecret.load(state, 2);
        final Path file = state.resolve(OwnerSecret.FILE);
        assertThat(Files.size(file)).isEqualTo(12);
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file))).isEqualTo("rw-------");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(state))).isEqualTo("rwx------");
        assertThat(OwnerSecret.load(state, 2)).as("the restarted node's secret").isEqualTo(first);
        assertThat(OwnerSecret.load(state, 2)).isEqualTo(first);
        try (var left = Files.list(state))
        {
            assertThat(left.map(p -> p.getFileName().toString())).as("no temporary file left")
                .containsExactly(OwnerSecret.FILE);
        }
    }

    @Test
    void shouldDrawANewSecretForAnotherWorkerCountAndKeepThatOne()
    {
        final long two = OwnerSecret.load(dir, 2);
        final long four = OwnerSecret.load(dir, 4);
        assertThat(four).isNotEqualTo(two);
        assertThat(OwnerSecret.load(dir, 4)).isEqualTo(four);
    }

    @Test
    void shouldReplaceADamagedFileAndStartWhenTheFileCannotBeWritten() throws IOException
    {
        Files.write(dir.resolve(OwnerSecret.FILE), new byte[] {1, 2, 3, 4, 5});
        final long fresh = OwnerSecret.load(dir, 2);
        assertThat(Files.size(dir.resolve(OwnerSecret.FILE))).isEqualTo(12);
        assertThat(OwnerSecret.load(dir, 2)).isEqualTo(fresh);

        // a directory where the file should be: nothing to read, nothing can be written, the node still starts
        final Path blocked = dir.resolve("blocked");
        Files.createDirectories(blocked.resolve(OwnerSecret.FILE).resolve("inside"));
        OwnerSecret.load(blocked, 2);
        assertThat(Files.isDirectory(blocked.resolve(OwnerSecret.FILE))).isTrue();
        try (var left = Files.list(blocked))
        {
            assertThat(left.count()).as("no temporary file left").isEqualTo(1);
        }
    }
}
