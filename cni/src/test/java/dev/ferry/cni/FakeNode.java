package dev.ferry.cni;

import com.fasterxml.jackson.jr.ob.JSON;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A stand-in for {@code ferry node}'s API (version 1, JSON lines on a Unix socket) that creates real persistent
 * TAPs with {@code ip tuntap add mode tap}, named {@code fc-<address in hex>}, so the plugin's whole path runs
 * for real. It answers attach, detach, show ports and health like the daemon on branch wt-node.
 */
final class FakeNode implements AutoCloseable
{
    private final Path socket;
    private final int gateway;
    private final int mtu;
    private final ServerSocketChannel server;
    private final Thread thread;
    private final Map<String, Map<String, Object>> attachments = new LinkedHashMap<>();
    final List<String> requests = new CopyOnWriteArrayList<>();
    final List<String> tapsCreated = new CopyOnWriteArrayList<>();
    volatile String refuseAttach;
    /** Moves each new TAP into the pod's namespace itself, as the wt-node PortFactory Javadoc describes. */
    volatile boolean movesTaps;

    FakeNode(final Path socket, final String gateway, final int mtu) throws IOException
    {
        this.socket = socket;
        this.gateway = Ip4Text.parse(gateway);
        this.mtu = mtu;
        Files.deleteIfExists(socket);
        server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(socket));
        thread = Thread.ofPlatform().daemon().name("fake-node").start(this::serve);
    }

    private void serve()
    {
        while (server.isOpen())
        {
            try (SocketChannel ch = server.accept())
            {
                final String line = readLine(ch);
                requests.add(line);
                final String answer = answer(line) + "\n";
                final ByteBuffer b = ByteBuffer.wrap(answer.getBytes(StandardCharsets.UTF_8));
                while (b.hasRemaining())
                {
                    ch.write(b);
                }
            }
            catch (final IOException e)
            {
                if (!server.isOpen())
                {
                    return;
                }
            }
        }
    }

    private static String readLine(final SocketChannel ch) throws IOException
    {
        final ByteArrayOutputStream out = new ByteArrayOutputStream();
        final ByteBuffer one = ByteBuffer.allocate(1);
        while (ch.read(one) > 0)
        {
            if (one.get(0) == '\n')
            {
                break;
            }
            out.write(one.get(0));
            one.clear();
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    private synchronized String answer(final String line) throws IOException
    {
        final Map<String, Object> req = JSON.std.mapFrom(line);
        final String op = String.valueOf(req.get("op"));
        final Map<String, Object> ans = new LinkedHashMap<>();
        ans.put("v", 1);
        if (!Integer.valueOf(1).equals(req.get("v")))
        {
            return error(op, "v: protocol version 1 is required");
        }
        ans.put("ok", true);
        ans.put("op", op);
        switch (op)
        {
            case "attach" ->
            {
                if (refuseAttach != null)
                {
                    return error(op, refuseAttach);
                }
                final String key = req.get("containerId") + "/" + req.get("ifName");
                final int ip = Ip4Text.parse((String)req.get("ip"));
                final String tap = "fc-" + String.format(Locale.ROOT, "%08x", ip);
                final String mac = req.get("mac") != null ? (String)req.get("mac") : podMac(ip);
                final Map<String, Object> a = new LinkedHashMap<>(req);
                a.put("tap", tap);
                a.put("mac", mac);
                if (!attachments.containsKey(key))
                {
                    final Process p = new ProcessBuilder("ip", "tuntap", "add", "dev", tap, "mode", "tap")
                        .redirectErrorStream(true).start();
                    final String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                    if (waitFor(p) != 0)
                    {
                        return error(op, "cannot create the pod port " + tap + ": " + out.strip());
                    }
                    tapsCreated.add(tap);
                    if (movesTaps)
                    {
                        waitFor(new ProcessBuilder("ip", "link", "set", "dev", tap, "netns", (String)req.get("netns"))
                            .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start());
                    }
                    attachments.put(key, a);
                }
                ans.put("tap", tap);
                ans.put("mac", mac);
                ans.put("mtu", mtu);
                ans.put("gateway", Ip4Text.format(gateway));
                ans.put("gatewayMac", podMac(gateway));
                ans.put("ip", Ip4Text.format(ip));
            }
            case "detach" ->
            {
                final Map<String, Object> a = attachments.remove(req.get("containerId") + "/" + req.get("ifName"));
                if (a != null)
                {
                    // the real node closes its fd; a persistent TAP still in the node's namespace goes too
                    waitFor(new ProcessBuilder("ip", "link", "del", "dev", (String)a.get("tap"))
                        .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start());
                }
                ans.put("detached", a != null);
            }
            case "show" ->
            {
                final List<String> lines = new ArrayList<>();
                lines.add(String.format(Locale.ROOT, "%-3s %-15s %-7s %-17s %12s %14s %12s %14s  %s", "Id", "Name",
                    "Kind", "MAC", "rx-packets", "rx-bytes", "tx-packets", "tx-bytes", "Pod"));
                int id = 1;
                for (final Map<String, Object> a : attachments.values())
                {
                    lines.add(String.format(Locale.ROOT, "%-3d %-15s %-7s %-17s %12d %14d %12d %14d  %s", id++,
                        a.get("tap"), "pod", a.get("mac"), 0, 0, 0, 0, a.get("podNamespace") + "/"
                        + a.get("podName") + " " + a.get("ip")));
                }
                ans.put("what", req.get("what"));
                ans.put("lines", lines);
            }
            case "health" ->
            {
                ans.put("node", "fake");
                ans.put("pods", attachments.size());
            }
            default ->
            {
                return error(op, "op: unknown '" + op + "'");
            }
        }
        return JSON.std.asString(ans);
    }

    /**
     * Serves on a socket until stdin closes (for cni/measure-start.sh).
     *
     * @param args socket path, gateway, MTU.
     * @throws IOException when the socket cannot be bound.
     */
    public static void main(final String[] args) throws IOException
    {
        final FakeNode node = new FakeNode(Path.of(args[0]), args[1], Integer.parseInt(args[2]));
        try
        {
            System.in.transferTo(OutputStream.nullOutputStream());
        }
        finally
        {
            node.close();
        }
    }

    synchronized int attachmentCount()
    {
        return attachments.size();
    }

    private static int waitFor(final Process p) throws IOException
    {
        try
        {
            return p.waitFor();
        }
        catch (final InterruptedException e)
        {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
    }

    private static String error(final String op, final String message) throws IOException
    {
        final Map<String, Object> m = new LinkedHashMap<>();
        m.put("v", 1);
        m.put("ok", false);
        m.put("op", op);
        m.put("error", message);
        return JSON.std.asString(m);
    }

    private static String podMac(final int ip)
    {
        return String.format(Locale.ROOT, "0a:58:%02x:%02x:%02x:%02x", ip >>> 24, ip >>> 16 & 0xff, ip >>> 8 & 0xff,
            ip & 0xff);
    }

    @Override
    public void close() throws IOException
    {
        server.close();
        try
        {
            thread.join(5_000);
        }
        catch (final InterruptedException e)
        {
            Thread.currentThread().interrupt();
        }
        Files.deleteIfExists(socket);
        for (final String tap : tapsCreated)
        {
            Sh.runQuiet("ip", "link", "del", "dev", tap);
        }
    }

    /** Dotted-quad helpers without the plugin's classes, so the fake stays independent of what it tests. */
    static final class Ip4Text
    {
        private Ip4Text()
        {
        }

        static int parse(final String s)
        {
            final String[] p = s.split("\\.");
            return Integer.parseInt(p[0]) << 24 | Integer.parseInt(p[1]) << 16 | Integer.parseInt(p[2]) << 8
                | Integer.parseInt(p[3]);
        }

        static String format(final int a)
        {
            return (a >>> 24) + "." + (a >>> 16 & 0xff) + "." + (a >>> 8 & 0xff) + "." + (a & 0xff);
        }
    }
}
