package dev.ferry.node.live;

import dev.ferry.core.tables.NodeTables;
import dev.ferry.nodeapi.ClusterLoader;

import java.io.IOException;
import java.nio.file.Path;

/**
 * The node's tests' own {@link ClusterLoader}: their cluster directories hold a tables.json, and the agent's
 * manifest compiler (the real provider) is not on node's class path. {@code ferry node} wants exactly one.
 */
public final class TablesJsonLoader implements ClusterLoader
{
    @Override
    public NodeTables load(final Path clusterDir, final String nodeName) throws IOException
    {
        return ClusterLoader.jsonFile().load(clusterDir, nodeName);
    }
}
