package dev.ferry.cni;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * The training run for the class-data archive that {@code install.sh} builds ({@code -XX:AOTCacheOutput} or
 * {@code -XX:ArchiveClassesAtExit}): it walks the plugin's own code paths without touching the network — every
 * result shape, the error answers, a node exchange over a private Unix socket, a helper process and the state
 * files — so the classes an ADD, DEL or CHECK loads come from the archive.
 */
public final class Training
{
    private static final String CONF = "{\"cniVersion\":\"%s\",\"name\":\"train\",\"type\":\"ferry\",\"mtu\":1450,"
        + "\"socket\":\"%s\",\"stateDir\":\"%s\",\"ipam\":{\"type\":\"host-local\",\"ranges\":[[{\"subnet\":"
        + "\"10.244.1.0/24\",\"gateway\":\"10.244.1.1\"}]],\"routes\":[{\"dst\":\"10.96.0.0/12\"}]},"
        + "\"dns\":{\"nameservers\":[\"10.96.0.10\"]},\"runtimeConfig\":{\"mac\":\"0a:58:0a:f4:01:05\"},"
        + "\"prevResult\":{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"eth0\",\"mac\":\"0a:58:0a:f4:01:05\","
        + "\"sandbox\":\"/var/run/netns/train\"}],\"ips\":[{\"interface\":0,\"address\":\"10.244.1.5/24\","
        + "\"gateway\":\"10.244.1.1\"}],\"routes\":[{\"dst\":\"0.0.0.0/0\",\"gw\":\"10.244.1.1\"}],\"dns\":{}}}";

    private Training()
    {
    }

    /**
     * Runs the training workload once.
     *
     * @param args ignored.
     * @throws IOException when the private socket or files cannot be made.
     */
    public static void main(final String[] args) throws IOException
    {
        final Path dir = Files.createTempDirectory("ferry-cni-train");
        final Path socket = dir.resolve("node.sock");
        final PrintStream sink = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
        try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX))
        {
            server.bind(UnixDomainSocketAddress.of(socket));
            final Thread node = Thread.ofPlatform().daemon().start(() -> answer(server));
            for (final CniVersion v : CniVersion.values())
            {
                final String conf = String.format(CONF, v.text(), socket, dir.resolve("state"));
                final NetConf c = NetConf.parse(conf);
                final CniResult r = c.prevResult().append(new CniResult(c.prevResult().interfaces(),
                    c.prevResult().ips(), AddCommand.routes(c.prevResult(), "10.244.1.1"), c.dns()));
                Fields.write(r.render(v));
                for (final String command : new String[] {"ADD", "DEL", "CHECK", "STATUS", "GC", "VERSION"})
                {
                    final Map<String, String> env = new HashMap<>();
                    env.put("CNI_COMMAND", command);
                    env.put("CNI_CONTAINERID", "train");
                    env.put("CNI_IFNAME", "eth0");
                    env.put("CNI_NETNS", dir.resolve("no-netns").toString());
                    env.put("CNI_PATH", dir.toString());
                    env.put("CNI_ARGS", "K8S_POD_NAMESPACE=default;K8S_POD_NAME=train");
                    CniPlugin.run(env, new ByteArrayInputStream(conf.getBytes(StandardCharsets.UTF_8)), sink, sink);
                }
            }
            final NodeClient client = new NodeClient(socket);
            client.call(NodeClient.request("health"));
            final AttachmentStore store = new AttachmentStore(NetConf.parse(String.format(CONF, "1.1.0", socket,
                dir.resolve("state"))));
            store.write(new AttachmentStore.Record("train", "eth0", "/var/run/netns/train", "tap0", "10.244.1.5"));
            store.read("train", "eth0");
            store.list();
            store.delete("train", "eth0");
            Exec.run(List.of("true"), null, new byte[0]);
            node.interrupt();
        }
        finally
        {
            try (Stream<Path> files = Files.walk(dir))
            {
                for (final Path p : files.sorted(Comparator.reverseOrder()).toList())
                {
                    Files.deleteIfExists(p);
                }
            }
        }
    }

    private static void answer(final ServerSocketChannel server)
    {
        while (server.isOpen())
        {
            try (SocketChannel ch = server.accept())
            {
                final ByteBuffer in = ByteBuffer.allocate(4096);
                while (ch.read(in) > 0 && in.get(in.position() - 1) != '\n')
                {
                    // read the request line
                }
                ch.write(ByteBuffer.wrap("{\"v\":1,\"ok\":true,\"op\":\"health\",\"node\":\"train\"}\n"
                    .getBytes(StandardCharsets.UTF_8)));
            }
            catch (final IOException e)
            {
                return;
            }
        }
    }
}
