package dev.ferry.cli;

import dev.ferry.core.route.Ip4;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.node.ClusterLoader;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ServiceLoader;

import static org.assertj.core.api.Assertions.assertThat;

class ManifestClusterLoaderTest
{
    @Test
    void shouldBeFoundByFerryNodeAndCompileTheExampleManifests() throws Exception
    {
        final ClusterLoader loader = ServiceLoader.load(ClusterLoader.class).findFirst().orElseThrow();
        assertThat(loader).isInstanceOf(ManifestClusterLoader.class);

        final NodeTables t = loader.load(Path.of("../examples/two-node/cluster"), "node-a");
        assertThat(t.generation()).isEqualTo(1);
        assertThat(t.node().name()).isEqualTo("node-a");
        assertThat(t.node().podCidr()).as("node-a's pod CIDR from its Node object").isNotNull();
        assertThat(t.remoteNodes()).as("node-b as a VTEP").extracting(NodeTables.RemoteNode::name)
            .contains("node-b");
        assertThat(Ip4.format(t.node().gatewayIp())).as("gateway: first address of the pod CIDR")
            .isEqualTo(Ip4.format(t.node().podCidr().address() + 1));
    }
}
