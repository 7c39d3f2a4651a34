package dev.ferry.node;

import dev.ferry.core.route.Ip4;
import dev.ferry.core.route.Ip4Prefix;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.tables.Snapshot;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.logging.Logger;

/**
 * The host's side of the node: addresses and routes on the host TAP ({@code ferry0}), and in packet mode the
 * NIC taken from the kernel. Applied with {@code ip}/{@code tc} on a thread of its own ({@code ferry-host-network})
 * whenever a published snapshot changes what the host needs (idempotent {@code replace} commands; nothing is run
 * when nothing changed), so that neither the control thread nor the forwarding thread ever waits for a
 * subprocess. Snapshots published while a sync runs are skipped for the newest. Nothing here changes forwarding:
 * the kernel's routes only decide what the kernel sends to {@code ferry0}.
 *
 * <pre>
 *   both modes   ferry0 up, MTU = pod MTU
 *                CLUSTER_CIDR and every SERVICE_CIDR via GATEWAY dev ferry0 onlink
 *                  (the kernel ARPs for the pods' gateway on ferry0; ferry answers with its host-side MAC)
 *   socket mode  forwarding on ferry0: pods' traffic to the underlay and beyond is routed (and masqueraded, if
 *                the host says so) by the kernel
 *   packet mode  NODE_IP/32 (every node address) on ferry0
 *                UNDERLAY_PREFIX via GATEWAY dev ferry0 onlink; default via GATEWAY dev ferry0 onlink
 *                at start: GRO and LRO off on the NIC (ethtool; the AF_PACKET ring takes one-buffer frames)
 *                at start: the NIC's IPv4 addresses flushed, and a tc clsact ingress "matchall drop" on the NIC
 *                  so the kernel stack ignores frames that ferry (AF_PACKET, before tc) already takes; where
 *                  cls_matchall is missing even after modprobe: rp_filter 1 + arp_ignore 8 on the NIC instead
 *                  (where /proc/sys is read-only, as in a container, values already set are accepted)
 * </pre>
 *
 * <p>Nothing is undone at stop: the host keeps its address on the persistent {@code ferry0}, and a restarted node
 * carries on. To give the NIC back: {@code tc qdisc del dev NIC clsact} and move the address back.
 */
final class HostNetwork
{
    private static final Logger LOG = Logger.getLogger("dev.ferry.node");
    private static final long STOP_TIMEOUT_SECONDS = 10;

    /** Runs one host command ({@code ip}, {@code tc}, {@code sysctl} ...). */
    @FunctionalInterface
    interface Runner
    {
        /**
         * @param command the program and its arguments.
         * @return whether it succeeded.
         */
        boolean run(List<String> command);
    }

    /** The name of the thread that runs the commands of published snapshots. */
    static final String THREAD_NAME = "ferry-host-network";

    private final NodeConfig config;
    private final Runner runner;
    private final ExecutorService thread = Executors.newSingleThreadExecutor(r ->
    {
        final Thread t = new Thread(r, THREAD_NAME);
        t.setDaemon(true);
        return t;
    });
    private final AtomicReference<Snapshot> pending = new AtomicReference<>();
    // host network thread only
    private List<String> applied = List.of();

    HostNetwork(final NodeConfig config)
    {
        this(config, HostNetwork::exec);
    }

    HostNetwork(final NodeConfig config, final Runner runner)
    {
        this.config = config;
        this.runner = runner;
    }

    /**
     * Queues a published snapshot for the host network thread (any thread; never blocks).
     *
     * @param s the snapshot.
     */
    void applyLater(final Snapshot s)
    {
        if (pending.getAndSet(s) == null)
        {
            thread.execute(() -> apply(pending.getAndSet(null)));
        }
    }

