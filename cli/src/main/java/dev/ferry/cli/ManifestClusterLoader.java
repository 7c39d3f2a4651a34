package dev.ferry.cli;

import dev.ferry.agent.ClusterState;
import dev.ferry.agent.ManifestLoader;
import dev.ferry.agent.NodeTablesCompiler;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.node.ClusterLoader;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.logging.Logger;

/**
 * {@code ferry node --cluster DIR} through the agent's compiler: a directory of Kubernetes manifests (Nodes,
 * Services, EndpointSlices, Pods, flannel's ConfigMap ...) becomes this node's tables, generation 1, the same
 * tables {@code ferry agent --manifests DIR} would push. A directory holding a tables JSON file
 * ({@code NODE.tables.json} or {@code tables.json}) is read as such instead.
 *
 * <p>It lives in {@code cli}, which depends on both {@code node} and {@code agent}: the agent module depends on
 * {@code node} (its push client and the tables codec), so {@code node} cannot depend on it. Found by
 * {@code ferry node} through {@link java.util.ServiceLoader}.
 */
public final class ManifestClusterLoader implements ClusterLoader
{
    private static final Logger LOG = Logger.getLogger("dev.ferry.node");

    @Override
    public NodeTables load(final Path clusterDir, final String nodeName) throws IOException
    {
        if (Files.exists(clusterDir.resolve(nodeName + ".tables.json"))
            || Files.exists(clusterDir.resolve("tables.json")))
        {
            return ClusterLoader.jsonFile().load(clusterDir, nodeName);
        }
        final ClusterState state = ManifestLoader.load(clusterDir, note -> LOG.info(() -> "cluster: " + note));
        return NodeTablesCompiler.compile(state, nodeName, 1);
    }
}
