package dev.ferry.node;

import dev.ferry.core.Graph;
import dev.ferry.core.route.Ip4;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Text for {@code ferry show}, in the style of the tools operators know: VPP {@code show runtime} columns for
 * stages, {@code ip -s link} counters for ports.
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
            out.add(NodeControl.runtimeLine(r));
        }
        return out;
    }

    static List<String> stats(final Worker.Stats s)
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
            out.addAll(s.drops());
        }
        out.add("");
        out.add(String.format(Locale.ROOT, "buffers: %d of %d in use, %d allocation failures", s.poolInUse(),
            s.poolCapacity(), s.allocationFailures()));
        return out;
    }

    static List<String> ports(final List<Worker.PortRow> rows, final List<PodAttachment> pods)
    {
        final Map<String, PodAttachment> byTap = new HashMap<>();
        for (final PodAttachment p : pods)
        {
            byTap.put(p.tapName(), p);
        }
        final List<String> out = new ArrayList<>();
        out.add(String.format(Locale.ROOT, "%-3s %-15s %-7s %-17s %12s %14s %12s %14s  %s", "Id", "Name", "Kind",
            "MAC", "rx-packets", "rx-bytes", "tx-packets", "tx-bytes", "Pod"));
        for (final Worker.PortRow r : rows)
        {
            final PodAttachment p = byTap.get(r.name());
            out.add(String.format(Locale.ROOT, "%-3d %-15s %-7s %-17s %12d %14d %12d %14d  %s", r.id(), r.name(),
                r.kind().name().toLowerCase(Locale.ROOT), Ip4.formatMac(r.mac()), r.rxPackets(), r.rxBytes(),
                r.txPackets(), r.txBytes(), p == null ? "" : p.podNamespace() + "/" + p.podName() + " "
                + Ip4.format(p.ip())));
        }
        return out;
    }
}
