package dev.ferry.agent;

import dev.ferry.core.route.Ip4;
import dev.ferry.core.route.Ip4Prefix;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeAddress;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * What ferry reads from one Node: pod CIDR, addresses, flannel's VTEP annotations and ferry's underlay
 * annotations, parsed and checked.
 *
 * @param name            node name.
 * @param podCidr         spec.podCIDR (the IPv4 one of spec.podCIDRs), or null.
 * @param addresses       IPv4 InternalIPs, then ExternalIPs.
 * @param publicIp        flannel public-ip, else the first address, else 0.
 * @param vtepMac         flannel backend-data VtepMAC, or -1 when the node has none.
 * @param uplinkMac       {@code ferry.dev/uplink-mac}, else {@code 0a:58:<first address>}.
 * @param uplinkMacSet    whether the annotation gave it (else it is only the convention's guess).
 * @param underlayGateway {@code ferry.dev/underlay-gateway}, or 0.
 * @param underlayPrefix  {@code ferry.dev/underlay-cidr}, or null.
 * @param underlayMtu     {@code ferry.dev/underlay-mtu}, default 1500.
 * @param zone            the {@code topology.kubernetes.io/zone} label, or "" (topology-aware routing).
 */
record NodeView(
    String name,
    Ip4Prefix podCidr,
    List<Integer> addresses,
    int publicIp,
    long vtepMac,
    long uplinkMac,
    boolean uplinkMacSet,
    int underlayGateway,
    Ip4Prefix underlayPrefix,
    int underlayMtu,
    String zone)
{
    /** The node label topology hints are matched against (kube-proxy: v1.LabelTopologyZone). */
    static final String ZONE_LABEL = "topology.kubernetes.io/zone";

    /** flannel's VXLAN backend data: {"VNI":1,"VtepMAC":"..."}. */
    static final String FLANNEL_BACKEND_DATA = "flannel.alpha.coreos.com/backend-data";
    /** flannel's underlay address of the node. */
    static final String FLANNEL_PUBLIC_IP = "flannel.alpha.coreos.com/public-ip";
    /** The node's MAC on the underlay. */
    static final String UPLINK_MAC = "ferry.dev/uplink-mac";
    /** The underlay default gateway. */
    static final String UNDERLAY_GATEWAY = "ferry.dev/underlay-gateway";
    /** The directly attached underlay subnet. */
    static final String UNDERLAY_CIDR = "ferry.dev/underlay-cidr";
    /** The underlay MTU. */
    static final String UNDERLAY_MTU = "ferry.dev/underlay-mtu";
    /** Underlay MTU when none is annotated. */
    static final int DEFAULT_MTU = 1500;
    /** No VTEP MAC annotated. */
    static final long NO_VTEP_MAC = -1L;

    private static final ObjectMapper JSON = JsonMapper.builder().build();

    NodeView
    {
        addresses = List.copyOf(addresses);
    }

    /** @return whether flannel's backend data names a VTEP MAC. */
    boolean hasVtep()
    {
        return vtepMac != NO_VTEP_MAC;
    }

    static NodeView of(final ObjectRef ref, final Node node)
    {
        final Map<String, String> ann = node.getMetadata().getAnnotations() == null
            ? Map.of() : node.getMetadata().getAnnotations();
        final Ip4Prefix podCidr = podCidr(ref, node);

        final List<Integer> internal = new ArrayList<>();
        final List<Integer> external = new ArrayList<>();
        final List<NodeAddress> addrs = node.getStatus() == null ? List.of() : node.getStatus().getAddresses();
        for (int i = 0; i < addrs.size(); i++)
        {
            final NodeAddress a = addrs.get(i);
            final boolean isInternal = "InternalIP".equals(a.getType());
            if ((isInternal || "ExternalIP".equals(a.getType())) && !Fields.isIp6(a.getAddress()))
            {
                final int ip = Fields.ip4(ref, "status.addresses[" + i + "].address", a.getAddress());
                final List<Integer> into = isInternal ? internal : external;
                if (!internal.contains(ip) && !external.contains(ip))
                {
                    into.add(ip);
                }
            }
        }
        final List<Integer> addresses = new ArrayList<>(internal);
        addresses.addAll(external);

        final String pub = ann.get(FLANNEL_PUBLIC_IP);
        final int publicIp = pub != null ? Fields.ip4(ref, annotation(FLANNEL_PUBLIC_IP), pub)
            : addresses.isEmpty() ? 0 : addresses.getFirst();
        final int first = addresses.isEmpty() ? publicIp : addresses.getFirst();

        final String uplink = ann.get(UPLINK_MAC);
        final long uplinkMac = uplink != null ? Fields.mac(ref, annotation(UPLINK_MAC), uplink) : Ip4.podMac(first);

        final String gw = ann.get(UNDERLAY_GATEWAY);
        final int underlayGateway = gw == null ? 0 : Fields.ip4(ref, annotation(UNDERLAY_GATEWAY), gw);
        final String cidr = ann.get(UNDERLAY_CIDR);
        final Ip4Prefix underlayPrefix = cidr == null ? null : Fields.cidr4(ref, annotation(UNDERLAY_CIDR), cidr);
        final String mtu = ann.get(UNDERLAY_MTU);
        final int underlayMtu = mtu == null ? DEFAULT_MTU : mtu(ref, mtu);

        return new NodeView(node.getMetadata().getName(), podCidr, addresses, publicIp, vtepMac(ref, ann),
            uplinkMac, uplink != null, underlayGateway, underlayPrefix, underlayMtu,
            node.getMetadata().getLabels() == null ? "" : Fields.nullToEmpty(node.getMetadata().getLabels()
                .get(ZONE_LABEL)));
    }

    static String annotation(final String key)
    {
        return "metadata.annotations[" + key + "]";
    }

    private static Ip4Prefix podCidr(final ObjectRef ref, final Node node)
    {
        if (node.getSpec() == null)
        {
            return null;
        }
        final String cidr = node.getSpec().getPodCIDR();
        if (cidr != null && !cidr.isEmpty() && !Fields.isIp6(cidr))
        {
            return Fields.cidr4(ref, "spec.podCIDR", cidr);
        }
        final List<String> cidrs = node.getSpec().getPodCIDRs();
        for (int i = 0; i < cidrs.size(); i++)
        {
            if (!Fields.isIp6(cidrs.get(i)))
            {
                return Fields.cidr4(ref, "spec.podCIDRs[" + i + "]", cidrs.get(i));
            }
        }
        return null;
    }

    private static long vtepMac(final ObjectRef ref, final Map<String, String> ann)
    {
        final String data = ann.get(FLANNEL_BACKEND_DATA);
        if (data == null || data.isBlank() || data.equals("null"))
        {
            return NO_VTEP_MAC;
        }
        final String field = annotation(FLANNEL_BACKEND_DATA);
        final JsonNode n;
        try
        {
            n = JSON.readTree(data);
        }
        catch (final JacksonException e)
        {
            throw ref.fail(field, "malformed JSON: '" + data + "'");
        }
        final JsonNode mac = n == null ? null : n.get("VtepMAC");
        if (mac == null || mac.isNull())
        {
            return NO_VTEP_MAC;
        }
        if (!mac.isString())
        {
            throw ref.fail(field + ".VtepMAC", "not a MAC address: '" + mac + "'");
        }
        return Fields.mac(ref, field + ".VtepMAC", mac.asString());
    }

    private static int mtu(final ObjectRef ref, final String text)
    {
        try
        {
            final int v = Integer.parseInt(text.trim());
            if (v >= 576 && v <= 65535)
            {
                return v;
            }
        }
        catch (final NumberFormatException e)
        {
            // reported below
        }
        throw ref.fail(annotation(UNDERLAY_MTU), "not an MTU (576-65535): '" + text + "'");
    }
}
