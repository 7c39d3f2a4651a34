package dev.ferry.agent;

import dev.ferry.core.tables.NodeTables;
import dev.ferry.nodeapi.ClusterLoader;

import java.io.IOException;
import java.nio.file.Path;
import java.util.logging.Logger;

/**
 * {@code ferry node --cluster DIR} through the agent's compiler: a directory of Kubernetes manifests (Nodes,
 * Services, EndpointSlices, Pods, flannel's ConfigMap ...) becomes this node's tables, generation 1, the same
 * tables {@code ferry agent --manifests DIR} would push. A directory holding a tables JSON file
 * ({@code NODE.tables.json} or {@code tables.json}) is read as such instead.
 *
 * <p>The one {@link ClusterLoader} provider (META-INF/services): {@code node} cannot name it, since neither
 * {@code node} nor {@code agent} depends on the other; {@code ferry node} finds it through
 * {@link java.util.ServiceLoader} in ferry.jar.
 */
public final class ManifestClusterLoader implements ClusterLoader
{
    private static final Logger LOG = Logger.getLogger("dev.ferry.node");

    /** Public for {@link java.util.ServiceLoader}. */
    public ManifestClusterLoader()
    {
    }

    @Override
    public NodeTables load(final Path clusterDir, final String nodeName) throws IOException
    {
        if (ClusterLoader.hasJsonFile(clusterDir, nodeName))
        {
            return ClusterLoader.jsonFile().load(clusterDir, nodeName);
        }
        final ClusterState state = ManifestLoader.load(clusterDir, note -> LOG.info(() -> "cluster: " + note),
            skipped ->
            {
            });
        return NodeTablesCompiler.compile(state, nodeName, 1, skipped -> LOG.warning("cluster: skipping "
            + skipped.kind() + " (" + skipped.reason() + "): " + skipped.message()));
    }
}
