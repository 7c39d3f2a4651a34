package dev.ferry.node;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * kube-proxy's health server on {@code healthzBindAddress} (default {@code 0.0.0.0:10256}), for the DaemonSet's
 * probes and cloud load balancers:
 *
 * <pre>
 * GET /healthz → 200 | 503  {"lastUpdated": "...","currentTime": "...", "nodeEligible": true}
 * GET /livez   → 200 | 503  {"lastUpdated": "...","currentTime": "..."}
 * other paths  → 404
 * </pre>
 *
 * <p>The decision is {@link ProxyHealth}'s; /healthz also needs the node eligible (kube-proxy: not being
 * deleted), /livez ignores that. Answers run on one thread of the server's own, never on the worker or the
 * control thread, and read nothing but {@link ProxyHealth}.
 */
final class HealthzServer implements AutoCloseable
{
    private final HttpServer server;
    private final ExecutorService executor;

    private HealthzServer(final HttpServer server, final ExecutorService executor)
    {
        this.server = server;
        this.executor = executor;
    }

    /**
     * @param bindAddress {@code IP:PORT} ({@code [::]:10256} for IPv6).
     * @param health      the node's health, eligibility included.
     * @return the running server.
     * @throws IOException when the address cannot be bound.
     */
    static HealthzServer start(final String bindAddress, final ProxyHealth health) throws IOException
    {
        final HttpServer s = HttpServer.create(parse(bindAddress), 16);
        final ExecutorService ex = Executors.newSingleThreadExecutor(Thread.ofPlatform().daemon()
            .name("ferry-healthz").factory());
        s.setExecutor(ex);
        s.createContext("/", exchange -> answer(exchange, health));
        s.start();
        return new HealthzServer(s, ex);
    }

    /**
     * @param bindAddress {@code IP:PORT}, the IP a literal ({@code [v6]:PORT} for IPv6), the port 0..65535.
     * @return the socket address.
     * @throws IllegalArgumentException when it is not that.
     */
    static InetSocketAddress parse(final String bindAddress)
    {
        final String a = bindAddress == null ? "" : bindAddress;
        final int colon = a.lastIndexOf(':');
        if (colon <= 0)
        {
            throw new IllegalArgumentException("healthzBindAddress: '" + a + "' is not IP:PORT (e.g. 0.0.0.0:10256)");
        }
        String host = a.substring(0, colon);
        if (host.startsWith("[") && host.endsWith("]"))
        {
            host = host.substring(1, host.length() - 1);
        }
        final int port;
        final InetAddress ip;
        try
        {
            port = Integer.parseInt(a.substring(colon + 1));
            ip = InetAddress.ofLiteral(host);
        }
        catch (final IllegalArgumentException e)
        {
            throw new IllegalArgumentException("healthzBindAddress: '" + a + "' is not IP:PORT (e.g. 0.0.0.0:10256)",
                e);
        }
        if (port < 0 || port > 65535)
        {
            throw new IllegalArgumentException("healthzBindAddress: port " + port + " is out of range 0..65535");
        }
        return new InetSocketAddress(ip, port);
    }

    private static void answer(final HttpExchange exchange, final ProxyHealth health) throws IOException
    {
        try (exchange)
        {
            final String path = exchange.getRequestURI().getPath();
            final ProxyHealth.Status s = health.status();
            final int status;
            final String body;
            switch (path)
            {
                case "/healthz" ->
                {
                    final boolean eligible = health.nodeEligible();
                    status = s.healthy() && eligible ? 200 : 503;
                    body = s.healthzBody(eligible);
                }
                case "/livez" ->
                {
                    status = s.healthy() ? 200 : 503;
                    body = s.livezBody();
                }
                default ->
                {
                    status = 404;
                    body = "404 page not found\n";
                }
            }
            send(exchange, status, status == 404 ? "text/plain; charset=utf-8" : "application/json", body);
        }
    }

    static void send(final HttpExchange exchange, final int status, final String contentType, final String body)
        throws IOException
    {
        final byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().set("Content-Type", contentType);
        exchange.getResponseHeaders().set("X-Content-Type-Options", "nosniff");
        exchange.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = exchange.getResponseBody())
        {
            out.write(bytes);
        }
    }

    /** @return the bound port. */
    int port()
    {
        return server.getAddress().getPort();
    }

    @Override
    public void close()
    {
        server.stop(0);
        executor.shutdownNow();
    }
}
