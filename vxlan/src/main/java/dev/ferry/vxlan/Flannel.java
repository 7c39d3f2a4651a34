package dev.ferry.vxlan;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.route.Ip4Prefix;
import dev.ferry.core.tables.NodeTables;

import java.util.List;
import java.util.Map;

/**
 * Reads what a real flannel cluster carries, so that one set of manifests describes a mixed ferry/flannel
 * cluster: the {@code kube-flannel-cfg} ConfigMap's {@code net-conf.json} and the annotations flannel puts on
 * each Node object.
 *
 * <pre>
 *  net-conf.json     {"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan", "VNI": 1, "Port": 8472}}
 *  Node annotations  flannel.alpha.coreos.com/backend-type: vxlan
 *                    flannel.alpha.coreos.com/backend-data: {"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:ff"}
 *                    flannel.alpha.coreos.com/public-ip:    192.168.50.2
 *  Node spec         podCIDR: 10.244.2.0/24
 * </pre>
 *
 * <p>Defaults as flannel's vxlan backend: VNI 1; Port unset (0) leaves the kernel's vxlan default, 8472
 * (4789 is the IANA port and the usual explicit choice). Only the agent calls this, never the data path.
 */
public final class Flannel
{
    /** Node annotation: backend type. */
    public static final String BACKEND_TYPE = "flannel.alpha.coreos.com/backend-type";
    /** Node annotation: JSON with VNI and VtepMAC. */
    public static final String BACKEND_DATA = "flannel.alpha.coreos.com/backend-data";
    /** Node annotation: the VTEP (underlay) address. */
    public static final String PUBLIC_IP = "flannel.alpha.coreos.com/public-ip";
    /** The Linux vxlan default port, which flannel uses when net-conf.json sets none. */
    public static final int DEFAULT_PORT = 8472;
    /** Flannel's default VNI. */
    public static final int DEFAULT_VNI = 1;

    private static final ObjectMapper JSON = new ObjectMapper();

    private Flannel()
    {
    }

    /**
     * The cluster-wide part of flannel's configuration.
     *
     * @param network     the cluster (pod) network.
     * @param backendType backend type ("vxlan").
     * @param vni         VNI.
     * @param port        VXLAN UDP port.
     */
    public record NetConf(Ip4Prefix network, String backendType, int vni, int port)
    {
    }

    /**
     * One node's VTEP, as its flannel annotations describe it.
     *
     * @param name     node name.
     * @param podCidr  {@code spec.podCIDR}.
     * @param publicIp the VTEP address.
     * @param vni      VNI from backend-data.
     * @param vtepMac  VtepMAC from backend-data.
     */
    public record NodeVtep(String name, Ip4Prefix podCidr, int publicIp, int vni, long vtepMac)
    {
        /**
         * @param underlayMac the node's MAC on the underlay (or 0: resolve through the FIB and neighbours).
         * @param addresses   the node's addresses.
         * @return the remote-node entry for {@link NodeTables#remoteNodes()}.
         */
        public NodeTables.RemoteNode toRemoteNode(final long underlayMac, final List<Integer> addresses)
        {
            return new NodeTables.RemoteNode(name, podCidr, publicIp, vtepMac, underlayMac, addresses);
        }
    }

    /**
     * Parses {@code net-conf.json}.
     *
     * @param json the document.
     * @return the settings, with flannel's defaults filled in.
     * @throws IllegalArgumentException with a clear message when the document is invalid or not a vxlan backend.
     */
    public static NetConf parseNetConf(final String json)
    {
        final JsonNode root = read(json, "net-conf.json");
        final JsonNode network = root.get("Network");
        if (network == null || !network.isTextual())
        {
            throw new IllegalArgumentException("net-conf.json: Network is missing");
        }
        final JsonNode backend = root.path("Backend");
        final String type = backend.path("Type").asText("udp");
        if (!"vxlan".equals(type))
        {
            throw new IllegalArgumentException("net-conf.json: Backend.Type is '" + type + "', ferry speaks vxlan");
        }
        final int vni = backend.path("VNI").asInt(0) == 0 ? DEFAULT_VNI : backend.path("VNI").asInt();
        final int port = backend.path("Port").asInt(0) == 0 ? DEFAULT_PORT : backend.path("Port").asInt();
        if (vni < 0 || vni > VxlanHeader.MAX_VNI || port < 1 || port > 65535)
        {
            throw new IllegalArgumentException("net-conf.json: VNI " + vni + " or Port " + port + " out of range");
        }
        return new NetConf(Ip4Prefix.parse(network.asText()), type, vni, port);
    }

    /**
     * Reads a Node's flannel annotations.
     *
     * @param name        node name.
     * @param annotations the Node's annotations.
     * @param podCidr     the Node's {@code spec.podCIDR}.
     * @return the VTEP.
     * @throws IllegalArgumentException naming the node and the annotation when something is missing or invalid.
     */
    public static NodeVtep parseNode(final String name, final Map<String, String> annotations, final String podCidr)
    {
        final String type = annotations.get(BACKEND_TYPE);
        if (type != null && !"vxlan".equals(type))
        {
            throw new IllegalArgumentException("node " + name + ": backend-type is '" + type + "', not vxlan");
        }
        final String data = annotations.get(BACKEND_DATA);
        final String ip = annotations.get(PUBLIC_IP);
        if (data == null || ip == null)
        {
            throw new IllegalArgumentException("node " + name + ": missing " + (data == null ? BACKEND_DATA : PUBLIC_IP)
                + " annotation (flannel has not set this node up yet)");
        }
        if (podCidr == null || podCidr.isEmpty())
        {
            throw new IllegalArgumentException("node " + name + ": spec.podCIDR is empty");
        }
        final JsonNode d = read(data, "node " + name + " " + BACKEND_DATA);
        final JsonNode mac = d.get("VtepMAC");
        if (mac == null || !mac.isTextual())
        {
            throw new IllegalArgumentException("node " + name + ": backend-data has no VtepMAC");
        }
        final int vni = d.path("VNI").asInt(DEFAULT_VNI);
        try
        {
            return new NodeVtep(name, Ip4Prefix.parse(podCidr), Ip4.parse(ip), vni, Ip4.parseMac(mac.asText()));
        }
        catch (final IllegalArgumentException e)
        {
            throw new IllegalArgumentException("node " + name + ": " + e.getMessage(), e);
        }
    }

    /**
     * The annotations flannel would write for a node (for manifests, tests and the lab).
     *
     * @param vni      VNI.
     * @param vtepMac  VTEP MAC.
     * @param publicIp VTEP address.
     * @return the annotation map.
     */
    public static Map<String, String> annotations(final int vni, final long vtepMac, final int publicIp)
    {
        return Map.of(BACKEND_TYPE, "vxlan",
            BACKEND_DATA, "{\"VNI\":" + vni + ",\"VtepMAC\":\"" + Ip4.formatMac(vtepMac) + "\"}",
            PUBLIC_IP, Ip4.format(publicIp));
    }

    private static JsonNode read(final String json, final String what)
    {
        try
        {
            final JsonNode n = JSON.readTree(json);
            if (n == null || !n.isObject())
            {
                throw new IllegalArgumentException(what + ": not a JSON object");
            }
            return n;
        }
        catch (final JsonProcessingException e)
        {
            throw new IllegalArgumentException(what + ": invalid JSON: " + e.getOriginalMessage(), e);
        }
    }
}
