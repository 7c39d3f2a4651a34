package dev.ferry.cni;

import dev.ferry.core.route.Ip4;
import dev.ferry.core.route.Ip4Prefix;

import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * CHECK: the container's network still is what {@code prevResult} says. In order: the result names an
 * interface CNI_IFNAME in CNI_NETNS; IPAM still holds the address (host-local CHECK); in the namespace the
 * interface exists, is up, and has the result's MAC, MTU (1.1.0 results), addresses and routes; the node still
 * has a port for the pod (its {@code show ports} lists the recorded TAP with the pod's address).
 */
final class CheckCommand
{
    private CheckCommand()
    {
    }

    static void run(final NetConf conf, final CniEnv env)
    {
        if (!conf.version().hasCheck())
        {
            throw new CniException(CniError.INCOMPATIBLE_VERSION, "CHECK needs cniVersion 0.4.0 or later, the "
                + "configuration has " + conf.version().text());
        }
        final CniResult prev = conf.prevResult();
        if (prev == null)
        {
            throw new CniException(CniError.INVALID_CONFIG, "prevResult: required for CHECK");
        }
        int index = -1;
        for (int i = 0; i < prev.interfaces().size(); i++)
        {
            final CniResult.Iface f = prev.interfaces().get(i);
            if (f.name().equals(env.ifName()) && env.netns().equals(f.sandbox()))
            {
                index = i;
            }
        }
        if (index < 0)
        {
            throw new CniException(CniError.CHECK_FAILED, "prevResult has no interface " + env.ifName()
                + " with sandbox " + env.netns());
        }
        new Ipam(conf, env).check();
        final CniResult.Iface iface = prev.interfaces().get(index);
        final List<String> state = Netns.inspect(env.netns(), env.ifName());
        final List<Fields> addrs = Fields.parse("{\"a\":" + state.get(0) + "}", "ip addr", CniError.CHECK_FAILED,
            CniError.CHECK_FAILED).optObjList("a");
        checkLink(iface, addrs);
        String podIp = null;
        for (final CniResult.IpConfig ip : prev.ips())
        {
            if (ip.iface() == index)
            {
                checkAddress(env.ifName(), ip.address(), addrs);
                podIp = ip.isIp4() ? Ip4.format(CniResult.addressOf(ip.address())) : podIp;
            }
        }
        final List<Fields> routes = Fields.parse("{\"r\":" + state.get(1) + "}", "ip route", CniError.CHECK_FAILED,
            CniError.CHECK_FAILED).optObjList("r");
        for (final CniResult.Route r : prev.routes())
        {
            checkRoute(env.ifName(), r, routes);
        }
        checkNode(conf, env, podIp);
    }

    private static void checkLink(final CniResult.Iface iface, final List<Fields> link)
    {
        if (link.size() != 1)
        {
            throw new CniException(CniError.CHECK_FAILED, "interface " + iface.name() + " not found");
        }
        final Fields l = link.get(0);
        final String mac = l.optText("address", "");
        if (iface.mac() != null && !iface.mac().toLowerCase(Locale.ROOT).equals(mac))
        {
            throw new CniException(CniError.CHECK_FAILED, "interface " + iface.name() + " has MAC " + mac
                + ", prevResult says " + iface.mac());
        }
        final int mtu = l.optInt("mtu", 0, 0, Integer.MAX_VALUE);
        if (iface.mtu() > 0 && iface.mtu() != mtu)
        {
            throw new CniException(CniError.CHECK_FAILED, "interface " + iface.name() + " has MTU " + mtu
                + ", prevResult says " + iface.mtu());
        }
        if (!l.optTextList("flags").contains("UP"))
        {
            throw new CniException(CniError.CHECK_FAILED, "interface " + iface.name() + " is down");
        }
    }

    private static void checkAddress(final String ifName, final String cidr, final List<Fields> addrs)
    {
        for (final Fields a : addrs)
        {
            for (final Fields info : a.optObjList("addr_info"))
            {
                final String local = info.optText("local", "");
                final int len = info.optInt("prefixlen", -1, -1, 128);
                if ((local + "/" + len).equals(cidr))
                {
                    return;
                }
            }
        }
        throw new CniException(CniError.CHECK_FAILED, "interface " + ifName + " does not have address " + cidr);
    }

    private static void checkRoute(final String ifName, final CniResult.Route r, final List<Fields> routes)
    {
        if (r.dst().indexOf(':') >= 0)
        {
            return;
        }
        final Ip4Prefix want = Ip4Prefix.parse(r.dst());
        for (final Fields k : routes)
        {
            final String dst = k.optText("dst", "");
            final Ip4Prefix have = dst.equals("default") ? new Ip4Prefix(0, 0) : Ip4Prefix.parse(dst);
            if (have.equals(want) && ifName.equals(k.optText("dev", ""))
                && (r.gw() == null || r.gw().equals(k.optText("gateway", null))))
            {
                return;
            }
        }
        throw new CniException(CniError.CHECK_FAILED, "route " + r.dst() + (r.gw() == null ? "" : " via " + r.gw())
            + " dev " + ifName + " is missing");
    }

    private static void checkNode(final NetConf conf, final CniEnv env, final String podIp)
    {
        final AttachmentStore.Record rec = new AttachmentStore(conf).read(env.containerId(), env.ifName());
        if (rec == null)
        {
            throw new CniException(CniError.CHECK_FAILED, "no ferry attachment is recorded for "
                + env.containerId() + "/" + env.ifName());
        }
        final Map<String, Object> req = NodeClient.request("show");
        req.put("what", "ports");
        final Fields answer = new NodeClient(conf.socket()).call(req);
        for (final String line : answer.optTextList("lines"))
        {
            final String[] cols = line.trim().split("\\s+");
            if (cols.length >= 3 && cols[1].equals(rec.tap()) && cols[cols.length - 1].equals(rec.ip()))
            {
                return;
            }
        }
        throw new CniException(CniError.CHECK_FAILED, "the node has no port " + rec.tap() + " for pod address "
            + (podIp == null ? rec.ip() : podIp));
    }
}
