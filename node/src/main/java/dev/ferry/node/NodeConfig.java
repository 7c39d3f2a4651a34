package dev.ferry.node;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.ferry.nat.Nat;
import dev.ferry.nodeapi.MetricsServer;
import dev.ferry.nodeapi.NodeApi;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.Iterator;
import java.util.Locale;
import java.util.Set;

/**
 * The settings of {@code ferry node}, read from {@code node.yaml}.
 *
 * <pre>
 * nodeName: node-a                 # required
 * apiSocket: /run/ferry/ferry.sock # Unix socket of the API (mode 0600)
 * clusterDir: /etc/ferry/cluster   # tables or manifests loaded at start, until the agent pushes
 * uplink: eth0                     # the NIC (packet mode) or the interface whose address VXLAN uses (udp)
 * underlay: packet                 # packet | udp
 * threading: dedicated             # dedicated (the API on its own thread) | shared (on the worker's)
 * poolSize: 8192                   # packet buffers
 * metricsPort: 9731                # /metrics and /healthz; -1 (the default) = off, 0 = any
 * metricsBindAddress: 127.0.0.1    # the address they listen on (0.0.0.0 for a cluster Prometheus)
 * podTapPrefix: tap                # pod TAPs are named prefix + the pod IP in hex
 * hostTap: ferry0                  # the host TAP (packet mode)
 * seed: 1                          # random seed for backend choice and port allocation; default: random per start,
 *                                  # so that nodes do not all pick backends in the same order
 * balancing: random                # random (iptables' statistic) | maglev (consistent hashing)
 * fragments:                       # the NAT's virtual reassembly of IPv4 fragments (defaults shown)
 *   maxDatagrams: 1024             #   fragmented datagrams tracked at once
 *   maxFragments: 64               #   fragments per datagram
 *   maxHeld: 64                    #   fragments held until their first fragment arrives (packet buffers)
 *   timeoutMillis: 3000            #   from a datagram's first fragment seen
 * healthzBindAddress: 0.0.0.0:10256 # kube-proxy's /healthz and /livez, IP:PORT; "" = off
 * logLevel: info                   # error | warn | info | debug | trace (java.util.logging, slf4j bridged)
 * stateDir: /run/ferry             # conntrack.state, mapped: flows survive a restart; default: the socket's dir
 * workers: 1                       # forwarding threads, 1..64; default: the cgroup's CPUs minus one, at least 1
 * busyPollMicros: 0                # the worker polls its ports up to this long after traffic before it blocks
 *                                  # (adaptive, 0..1000000; 0 = block at once): node README, "Idle wait"
 * </pre>
 *
 * @param nodeName     node name, as in Kubernetes.
 * @param apiSocket    path of the API socket.
 * @param clusterDir   directory loaded at start, or null.
 * @param uplink       uplink interface name.
 * @param underlay     underlay mode.
 * @param threading    threading mode.
 * @param poolSize     number of packet buffers.
 * @param metricsPort  port of /metrics and /healthz, -1 when off, 0 for any free port.
 * @param metricsBindAddress the IP address /metrics and /healthz listen on (default 127.0.0.1).
 * @param podTapPrefix prefix of pod TAP names.
 * @param hostTap      name of the host TAP.
 * @param seed         random seed.
 * @param balancing    how Services pick an endpoint.
 * @param fragments    bounds of the NAT's virtual reassembly of IPv4 fragments.
 * @param healthzBindAddress IP:PORT of kube-proxy's /healthz and /livez, or "" for none.
 * @param logLevel     the log level: error, warn, info, debug or trace.
 * @param stateDir     directory of the mapped conntrack state file, or null to keep the table in memory.
 * @param workers      forwarding threads, {@code 1 .. }{@link WorkerCount#MAX}.
 * @param busyPollMicros the longest busy-poll window after traffic (µs), 0 to block as soon as a cycle is empty.
 */
