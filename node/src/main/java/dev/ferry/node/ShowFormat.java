package dev.ferry.node;

import dev.ferry.core.Graph;
import dev.ferry.core.Ports;
import dev.ferry.core.route.Ip4;
import dev.ferry.tapio.FanoutSteering;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Text for {@code ferry show}, in the style of the tools operators know: VPP {@code show runtime} columns for
 * stages, {@code ip -s link} counters for ports. Runs on the control thread, over numbers the worker copied
 * ({@link WorkerStats}).
 */
final class ShowFormat
{
    private ShowFormat()
    {
    }

    static List<String> runtime(final List<Graph.RuntimeRow> rows)
    {
        final List<String> out = new ArrayList<>();
        out.add(String.format(Locale.ROOT, "%-20s %12s %14s %12s %12s", "Name", "Calls", "Vectors", "ns/packet",
            "Vectors/Call"));
        for (final Graph.RuntimeRow r : rows)
        {
            out.add(String.format(Locale.ROOT, "%-20s %12d %14d %12.1f %12.2f", r.name(), r.calls(), r.packets(),
                r.nanosPerPacket(), r.vectorsPerCall()));
        }
        return out;
    }

    /**
     * {@code show runtime} of a node of several workers: each worker's table, then the total, as VPP prints one
     * table per thread.
     *
     * @param each every worker's figures, worker 0 first.
     * @return the lines; one worker: its table alone, as before.
     */
    static List<String> runtimePerWorker(final List<WorkerStats> each)
    {
        if (each.size() == 1)
        {
            return runtime(each.get(0).runtime());
        }
        final List<String> out = new ArrayList<>();
        for (int w = 0; w < each.size(); w++)
        {
            out.add("Thread " + w + " ferry-worker-" + w);
            out.addAll(runtime(each.get(w).runtime()));
            out.add("");
        }
        out.add("Total (" + each.size() + " workers)");
        out.addAll(runtime(WorkerStats.sum(each).runtime()));
        return out;
    }

    static List<String> stats(final WorkerStats s, final int workers, final FanoutSteering uplink)
    {
        final List<String> out = new ArrayList<>(runtime(s.runtime()));
        out.add("");
        if (s.drops().isEmpty())
        {
            out.add("No drops");
        }
        else
        {
            out.add(String.format(Locale.ROOT, "%12s  %-18s %s", "Count", "Node", "Reason"));
            for (final WorkerStats.Drop d : s.drops())
            {
                out.add(String.format(Locale.ROOT, "%12d  %-18s %s", d.count(), d.node(), d.sentence()));
            }
        }
        out.add("");
        out.add(String.format(Locale.ROOT, "buffers: %d of %d in use, %d allocation failures", s.poolInUse(),
            s.poolCapacity(), s.allocationFailures()));
        out.add("workers: " + workers);
        if (workers > 1)
        {
            // sent and received match once the rings are drained; held frames waited for room (not lost)
            out.add(String.format(Locale.ROOT, "handoff: %d frames sent to their owner worker, %d received, %d held"
                + " for a full ring", s.handoff().sent(), s.handoff().received(), s.handoff().held()));
        }
        if (uplink != null)
        {
            out.add(FanoutSteering.CBPF.equals(uplink.mode())
                ? "uplink fanout: cbpf (the kernel hands each frame to its owner worker's socket)"
                : "uplink fanout: hash (the kernel refused cbpf: a frame meets its owner worker by chance)");
        }
        return out;
    }

    /**
     * A port as {@code show ports} shows it (text and JSON).
     *
     * @param row  the worker's counters.
     * @param kind pod, uplink, host or tunnel.
     * @param mac  the port's MAC.
     * @param pod  the pod on it, or null.
     */
    record PortView(WorkerStats.PortRow row, String kind, long mac, PodAttachment pod)
    {
    }

    static List<PortView> portViews(final List<WorkerStats.PortRow> rows, final Ports registry,
        final List<PodAttachment> pods)
    {
        final Map<String, PodAttachment> byTap = new HashMap<>();
        for (final PodAttachment p : pods)
        {
            byTap.put(p.tapName(), p);
        }
        final List<PortView> out = new ArrayList<>();
        for (final WorkerStats.PortRow r : rows)
        {
            final Ports.Port port = registry.get(r.id());
            out.add(new PortView(r, port.kind().name().toLowerCase(Locale.ROOT), port.mac(), byTap.get(r.name())));
        }
        return out;
    }

