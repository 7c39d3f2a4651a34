package dev.ferry.e2e;

import dev.ferry.lab.Lab;
import dev.ferry.lab.LabSpec;
import dev.ferry.lab.Shell;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code down} after a crash: a half-built lab (namespaces, a link, a recorded process, no ferry) is removed by
 * name by a new {@link Lab} that only knows the state directory; a second {@code down} finds nothing.
 */
@Tag("netns")
final class LabDownTest
{
    @Test
    void shouldRemoveHalfBuiltLabByNameAndBeIdempotent() throws IOException
    {
        LabFixture.assumeRootAndTools();
        final LabSpec spec = LabSpec.standard();
        final Lab crashed = LabFixture.lab(Lab.Node2.FERRY);
        crashed.down();
        try
        {
            Shell.must("ip", "netns", "add", spec.nodeNs("node1"));
            Shell.must("ip", "netns", "add", spec.podNs("p11"));
            Shell.must("ip", "link", "add", "fl-n1", "netns", spec.nodeNs("node1"), "type", "veth", "peer", "name",
                "fl-n2", "netns", spec.podNs("p11"));
            final Process sleeper = crashed.startIn(spec.nodeNs("node1"), "sleeper", List.of("sleep", "60"));

            final Lab fresh = LabFixture.lab(Lab.Node2.FERRY);
            final List<String> removed = fresh.down();

            assertThat(removed).contains("process sleeper", "namespace " + spec.nodeNs("node1"),
                "namespace " + spec.podNs("p11"));
            assertThat(sleeper.isAlive()).as("the recorded process was stopped").isFalse();
            assertThat(Lab.namespaces()).doesNotContain(spec.nodeNs("node1"), spec.podNs("p11"));
            assertThat(fresh.down()).as("a second down finds nothing").isEmpty();
        }
        finally
        {
            crashed.down();
        }
    }
}
