package dev.ferry.cli;

import dev.ferry.agent.ManifestClusterLoader;
import dev.ferry.nodeapi.ClusterLoader;
import org.junit.jupiter.api.Test;

import java.util.ServiceLoader;

import static org.assertj.core.api.Assertions.assertThat;

/** ferry.jar's class path holds exactly one ClusterLoader, so {@code ferry node --cluster} never depends on jar order. */
class ClusterLoaderProviderTest
{
    @Test
    void shouldHaveExactlyOneClusterLoaderOnTheCliClassPath()
    {
        assertThat(ServiceLoader.load(ClusterLoader.class).stream().map(p -> p.type().getName()))
            .containsExactly(ManifestClusterLoader.class.getName());
        assertThat(ClusterLoader.only(ServiceLoader.load(ClusterLoader.class)))
            .isInstanceOf(ManifestClusterLoader.class);
    }
}