    static List<String> ports(final List<PortView> views)
    {
        final List<String> out = new ArrayList<>();
        out.add(String.format(Locale.ROOT, "%-3s %-15s %-7s %-17s %12s %14s %12s %14s %10s %10s  %s", "Id", "Name",
            "Kind", "MAC", "rx-packets", "rx-bytes", "tx-packets", "tx-bytes", "rx-dropped", "tx-dropped", "Pod"));
        for (final PortView v : views)
        {
            final WorkerStats.PortRow r = v.row();
            final PodAttachment p = v.pod();
            out.add(String.format(Locale.ROOT, "%-3d %-15s %-7s %-17s %12d %14d %12d %14d %10d %10d  %s", r.id(),
                r.name(), v.kind(), Ip4.formatMac(v.mac()), r.rxPackets(), r.rxBytes(), r.txPackets(), r.txBytes(),
                r.rxDropped(), r.txDropped(),
                p == null ? "" : p.podNamespace() + "/" + p.podName() + " " + Ip4.format(p.ip())));
        }
        return out;
    }

    /**
     * A neighbour as {@code show neighbors} shows it (text and JSON).
     *
     * @param ip     its address.
     * @param dev    the port it is reached on.
     * @param mac    its MAC.
     * @param source node (a remote node's underlay address), static (pushed by the agent), arp (learned) or pod.
     * @param owner  the node's name or the pod's {@code namespace/name}; "" otherwise.
     */
    record Neighbour(int ip, String dev, long mac, String source, String owner)
    {
        /** @return ip neigh's state: REACHABLE when learned by ARP, PERMANENT otherwise. */
        String state()
        {
            return "arp".equals(source) ? "REACHABLE" : "PERMANENT";
        }

        String line()
        {
            final String head = Ip4.format(ip) + " dev " + dev + " lladdr " + Ip4.formatMac(mac) + " " + state();
            return switch (source)
            {
                case "node" -> head + "  # node " + owner;
                case "arp" -> head + "  # learned by ARP";
                case "pod" -> head + "  # pod " + owner;
                default -> head;
            };
        }
    }

    /**
     * The Service table ({@code ipvsadm -Ln} style) with each backend's connections, as {@code ipvsadm -Ln --stats}
     * would count them: ActiveConn are TCP ESTABLISHED entries DNATed to that backend, InActConn every other one
     * (other TCP states, UDP). A backend serving several frontends shows its connections through all of them.
     *
     * @param views  the Service table's entries.
     * @param counts per backend ({@link #backendKey}): {active, inactive}.
     * @return the lines.
     */
    static List<String> services(final List<dev.ferry.nat.ServiceView> views, final Map<Long, long[]> counts)
    {
        final List<String> out = new ArrayList<>();
        out.add(dev.ferry.nat.ServiceView.HEADER.get(0));
        out.add(String.format(Locale.ROOT, "%-48s %10s %10s", dev.ferry.nat.ServiceView.HEADER.get(1), "ActiveConn",
            "InActConn"));
        out.addAll(dev.ferry.nat.ServiceView.render(views, (p, b, line) ->
        {
            final long[] c = connections(counts, p, b);
            return String.format(Locale.ROOT, "%-48s %10d %10d", line, c[0], c[1]);
        }));
        return out;
    }

    /**
     * @param lines the feature's answer before the first tables (a sentence, or the header and a sentence).
     * @return the lines, with the header's connection columns.
     */
    static List<String> services(final List<String> lines)
    {
        return lines.stream().map(l -> l.equals(dev.ferry.nat.ServiceView.HEADER.get(1)) ? String.format(Locale.ROOT,
            "%-48s %10s %10s", l, "ActiveConn", "InActConn") : l).toList();
    }

    /**
     * @return a backend's {active, inactive} connections through a Service port of its protocol (0, 0 when none).
     */
    static long[] connections(final Map<Long, long[]> counts, final dev.ferry.nat.ServiceView.Port p,
        final dev.ferry.nat.ServiceView.Backend b)
    {
        final int proto = "TCP".equals(p.protocol()) ? 6 : "UDP".equals(p.protocol()) ? 17 : 0;
        return counts.getOrDefault(backendKey(proto, b.address(), b.port()), new long[2]);
    }

    /** @return the key the conntrack walk counts a backend under: {@code proto << 48 | port << 32 | address}. */
    static long backendKey(final int proto, final int address, final int port)
    {
        return (long)proto << 48 | (long)port << 32 | Integer.toUnsignedLong(address);
    }
}
