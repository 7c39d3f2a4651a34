package dev.ferry.node;

import dev.ferry.nat.AffinityTable;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The ClientIP affinity table a node's workers share, {@code stateDir/affinity.state}: the per-worker files of an
 * older ferry are taken in and deleted (their entries: {@code AffinitySharedTest} in nat), a file that is not one is
 * left where it is, and the shared file is mapped back on the next start.
 */
class SharedAffinityStateTest
{
    @TempDir
    Path dir;

    @Test
    void shouldTakeInAnOlderFerrysPerWorkerFilesAndLeaveAStrangerAlone() throws IOException
    {
        AffinityTable.open(1024, dir.resolve("affinity.state.0"));
        AffinityTable.open(2048, dir.resolve("affinity.state.1"));
        Files.write(dir.resolve("affinity.state.2"), new byte[100]);

        final AffinityTable shared = ServicesFeature.openSharedAffinity(dir);

        assertThat(shared.restored()).isEqualTo("created");
        assertThat(dir.resolve("affinity.state")).exists();
        assertThat(dir.resolve("affinity.state.0")).as("taken in, deleted").doesNotExist();
        assertThat(dir.resolve("affinity.state.1")).as("taken in, deleted").doesNotExist();
        assertThat(dir.resolve("affinity.state.2")).as("not a state file: left as it is").exists();
        assertThat(ServicesFeature.openSharedAffinity(dir).restored()).as("the next start").isEqualTo("restored");
    }

    @Test
    void shouldKeepTheTableInMemoryWithoutAStateDirectory()
    {
        assertThat(ServicesFeature.openSharedAffinity(null).restored()).isEqualTo("in memory");
    }
}
