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
 * {@code ferry show routes|neighbors|services|conntrack|stats|runtime|trace|ports}: asks a running node.
 */
@Command(name = "show", mixinStandardHelpOptions = true,
    description = "Show a running node's state: routes (ip route), neighbors (ip neigh), services (ipvsadm -Ln),"
        + " conntrack (conntrack -L), stats and runtime (VPP show runtime), trace, ports.")
public final class ShowCommand implements Callable<Integer>
{
    @Parameters(index = "0", paramLabel = "WHAT",
        description = "routes, neighbors, services, conntrack, stats, runtime, trace or ports")
    private String what;

    @Option(names = "--socket", paramLabel = "PATH", description = "API socket (default ${DEFAULT-VALUE})")
    private Path socket = NodeConfig.DEFAULT_SOCKET;

    @Override
    public Integer call()
    {
        try (NodeApiClient client = NodeApiClient.connect(socket))
        {
            for (final String line : client.show(what))
            {
                System.out.println(line);
            }
            return 0;
        }
        catch (final IOException e)
        {
            System.err.println("ferry show: " + e.getMessage());
            return 1;
        }
    }
}
