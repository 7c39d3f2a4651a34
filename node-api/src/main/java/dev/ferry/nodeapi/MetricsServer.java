package dev.ferry.nodeapi;

import com.sun.net.httpserver.HttpExchange;
import io.prometheus.metrics.exporter.httpserver.HTTPServer;
import io.prometheus.metrics.model.registry.PrometheusRegistry;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.function.Supplier;

/**
 * Serves {@code /metrics} (Prometheus text format, through the Prometheus client's exporter) and
 * {@code /healthz} on 127.0.0.1 only, for the agent and the node alike.
 *
 * <p>{@code /healthz} answers 200 with "ok" while the health check returns null, else 503 with its sentence
 * (kube-proxy answers its healthz the same way).
 */
public final class MetricsServer implements AutoCloseable
{
    /** The address it binds: loopback only, never a routable address. */
    public static final String LOOPBACK = "127.0.0.1";

    private final HTTPServer server;

    private MetricsServer(final HTTPServer server)
    {
        this.server = server;
    }

    /**
     * Starts serving.
     *
     * @param port     TCP port on 127.0.0.1 (0 picks a free one).
     * @param registry the metrics.
     * @param health   returns null when healthy, else why not.
     * @return the running server.
     * @throws IOException when the port cannot be bound.
     */
    public static MetricsServer start(final int port, final PrometheusRegistry registry,
        final Supplier<String> health) throws IOException
    {
        final HTTPServer s = HTTPServer.builder().hostname(LOOPBACK).port(port).registry(registry)
            .defaultHandler(exchange -> answer(exchange, health)).buildAndStart();
        return new MetricsServer(s);
    }

    private static void answer(final HttpExchange exchange, final Supplier<String> health) throws IOException
    {
        try (exchange)
        {
            final String path = exchange.getRequestURI().getPath();
            final int status;
            final String body;
            if ("/healthz".equals(path))
            {
                final String problem = health.get();
                status = problem == null ? 200 : 503;
                body = problem == null ? "ok\n" : problem + "\n";
            }
            else
            {
                status = 404;
                body = "not found: " + path + " (try /metrics or /healthz)\n";
            }
            final byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
            exchange.sendResponseHeaders(status, bytes.length);
            try (OutputStream out = exchange.getResponseBody())
            {
                out.write(bytes);
            }
        }
    }

    /** @return the bound port. */
    public int port()
    {
        return server.getPort();
    }

    @Override
    public void close()
    {
        server.close();
    }
}
