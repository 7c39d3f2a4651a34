package dev.ferry.agent;

import dev.ferry.core.route.Ip4;
import dev.ferry.core.route.Ip4Prefix;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.tables.ServiceInfo;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A stable, readable text of a {@link NodeTables} value: this node, the cluster settings, remote nodes,
 * neighbours, pods, and Services in an {@code ipvsadm -Ln}-like layout (frontends, then {@code ->} endpoints
 * with their conditions). The same tables always give the same text, so the agent's tests compare whole texts
 * (kube-proxy's assertIPTablesRulesEqual style), and so do the lab's. No production code prints it:
 * {@code ferry show} renders the node's own compiled state.
 *
 * <pre>
 * services
 *   default/web NodePort affinity=None external=Cluster internal=Cluster
 *     TCP  10.96.0.10:80                        cluster-ip http
 *     TCP  *:30080                              node-port http
 *       -&gt; 10.244.1.2:8080        ready,serving         node=node-a zone=- local
 * </pre>
 */
public final class TablesText
{
    private TablesText()
    {
    }

    /**
     * @param t the tables.
     * @return the text, one item per line, ending with a newline.
     */
    public static String render(final NodeTables t)
    {
        final StringBuilder sb = new StringBuilder(4096);
        sb.append("generation ").append(t.generation()).append('\n');
        node(sb, t.node());
        cluster(sb, t.cluster());
        sb.append("remote-nodes\n");
        for (final NodeTables.RemoteNode r : t.remoteNodes())
        {
            sb.append(String.format("  %-14s %-18s via %-15s vtep-mac %s underlay-mac %s addresses %s\n", r.name(),
                r.podCidr(), Ip4.format(r.publicIp()), Ip4.formatMac(r.vtepMac()),
                r.underlayMac() == 0 ? "arp" : Ip4.formatMac(r.underlayMac()),
                addresses(r.addresses())));
        }
        sb.append("neighbours\n");
        final Map<Long, Long> neighbours = new TreeMap<>();
        t.neighbours().forEach((ip, mac) -> neighbours.put(ip & 0xffffffffL, mac));
        neighbours.forEach((ip, mac) -> sb.append(String.format("  %-15s %s\n", Ip4.format(ip.intValue()),
            Ip4.formatMac(mac))));
        sb.append("pods\n");
        for (final NodeTables.PodInfo p : t.pods())
        {
            sb.append(String.format("  %-30s %-15s %s %s\n", p.namespace() + "/" + p.name(), Ip4.format(p.ip()),
                Ip4.formatMac(p.mac()), p.portName()));
        }
        sb.append("services\n");
        for (final ServiceInfo s : t.services())
        {
            service(sb, s);
        }
        return sb.toString();
    }

    private static void node(final StringBuilder sb, final NodeTables.NodeInfo n)
    {
        sb.append("node ").append(n.name()).append('\n');
        sb.append("  addresses      ").append(addresses(n.addresses())).append('\n');
        sb.append("  pod-cidr       ").append(n.podCidr() == null ? "-" : n.podCidr().toString())
            .append(" gateway ").append(n.gatewayIp() == 0 ? "-" : Ip4.format(n.gatewayIp()))
            .append(" mac ").append(Ip4.formatMac(n.gatewayMac()))
            .append(" pod-mtu ").append(n.podMtu()).append('\n');
        sb.append("  uplink-mac     ").append(Ip4.formatMac(n.uplinkMac())).append('\n');
        sb.append("  vtep           ").append(Ip4.format(n.publicIp())).append(" mac ")
            .append(Ip4.formatMac(n.vtepMac())).append('\n');
        sb.append("  underlay       gateway ").append(n.underlayGateway() == 0 ? "-" : Ip4.format(n.underlayGateway()))
            .append(" cidr ").append(n.underlayPrefix() == null ? "-" : n.underlayPrefix().toString())
            .append(" mtu ").append(n.underlayMtu()).append('\n');
    }

    private static void cluster(final StringBuilder sb, final NodeTables.ClusterSettings c)
    {
        sb.append("cluster\n");
        sb.append("  cluster-cidr   ").append(c.clusterCidr()).append('\n');
        sb.append("  service-cidrs  ").append(prefixes(c.serviceCidrs())).append('\n');
        sb.append("  vxlan          vni ").append(c.vni()).append(" port ").append(c.vxlanPort()).append('\n');
        sb.append("  node-ports     ").append(c.nodePortMin()).append('-').append(c.nodePortMax()).append(" on ")
            .append(c.nodePortAddresses().isEmpty() ? "all node addresses" : prefixes(c.nodePortAddresses()))
            .append('\n');
        sb.append("  masquerade     all=").append(c.masqueradeAll()).append(" except ")
            .append(prefixes(c.nonMasqueradeCidrs())).append(" ports ").append(c.masqueradePortMin()).append('-')
            .append(c.masqueradePortMax()).append('\n');
        sb.append("  conntrack     ");
        new TreeMap<>(c.conntrack()).forEach((k, v) -> sb.append(' ').append(k).append('=').append(v));
        sb.append('\n');
    }

    private static void service(final StringBuilder sb, final ServiceInfo s)
    {
        sb.append("  ").append(s.key()).append(' ').append(s.type());
        if (!s.proxied())
        {
            sb.append(" not proxied: ").append(s.notProxiedReason()).append('\n');
            return;
        }
        sb.append(" affinity=").append(s.clientIpAffinity() ? "ClientIP/" + s.affinityTimeoutSeconds() + "s" : "None")
            .append(" external=").append(s.externalPolicyLocal() ? "Local" : "Cluster")
            .append(" internal=").append(s.internalPolicyLocal() ? "Local" : "Cluster").append('\n');
        if (!s.sourceRanges().isEmpty())
        {
            sb.append("    source-ranges ").append(String.join(" ", s.sourceRanges().stream()
                .map(Object::toString).toList())).append('\n');
        }
        for (final ServiceInfo.ServicePort p : s.ports())
        {
            final String proto = Fields.protocolName(p.protocol());
            final String name = p.name().isEmpty() ? "" : " " + p.name();
            for (final int ip : s.clusterIps())
            {
                frontend(sb, proto, Ip4.format(ip) + ":" + p.port(), "cluster-ip" + name);
            }
            for (final int ip : s.externalIps())
            {
                frontend(sb, proto, Ip4.format(ip) + ":" + p.port(), "external-ip" + name);
            }
            for (final int ip : s.loadBalancerIps())
            {
                frontend(sb, proto, Ip4.format(ip) + ":" + p.port(), "load-balancer" + name);
            }
            if (p.nodePort() != 0)
            {
                frontend(sb, proto, "*:" + p.nodePort(), "node-port" + name);
            }
            if (p.endpoints().isEmpty())
            {
                sb.append("      (no endpoints)\n");
            }
            for (final ServiceInfo.Endpoint e : p.endpoints())
            {
                sb.append(String.format("      -> %-21s %-27s node=%s zone=%s%s%s\n", Ip4.format(e.ip()) + ":"
                    + e.port(), conditions(e), dash(e.nodeName()), dash(e.zone()), e.local() ? " local" : "",
                    e.inTopology() ? "" : " hinted-elsewhere"));
            }
        }
    }

    private static void frontend(final StringBuilder sb, final String proto, final String address, final String what)
    {
        sb.append(String.format("    %-4s %-36s %s\n", proto, address, what));
    }

    private static String conditions(final ServiceInfo.Endpoint e)
    {
        final List<String> c = new ArrayList<>(3);
        if (e.ready())
        {
            c.add("ready");
        }
        if (e.serving())
        {
            c.add("serving");
        }
        if (e.terminating())
        {
            c.add("terminating");
        }
        return c.isEmpty() ? "not-ready" : String.join(",", c);
    }

    private static String dash(final String s)
    {
        return s.isEmpty() ? "-" : s;
    }

    private static String addresses(final List<Integer> addresses)
    {
        if (addresses.isEmpty())
        {
            return "-";
        }
        final List<String> out = new ArrayList<>(addresses.size());
        for (final int a : addresses)
        {
            out.add(Ip4.format(a));
        }
        return String.join(",", out);
    }

    private static String prefixes(final List<Ip4Prefix> prefixes)
    {
        if (prefixes.isEmpty())
        {
            return "-";
        }
        final List<String> out = new ArrayList<>(prefixes.size());
        for (final Ip4Prefix p : prefixes)
        {
            out.add(p.toString());
        }
        return String.join(",", out);
    }
}