public record NodeConfig(
    String nodeName,
    Path apiSocket,
    Path clusterDir,
    String uplink,
    UnderlayMode underlay,
    ThreadingMode threading,
    int poolSize,
    int metricsPort,
    String metricsBindAddress,
    String podTapPrefix,
    String hostTap,
    long seed,
    BalancingMode balancing,
    Nat.FragmentLimits fragments,
    String healthzBindAddress,
    String logLevel,
    Path stateDir,
    int workers,
    long busyPollMicros)
{
    /** Default API socket path. */
    public static final Path DEFAULT_SOCKET = Path.of("/run/ferry/ferry.sock");
    /** {@link #metricsPort()} value that serves no metrics (the default). */
    public static final int METRICS_OFF = -1;
    /** Hex digits that a pod TAP name spends on the pod address. */
    public static final int TAP_ADDRESS_DIGITS = 8;
    /** kube-proxy's default healthz address. */
    public static final String DEFAULT_HEALTHZ = "0.0.0.0:10256";
    /** {@link #healthzBindAddress()} value that serves no healthz. */
    public static final String HEALTHZ_OFF = "";
    /** The log levels {@link #logLevel()} accepts. */
    public static final java.util.List<String> LOG_LEVELS = dev.ferry.nodeapi.ConsoleLogging.LEVELS;

    private static final Set<String> FIELDS = Set.of("nodeName", "apiSocket", "clusterDir", "uplink", "underlay",
        "threading", "poolSize", "metricsPort", "metricsBindAddress", "podTapPrefix", "hostTap", "seed", "balancing",
        "fragments", "healthzBindAddress", "logLevel",
        "stateDir", "workers", "busyPollMicros");
    private static final Set<String> FRAGMENT_FIELDS = Set.of("maxDatagrams", "maxFragments", "maxHeld",
        "timeoutMillis");

    /**
     * Validates every field.
     *
     * @param nodeName     node name.
     * @param apiSocket    API socket.
     * @param clusterDir   cluster dir or null.
     * @param uplink       uplink name.
     * @param underlay     underlay mode.
     * @param threading    threading mode.
     * @param poolSize     buffers.
     * @param metricsPort  metrics port.
     * @param metricsBindAddress metrics address.
     * @param podTapPrefix pod TAP prefix.
     * @param hostTap      host TAP name.
     * @param seed         seed.
     * @param balancing    endpoint choice.
     * @param fragments    virtual reassembly bounds.
     * @param healthzBindAddress healthz address or "".
     * @param logLevel     log level.
     * @param stateDir     state directory or null.
     * @param workers      forwarding threads.
     * @param busyPollMicros busy-poll window bound (µs).
     */
    public NodeConfig
    {
        WorkerCount.check(workers);
        BusyPollWindow.check(busyPollMicros);
        if (healthzBindAddress == null)
        {
            throw new IllegalArgumentException("healthzBindAddress: required (IP:PORT, or \"\" for none)");
        }
        if (!healthzBindAddress.isEmpty())
        {
            HealthzServer.parse(healthzBindAddress);
        }
        if (!LOG_LEVELS.contains(logLevel))
        {
            throw new IllegalArgumentException("logLevel: '" + logLevel + "' is not one of " + String.join(", ",
                LOG_LEVELS));
        }
        if (fragments == null)
        {
            throw new IllegalArgumentException("fragments: required");
        }
        if (nodeName == null || nodeName.isBlank())
        {
            throw new IllegalArgumentException("nodeName: required");
        }
        if (apiSocket == null)
        {
            throw new IllegalArgumentException("apiSocket: required");
        }
        if (uplink == null || uplink.isEmpty() || uplink.length() > NodeApi.IFNAMSIZ_MAX)
        {
            throw new IllegalArgumentException("uplink: an interface name of 1 to 15 characters is required");
        }
        if (underlay == null)
        {
            throw new IllegalArgumentException("underlay: required (packet or udp)");
        }
        if (balancing == null)
        {
            throw new IllegalArgumentException("balancing: required (random or maglev)");
        }
        if (threading == null)
        {
            throw new IllegalArgumentException("threading: required (shared or dedicated)");
        }
        if (poolSize < 256 || poolSize > 1 << 20)
        {
            throw new IllegalArgumentException("poolSize: " + poolSize + " is out of range 256..1048576");
        }
        if (metricsPort < METRICS_OFF || metricsPort > 65535)
        {
            throw new IllegalArgumentException("metricsPort: " + metricsPort + " is out of range -1..65535 (-1: off,"
                + " 0: any free port)");
        }
        MetricsServer.checkBindAddress(metricsBindAddress);
        if (podTapPrefix == null || podTapPrefix.isEmpty()
            || podTapPrefix.length() > NodeApi.IFNAMSIZ_MAX - TAP_ADDRESS_DIGITS)
        {
            throw new IllegalArgumentException("podTapPrefix: 1 to 7 characters, so that prefix + 8 hex digits "
                + "fits an interface name");
        }
        if (hostTap == null || hostTap.isEmpty() || hostTap.length() > NodeApi.IFNAMSIZ_MAX)
        {
            throw new IllegalArgumentException("hostTap: an interface name of 1 to 15 characters is required");
        }
    }

    /**
     * A configuration with defaults for everything but the node name, the socket and the uplink.
     *
     * @param nodeName  node name.
     * @param apiSocket API socket path.
     * @param uplink    uplink interface.
     * @return the configuration.
     */
    public static NodeConfig defaults(final String nodeName, final Path apiSocket, final String uplink)
    {
        return new NodeConfig(nodeName, apiSocket, null, uplink, UnderlayMode.PACKET, ThreadingMode.SHARED, 8192,
            METRICS_OFF, MetricsServer.LOOPBACK, "tap", "ferry0", 1, BalancingMode.RANDOM, Nat.FragmentLimits.DEFAULTS,
            HEALTHZ_OFF, "info", null, 1, BusyPollWindow.DEFAULT_MAX_MICROS);
    }

    /**
     * @param mode how Services pick an endpoint.
     * @return a copy with that choice.
     */
    public NodeConfig withBalancing(final BalancingMode mode)
    {
        return new NodeConfig(nodeName, apiSocket, clusterDir, uplink, underlay, threading, poolSize, metricsPort,
            metricsBindAddress, podTapPrefix, hostTap, seed, mode, fragments, healthzBindAddress, logLevel,
            stateDir, workers, busyPollMicros);
    }

    /**
     * @param value the random seed (backend choice, port allocation).
     * @return a copy with that seed.
     */
    public NodeConfig withSeed(final long value)
    {
        return new NodeConfig(nodeName, apiSocket, clusterDir, uplink, underlay, threading, poolSize, metricsPort,
            metricsBindAddress, podTapPrefix, hostTap, value, balancing, fragments, healthzBindAddress, logLevel,
            stateDir, workers, busyPollMicros);
    }

    /**
     * @param dir the cluster directory.
     * @return a copy with another cluster directory.
     */
    public NodeConfig withClusterDir(final Path dir)
    {
        return new NodeConfig(nodeName, apiSocket, dir, uplink, underlay, threading, poolSize, metricsPort,
            metricsBindAddress, podTapPrefix, hostTap, seed, balancing, fragments, healthzBindAddress, logLevel,
            stateDir, workers, busyPollMicros);
    }

    /**
     * @param mode the threading mode.
     * @return a copy with another threading mode.
     */
    public NodeConfig withThreading(final ThreadingMode mode)
    {
        return new NodeConfig(nodeName, apiSocket, clusterDir, uplink, underlay, mode, poolSize, metricsPort,
            metricsBindAddress, podTapPrefix, hostTap, seed, balancing, fragments, healthzBindAddress, logLevel,
            stateDir, workers, busyPollMicros);
    }

    /**
     * @param port loopback port of /metrics and /healthz, -1 for none, 0 for any free port.
     * @return a copy with another metrics port.
     */
    public NodeConfig withMetricsPort(final int port)
    {
        return new NodeConfig(nodeName, apiSocket, clusterDir, uplink, underlay, threading, poolSize, port,
            metricsBindAddress, podTapPrefix, hostTap, seed, balancing, fragments, healthzBindAddress, logLevel,
            stateDir, workers, busyPollMicros);
    }

    /**
     * @param address the IP address /metrics and /healthz listen on.
     * @return a copy with another metrics bind address.
     */
    public NodeConfig withMetricsBindAddress(final String address)
    {
        return new NodeConfig(nodeName, apiSocket, clusterDir, uplink, underlay, threading, poolSize, metricsPort,
            address, podTapPrefix, hostTap, seed, balancing, fragments, healthzBindAddress, logLevel,
            stateDir, workers, busyPollMicros);
    }

    /**
     * @param address IP:PORT of /healthz and /livez, or "" for none.
     * @return a copy with another healthz address.
     */
    public NodeConfig withHealthzBindAddress(final String address)
    {
        return new NodeConfig(nodeName, apiSocket, clusterDir, uplink, underlay, threading, poolSize, metricsPort,
            metricsBindAddress, podTapPrefix, hostTap, seed, balancing, fragments, address, logLevel, stateDir,
            workers, busyPollMicros);
    }

    /**
     * @param level error, warn, info, debug or trace.
     * @return a copy with another log level.
     */
    public NodeConfig withLogLevel(final String level)
    {
        return new NodeConfig(nodeName, apiSocket, clusterDir, uplink, underlay, threading, poolSize, metricsPort,
            metricsBindAddress, podTapPrefix, hostTap, seed, balancing, fragments, healthzBindAddress, level, stateDir,
            workers, busyPollMicros);
    }

    /**
     * The TAP name of a pod: the prefix and the address in hex, so that the agent and the node agree on it
     * without asking each other ({@code tap0af40105} for 10.244.1.5).
     *
     * @param podIp the pod address.
     * @return the interface name.
     */
    public String podTapName(final int podIp)
    {
        return podTapPrefix + String.format(Locale.ROOT, "%08x", podIp);
    }

    /**
     * Reads {@code node.yaml}.
     *
     * @param file the YAML file.
     * @return the configuration.
     * @throws IOException              when the file cannot be read.
     * @throws IllegalArgumentException when a field is wrong; the message names the file and the field.
     */
    public static NodeConfig load(final Path file) throws IOException
    {
        final JsonNode root;
        try
        {
            root = new ObjectMapper(new YAMLFactory()).readTree(Files.readString(file));
        }
        catch (final com.fasterxml.jackson.core.JsonProcessingException e)
        {
            throw new IllegalArgumentException(file + ": not valid YAML: " + e.getOriginalMessage(), e);
        }
        try
        {
            return parse(root);
        }
        catch (final IllegalArgumentException e)
        {
            throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
        }
    }

    /**
     * Builds a configuration from a parsed YAML or JSON tree.
     *
     * @param root the tree.
     * @return the configuration.
     * @throws IllegalArgumentException when a field is wrong.
     */
    public static NodeConfig parse(final JsonNode root)
    {
        if (root == null || !root.isObject())
        {
            throw new IllegalArgumentException("expected a mapping of settings at the top level");
        }
        final Iterator<String> names = root.fieldNames();
        while (names.hasNext())
        {
            final String n = names.next();
            if (!FIELDS.contains(n))
            {
                throw new IllegalArgumentException(n + ": unknown setting (known: " + String.join(", ",
                    FIELDS.stream().sorted().toList()) + ")");
            }
        }
        final String nodeName = text(root, "nodeName", null);
        final String socket = text(root, "apiSocket", DEFAULT_SOCKET.toString());
        final String cluster = text(root, "clusterDir", null);
        return new NodeConfig(nodeName, Path.of(socket), cluster == null ? null : Path.of(cluster),
            text(root, "uplink", null),
            enumOf(UnderlayMode.class, "underlay", text(root, "underlay", "packet")),
            enumOf(ThreadingMode.class, "threading", text(root, "threading", "dedicated")),
            (int)number(root, "poolSize", 8192), (int)number(root, "metricsPort", METRICS_OFF),
            text(root, "metricsBindAddress", MetricsServer.LOOPBACK), text(root, "podTapPrefix", "tap"),
            text(root, "hostTap", "ferry0"),
            root.hasNonNull("seed") ? number(root, "seed", 0) : new SecureRandom().nextLong(),
            enumOf(BalancingMode.class, "balancing", text(root, "balancing", "random")), fragments(root),
            text(root, "healthzBindAddress", DEFAULT_HEALTHZ), text(root, "logLevel", "info"),
            stateDir(root, Path.of(socket)), workers(root),

            // the property sets the default for measurements (lab A/B runs); the key wins
            number(root, "busyPollMicros", Long.getLong("ferry.idle.busyPollMicros",
                BusyPollWindow.DEFAULT_MAX_MICROS)));
    }

    /** {@code stateDir}: default the API socket's directory ({@code /run/ferry}), as for attachments.json. */
    private static Path stateDir(final JsonNode root, final Path socket)
    {
        final String dir = text(root, "stateDir", null);
        if (dir != null)
        {
            return Path.of(dir);
        }
        final Path parent = socket.toAbsolutePath().getParent();
        return parent == null ? Path.of("/run/ferry") : parent;
    }

    /**
     * @param dir where the conntrack state file lives, or null to keep the table in memory (tests, replay).
     * @return a copy with another state directory.
     */
    public NodeConfig withStateDir(final Path dir)
    {
        return new NodeConfig(nodeName, apiSocket, clusterDir, uplink, underlay, threading, poolSize, metricsPort,
            metricsBindAddress, podTapPrefix, hostTap, seed, balancing, fragments, healthzBindAddress, logLevel, dir,
            workers, busyPollMicros);
    }

    /**
     * @param count forwarding threads, {@code 1 .. }{@link WorkerCount#MAX}.
     * @return a copy with another worker count.
     */
    public NodeConfig withWorkers(final int count)
    {
        return new NodeConfig(nodeName, apiSocket, clusterDir, uplink, underlay, threading, poolSize, metricsPort,
            metricsBindAddress, podTapPrefix, hostTap, seed, balancing, fragments, healthzBindAddress, logLevel,
            stateDir, count, busyPollMicros);
    }

    /** {@code workers}: default the CPUs this process may use (cgroup quota, else affinity) minus one. */
    private static int workers(final JsonNode root)
    {
        return root.hasNonNull("workers") ? (int)Math.max(Integer.MIN_VALUE, Math.min(Integer.MAX_VALUE,
            number(root, "workers", 1))) : WorkerCount.defaultCount();
    }

    /**
     * @param micros the longest busy-poll window after traffic (µs), 0 to block at once.
     * @return a copy with that window.
     */
    public NodeConfig withBusyPollMicros(final long micros)
    {
        return new NodeConfig(nodeName, apiSocket, clusterDir, uplink, underlay, threading, poolSize, metricsPort,
            metricsBindAddress, podTapPrefix, hostTap, seed, balancing, fragments, healthzBindAddress, logLevel,
            stateDir, workers, micros);
    }

    private static Nat.FragmentLimits fragments(final JsonNode root)
    {
        final JsonNode f = root.get("fragments");
        if (f == null || f.isNull())
        {
            return Nat.FragmentLimits.DEFAULTS;
        }
        if (!f.isObject())
        {
            throw new IllegalArgumentException("fragments: expected a mapping (maxDatagrams, maxFragments, maxHeld,"
                + " timeoutMillis)");
        }
        final Iterator<String> names = f.fieldNames();
        while (names.hasNext())
        {
            final String n = names.next();
            if (!FRAGMENT_FIELDS.contains(n))
            {
                throw new IllegalArgumentException("fragments." + n + ": unknown setting (known: " + String.join(", ",
                    FRAGMENT_FIELDS.stream().sorted().toList()) + ")");
            }
        }
        final Nat.FragmentLimits d = Nat.FragmentLimits.DEFAULTS;
        try
        {
            return new Nat.FragmentLimits((int)number(f, "maxDatagrams", d.maxDatagrams()),
                (int)number(f, "maxFragments", d.maxFragments()), (int)number(f, "maxHeld", d.maxHeld()),
                number(f, "timeoutMillis", d.timeoutMillis()));
        }
        catch (final IllegalArgumentException e)
        {
            throw new IllegalArgumentException("fragments: " + e.getMessage(), e);
        }
    }

    private static String text(final JsonNode root, final String field, final String dflt)
    {
        final JsonNode n = root.get(field);
        if (n == null || n.isNull())
        {
            return dflt;
        }
        if (!n.isTextual())
        {
            throw new IllegalArgumentException(field + ": expected text, got " + n.getNodeType().name()
                .toLowerCase(Locale.ROOT));
        }
        return n.asText();
    }

    private static long number(final JsonNode root, final String field, final long dflt)
    {
        final JsonNode n = root.get(field);
        if (n == null || n.isNull())
        {
            return dflt;
        }
        if (!n.isIntegralNumber())
        {
            throw new IllegalArgumentException(field + ": expected a whole number, got '" + n.asText() + "'");
        }
        return n.asLong();
    }

    private static <E extends Enum<E>> E enumOf(final Class<E> type, final String field, final String value)
    {
        try
        {
            return Enum.valueOf(type, value.toUpperCase(Locale.ROOT));
        }
        catch (final IllegalArgumentException e)
        {
            final StringBuilder known = new StringBuilder();
            for (final E c : type.getEnumConstants())
            {
                known.append(known.isEmpty() ? "" : " or ").append(c.name().toLowerCase(Locale.ROOT));
            }
            throw new IllegalArgumentException(field + ": '" + value + "' is not one of " + known, e);
        }
    }
}
