package dev.ferry.agent;

import dev.ferry.core.tables.NodeTables;

import java.io.IOException;

/**
 * The agent's side of the push protocol: full tables with a growing generation, acknowledged by the node.
 * {@link UnixSocketNodeClient} speaks the node API over its Unix socket.
 */
public interface NodeClient extends AutoCloseable
{
    /**
     * Pushes tables; their {@link NodeTables#generation()} must be newer than the node's.
     *
     * @param tables the tables.
     * @return the generation the node acknowledged.
     * @throws IOException when the node refuses them (a {@code NodeApiClient.ApiException} with the node's
     *                     sentence) or cannot be reached.
     */
    long push(NodeTables tables) throws IOException;

    /**
     * @return the generation the node runs now (0 before its first tables).
     * @throws IOException when the node cannot be reached.
     */
    long generation() throws IOException;

    @Override
    void close();
}
