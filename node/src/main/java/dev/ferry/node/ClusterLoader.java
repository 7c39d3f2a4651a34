package dev.ferry.node;

import dev.ferry.core.tables.NodeTables;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Turns {@code --cluster DIR} into this node's tables, until the agent pushes them. The agent module's
 * manifest compiler implements it (found through {@link java.util.ServiceLoader}); until then
 * {@link #jsonFile()} reads a tables JSON file.
 */
public interface ClusterLoader
{
    /**
     * @param clusterDir the directory.
     * @param nodeName   this node.
     * @return the node's tables, generation 1 or more.
     * @throws IOException when the directory cannot be read.
     */
    NodeTables load(Path clusterDir, String nodeName) throws IOException;

    /**
     * Reads {@code DIR/<node>.tables.json}, else {@code DIR/tables.json}, in the {@link NodeTablesJson} form.
     *
     * @return the loader.
     */
    static ClusterLoader jsonFile()
    {
        return (dir, node) ->
        {
            Path f = dir.resolve(node + ".tables.json");
            if (!Files.exists(f))
            {
                f = dir.resolve("tables.json");
            }
            if (!Files.exists(f))
            {
                throw new IOException("no " + node + ".tables.json or tables.json in " + dir
                    + " (the manifest compiler of the agent module is not in this build)");
            }
            return NodeTablesJson.parse(Files.readString(f));
        };
    }
}
