package dev.ferry.node.cli;

import dev.ferry.node.NodeConfig;
import dev.ferry.nodeapi.NodeApiClient;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * {@code ferry trace add N}: traces the next N packets that enter a running node's graph (VPP
 * {@code trace add}); {@code ferry show trace} prints them.
 */
@Command(name = "trace", mixinStandardHelpOptions = true,
    description = "Trace the next N packets on a running node; read them with 'ferry show trace'.")
public final class TraceCommand implements Callable<Integer>
{
    @Parameters(index = "0", paramLabel = "add", description = "the action: add")
    private String action;

    @Parameters(index = "1", paramLabel = "N", description = "packets to trace")
    private int packets;

    @Option(names = "--filter", paramLabel = "EXPR",
        description = "trace only packets matching this tcpdump expression (compiled by libpcap on the node)")
    private String filter;

    @Option(names = "--socket", paramLabel = "PATH", description = "API socket (default ${DEFAULT-VALUE})")
    private Path socket = NodeConfig.DEFAULT_SOCKET;

    @Override
    public Integer call()
    {
        if (!"add".equals(action))
        {
            System.err.println("ferry trace: unknown action '" + action + "' (use: ferry trace add N)");
            return 2;
        }
        try (NodeApiClient client = NodeApiClient.connect(socket))
        {
            if (filter == null)
            {
                client.traceAdd(packets);
            }
            else
            {
                client.traceAdd(packets, filter);
            }
            System.out.println("tracing the next " + packets + " packets" + (filter == null ? "" : " matching '"
                + filter + "'") + "; see: ferry show trace");
            return 0;
        }
        catch (final IOException e)
        {
            System.err.println("ferry trace: " + e.getMessage());
            return 1;
        }
    }
}
