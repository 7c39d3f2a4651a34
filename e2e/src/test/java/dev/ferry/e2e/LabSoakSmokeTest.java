package dev.ferry.e2e;

import dev.ferry.lab.Lab;
import dev.ferry.lab.LabCommand;
import dev.ferry.lab.LabSoak;
import dev.ferry.lab.LabSpec;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 13's soak, the CI smoke run: 60 s of legitimate traffic (curl to the ClusterIP and the NodePort, ping, UDP
 * echo, iperf3), Service churn pushed to both nodes, and a hostile pod sending mutated frames, all at once. No
 * legitimate flow may fail, and both nodes' buffers and heap come back. The long run is {@code ferry lab soak}
 * (10 minutes by default; {@code -Dferry.soak.seconds=600} runs this test as long).
 *
 * <p>The lab runs under the prefix {@code ferry-soak-} with its own state directory, so it never touches another lab.
 */
@Tag("netns")
final class LabSoakSmokeTest
{
    private static final String PREFIX = "ferry-soak-";
    private static final Path STATE = Path.of("/run/ferry-soak-lab-e2e");
    private static final long SECONDS = Long.getLong("ferry.soak.seconds", 60);

    @Test
    void shouldLoseNoLegitimateFlowWhileServicesChurnAndAHostilePodSendsMutatedFrames() throws Exception
    {
        LabFixture.assumeRootAndTools();
        final Path plugin = LabCommand.defaultPlugin();
        assertThat(plugin).as("cni/install.sh with its jar above the class path").isNotNull();
        final Lab lab = new Lab(new Lab.Options(LabSpec.withPrefix(PREFIX), STATE, LabCommand.ferryCommand(), plugin,
            Lab.Node2.FERRY, true, null, System.out));
        try
        {
            lab.up();
            final long seed = Long.getLong("ferry.soak.seed", System.nanoTime());
            System.out.println("soak seed " + seed);

            final LabSoak.Result r = new LabSoak(lab, new LabSoak.Options(Duration.ofSeconds(SECONDS),
                Duration.ofSeconds(2), 500, seed, System.out)).run();

            assertThat(r.failures()).as("legitimate flows that failed (seed " + seed + ")").isEmpty();
            assertThat(r.problems()).as("soak problems (seed " + seed + ")").isEmpty();
            assertThat(r.attempted()).as("legitimate flows attempted").isGreaterThan(SECONDS);
            assertThat(r.pushes()).as("churn pushes").isGreaterThan(SECONDS / 4);
            assertThat(r.hostile()).as("hostile frames sent").isGreaterThan(SECONDS * 100);
            assertThat(r.samples()).as("start, middle and end").hasSize(3);
            // the hostile frames reached node1 (p11's node): it dropped and counted a share of them
            final long node1Drops = r.samples().getLast().getFirst().drops()
                - r.samples().getFirst().getFirst().drops();
            assertThat(node1Drops).as("node1's counted drops during the soak").isGreaterThan(r.hostile() / 20);
        }
        finally
        {
            LabFixture.down(lab);
        }
    }
}
