package dev.ferry.agent;

import dev.ferry.core.tables.NodeTables;
import dev.ferry.nodeapi.NodeApiClient;

import java.io.IOException;
import java.nio.file.Path;

/**
 * Pushes tables to the node over its API socket (mode 0600, peer credentials checked by the node: only root
 * or the node's own user gets in). Connects lazily and reconnects after a broken connection; a refusal by the
 * node is not a broken connection and keeps it.
 */
public final class UnixSocketNodeClient implements NodeClient
{
    private final Path socket;
    private NodeApiClient client;

    /**
     * @param socket the node's API socket.
     */
    public UnixSocketNodeClient(final Path socket)
    {
        this.socket = socket;
    }

    @Override
    public synchronized long push(final NodeTables tables) throws IOException
    {
        final NodeApiClient c = connected();
        try
        {
            return c.push(tables.generation(), tables);
        }
        catch (final NodeApiClient.ApiException e)
        {
            throw e;
        }
        catch (final IOException e)
        {
            disconnect();
            throw e;
        }
    }

    @Override
    public synchronized long generation() throws IOException
    {
        final NodeApiClient c = connected();
        try
        {
            return c.health().path("generation").asLong();
        }
        catch (final NodeApiClient.ApiException e)
        {
            throw e;
        }
        catch (final IOException e)
        {
            disconnect();
            throw e;
        }
    }

    private NodeApiClient connected() throws IOException
    {
        if (client == null)
        {
            client = NodeApiClient.connect(socket);
        }
        return client;
    }

    private void disconnect()
    {
        if (client != null)
        {
            try
            {
                client.close();
            }
            catch (final IOException ignored)
            {
                // the connection is already broken
            }
            client = null;
        }
    }

    @Override
    public synchronized void close()
    {
        disconnect();
    }

    @Override
    public String toString()
    {
        return "node API " + socket;
    }
}