    /** Stops the host network thread after the sync in progress, if any. */
    void close()
    {
        thread.shutdown();
        try
        {
            if (!thread.awaitTermination(STOP_TIMEOUT_SECONDS, TimeUnit.SECONDS))
            {
                LOG.warning(() -> "host network sync still running at stop");
            }
        }
        catch (final InterruptedException e)
        {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Packet mode, at start: the kernel lets go of the NIC. The preferred way is a tc clsact ingress
     * {@code matchall drop} (after AF_PACKET has taken its copy); it needs {@code cls_matchall} and {@code act_gact},
     * loaded with {@code modprobe} first. Where the kernel has neither (the lab's 6.18 kernel has no modules),
     * strict reverse-path filtering (no route of the node points out of the NIC once its addresses are gone) and
     * {@code arp_ignore 8} keep the node's kernel from answering the node IPs with RSTs and port unreachables.
     *
     * @return how the NIC is kept from the kernel, as logged.
     */
    KernelGuard takeUplink()
    {
        final String nic = config.uplink();
        run(List.of("ip", "-4", "addr", "flush", "dev", nic));
        // the AF_PACKET ring takes frames of at most one buffer: no receive aggregation on the NIC ferry owns (a
        // superframe that arrives anyway, from a peer's TSO over a veth, is dropped and counted as rx-errors)
        run(List.of("ethtool", "-K", nic, "gro", "off"));
        run(List.of("ethtool", "-K", nic, "lro", "off"));
        run(List.of("modprobe", "-q", "cls_matchall"));
        run(List.of("modprobe", "-q", "act_gact"));
        final KernelGuard guard;
        if (run(List.of("tc", "qdisc", "replace", "dev", nic, "clsact"))
            && run(List.of("tc", "filter", "replace", "dev", nic, "ingress", "pref", "1", "matchall", "action",
            "drop")))
        {
            guard = KernelGuard.TC_MATCHALL_DROP;
        }
        else if (run(List.of("sysctl", "-q", "-w", "net.ipv4.conf." + nic + ".rp_filter=1",
            "net.ipv4.conf." + nic + ".arp_ignore=8")))
        {
            guard = KernelGuard.RP_FILTER_ARP_IGNORE;
        }
        else if (run(List.of("grep", "-qx", "1", "/proc/sys/net/ipv4/conf/" + nic + "/rp_filter"))
            && run(List.of("grep", "-qx", "8", "/proc/sys/net/ipv4/conf/" + nic + "/arp_ignore")))
        {
            // a container's /proc/sys is read-only: the values may have been set for it (podman --sysctl, the
            // host's sysctl.d), and then they hold just the same
            guard = KernelGuard.RP_FILTER_ARP_IGNORE_PRESET;
        }
        else
        {
            guard = KernelGuard.NONE;
        }
        LOG.info(() -> "uplink " + nic + " taken from the kernel (addresses flushed; " + guard.description() + ")");
        return guard;
    }

    /** How the node's kernel is kept from answering the frames ferry takes from the NIC. */
    enum KernelGuard
    {
        /** tc clsact ingress matchall drop. */
        TC_MATCHALL_DROP("tc clsact ingress matchall drop after AF_PACKET"),
        /** rp_filter 1 and arp_ignore 8 on the NIC. */
        RP_FILTER_ARP_IGNORE("tc matchall unavailable (cls_matchall/act_gact missing): rp_filter 1 + arp_ignore 8"),
        /** rp_filter 1 and arp_ignore 8 on the NIC, found set when ferry could not write them. */
        RP_FILTER_ARP_IGNORE_PRESET("tc matchall unavailable (cls_matchall/act_gact missing): rp_filter 1 + "
            + "arp_ignore 8, already set (read-only /proc/sys)"),
        /** Neither worked. */
        NONE("WARNING: neither tc matchall nor rp_filter/arp_ignore could be set; the kernel may answer node IPs");

        private final String description;

        KernelGuard(final String description)
        {
            this.description = description;
        }

        String description()
        {
            return description;
        }
    }

    /**
     * Brings the host in line with a snapshot (host network thread).
     *
     * @param s the published snapshot.
     */
    void apply(final Snapshot s)
    {
        final List<String> want = commands(s.tables());
        if (want.equals(applied))
        {
            return;
        }
        int failed = 0;
        for (final String c : want)
        {
            if (!applied.contains(c) && !run(List.of(c.split(" "))))
            {
                failed++;
            }
        }
        // what an earlier snapshot added and this one no longer names goes (a guessed Service CIDR that shrank, a
        // node address that left): a route or an address left behind would keep sending the host's traffic to ferry
        final List<String> withdraw = withdrawals(applied, want);
        for (final String c : withdraw)
        {
            if (!run(List.of(c.split(" "))))
            {
                failed++;
            }
        }
        applied = want;
        final int f = failed;
        LOG.info(() -> "host network on " + config.hostTap() + ": " + want.size() + " settings applied"
            + (withdraw.isEmpty() ? "" : ", " + withdraw.size() + " withdrawn") + (f > 0 ? ", " + f + " failed" : ""));
    }

    /**
     * The commands that undo what {@code before} set and {@code after} no longer sets: {@code ip route del} for a
     * route whose prefix is gone, {@code ip addr del} for an address that is gone. A route whose prefix stays (with
     * another gateway, say) was replaced in place and is not withdrawn; link settings and sysctls are left as the
     * last snapshot set them.
     *
     * @param before the commands applied last.
     * @param after  the commands applied now.
     * @return the withdrawals, in the order of {@code before}.
     */
    static List<String> withdrawals(final List<String> before, final List<String> after)
    {
        final Set<String> kept = new HashSet<>();
        for (final String c : after)
        {
            final String k = subject(c);
            if (k != null)
            {
                kept.add(k);
            }
        }
        final List<String> out = new ArrayList<>();
        for (final String c : before)
        {
            final String k = subject(c);
            if (k != null && !kept.contains(k))
            {
                final String[] w = c.split(" ");
                // "ip route replace PREFIX via GW dev TAP onlink" / "ip addr replace ADDR/32 dev TAP"
                out.add("ip " + w[1] + " del " + w[3] + " dev " + w[w.length - (w[1].equals("route") ? 2 : 1)]);
            }
        }
        return out;
    }

    /** What a command sets, as "route PREFIX" or "addr ADDR", or null for a command that is not withdrawn. */
    private static String subject(final String command)
    {
        final String[] w = command.split(" ");
        if (w.length >= 4 && w[0].equals("ip") && w[2].equals("replace") && (w[1].equals("route")
            || w[1].equals("addr")))
        {
            return w[1] + " " + w[3];
        }
        return null;
    }

    /**
     * The commands that give the host what the tables say.
     *
     * @param t the tables.
     * @return {@code ip} commands, space separated, in order.
     */
    List<String> commands(final NodeTables t)
    {
        final String tap = config.hostTap();
        final NodeTables.NodeInfo node = t.node();
        final String via = " via " + Ip4.format(node.gatewayIp()) + " dev " + tap + " onlink";
        final List<String> out = new ArrayList<>();
        out.add("ip link set dev " + tap + " mtu " + node.podMtu() + " up");
        if (config.underlay() == UnderlayMode.PACKET)
        {
            final Set<Integer> addrs = new LinkedHashSet<>(node.addresses());
            if (node.publicIp() != 0)
            {
                addrs.add(node.publicIp());
            }
            for (final int a : addrs)
            {
                out.add("ip addr replace " + Ip4.format(a) + "/32 dev " + tap);
            }
            if (node.underlayPrefix() != null)
            {
                out.add("ip route replace " + node.underlayPrefix() + via);
            }
            if (node.underlayGateway() != 0)
            {
                out.add("ip route replace default" + via);
            }
        }
        else
        {
            // pods' traffic that leaves the cluster arrives on ferry0 for the kernel to route on
            out.add("sysctl -q -w net.ipv4.conf." + tap + ".forwarding=1");
        }
        if (t.cluster().clusterCidr() != null)
        {
            out.add("ip route replace " + t.cluster().clusterCidr() + via);
        }
        else if (node.podCidr() != null)
        {
            out.add("ip route replace " + node.podCidr() + via);
        }
        for (final Ip4Prefix p : t.cluster().serviceCidrs())
        {
            out.add("ip route replace " + p + via);
        }
        return out;
    }

    private boolean run(final List<String> command)
    {
        return runner.run(command);
    }

    private static boolean exec(final List<String> command)
    {
        try
        {
            final Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            final String out;
            try (InputStream s = p.getInputStream())
            {
                out = new String(s.readAllBytes(), StandardCharsets.UTF_8).trim();
            }
            if (!p.waitFor(10, TimeUnit.SECONDS))
            {
                p.destroyForcibly();
                LOG.warning(() -> String.join(" ", command) + ": timed out");
                return false;
            }
            if (p.exitValue() != 0)
            {
                LOG.warning(() -> String.join(" ", command) + ": " + out);
                return false;
            }
            return true;
        }
        catch (final IOException e)
        {
            LOG.warning(() -> String.join(" ", command) + ": " + e.getMessage());
            return false;
        }
        catch (final InterruptedException e)
        {
            Thread.currentThread().interrupt();
            return false;
        }
    }
}
