package dev.ferry.nodeapi;

import com.sun.net.httpserver.HttpExchange;
import io.prometheus.metrics.exporter.httpserver.HTTPServer;
import io.prometheus.metrics.instrumentation.jvm.JvmMetrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.util.function.Supplier;

/**
 * Serves {@code /metrics} (Prometheus text format, through the Prometheus client's exporter) and
 * {@code /healthz}, for the agent and the node alike. It binds 127.0.0.1 unless told another address (the node's
 * {@code metricsBindAddress}, the agent's {@code --metrics-bind-address}), so that a cluster's Prometheus can
 * scrape it only when the operator opens it. The registry also gets the Prometheus client's standard JVM and
 * process collectors ({@code jvm_*}, {@code process_*}).
 *
 * <p>{@code /healthz} answers 200 with "ok" while the health check returns null, else 503 with its sentence
 * (kube-proxy answers its healthz the same way).
 */
public final class MetricsServer implements AutoCloseable
{
    /** The default bind address: loopback, so that nothing outside the node reaches it unless asked for. */
    public static final String LOOPBACK = "127.0.0.1";

    private final HTTPServer server;
    private final String address;

    private MetricsServer(final HTTPServer server, final String address)
    {
        this.server = server;
        this.address = address;
    }

    /**
     * Starts serving on 127.0.0.1.
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
        return start(LOOPBACK, port, registry, health);
    }

    /**
     * Starts serving on an address; registers the JVM and process collectors with the registry first (once per
     * registry).
     *
     * @param bindAddress an IP address literal ({@link #checkBindAddress}); 0.0.0.0 or :: for every address.
     * @param port        TCP port (0 picks a free one).
     * @param registry    the metrics.
     * @param health      returns null when healthy, else why not.
     * @return the running server.
     * @throws IOException              when the address or port cannot be bound.
     * @throws IllegalArgumentException when the address is not an IP address literal.
     */
    public static MetricsServer start(final String bindAddress, final int port, final PrometheusRegistry registry,
        final Supplier<String> health) throws IOException
    {
        final String address = checkBindAddress(bindAddress);
        JvmMetrics.builder().register(registry);
        final HTTPServer s = HTTPServer.builder().hostname(address).port(port).registry(registry)
            .defaultHandler(exchange -> answer(exchange, health)).buildAndStart();
        return new MetricsServer(s, address);
    }

    /**
     * @param address a bind address as configured.
     * @return the address, when it is an IPv4 or IPv6 literal (no name is resolved).
     * @throws IllegalArgumentException otherwise.
     */
    public static String checkBindAddress(final String address)
    {
        try
        {
            InetAddress.ofLiteral(address == null ? "" : address);
            return address;
        }
        catch (final IllegalArgumentException e)
        {
            throw new IllegalArgumentException("metrics bind address: '" + address + "' is not an IP address "
                + "(e.g. 127.0.0.1, 0.0.0.0, ::)", e);
        }
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

    /** @return the bound address. */
    public String address()
    {
        return address;
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
