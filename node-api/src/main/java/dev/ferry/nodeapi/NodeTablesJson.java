package dev.ferry.nodeapi;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.route.Ip4Prefix;
import dev.ferry.core.tables.InvalidTablesException;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.tables.ServiceInfo;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * The JSON form of {@link NodeTables}, as table pushes carry it, with strict validation: a push that is not
 * exactly right is refused with a message naming the field, and the node keeps its last good tables.
 *
 * <pre>
 * {
 *   "generation": 7,
 *   "node": {"name": "node-a", "addresses": ["192.168.50.11"], "podCidr": "10.244.1.0/24",
 *            "gatewayIp": "10.244.1.1", "gatewayMac": "0a:58:0a:f4:01:01", "uplinkMac": "02:00:00:00:00:11",
 *            "vtepMac": "aa:aa:aa:00:00:01", "publicIp": "192.168.50.11", "underlayGateway": "192.168.50.1",
 *            "underlayPrefix": "192.168.50.0/24", "underlayMtu": 1500},
 *            (optional "eligible": false while the Node is being deleted or tainted ToBeDeletedByClusterAutoscaler)
 *   "cluster": {"clusterCidr": "10.244.0.0/16", "serviceCidrs": ["10.96.0.0/12"], "vni": 1, "vxlanPort": 8472,
 *               "nodePortMin": 30000, "nodePortMax": 32767, "nodePortAddresses": [], "masqueradeAll": false,
 *               "nonMasqueradeCidrs": [], "masqueradePortMin": 1024, "masqueradePortMax": 65535,
 *               "conntrack": {"tcpEstablished": 86400}},
 *   "pods": [{"namespace": "default", "name": "web-1", "ip": "10.244.1.5", "mac": "0a:58:0a:f4:01:05",
 *             "port": "tap0af40105"}],
 *   "remoteNodes": [{"name": "node-b", "podCidr": "10.244.2.0/24", "publicIp": "192.168.50.12",
 *                    "vtepMac": "aa:aa:aa:00:00:02", "underlayMac": "02:00:00:00:00:12",
 *                    "addresses": ["192.168.50.12"]}],
 *   "services": [{"namespace": "default", "name": "web", "type": "ClusterIP", "clusterIps": ["10.96.0.10"],
 *                 "ports": [{"name": "http", "protocol": "TCP", "port": 80, "nodePort": 0,
 *                            "endpoints": [{"ip": "10.244.1.5", "port": 8080, "ready": true}]}]}],
 *   "neighbours": {"192.168.50.1": "02:00:00:00:00:01"}
 * }
 * </pre>
 *
 * <p>Optional fields: {@code cluster} and each of its fields (defaults of
 * {@link NodeTables.ClusterSettings#defaults()}), a pod's {@code mac} ({@code 0a:58:<ip>}), the underlay
 * gateway and prefix, and the Service fields other than namespace, name and ports.
 */
public final class NodeTablesJson
{
    private static final ObjectMapper MAPPER = new ObjectMapper();
    private static final Set<String> TOP = Set.of("generation", "node", "cluster", "pods", "remoteNodes",
        "services", "neighbours");
    private static final Set<String> NODE = Set.of("name", "addresses", "podCidr", "gatewayIp", "gatewayMac",
        "uplinkMac", "vtepMac", "publicIp", "underlayGateway", "underlayPrefix", "underlayMtu", "eligible");
    private static final Set<String> CLUSTER = Set.of("clusterCidr", "serviceCidrs", "vni", "vxlanPort",
        "nodePortMin", "nodePortMax", "nodePortAddresses", "masqueradeAll", "nonMasqueradeCidrs",
        "masqueradePortMin", "masqueradePortMax", "conntrack");
    private static final Set<String> POD = Set.of("namespace", "name", "ip", "mac", "port");
    private static final Set<String> REMOTE = Set.of("name", "podCidr", "publicIp", "vtepMac", "underlayMac",
        "addresses");
    private static final Set<String> SERVICE = Set.of("namespace", "name", "type", "notProxiedReason",
        "clusterIps", "externalIps", "loadBalancerIps", "clientIpAffinity", "affinityTimeoutSeconds",
        "externalPolicyLocal", "internalPolicyLocal", "ports", "healthCheckNodePort", "sourceRanges");
    private static final Set<String> SERVICE_PORT = Set.of("name", "protocol", "port", "nodePort", "endpoints");
    private static final Set<String> ENDPOINT = Set.of("ip", "port", "ready", "serving", "terminating", "nodeName",
        "zone", "local", "inTopology");
    private static final Set<String> SERVICE_TYPES = Set.of("ClusterIP", "NodePort", "LoadBalancer",
        "ExternalName");
    private static final long MAX_PORT = 65535;

    private NodeTablesJson()
    {
    }

    /**
     * Parses and validates tables from JSON text.
     *
     * @param json the JSON text.
     * @return the tables.
     * @throws InvalidTablesException when the text is not valid JSON or the tables are invalid.
     */
    public static NodeTables parse(final String json)
    {
        final JsonNode root;
        try
        {
            root = MAPPER.readTree(json);
        }
        catch (final JsonProcessingException e)
        {
            throw new InvalidTablesException("tables: not valid JSON: " + e.getOriginalMessage());
        }
        return decode(root, "tables", -1);
    }

    /**
     * Decodes and validates tables.
     *
     * @param root       the JSON object.
     * @param path       its path, for messages (e.g. "tables").
     * @param generation the generation to carry (the push's); -1 to take the object's own.
     * @return the tables.
     * @throws InvalidTablesException naming the first field in error.
     */
    public static NodeTables decode(final JsonNode root, final String path, final long generation)
    {
        final StrictJson t = StrictJson.object(root, path, TOP);
        final long own = t.number("generation", 1, Long.MAX_VALUE, -1);
        if (generation >= 0 && own >= 0 && own != generation)
        {
            throw StrictJson.fail(t.path("generation"), own + " differs from the push's generation " + generation);
        }
        final long gen = generation >= 0 ? generation : own;
        if (gen < 1)
        {
            throw StrictJson.fail(t.path("generation"), "required, a whole number of at least 1");
        }
        final NodeTables.NodeInfo node = node(StrictJson.object(t.raw("node"), t.path("node"), NODE));
        final NodeTables.ClusterSettings cluster = t.has("cluster")
            ? cluster(StrictJson.object(t.raw("cluster"), t.path("cluster"), CLUSTER))
            : NodeTables.ClusterSettings.defaults();
        final List<NodeTables.PodInfo> pods = new ArrayList<>();
        final List<JsonNode> podNodes = t.array("pods");
        for (int i = 0; i < podNodes.size(); i++)
        {
            pods.add(pod(StrictJson.object(podNodes.get(i), t.path("pods") + "[" + i + "]", POD)));
        }
        final List<NodeTables.RemoteNode> remotes = new ArrayList<>();
        final List<JsonNode> remoteNodes = t.array("remoteNodes");
        for (int i = 0; i < remoteNodes.size(); i++)
        {
            remotes.add(remote(StrictJson.object(remoteNodes.get(i), t.path("remoteNodes") + "[" + i + "]",
                REMOTE)));
        }
        final List<ServiceInfo> services = new ArrayList<>();
        final List<JsonNode> serviceNodes = t.array("services");
        for (int i = 0; i < serviceNodes.size(); i++)
        {
            services.add(service(StrictJson.object(serviceNodes.get(i), t.path("services") + "[" + i + "]",
                SERVICE), cluster));
        }
        final Map<Integer, Long> neighbours = neighbours(t);
        final NodeTables tables = new NodeTables(gen, node, cluster, pods, remotes, services, neighbours);
        validate(tables, path);
        return tables;
    }

    private static NodeTables.NodeInfo node(final StrictJson n)
    {
        final String name = n.text("name");
        if (name.isBlank())
        {
            throw StrictJson.fail(n.path("name"), "must not be blank");
        }
        final Ip4Prefix podCidr = n.prefix("podCidr");
        final int gateway = n.ip("gatewayIp", podCidr.host(1));
        final long gatewayMac = n.has("gatewayMac") ? n.mac("gatewayMac") : Ip4.podMac(gateway);
        final List<Integer> addresses = n.ips("addresses");
        final int publicIp = n.ip("publicIp", addresses.isEmpty() ? 0 : addresses.get(0));
        return new NodeTables.NodeInfo(name, addresses, podCidr, gateway, gatewayMac, n.mac("uplinkMac"),
            n.mac("vtepMac"), publicIp, n.ip("underlayGateway", 0), n.prefix("underlayPrefix", null),
            (int)n.number("underlayMtu", 576, 9216, 1500), n.bool("eligible", true));
    }

    private static NodeTables.ClusterSettings cluster(final StrictJson c)
    {
        final NodeTables.ClusterSettings d = NodeTables.ClusterSettings.defaults();
        final Map<String, Long> conntrack = new TreeMap<>();
        if (c.has("conntrack"))
        {
            final JsonNode ct = c.raw("conntrack");
            if (!ct.isObject())
            {
                throw StrictJson.fail(c.path("conntrack"), "expected an object of numbers");
            }
            for (final Map.Entry<String, JsonNode> e : ct.properties())
            {
                if (!e.getValue().isIntegralNumber() || e.getValue().asLong() < 0)
                {
                    throw StrictJson.fail(c.path("conntrack") + "." + e.getKey(), "expected a whole number >= 0");
                }
                conntrack.put(e.getKey(), e.getValue().asLong());
            }
        }
        return new NodeTables.ClusterSettings(
            c.prefix("clusterCidr", d.clusterCidr()),
            c.has("serviceCidrs") ? c.prefixes("serviceCidrs") : d.serviceCidrs(),
            (int)c.number("vni", 0, (1 << 24) - 1, d.vni()),
            (int)c.number("vxlanPort", 1, MAX_PORT, d.vxlanPort()),
            (int)c.number("nodePortMin", 1, MAX_PORT, d.nodePortMin()),
            (int)c.number("nodePortMax", 1, MAX_PORT, d.nodePortMax()),
            c.prefixes("nodePortAddresses"),
            c.bool("masqueradeAll", d.masqueradeAll()),
            c.prefixes("nonMasqueradeCidrs"),
            (int)c.number("masqueradePortMin", 1, MAX_PORT, d.masqueradePortMin()),
            (int)c.number("masqueradePortMax", 1, MAX_PORT, d.masqueradePortMax()),
            conntrack);
    }

    private static NodeTables.PodInfo pod(final StrictJson p)
    {
        final int ip = p.ip("ip");
        return new NodeTables.PodInfo(p.text("namespace"), p.text("name"), ip,
            p.has("mac") ? p.mac("mac") : Ip4.podMac(ip), p.text("port"));
    }

    private static NodeTables.RemoteNode remote(final StrictJson r)
    {
        return new NodeTables.RemoteNode(r.text("name"), r.prefix("podCidr"), r.ip("publicIp"), r.mac("vtepMac"),
            r.mac("underlayMac"), r.ips("addresses"));
    }

    private static ServiceInfo service(final StrictJson s, final NodeTables.ClusterSettings cluster)
    {
        final String type = s.text("type", "ClusterIP");
        if (!SERVICE_TYPES.contains(type))
        {
            throw StrictJson.fail(s.path("type"), "'" + type + "' is not one of " + SERVICE_TYPES.stream().sorted()
                .toList());
        }
        final List<ServiceInfo.ServicePort> ports = new ArrayList<>();
        final List<JsonNode> portNodes = s.array("ports");
        for (int i = 0; i < portNodes.size(); i++)
        {
            ports.add(servicePort(StrictJson.object(portNodes.get(i), s.path("ports") + "[" + i + "]",
                SERVICE_PORT), cluster));
        }
        return new ServiceInfo(s.text("namespace"), s.text("name"), type, s.text("notProxiedReason", null),
            s.ips("clusterIps"), s.ips("externalIps"), s.ips("loadBalancerIps"), s.bool("clientIpAffinity", false),
            (int)s.number("affinityTimeoutSeconds", 1, 86400, ServiceInfo.DEFAULT_AFFINITY_TIMEOUT),
            s.bool("externalPolicyLocal", false), s.bool("internalPolicyLocal", false), ports,
            (int)s.number("healthCheckNodePort", 0, MAX_PORT, 0), s.prefixes("sourceRanges"));
    }

    private static ServiceInfo.ServicePort servicePort(final StrictJson p, final NodeTables.ClusterSettings cluster)
    {
        final int protocol = protocol(p);
        final int port = (int)p.number("port", 1, MAX_PORT);
        final int nodePort = (int)p.number("nodePort", 0, MAX_PORT, 0);
        if (nodePort != 0 && (nodePort < cluster.nodePortMin() || nodePort > cluster.nodePortMax()))
        {
            throw StrictJson.fail(p.path("nodePort"), nodePort + " is outside the NodePort range "
                + cluster.nodePortMin() + "-" + cluster.nodePortMax());
        }
        final List<ServiceInfo.Endpoint> endpoints = new ArrayList<>();
        final List<JsonNode> nodes = p.array("endpoints");
        for (int i = 0; i < nodes.size(); i++)
        {
            final StrictJson e = StrictJson.object(nodes.get(i), p.path("endpoints") + "[" + i + "]", ENDPOINT);
            final boolean ready = e.bool("ready", true);
            endpoints.add(new ServiceInfo.Endpoint(e.ip("ip"), (int)e.number("port", 1, MAX_PORT), ready,
                e.bool("serving", ready), e.bool("terminating", false), e.text("nodeName", ""), e.text("zone", ""),
                e.bool("local", false), e.bool("inTopology", true)));
        }
        return new ServiceInfo.ServicePort(p.text("name", ""), protocol, port, nodePort, endpoints);
    }

    private static int protocol(final StrictJson p)
    {
        final JsonNode n = p.raw("protocol");
        if (n == null || n.isNull())
        {
            return 6;
        }
        if (n.isTextual())
        {
            return switch (n.asText())
            {
                case "TCP" -> 6;
                case "UDP" -> 17;
                case "SCTP" -> 132;
                default -> throw StrictJson.fail(p.path("protocol"), "'" + n.asText()
                    + "' is not TCP, UDP or SCTP");
            };
        }
        return (int)p.number("protocol", 1, 255);
    }

    private static Map<Integer, Long> neighbours(final StrictJson t)
    {
        final Map<Integer, Long> out = new HashMap<>();
        if (!t.has("neighbours"))
        {
            return out;
        }
        final JsonNode n = t.raw("neighbours");
        if (!n.isObject())
        {
            throw StrictJson.fail(t.path("neighbours"), "expected an object of address to MAC");
        }
        for (final Map.Entry<String, JsonNode> e : n.properties())
        {
            final String p = t.path("neighbours") + "." + e.getKey();
            final int addr = StrictJson.parseIp(e.getKey(), p);
            if (!e.getValue().isTextual())
            {
                throw StrictJson.fail(p, "expected a MAC as text");
            }
            try
            {
                out.put(addr, Ip4.parseMac(e.getValue().asText()));
            }
            catch (final IllegalArgumentException ex)
            {
                throw StrictJson.fail(p, ex.getMessage());
            }
        }
        return out;
    }

    /**
     * Checks what a schema cannot: overlapping routes, duplicate addresses, pods outside the pod CIDR,
     * inverted port ranges.
     *
     * @param tables the tables.
     * @param path   path for messages.
     * @throws InvalidTablesException naming the first problem.
     */
    public static void validate(final NodeTables tables, final String path)
    {
        final NodeTables.ClusterSettings c = tables.cluster();
        if (c.nodePortMin() > c.nodePortMax())
        {
            throw StrictJson.fail(path + ".cluster.nodePortMin", c.nodePortMin() + " is above nodePortMax "
                + c.nodePortMax());
        }
        if (c.masqueradePortMin() > c.masqueradePortMax())
        {
            throw StrictJson.fail(path + ".cluster.masqueradePortMin", c.masqueradePortMin()
                + " is above masqueradePortMax " + c.masqueradePortMax());
        }
        final Ip4Prefix own = tables.node().podCidr();
        if (!own.contains(tables.node().gatewayIp()))
        {
            throw StrictJson.fail(path + ".node.gatewayIp", Ip4.format(tables.node().gatewayIp())
                + " is outside the pod CIDR " + own);
        }
        final Map<String, Ip4Prefix> routes = new LinkedHashMap<>();
        routes.put(path + ".node.podCidr", own);
        final List<NodeTables.RemoteNode> remotes = tables.remoteNodes();
        final Map<String, Integer> remoteNames = new HashMap<>();
        for (int i = 0; i < remotes.size(); i++)
        {
            final String p = path + ".remoteNodes[" + i + "]";
            if (remoteNames.putIfAbsent(remotes.get(i).name(), i) != null || remotes.get(i).name().equals(
                tables.node().name()))
            {
                throw StrictJson.fail(p + ".name", "node '" + remotes.get(i).name() + "' appears twice");
            }
            final Ip4Prefix cidr = remotes.get(i).podCidr();
            for (final Map.Entry<String, Ip4Prefix> r : routes.entrySet())
            {
                if (r.getValue().overlaps(cidr))
                {
                    throw StrictJson.fail(p + ".podCidr", cidr + " overlaps " + r.getValue() + " of " + r.getKey());
                }
            }
            routes.put(p + ".podCidr", cidr);
        }
        final Map<Integer, String> podIps = new HashMap<>();
        final Map<String, String> podPorts = new HashMap<>();
        for (int i = 0; i < tables.pods().size(); i++)
        {
            final NodeTables.PodInfo pod = tables.pods().get(i);
            final String p = path + ".pods[" + i + "]";
            if (!own.contains(pod.ip()))
            {
                throw StrictJson.fail(p + ".ip", Ip4.format(pod.ip()) + " is outside this node's pod CIDR " + own);
            }
            if (pod.ip() == tables.node().gatewayIp() || pod.ip() == own.address())
            {
                throw StrictJson.fail(p + ".ip", Ip4.format(pod.ip()) + " is the gateway or network address");
            }
            final String prev = podIps.putIfAbsent(pod.ip(), p);
            if (prev != null)
            {
                throw StrictJson.fail(p + ".ip", Ip4.format(pod.ip()) + " is also the address of " + prev);
            }
            final String prevPort = podPorts.putIfAbsent(pod.portName(), p);
            if (prevPort != null)
            {
                throw StrictJson.fail(p + ".port", "'" + pod.portName() + "' is also the port of " + prevPort);
            }
            if (pod.portName().isEmpty() || pod.portName().length() > NodeApi.IFNAMSIZ_MAX)
            {
                throw StrictJson.fail(p + ".port", "an interface name of 1 to 15 characters is required");
            }
        }
        for (int i = 0; i < tables.services().size(); i++)
        {
            final ServiceInfo s = tables.services().get(i);
            final Map<String, Integer> seen = new HashMap<>();
            for (int k = 0; k < s.ports().size(); k++)
            {
                final ServiceInfo.ServicePort sp = s.ports().get(k);
                final String key = sp.protocol() + "/" + sp.port();
                if (seen.putIfAbsent(key, k) != null)
                {
                    throw StrictJson.fail(path + ".services[" + i + "].ports[" + k + "].port", "port " + sp.port()
                        + " appears twice for the same protocol in " + s.key());
                }
            }
        }
    }

    /**
     * Encodes tables as JSON (the inverse of {@link #decode}).
     *
     * @param tables the tables.
     * @return the JSON object.
     */
    public static ObjectNode encode(final NodeTables tables)
    {
        final ObjectNode root = MAPPER.createObjectNode();
        root.put("generation", tables.generation());
        final NodeTables.NodeInfo n = tables.node();
        final ObjectNode node = root.putObject("node");
        node.put("name", n.name());
        ips(node.putArray("addresses"), n.addresses());
        node.put("podCidr", n.podCidr().toString());
        node.put("gatewayIp", Ip4.format(n.gatewayIp()));
        node.put("gatewayMac", Ip4.formatMac(n.gatewayMac()));
        node.put("uplinkMac", Ip4.formatMac(n.uplinkMac()));
        node.put("vtepMac", Ip4.formatMac(n.vtepMac()));
        node.put("publicIp", Ip4.format(n.publicIp()));
        if (n.underlayGateway() != 0)
        {
            node.put("underlayGateway", Ip4.format(n.underlayGateway()));
        }
        if (n.underlayPrefix() != null)
        {
            node.put("underlayPrefix", n.underlayPrefix().toString());
        }
        node.put("underlayMtu", n.underlayMtu());
        if (!n.eligible())
        {
            node.put("eligible", false);
        }
        final NodeTables.ClusterSettings c = tables.cluster();
        final ObjectNode cluster = root.putObject("cluster");
        if (c.clusterCidr() != null)
        {
            cluster.put("clusterCidr", c.clusterCidr().toString());
        }
        prefixes(cluster.putArray("serviceCidrs"), c.serviceCidrs());
        cluster.put("vni", c.vni());
        cluster.put("vxlanPort", c.vxlanPort());
        cluster.put("nodePortMin", c.nodePortMin());
        cluster.put("nodePortMax", c.nodePortMax());
        prefixes(cluster.putArray("nodePortAddresses"), c.nodePortAddresses());
        cluster.put("masqueradeAll", c.masqueradeAll());
        prefixes(cluster.putArray("nonMasqueradeCidrs"), c.nonMasqueradeCidrs());
        cluster.put("masqueradePortMin", c.masqueradePortMin());
        cluster.put("masqueradePortMax", c.masqueradePortMax());
        final ObjectNode ct = cluster.putObject("conntrack");
        new TreeMap<>(c.conntrack()).forEach(ct::put);
        final ArrayNode pods = root.putArray("pods");
        for (final NodeTables.PodInfo p : tables.pods())
        {
            pods.addObject().put("namespace", p.namespace()).put("name", p.name()).put("ip", Ip4.format(p.ip()))
                .put("mac", Ip4.formatMac(p.mac())).put("port", p.portName());
        }
        final ArrayNode remotes = root.putArray("remoteNodes");
        for (final NodeTables.RemoteNode r : tables.remoteNodes())
        {
            final ObjectNode o = remotes.addObject().put("name", r.name()).put("podCidr", r.podCidr().toString())
                .put("publicIp", Ip4.format(r.publicIp())).put("vtepMac", Ip4.formatMac(r.vtepMac()))
                .put("underlayMac", Ip4.formatMac(r.underlayMac()));
            ips(o.putArray("addresses"), r.addresses());
        }
        final ArrayNode services = root.putArray("services");
        for (final ServiceInfo s : tables.services())
        {
            services.add(service(s));
        }
        final ObjectNode neigh = root.putObject("neighbours");
        final Map<Integer, Long> sorted = new TreeMap<>(Integer::compareUnsigned);
        sorted.putAll(tables.neighbours());
        sorted.forEach((k, v) -> neigh.put(Ip4.format(k), Ip4.formatMac(v)));
        return root;
    }

    private static ObjectNode service(final ServiceInfo s)
    {
        final ObjectNode o = MAPPER.createObjectNode();
        o.put("namespace", s.namespace()).put("name", s.name()).put("type", s.type());
        if (s.notProxiedReason() != null)
        {
            o.put("notProxiedReason", s.notProxiedReason());
        }
        ips(o.putArray("clusterIps"), s.clusterIps());
        ips(o.putArray("externalIps"), s.externalIps());
        ips(o.putArray("loadBalancerIps"), s.loadBalancerIps());
        o.put("clientIpAffinity", s.clientIpAffinity()).put("affinityTimeoutSeconds", s.affinityTimeoutSeconds())
            .put("externalPolicyLocal", s.externalPolicyLocal()).put("internalPolicyLocal", s.internalPolicyLocal());
        if (s.healthCheckNodePort() != 0)
        {
            o.put("healthCheckNodePort", s.healthCheckNodePort());
        }
        if (!s.sourceRanges().isEmpty())
        {
            prefixes(o.putArray("sourceRanges"), s.sourceRanges());
        }
        final ArrayNode ports = o.putArray("ports");
        for (final ServiceInfo.ServicePort p : s.ports())
        {
            final ObjectNode po = ports.addObject().put("name", p.name());
            if (p.protocol() == 6 || p.protocol() == 17 || p.protocol() == 132)
            {
                po.put("protocol", protocolName(p.protocol()));
            }
            else
            {
                po.put("protocol", p.protocol());
            }
            po.put("port", p.port()).put("nodePort", p.nodePort());
            final ArrayNode eps = po.putArray("endpoints");
            for (final ServiceInfo.Endpoint e : p.endpoints())
            {
                final ObjectNode eo = eps.addObject().put("ip", Ip4.format(e.ip())).put("port", e.port())
                    .put("ready", e.ready()).put("serving", e.serving()).put("terminating", e.terminating())
                    .put("nodeName", e.nodeName()).put("zone", e.zone()).put("local", e.local());
                if (!e.inTopology())
                {
                    // written only when topology hints exclude it, so tables without hints read as before
                    eo.put("inTopology", false);
                }
            }
        }
        return o;
    }

    /**
     * @param protocol IP protocol number.
     * @return "TCP", "UDP", "SCTP" or the number.
     */
    public static String protocolName(final int protocol)
    {
        return switch (protocol)
        {
            case 6 -> "TCP";
            case 17 -> "UDP";
            case 132 -> "SCTP";
            default -> Integer.toString(protocol);
        };
    }

    private static void ips(final ArrayNode a, final List<Integer> ips)
    {
        for (final int ip : ips)
        {
            a.add(Ip4.format(ip));
        }
    }

    private static void prefixes(final ArrayNode a, final List<Ip4Prefix> prefixes)
    {
        for (final Ip4Prefix p : prefixes)
        {
            a.add(p.toString());
        }
    }
}
