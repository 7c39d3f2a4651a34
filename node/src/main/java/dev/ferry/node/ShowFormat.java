package dev.ferry.node;

import dev.ferry.core.Graph;
import dev.ferry.core.Ports;
import dev.ferry.core.route.Ip4;

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

    static List<String> stats(final WorkerStats s)
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
     * @param lines  the Service table's lines.
     * @param counts per backend key ({@code proto << 48 | port << 32 | address}): {active, inactive}.
     * @return the lines with the two columns.
     */
    static List<String> servicesWithConnections(final List<String> lines, final Map<Long, long[]> counts)
    {
        final List<String> out = new ArrayList<>(lines.size());
        int proto = 0;
        for (final String line : lines)
        {
            if (line.startsWith("  -> RemoteAddress:Port"))
            {
                out.add(String.format(Locale.ROOT, "%-48s %10s %10s", line, "ActiveConn", "InActConn"));
                continue;
            }
            if (!line.startsWith("  -> "))
            {
                proto = line.startsWith("TCP ") ? 6 : line.startsWith("UDP ") ? 17 : line.startsWith("SCTP ") ? 132 : 0;
                out.add(line);
                continue;
            }
            final String target = line.substring(5).split(" ", 2)[0];
            final int colon = target.lastIndexOf(':');
            long[] c = null;
            if (colon > 0 && proto != 0)
            {
                try
                {
                    final long key = (long)proto << 48 | Long.parseLong(target.substring(colon + 1)) << 32
                        | Integer.toUnsignedLong(Ip4.parse(target.substring(0, colon)));
                    c = counts.getOrDefault(key, new long[2]);
                }
                catch (final IllegalArgumentException e)
                {
                    c = null;
                }
            }
            out.add(c == null ? line : String.format(Locale.ROOT, "%-48s %10d %10d", line, c[0], c[1]));
        }
        return out;
    }
}
