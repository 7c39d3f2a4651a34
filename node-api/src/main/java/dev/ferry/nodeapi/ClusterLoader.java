package dev.ferry.nodeapi;

import dev.ferry.core.tables.NodeTables;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.ServiceLoader;
import java.util.stream.Collectors;

/**
 * Turns {@code ferry node --cluster DIR} into this node's tables, until the agent pushes them. The agent's
 * {@code ManifestClusterLoader} is the one provider, found through {@link ServiceLoader} by {@link #only}; the
 * node cannot name it because {@code agent} does not depend on {@code node}, nor {@code node} on {@code agent}.
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
     * The one provider on the class path. Two would mean two meanings of the same directory, and which one runs
     * would depend on jar order, so that is an error as much as none is.
     *
     * @param providers what {@link ServiceLoader#load(Class)} found.
     * @return the provider.
     * @throws IllegalStateException with a sentence naming what was found, when there is not exactly one.
     */
    static ClusterLoader only(final ServiceLoader<ClusterLoader> providers)
    {
        final List<ServiceLoader.Provider<ClusterLoader>> found = providers.stream().toList();
        if (found.size() == 1)
        {
            return found.getFirst().get();
        }
        if (found.isEmpty())
        {
            throw new IllegalStateException("no ClusterLoader on the class path: --cluster needs the agent's "
                + "manifest compiler (run ferry node from ferry.jar, which holds the agent module)");
        }
        throw new IllegalStateException(found.size() + " ClusterLoader providers on the class path ("
            + found.stream().map(p -> p.type().getName()).collect(Collectors.joining(", "))
            + "): exactly one may be registered in META-INF/services/" + ClusterLoader.class.getName());
    }

    /**
     * Reads {@code DIR/<node>.tables.json}, else {@code DIR/tables.json}, in the {@link NodeTablesJson} form.
     *
     * @return the loader.
     */
    static ClusterLoader jsonFile()
    {
        return (dir, node) ->
        {
            final Path f = tablesFile(dir, node);
            if (f == null)
            {
                throw new IOException("no " + node + ".tables.json or tables.json in " + dir);
            }
            return NodeTablesJson.parse(Files.readString(f));
        };
    }

    /**
     * @param dir  a cluster directory.
     * @param node this node.
     * @return whether {@link #jsonFile()} finds a tables file there.
     */
    static boolean hasJsonFile(final Path dir, final String node)
    {
        return tablesFile(dir, node) != null;
    }

    private static Path tablesFile(final Path dir, final String node)
    {
        final Path own = dir.resolve(node + ".tables.json");
        if (Files.exists(own))
        {
            return own;
        }
        final Path shared = dir.resolve("tables.json");
        return Files.exists(shared) ? shared : null;
    }
}
