package dev.ferry.node;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.tables.ServiceInfo;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.logging.Logger;

/**
 * kube-proxy's per-Service health checks ({@code pkg/proxy/healthcheck/service_health.go}): for each Service with
 * externalTrafficPolicy Local and a {@code healthCheckNodePort}, an HTTP listener on that port (every address,
 * 0.0.0.0) that a cloud load balancer polls to learn whether this node has local endpoints.
 *
 * <pre>
 * any path → 200 when the node has local ready endpoints for the Service and is healthy ({@link ProxyHealth}),
 *            503 otherwise; header X-Load-Balancing-Endpoint-Weight: COUNT; body:
 * {
 *     "service": {
 *         "namespace": "NS",
 *         "name": "NAME"
 *     },
 *     "localEndpoints": COUNT,
 *     "serviceProxyHealthy": true
 * }                                        (indented with tabs)
 * </pre>
 *
 * <p>COUNT is the number of distinct local ready endpoint addresses over the Service's ports (kube-proxy's
 * {@code LocalReadyEndpoints}). Listeners open and close as tables are applied ({@link #sync}, on the control
 * thread); answers run on one thread of their own and read an immutable entry. A port that cannot be bound is
 * logged and tried again at the next push.
 */
final class ServiceHealthServers implements AutoCloseable
{
    private static final Logger LOG = Logger.getLogger("dev.ferry.node");

    private final InetAddress bindAddress;
    private final ProxyHealth health;
    private final ExecutorService executor = Executors.newSingleThreadExecutor(Thread.ofPlatform().daemon()
        .name("ferry-service-health").factory());
    private final Map<Integer, Listener> open = new HashMap<>();
    private final Set<Integer> failed = new HashSet<>();
    private boolean closed;

    /**
     * @param bindAddress where the listeners bind (0.0.0.0: every address of the node).
     * @param health      the node's health (serviceProxyHealthy).
     */
    ServiceHealthServers(final InetAddress bindAddress, final ProxyHealth health)
    {
        this.bindAddress = bindAddress;
        this.health = health;
    }

    /**
     * The Service behind one health check port.
     *
     * @param namespace      namespace.
     * @param name           name.
     * @param localEndpoints local ready endpoint addresses.
     */
    record Entry(String namespace, String name, int localEndpoints)
    {
    }

    /**
     * @param tables applied tables.
     * @return health check port → Service, for the proxied Services that have one (the first one wins a port).
     */
    static Map<Integer, Entry> wanted(final NodeTables tables)
    {
        final Map<Integer, Entry> out = new LinkedHashMap<>();
        for (final ServiceInfo s : tables.services())
        {
            if (s.healthCheckNodePort() == 0 || !s.proxied() || out.containsKey(s.healthCheckNodePort()))
            {
                continue;
            }
            final Set<Integer> local = new HashSet<>();
            for (final ServiceInfo.ServicePort p : s.ports())
            {
                for (final ServiceInfo.Endpoint e : p.endpoints())
                {
                    if (e.local() && e.ready())
                    {
                        local.add(e.ip());
                    }
                }
            }
            out.put(s.healthCheckNodePort(), new Entry(s.namespace(), s.name(), local.size()));
        }
        return out;
    }

    /**
     * Opens, updates and closes listeners to match applied tables (control thread). Never throws.
     *
     * @param tables the tables just applied.
     */
    synchronized void sync(final NodeTables tables)
    {
        if (closed)
        {
            return;
        }
        final Map<Integer, Entry> want = wanted(tables);
        for (final Iterator<Map.Entry<Integer, Listener>> it = open.entrySet().iterator(); it.hasNext();)
        {
            final Map.Entry<Integer, Listener> e = it.next();
            if (!want.containsKey(e.getKey()))
            {
                e.getValue().server.stop(0);
                it.remove();
            }
        }
        failed.retainAll(want.keySet());
        for (final Map.Entry<Integer, Entry> w : want.entrySet())
        {
            final Listener l = open.get(w.getKey());
            if (l != null)
            {
                l.entry = w.getValue();
                continue;
            }
            try
            {
                open.put(w.getKey(), start(w.getKey(), w.getValue()));
                failed.remove(w.getKey());
            }
            catch (final IOException | RuntimeException ex)
            {
                if (failed.add(w.getKey()))
                {
                    LOG.warning(() -> "health check node port " + w.getKey() + " of Service "
                        + w.getValue().namespace() + "/" + w.getValue().name() + " not served: " + ex.getMessage());
                }
            }
        }
    }

    /** @return the ports served now. */
    synchronized Set<Integer> ports()
    {
        return Set.copyOf(open.keySet());
    }

    private Listener start(final int port, final Entry entry) throws IOException
    {
        final Listener l = new Listener();
        l.entry = entry;
        final HttpServer s = HttpServer.create(new InetSocketAddress(bindAddress, port), 16);
        s.setExecutor(executor);
        s.createContext("/", exchange -> answer(exchange, l.entry));
        s.start();
        l.server = s;
        return l;
    }

    private void answer(final HttpExchange exchange, final Entry e) throws IOException
    {
        try (exchange)
        {
            final boolean proxyHealthy = health.status().healthy();
            exchange.getResponseHeaders().set("X-Load-Balancing-Endpoint-Weight", Integer.toString(e.localEndpoints()));
            HealthzServer.send(exchange, e.localEndpoints() != 0 && proxyHealthy ? 200 : 503, "application/json",
                body(e, proxyHealthy));
        }
    }

    /**
     * @param e            the Service.
     * @param proxyHealthy the node's health.
     * @return kube-proxy's body, tab-indented, without a trailing newline.
     */
    static String body(final Entry e, final boolean proxyHealthy)
    {
        return "{\n\t\"service\": {\n\t\t\"namespace\": " + quote(e.namespace()) + ",\n\t\t\"name\": "
            + quote(e.name()) + "\n\t},\n\t\"localEndpoints\": " + e.localEndpoints()
            + ",\n\t\"serviceProxyHealthy\": " + proxyHealthy + "\n}";
    }

    // Go's %q for the names Kubernetes allows (DNS labels): plain quotes
    private static String quote(final String s)
    {
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }

    @Override
    public synchronized void close()
    {
        closed = true;
        for (final Listener l : open.values())
        {
            l.server.stop(0);
        }
        open.clear();
        executor.shutdownNow();
    }

    /** One open port; the entry is swapped on each sync and read by the answering thread. */
    private static final class Listener
    {
        private HttpServer server;
        private volatile Entry entry;
    }
}
