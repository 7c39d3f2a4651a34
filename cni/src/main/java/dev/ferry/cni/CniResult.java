package dev.ferry.cni;

import dev.ferry.core.route.Ip4;
import dev.ferry.core.route.Ip4Prefix;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A CNI result: interfaces, IP configurations, routes and DNS. It is read from the IPAM plugin's answer and
 * from {@code prevResult} in any supported version's shape, and written in the shape of the version the
 * configuration asked for ({@link #render(CniVersion)}).
 *
 * @param interfaces the interfaces, indexed by {@link IpConfig#iface()}.
 * @param ips        the IP configurations.
 * @param routes     the routes.
 * @param dns        the DNS settings (empty lists and null domain when none).
 */
public record CniResult(List<Iface> interfaces, List<IpConfig> ips, List<Route> routes, Dns dns)
{
    /**
     * An interface.
     *
     * @param name    interface name.
     * @param mac     MAC text, or null.
     * @param sandbox network namespace path for interfaces in the sandbox, or null for host interfaces.
     * @param mtu     MTU, or 0 when not stated (printed from 1.1.0).
     */
    public record Iface(String name, String mac, String sandbox, int mtu)
    {
    }

    /**
     * An IP configuration.
     *
     * @param address address with prefix length ("10.244.1.5/24").
     * @param gateway gateway address, or null.
     * @param iface   index into the interfaces, or -1 when not stated.
     */
    public record IpConfig(String address, String gateway, int iface)
    {
        /**
         * @return whether the address is IPv4.
         */
        public boolean isIp4()
        {
            return address.indexOf(':') < 0;
        }
    }

    /**
     * A route.
     *
     * @param dst destination prefix ("0.0.0.0/0").
     * @param gw  next hop, or null for the default gateway.
     */
    public record Route(String dst, String gw)
    {
    }

    /**
     * DNS settings.
     *
     * @param nameservers name servers.
     * @param domain      local domain, or null.
     * @param search      search domains.
     * @param options     resolver options.
     */
    public record Dns(List<String> nameservers, String domain, List<String> search, List<String> options)
    {
        /** No DNS settings. */
        public static final Dns NONE = new Dns(List.of(), null, List.of(), List.of());

        /**
         * @return whether nothing is set.
         */
        public boolean isEmpty()
        {
            return nameservers.isEmpty() && domain == null && search.isEmpty() && options.isEmpty();
        }
    }

    /**
     * Reads a result in any supported version's shape (0.3.x and 0.4.0 {@code ips[].version} is accepted and
     * ignored; a 0.2.0-style {@code ip4} block is refused).
     *
     * @param f the result object.
     * @return the result.
     * @throws CniException with the reader's code when a field is malformed.
     */
    static CniResult parse(final Fields f)
    {
        if (f.has("ip4") || f.has("ip6"))
        {
            throw f.fail("ip4", "results older than 0.3.0 are not supported");
        }
        final List<Iface> interfaces = new ArrayList<>();
        for (final Fields i : f.optObjList("interfaces"))
        {
            interfaces.add(new Iface(i.text("name"), i.optText("mac", null), i.optText("sandbox", null),
                i.optInt("mtu", 0, 0, 65535)));
        }
        final List<IpConfig> ips = new ArrayList<>();
        for (final Fields i : f.optObjList("ips"))
        {
            final String address = i.text("address");
            checkCidr(i, "address", address);
            final String gw = i.optText("gateway", null);
            final int iface = i.optInt("interface", -1, 0, Math.max(0, interfaces.size() - 1));
            ips.add(new IpConfig(address, gw, iface));
        }
        final List<Route> routes = new ArrayList<>();
        for (final Fields r : f.optObjList("routes"))
        {
            final String dst = r.text("dst");
            checkCidr(r, "dst", dst);
            routes.add(new Route(dst, r.optText("gw", null)));
        }
        final Fields d = f.optObj("dns");
        final Dns dns = d == null ? Dns.NONE : new Dns(d.optTextList("nameservers"), d.optText("domain", null),
            d.optTextList("search"), d.optTextList("options"));
        return new CniResult(interfaces, ips, routes, dns);
    }

    private static void checkCidr(final Fields f, final String key, final String text)
    {
        if (text.indexOf(':') >= 0)
        {
            return; // IPv6 is carried through results; the ADD path refuses it where it matters
        }
        if (text.indexOf('/') < 0)
        {
            throw f.fail(key, "'" + text + "' is not an address with a prefix length");
        }
        try
        {
            Ip4Prefix.parse(text);
        }
        catch (final IllegalArgumentException e)
        {
            throw f.fail(key, e.getMessage());
        }
    }

    /**
     * The result in the shape of one version, ready to print.
     *
     * @param version the configuration's version.
     * @return an ordered map for the JSON writer.
     */
    public Map<String, Object> render(final CniVersion version)
    {
        final Map<String, Object> out = new LinkedHashMap<>();
        out.put("cniVersion", version.text());
        final List<Object> ifs = new ArrayList<>();
        for (final Iface i : interfaces)
        {
            final Map<String, Object> m = new LinkedHashMap<>();
            m.put("name", i.name());
            putIf(m, "mac", i.mac());
            if (version.hasStatusAndGc() && i.mtu() > 0)
            {
                m.put("mtu", i.mtu());
            }
            putIf(m, "sandbox", i.sandbox());
            ifs.add(m);
        }
        if (!ifs.isEmpty())
        {
            out.put("interfaces", ifs);
        }
        final List<Object> ipList = new ArrayList<>();
        for (final IpConfig ip : ips)
        {
            final Map<String, Object> m = new LinkedHashMap<>();
            if (version.ipsHaveVersion())
            {
                m.put("version", ip.isIp4() ? "4" : "6");
            }
            if (ip.iface() >= 0)
            {
                m.put("interface", ip.iface());
            }
            m.put("address", ip.address());
            putIf(m, "gateway", ip.gateway());
            ipList.add(m);
        }
        if (!ipList.isEmpty())
        {
            out.put("ips", ipList);
        }
        final List<Object> routeList = new ArrayList<>();
        for (final Route r : routes)
        {
            final Map<String, Object> m = new LinkedHashMap<>();
            m.put("dst", r.dst());
            putIf(m, "gw", r.gw());
            routeList.add(m);
        }
        if (!routeList.isEmpty())
        {
            out.put("routes", routeList);
        }
        final Map<String, Object> d = new LinkedHashMap<>();
        if (!dns.nameservers().isEmpty())
        {
            d.put("nameservers", dns.nameservers());
        }
        putIf(d, "domain", dns.domain());
        if (!dns.search().isEmpty())
        {
            d.put("search", dns.search());
        }
        if (!dns.options().isEmpty())
        {
            d.put("options", dns.options());
        }
        out.put("dns", d);
        return out;
    }

    private static void putIf(final Map<String, Object> m, final String key, final Object value)
    {
        if (value != null)
        {
            m.put(key, value);
        }
    }

    /**
     * Appends another result after this one (chained ADD): the other's interface indexes are shifted past
     * this result's interfaces; the other's DNS wins when it sets anything.
     *
     * @param next the result to append.
     * @return the combined result.
     */
    public CniResult append(final CniResult next)
    {
        final int shift = interfaces.size();
        final List<Iface> ifs = new ArrayList<>(interfaces);
        ifs.addAll(next.interfaces);
        final List<IpConfig> ipList = new ArrayList<>(ips);
        for (final IpConfig ip : next.ips)
        {
            ipList.add(new IpConfig(ip.address(), ip.gateway(), ip.iface() < 0 ? -1 : ip.iface() + shift));
        }
        final List<Route> routeList = new ArrayList<>(routes);
        routeList.addAll(next.routes);
        return new CniResult(ifs, ipList, routeList, next.dns.isEmpty() ? dns : next.dns);
    }

    /**
     * @param cidr "a.b.c.d/len".
     * @return the address part.
     */
    static int addressOf(final String cidr)
    {
        return Ip4.parse(cidr.substring(0, cidr.indexOf('/')));
    }

    /**
     * @param cidr "a.b.c.d/len".
     * @return the prefix length.
     */
    static int lengthOf(final String cidr)
    {
        return Ip4Prefix.parse(cidr).length();
    }
}
