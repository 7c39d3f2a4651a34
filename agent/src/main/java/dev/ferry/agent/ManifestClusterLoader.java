package dev.ferry.agent;

import dev.ferry.core.tables.NodeTables;
import dev.ferry.node.ClusterLoader;

import java.io.IOException;
import java.nio.file.Path;
import java.util.logging.Logger;

/**
 * The node's {@code --cluster DIR} with manifests: registered for {@link java.util.ServiceLoader} so that
 * {@code ferry node} compiles its start-up tables with the agent's compiler (generation 1) until the agent
 * pushes.
 */
public final class ManifestClusterLoader implements ClusterLoader
{
    private static final Logger LOG = Logger.getLogger("dev.ferry.agent");

    /** Public for {@link java.util.ServiceLoader}. */
    public ManifestClusterLoader()
    {
    }

    @Override
    public NodeTables load(final Path clusterDir, final String nodeName) throws IOException
    {
        return NodeTablesCompiler.compile(ManifestLoader.load(clusterDir, LOG::fine), nodeName, 1);
    }
}
