package dev.ferry.cni;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The container side, done with iproute2. Every command that acts inside the container's namespace runs as
 * {@code nsenter --net=CNI_NETNS ip ...}: nsenter takes any namespace path (a named netns under
 * /var/run/netns as well as /proc/PID/ns/net, which is what runtimes pass), where {@code ip netns exec} takes
 * only names. The configuration is one {@code ip -batch} so the whole setup costs two processes: the move
 * ({@code ip link set TAP netns PATH}, in the node's namespace) and the batch.
 */
final class Netns
{
    private Netns()
    {
    }

    /**
     * What to configure on the container's interface.
     *
     * @param tap     the TAP's name in the container's namespace after the move.
     * @param netns   the container's namespace path.
     * @param ifName  the name it gets there.
     * @param mac     its MAC.
     * @param mtu     its MTU.
     * @param cidr    its address with prefix length.
     * @param gateway the gateway (the node's pod gateway).
     * @param routes  routes to add; a route without a gateway goes via {@code gateway}.
     */
    record Setup(String tap, String netns, String ifName, String mac, int mtu, String cidr, String gateway,
        List<CniResult.Route> routes)
    {
    }

    /**
     * Moves the TAP from the node's namespace into the container's. A node whose port factory already moved the
     * TAP (named as the node made it, or already CNI_IFNAME with the node's MAC) is accepted as it is.
     *
     * @param tap    the TAP.
     * @param netns  the container's namespace path.
     * @param ifName the name it will get.
     * @param mac    the MAC the node gave it.
     * @return the TAP's name in the container's namespace now ({@code tap} or {@code ifName}).
     * @throws CniException 102 when iproute2 refuses and the TAP is not in the container's namespace either.
     */
    static String move(final String tap, final String netns, final String ifName, final String mac)
    {
        final Exec.Outcome o = exec(List.of("ip", "link", "set", "dev", tap, "netns", netns), "");
        if (o.ok())
        {
            return tap;
        }
        if (o.message().contains("Cannot find device"))
        {
            if (exec(List.of("nsenter", "--net=" + netns, "ip", "link", "show", "dev", tap), "").ok())
            {
                return tap;
            }
            final Exec.Outcome named = exec(List.of("nsenter", "--net=" + netns, "ip", "-o", "link", "show", "dev",
                ifName), "");
            if (named.ok() && named.stdout().contains("link/ether " + mac + " "))
            {
                return ifName;
            }
        }
        throw new CniException(CniError.NETNS_FAILED, "moving " + tap + " into " + netns + ": " + o.message());
    }

    /**
     * In the container's namespace: renames the moved TAP, sets MAC, MTU and address, brings it up and adds the
     * routes, in one {@code ip -batch} that stops at the first failure. Addresses and routes are set with
     * {@code replace}, so whatever the node or an earlier attempt set already is not an error.
     *
     * @param s the setup.
     * @throws CniException 102 naming the failed step.
     */
    static void configure(final Setup s)
    {
        final StringBuilder batch = new StringBuilder(256);
        if (!s.tap().equals(s.ifName()))
        {
            batch.append("link set dev ").append(s.tap()).append(" name ").append(s.ifName()).append('\n');
        }
        batch.append("link set dev ").append(s.ifName()).append(" address ").append(s.mac())
            .append(" mtu ").append(s.mtu()).append('\n');
        batch.append("addr replace ").append(s.cidr()).append(" dev ").append(s.ifName()).append('\n');
        batch.append("link set dev ").append(s.ifName()).append(" up\n");
        for (final CniResult.Route r : s.routes())
        {
            batch.append("route replace ").append(r.dst()).append(" via ")
                .append(r.gw() == null ? s.gateway() : r.gw()).append(" dev ").append(s.ifName()).append('\n');
        }
        ip(List.of("nsenter", "--net=" + s.netns(), "ip", "-batch", "-"), batch.toString(),
            "configuring " + s.ifName() + " in " + s.netns());
    }

    /**
     * Deletes an interface in a namespace; an absent namespace or interface is success (DEL is idempotent).
     *
     * @param netns  the namespace path, or null.
     * @param ifName the interface.
     * @return whether an interface was deleted.
     * @throws CniException 102 when the namespace exists and the deletion fails for another reason.
     */
    static boolean deleteLink(final String netns, final String ifName)
    {
        if (netns == null || !Files.exists(Path.of(netns)))
        {
            return false;
        }
        final Exec.Outcome o = exec(List.of("nsenter", "--net=" + netns, "ip", "link", "del", "dev", ifName), "");
        if (o.ok())
        {
            return true;
        }
        final String m = o.message();
        if (m.contains("Cannot find device") || m.contains("No such file") || m.contains("Invalid argument"))
        {
            // gone already, or the path is no longer a namespace (its owner exited): nothing to delete
            return false;
        }
        throw new CniException(CniError.NETNS_FAILED, "deleting " + ifName + " in " + netns + ": " + m);
    }

    /**
     * Reads an interface's link and addresses, and the namespace's routes, as {@code ip -j} prints them. (In
     * {@code -batch} mode an {@code addr show} after a {@code link show} loses its addresses, so the link comes
     * from {@code addr show}, which carries it too.)
     *
     * @param netns  the namespace path.
     * @param ifName the interface.
     * @return two JSON arrays: the link with its addresses, the routes.
     * @throws CniException 103 when the interface does not exist.
     */
    static List<String> inspect(final String netns, final String ifName)
    {
        final Exec.Outcome o = exec(List.of("nsenter", "--net=" + netns, "ip", "-j", "-batch", "-"),
            "addr show dev " + ifName + "\nroute show\n");
        if (!o.ok())
        {
            throw new CniException(CniError.CHECK_FAILED, "interface " + ifName + " in " + netns + ": "
                + o.message());
        }
        final List<String> out = new ArrayList<>();
        for (final String line : o.stdout().split("\n"))
        {
            if (!line.isBlank())
            {
                out.add(line);
            }
        }
        if (out.size() != 2)
        {
            throw new CniException(CniError.CHECK_FAILED, "unexpected 'ip -j' output for " + ifName + ": "
                + o.stdout().strip());
        }
        return out;
    }

    private static void ip(final List<String> command, final String stdin, final String what)
    {
        final Exec.Outcome o = exec(command, stdin);
        if (!o.ok())
        {
            throw new CniException(CniError.NETNS_FAILED, what + ": " + o.message());
        }
    }

    private static Exec.Outcome exec(final List<String> command, final String stdin)
    {
        try
        {
            return Exec.run(command, null, stdin.getBytes(StandardCharsets.UTF_8));
        }
        catch (final IOException e)
        {
            throw new CniException(CniError.NETNS_FAILED, String.join(" ", command) + ": " + e.getMessage(), e);
        }
    }
}
