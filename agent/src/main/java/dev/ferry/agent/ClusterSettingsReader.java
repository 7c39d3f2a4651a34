package dev.ferry.agent;

import dev.ferry.core.route.Ip4;
import dev.ferry.core.route.Ip4Prefix;
import dev.ferry.core.tables.NodeTables.ClusterSettings;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.networking.v1.ServiceCIDR;
import tools.jackson.core.JacksonException;
import tools.jackson.core.TokenStreamLocation;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.dataformat.yaml.YAMLMapper;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Derives the cluster-wide settings from the objects that real clusters already carry.
 *
 * <table>
 *   <caption>Sources, first found wins</caption>
 *   <tr><th>setting</th><th>from</th><th>default</th></tr>
 *   <tr><td>cluster CIDR</td><td>flannel {@code kube-flannel-cfg} {@code net-conf.json} {@code Network};
 *       kube-proxy {@code clusterCIDR}</td><td>10.244.0.0/16</td></tr>
 *   <tr><td>VNI, VXLAN port</td><td>{@code net-conf.json} {@code Backend.VNI}, {@code Backend.Port}</td>
 *       <td>1, 8472 (flannel's defaults; 0 also means the default)</td></tr>
 *   <tr><td>Service CIDRs</td><td>ServiceCIDR objects (networking.k8s.io/v1); the kube-apiserver Pod's
 *       {@code --service-cluster-ip-range}</td><td>unknown: the narrowest prefixes that hold the Services'
 *       ClusterIPs (see {@link #coveringPrefixes}); 10.96.0.0/12 when there is no ClusterIP</td></tr>
 *   <tr><td>NodePort range</td><td>the kube-apiserver Pod's {@code --service-node-port-range}</td>
 *       <td>unknown: 1-65535 (see {@link #ANY_NODE_PORT_MIN})</td></tr>
 *   <tr><td>NodePort addresses, masqueradeAll, conntrack</td><td>kube-proxy ConfigMap {@code kube-proxy},
 *       key {@code config.conf} (a KubeProxyConfiguration)</td><td>all addresses, false, see
 *       {@link #conntrackDefaults()}</td></tr>
 * </table>
 *
 * <p>IPv6 values are left out: ferry serves IPv4. A value that does not parse is a {@link ManifestException}
 * naming the ConfigMap and the key.
 */
public final class ClusterSettingsReader
{
    /** flannel's ConfigMap. */
    public static final String FLANNEL_CONFIG_MAP = "kube-flannel-cfg";
    /** The key of flannel's network configuration. */
    public static final String FLANNEL_KEY = "net-conf.json";
    /** kube-proxy's ConfigMap (kubeadm). */
    public static final String KUBE_PROXY_CONFIG_MAP = "kube-proxy";
    /** The key of the KubeProxyConfiguration. */
    public static final String KUBE_PROXY_KEY = "config.conf";
    /** A {@code nodePortAddresses} entry meaning "the node's primary addresses". */
    public static final String PRIMARY = "primary";

    /**
     * The NodePort range when no source names it (a worker node does not see the kube-apiserver Pod): every port.
     * kube-proxy never checks a nodePort against the range (the API server does), so a Service that the API
     * server accepted is never left out on a guess; a range that a source names is still enforced.
     */
    public static final int ANY_NODE_PORT_MIN = 1;
    /** The upper end of the range when no source names it. */
    public static final int ANY_NODE_PORT_MAX = 65535;
    /** kube-apiserver refuses an IPv4 Service range wider than a /12, so no guessed prefix is wider either. */
    static final int WIDEST_SERVICE_PREFIX = 12;

    private static final ObjectMapper JSON = JsonMapper.builder().build();
    private static final ObjectMapper YAML = YAMLMapper.builder().build();
    private static final Pattern DURATION_PART = Pattern.compile("(\\d+(?:\\.\\d*)?|\\.\\d+)(ns|us|µs|ms|s|m|h)");
    private static final Pattern PORT_RANGE = Pattern.compile("(\\d+)-(\\d+)");

    private ClusterSettingsReader()
    {
    }

    /**
     * kube-proxy's conntrack defaults, where a zero means "the kernel's value": {@code maxPerCore} 32768,
     * {@code min} 131072, {@code tcpEstablishedTimeout} 86400 s, {@code tcpCloseWaitTimeout} 3600 s,
     * {@code udpTimeout} 30 s and {@code udpStreamTimeout} 120 s (the kernel's nf_conntrack defaults).
     *
     * @return the defaults by KubeProxyConfiguration name; timeouts in seconds.
     */
    public static Map<String, Long> conntrackDefaults()
    {
        final Map<String, Long> m = new LinkedHashMap<>();
        m.put("maxPerCore", 32768L);
        m.put("min", 131072L);
        m.put("tcpEstablishedTimeout", 86400L);
        m.put("tcpCloseWaitTimeout", 3600L);
        m.put("udpTimeout", 30L);
        m.put("udpStreamTimeout", 120L);
        return m;
    }

    /**
     * Reads the settings, expanding a {@code nodePortAddresses: [primary]} to nothing.
     *
     * @param state the cluster objects.
     * @return the settings.
     * @throws ManifestException when a source holds a value that does not parse.
     */
    public static ClusterSettings read(final ClusterState state)
    {
        return read(state, List.of());
    }

    /**
     * Reads the settings.
     *
     * @param state            the cluster objects.
     * @param primaryAddresses this node's primary addresses, which a {@code primary} entry of
     *                         {@code nodePortAddresses} stands for.
     * @return the settings.
     * @throws ManifestException when a source holds a value that does not parse.
     */
    public static ClusterSettings read(final ClusterState state, final List<Integer> primaryAddresses)
    {
        final ClusterSettings d = ClusterSettings.defaults();
        Ip4Prefix clusterCidr = null;
        int vni = d.vni();
        int vxlanPort = d.vxlanPort();
        final ConfigMap flannel = find(state, FLANNEL_CONFIG_MAP, "kube-flannel");
        if (flannel != null && flannel.getData() != null && flannel.getData().get(FLANNEL_KEY) != null)
        {
            final ObjectRef ref = state.ref(flannel);
            final String field = "data[" + FLANNEL_KEY + "]";
            final JsonNode net = parseJson(ref, field, flannel.getData().get(FLANNEL_KEY));
            final JsonNode network = net.get("Network");
            if (network != null && !network.isNull())
            {
                clusterCidr = Fields.cidr4(ref, field + ".Network", text(ref, field + ".Network", network));
            }
            final JsonNode backend = net.path("Backend");
            final String type = backend.has("Type") ? text(ref, field + ".Backend.Type", backend.get("Type")) : "vxlan";
            if (!type.equalsIgnoreCase("vxlan"))
            {
                throw ref.fail(field + ".Backend.Type", "ferry speaks only the vxlan backend, not '" + type + "'");
            }
            final int v = (int)number(ref, field + ".Backend.VNI", backend.get("VNI"), 0, 0xFF_FFFF);
            vni = v == 0 ? d.vni() : v;
            final int p = (int)number(ref, field + ".Backend.Port", backend.get("Port"), 0, 65535);
            vxlanPort = p == 0 ? ClusterSettings.FLANNEL_DEFAULT_PORT : p;
        }

        List<Ip4Prefix> nodePortAddresses = d.nodePortAddresses();
        boolean masqueradeAll = d.masqueradeAll();
        final Map<String, Long> conntrack = conntrackDefaults();
        final ConfigMap proxy = find(state, KUBE_PROXY_CONFIG_MAP, "kube-system");
        if (proxy != null && proxy.getData() != null && proxy.getData().get(KUBE_PROXY_KEY) != null)
        {
            final ObjectRef ref = state.ref(proxy);
            final String field = "data[" + KUBE_PROXY_KEY + "]";
            final JsonNode conf = parseYaml(ref, field, proxy.getData().get(KUBE_PROXY_KEY));
            final JsonNode cidr = conf.get("clusterCIDR");
            if (clusterCidr == null && cidr != null && !cidr.isNull())
            {
                clusterCidr = firstIp4Cidr(ref, field + ".clusterCIDR", text(ref, field + ".clusterCIDR", cidr));
            }
            final JsonNode npa = conf.get("nodePortAddresses");
            if (npa != null && !npa.isNull())
            {
                nodePortAddresses = nodePortAddresses(ref, field + ".nodePortAddresses", npa, primaryAddresses);
            }
            final JsonNode ma = conf.get("masqueradeAll");
            if (ma != null && !ma.isNull())
            {
                if (!ma.isBoolean())
                {
                    throw ref.fail(field + ".masqueradeAll", "expected true or false, got " + ma);
                }
                masqueradeAll = ma.booleanValue();
            }
            readConntrack(ref, field + ".conntrack", conf.path("conntrack"), conntrack);
        }

        final Pod apiServer = apiServerPod(state);
        final ObjectRef apiRef = apiServer == null ? null : state.ref(apiServer);
        final String rangeFlag = apiServer == null ? null : flag(apiServer, "--service-node-port-range");
        int nodePortMin = ANY_NODE_PORT_MIN;
        int nodePortMax = ANY_NODE_PORT_MAX;
        if (rangeFlag != null)
        {
            final Matcher m = PORT_RANGE.matcher(rangeFlag.trim());
            if (!m.matches() || Integer.parseInt(m.group(1)) > Integer.parseInt(m.group(2))
                || Integer.parseInt(m.group(2)) > 65535 || Integer.parseInt(m.group(1)) < 1)
            {
                throw apiRef.fail("spec.containers.command[--service-node-port-range]",
                    "not a port range (like 30000-32767): '" + rangeFlag + "'");
            }
            nodePortMin = Integer.parseInt(m.group(1));
            nodePortMax = Integer.parseInt(m.group(2));
        }

        List<Ip4Prefix> serviceCidrs = serviceCidrs(state);
        if (serviceCidrs.isEmpty() && apiServer != null)
        {
            final String flag = flag(apiServer, "--service-cluster-ip-range");
            if (flag != null)
            {
                final Ip4Prefix p = firstIp4Cidr(apiRef, "spec.containers.command[--service-cluster-ip-range]", flag);
                serviceCidrs = p == null ? List.of() : List.of(p);
            }
        }
        if (serviceCidrs.isEmpty())
        {
            // a guess that is too wide drops (NO_SERVICE) and routes into the TAP traffic to addresses that are no
            // Service; one too narrow misses Services: the ClusterIPs themselves bound the guess from both sides
            serviceCidrs = coveringPrefixes(clusterIps(state));
        }
        if (serviceCidrs.isEmpty())
        {
            serviceCidrs = d.serviceCidrs();
        }

        return new ClusterSettings(clusterCidr == null ? d.clusterCidr() : clusterCidr, serviceCidrs, vni, vxlanPort,
            nodePortMin, nodePortMax, nodePortAddresses, masqueradeAll, d.nonMasqueradeCidrs(),
            d.masqueradePortMin(), d.masqueradePortMax(), conntrack);
    }

    /**
     * The narrowest prefixes, none wider than a /12, that hold the given addresses: the addresses grouped by their
     * /12 block, one prefix per block. A single Service range (at most a /12) holds each of them, so the guess never
     * claims an address outside the real range.
     *
     * @param ips IPv4 addresses.
     * @return the prefixes in address order.
     */
    static List<Ip4Prefix> coveringPrefixes(final List<Integer> ips)
    {
        final Map<Integer, int[]> blocks = new TreeMap<>(Integer::compareUnsigned);
        final int blockMask = Ip4Prefix.mask(WIDEST_SERVICE_PREFIX);
        for (final int ip : ips)
        {
            final int[] range = blocks.computeIfAbsent(ip & blockMask, b -> new int[] {ip, ip});
            if (Integer.compareUnsigned(ip, range[0]) < 0)
            {
                range[0] = ip;
            }
            if (Integer.compareUnsigned(ip, range[1]) > 0)
            {
                range[1] = ip;
            }
        }
        final List<Ip4Prefix> out = new ArrayList<>();
        for (final int[] range : blocks.values())
        {
            final int length = Integer.numberOfLeadingZeros(range[0] ^ range[1]);
            out.add(new Ip4Prefix(range[0] & Ip4Prefix.mask(length), length));
        }
        return out;
    }

    private static List<Integer> clusterIps(final ClusterState state)
    {
        final List<Integer> out = new ArrayList<>();
        for (final Service s : state.services())
        {
            if (s.getSpec() == null)
            {
                continue;
            }
            final List<String> ips = new ArrayList<>(s.getSpec().getClusterIPs());
            ips.add(s.getSpec().getClusterIP());
            for (final String ip : ips)
            {
                // a malformed ClusterIP is the Service's own problem: the compiler skips that Service (the same test
                // as its Fields.ip4, so the guess covers exactly the ClusterIPs the compiler accepts)
                if (ip != null && Ip4.isIp4(ip))
                {
                    out.add(Ip4.parse(ip));
                }
            }
        }
        return out;
    }

    /**
     * Parses a Go duration ("24h0m0s", "1h", "90s", "1.5m", "0s").
     *
     * @param text the duration.
     * @return whole seconds, or -1 when the text is not a duration.
     */
    static long goDurationSeconds(final String text)
    {
        final String t = text.trim();
        if (t.equals("0"))
        {
            return 0;
        }
        final Matcher m = DURATION_PART.matcher(t);
        double seconds = 0;
        int end = 0;
        while (m.find() && m.start() == end)
        {
            final double v = Double.parseDouble(m.group(1));
            seconds += v * switch (m.group(2))
            {
                case "h" -> 3600.0;
                case "m" -> 60.0;
                case "s" -> 1.0;
                case "ms" -> 1e-3;
                case "us", "µs" -> 1e-6;
                default -> 1e-9;
            };
            end = m.end();
        }
        return end == 0 || end != t.length() ? -1 : (long)seconds;
    }

    private static ConfigMap find(final ClusterState state, final String name, final String preferredNamespace)
    {
        return state.configMaps().stream()
            .filter(c -> name.equals(c.getMetadata().getName()))
            .min(Comparator.comparing((ConfigMap c) -> !preferredNamespace.equals(c.getMetadata().getNamespace()))
                .thenComparing(c -> Fields.nullToEmpty(c.getMetadata().getNamespace())))
            .orElse(null);
    }

    private static List<Ip4Prefix> serviceCidrs(final ClusterState state)
    {
        final List<Ip4Prefix> out = new ArrayList<>();
        final List<ServiceCIDR> sorted = new ArrayList<>(state.serviceCidrs());
        sorted.sort(Comparator.comparing(s -> s.getMetadata().getName()));
        for (final ServiceCIDR s : sorted)
        {
            final ObjectRef ref = state.ref(s);
            final List<String> cidrs = s.getSpec() == null ? List.of() : s.getSpec().getCidrs();
            for (int i = 0; i < cidrs.size(); i++)
            {
                if (!Fields.isIp6(cidrs.get(i)))
                {
                    final Ip4Prefix p = Fields.cidr4(ref, "spec.cidrs[" + i + "]", cidrs.get(i));
                    if (!out.contains(p))
                    {
                        out.add(p);
                    }
                }
            }
        }
        return out;
    }

    private static Pod apiServerPod(final ClusterState state)
    {
        return state.pods().stream()
            .filter(p -> "kube-system".equals(p.getMetadata().getNamespace()))
            .filter(p -> p.getMetadata().getLabels() != null
                && "kube-apiserver".equals(p.getMetadata().getLabels().get("component")))
            .min(Comparator.comparing(p -> p.getMetadata().getName()))
            .orElse(null);
    }

    private static String flag(final Pod pod, final String name)
    {
        if (pod.getSpec() == null)
        {
            return null;
        }
        for (final Container c : pod.getSpec().getContainers())
        {
            final List<String> words = new ArrayList<>(c.getCommand());
            words.addAll(c.getArgs());
            for (int i = 0; i < words.size(); i++)
            {
                final String w = words.get(i);
                if (w.startsWith(name + "="))
                {
                    return w.substring(name.length() + 1);
                }
                if (w.equals(name) && i + 1 < words.size())
                {
                    return words.get(i + 1);
                }
            }
        }
        return null;
    }

    private static Ip4Prefix firstIp4Cidr(final ObjectRef ref, final String field, final String list)
    {
        for (final String part : list.split(","))
        {
            if (!part.isBlank() && !Fields.isIp6(part))
            {
                return Fields.cidr4(ref, field, part.trim());
            }
        }
        return null;
    }

    private static List<Ip4Prefix> nodePortAddresses(final ObjectRef ref, final String field, final JsonNode npa,
        final List<Integer> primary)
    {
        if (!npa.isArray())
        {
            throw ref.fail(field, "expected a list, got " + npa);
        }
        final List<Ip4Prefix> out = new ArrayList<>();
        for (int i = 0; i < npa.size(); i++)
        {
            final String s = text(ref, field + "[" + i + "]", npa.get(i));
            if (s.equals(PRIMARY))
            {
                for (final int a : primary)
                {
                    out.add(new Ip4Prefix(a, 32));
                }
            }
            else if (!Fields.isIp6(s))
            {
                out.add(Fields.cidr4(ref, field + "[" + i + "]", s));
            }
        }
        return out;
    }

    private static void readConntrack(final ObjectRef ref, final String field, final JsonNode ct,
        final Map<String, Long> into)
    {
        for (final String key : new String[] {"maxPerCore", "min"})
        {
            final long v = number(ref, field + "." + key, ct.get(key), 0, Integer.MAX_VALUE);
            if (v > 0)
            {
                into.put(key, v);
            }
        }
        for (final String key : new String[] {"tcpEstablishedTimeout", "tcpCloseWaitTimeout", "udpTimeout",
            "udpStreamTimeout"})
        {
            final JsonNode n = ct.get(key);
            if (n == null || n.isNull())
            {
                continue;
            }
            final long s = goDurationSeconds(text(ref, field + "." + key, n));
            if (s < 0)
            {
                throw ref.fail(field + "." + key, "not a duration (like 24h0m0s): '" + n.asString() + "'");
            }
            if (s > 0)
            {
                into.put(key, s);
            }
        }
    }

    private static long number(final ObjectRef ref, final String field, final JsonNode n, final long min,
        final long max)
    {
        if (n == null || n.isNull())
        {
            return 0;
        }
        if (!n.isIntegralNumber())
        {
            throw ref.fail(field, "expected an integer, got " + n);
        }
        final long v = n.longValue();
        if (v < min || v > max)
        {
            throw ref.fail(field, "out of range (" + min + "-" + max + "): " + v);
        }
        return v;
    }

    private static String text(final ObjectRef ref, final String field, final JsonNode n)
    {
        if (!n.isString())
        {
            throw ref.fail(field, "expected a string, got " + n);
        }
        return n.asString();
    }

    private static JsonNode parseJson(final ObjectRef ref, final String field, final String text)
    {
        try
        {
            final JsonNode n = JSON.readTree(text);
            if (n == null || !n.isObject())
            {
                throw ref.fail(field, "expected a JSON object");
            }
            return n;
        }
        catch (final JacksonException e)
        {
            throw ref.fail(field, "malformed JSON at " + position(e) + ": " + firstLine(e));
        }
    }

    private static JsonNode parseYaml(final ObjectRef ref, final String field, final String text)
    {
        try
        {
            final JsonNode n = YAML.readTree(text);
            if (n == null || !n.isObject())
            {
                throw ref.fail(field, "expected a KubeProxyConfiguration mapping");
            }
            return n;
        }
        catch (final JacksonException e)
        {
            throw ref.fail(field, "malformed YAML at " + position(e) + ": " + firstLine(e));
        }
    }

    private static String position(final JacksonException e)
    {
        final TokenStreamLocation loc = e.getLocation();
        return loc == null ? "unknown position" : "line " + loc.getLineNr() + ", column " + loc.getColumnNr();
    }

    private static String firstLine(final JacksonException e)
    {
        final String m = e.getOriginalMessage();
        return m.lines().findFirst().orElse(m);
    }
}
