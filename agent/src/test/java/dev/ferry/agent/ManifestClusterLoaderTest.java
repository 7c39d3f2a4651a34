package dev.ferry.agent;

import dev.ferry.core.route.Ip4;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.nodeapi.ClusterLoader;
import dev.ferry.nodeapi.NodeTablesJson;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ServiceLoader;

import static org.assertj.core.api.Assertions.assertThat;

class ManifestClusterLoaderTest
{
    private static final Path EXAMPLE = Path.of("../examples/two-node/cluster");

    @Test
    void shouldBeFoundByFerryNodeAndCompileTheExampleManifests() throws Exception
    {
        final ClusterLoader loader = ClusterLoader.only(ServiceLoader.load(ClusterLoader.class));
        assertThat(loader).isInstanceOf(ManifestClusterLoader.class);

        final NodeTables t = loader.load(EXAMPLE, "node-a");
        assertThat(t.generation()).isEqualTo(1);
        assertThat(t.node().name()).isEqualTo("node-a");
        assertThat(t.node().podCidr()).as("node-a's pod CIDR from its Node object").isNotNull();
        assertThat(t.remoteNodes()).as("node-b as a VTEP").extracting(NodeTables.RemoteNode::name)
            .contains("node-b");
        assertThat(Ip4.format(t.node().gatewayIp())).as("gateway: first address of the pod CIDR")
            .isEqualTo(Ip4.format(t.node().podCidr().address() + 1));
    }

    @Test
    void shouldReadATablesFileInsteadOfTheManifestsBesideIt(@TempDir final Path dir) throws Exception
    {
        final NodeTables compiled = new ManifestClusterLoader().load(EXAMPLE, "node-a");
        try (var files = Files.list(EXAMPLE))
        {
            for (final Path f : files.toList())
            {
                Files.copy(f, dir.resolve(f.getFileName()));
            }
        }
        final NodeTables written = compiled.withGeneration(7);
        Files.writeString(dir.resolve("tables.json"), NodeTablesJson.encode(written).toString());

        assertThat(new ManifestClusterLoader().load(dir, "node-a")).as("tables.json wins over the manifests")
            .isEqualTo(written);

        final NodeTables own = compiled.withGeneration(9);
        Files.writeString(dir.resolve("node-a.tables.json"), NodeTablesJson.encode(own).toString());
        assertThat(new ManifestClusterLoader().load(dir, "node-a")).as("NODE.tables.json wins over tables.json")
            .isEqualTo(own);
    }
}
