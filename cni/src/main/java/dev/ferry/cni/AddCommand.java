package dev.ferry.cni;

import dev.ferry.core.route.Ip4;
import dev.ferry.core.route.Ip4Prefix;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * ADD: an address from IPAM, a TAP from the node, and the TAP configured as the pod's interface.
 *
 * <pre>
 *   IPAM ADD ──► node attach ──► record ──► ip link set TAP netns NS ──► (in NS) rename, MAC, MTU, addr, up,
 *   (host-local)  (TAP name,              default route via the gateway, IPAM routes
 *                  MAC, MTU, gateway)
 * </pre>
 *
 * Any failure after IPAM undoes what was done, newest first: the interface is deleted in the namespace, the
 * node detaches, the record goes, and the address is released; then the first failure is reported.
 */
final class AddCommand
{
    private AddCommand()
    {
    }

    static CniResult run(final NetConf conf, final CniEnv env, final PrintStream log)
    {
        if (!Files.exists(Path.of(env.netns())))
        {
            throw new CniException(CniError.INVALID_ENVIRONMENT, "CNI_NETNS: " + env.netns() + " does not exist");
        }
        final NodeClient node = new NodeClient(conf.socket());
        final AttachmentStore store = new AttachmentStore(conf);
        final Ipam ipam = new Ipam(conf, env);
        final long t0 = System.nanoTime();
        final CniResult ipamResult = ipam.add();
        final long t1 = System.nanoTime();
        boolean attached = false;
        String moved = null;
        try
        {
            final CniResult.IpConfig ip = pickIp4(ipamResult);
            final int addr = CniResult.addressOf(ip.address());
            final Map<String, Object> req = NodeClient.request("attach");
            req.put("containerId", env.containerId());
            req.put("ifName", env.ifName());
            req.put("netns", env.netns());
            req.put("podNamespace", env.podNamespace());
            req.put("podName", env.podName());
            req.put("ip", Ip4.format(addr));
            if (conf.mac() != null)
            {
                req.put("mac", conf.mac());
            }
            final Fields a = node.call(req);
            attached = true;
            final long t2 = System.nanoTime();
            final String tap = a.text("tap");
            final String mac = Ip4.formatMac(Ip4.parseMac(a.text("mac")));
            final String gateway = Ip4.format(Ip4.parse(a.text("gateway")));
            final int mtu = conf.mtu() > 0 ? conf.mtu() : a.optInt("mtu", 1500, 68, 65535);
            if (ip.gateway() != null && !Ip4.format(Ip4.parse(ip.gateway())).equals(gateway))
            {
                throw new CniException(CniError.INVALID_CONFIG, "ipam gateway " + ip.gateway()
                    + " is not the node's pod gateway " + gateway + " (nothing would answer for it)");
            }
            store.write(new AttachmentStore.Record(env.containerId(), env.ifName(), env.netns(), tap,
                Ip4.format(addr)));
            final List<CniResult.Route> routes = routes(ipamResult, gateway);
            moved = Netns.move(tap, env.netns(), env.ifName(), mac);
            final long t3 = System.nanoTime();
            Netns.configure(new Netns.Setup(moved, env.netns(), env.ifName(), mac, mtu, ip.address(), gateway,
                routes));
            if (env.all().containsKey("FERRY_CNI_TIMING"))
            {
                final long t4 = System.nanoTime();
                log.printf("ferry: ADD phases %.1f ms (process start to here %.0f ms): ipam %.1f, attach %.1f, "
                    + "move %.1f, configure %.1f%n", (t4 - t0) / 1e6, uptimeMillis(), (t1 - t0) / 1e6, (t2 - t1) / 1e6,
                    (t3 - t2) / 1e6, (t4 - t3) / 1e6);
            }
            final CniResult ours = new CniResult(
                List.of(new CniResult.Iface(env.ifName(), mac, env.netns(), mtu)),
                List.of(new CniResult.IpConfig(ip.address(), gateway, 0)),
                routes, conf.dns().isEmpty() ? ipamResult.dns() : conf.dns());
            return conf.prevResult() == null ? ours : conf.prevResult().append(ours);
        }
        catch (final RuntimeException e)
        {
            undo(env, node, store, ipam, attached, moved, log);
            throw e;
        }
    }

    private static double uptimeMillis()
    {
        return (System.currentTimeMillis() - ProcessHandle.current().info().startInstant()
            .map(Instant::toEpochMilli).orElse(System.currentTimeMillis()));
    }

    private static CniResult.IpConfig pickIp4(final CniResult r)
    {
        for (final CniResult.IpConfig ip : r.ips())
        {
            if (!ip.isIp4())
            {
                throw new CniException(CniError.UNSUPPORTED_ADDRESS, "IPAM gave " + ip.address()
                    + ": ferry attaches IPv4 pods only (use an IPv4 subnet or range)");
            }
        }
        if (r.ips().size() != 1)
        {
            throw new CniException(CniError.UNSUPPORTED_ADDRESS, "IPAM gave " + r.ips().size()
                + " addresses; ferry attaches exactly one IPv4 address per interface");
        }
        final CniResult.IpConfig ip = r.ips().get(0);
        final Ip4Prefix prefix = Ip4Prefix.parse(ip.address());
        if (prefix.length() == 32 || prefix.length() == 0)
        {
            throw new CniException(CniError.UNSUPPORTED_ADDRESS, "IPAM gave " + ip.address()
                + ": ferry needs the pod subnet's prefix length, so the gateway is on-link");
        }
        return ip;
    }

    /**
     * The default route via the gateway first, then IPAM's routes (each via its own gateway or ours). A default
     * route from IPAM replaces ours.
     */
    static List<CniResult.Route> routes(final CniResult ipamResult, final String gateway)
    {
        final List<CniResult.Route> out = new ArrayList<>();
        boolean hasDefault = false;
        for (final CniResult.Route r : ipamResult.routes())
        {
            if (r.dst().indexOf(':') >= 0)
            {
                continue;
            }
            final Ip4Prefix p = Ip4Prefix.parse(r.dst());
            hasDefault |= p.length() == 0;
            out.add(new CniResult.Route(p.toString(), r.gw() == null ? gateway : Ip4.format(Ip4.parse(r.gw()))));
        }
        if (!hasDefault)
        {
            out.add(0, new CniResult.Route("0.0.0.0/0", gateway));
        }
        return out;
    }

    private static void undo(final CniEnv env, final NodeClient node, final AttachmentStore store,
        final Ipam ipam, final boolean attached, final String moved, final PrintStream log)
    {
        if (moved != null)
        {
            try
            {
                // the TAP still has its own name when the setup stopped before the rename (for instance because
                // CNI_IFNAME was taken): then the interface named CNI_IFNAME is not ours to delete
                if (!Netns.deleteLink(env.netns(), moved))
                {
                    Netns.deleteLink(env.netns(), env.ifName());
                }
            }
            catch (final RuntimeException e)
            {
                log.println("ferry: undo: " + e.getMessage());
            }
        }
        if (attached)
        {
            try
            {
                final Map<String, Object> req = NodeClient.request("detach");
                req.put("containerId", env.containerId());
                req.put("ifName", env.ifName());
                node.call(req);
            }
            catch (final RuntimeException e)
            {
                log.println("ferry: undo: " + e.getMessage());
            }
        }
        try
        {
            store.delete(env.containerId(), env.ifName());
        }
        catch (final RuntimeException e)
        {
            log.println("ferry: undo: " + e.getMessage());
        }
        try
        {
            ipam.del();
        }
        catch (final RuntimeException e)
        {
            log.println("ferry: undo: " + e.getMessage());
        }
    }
}
