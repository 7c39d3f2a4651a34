package dev.ferry.bench;

import dev.ferry.core.Graph;

import java.util.List;
import java.util.Locale;

/**
 * The per-stage figures of a graph over part of a run, in the columns of VPP's {@code show runtime}: calls,
 * packets, ns per packet, packets per call. Control side: it allocates.
 */
final class GraphRuntime
{
    private final Graph graph;
    private List<Graph.RuntimeRow> mark = List.of();

    GraphRuntime(final Graph graph)
    {
        this.graph = graph;
    }

    /** Remembers the figures now, so that {@link #report()} shows only what follows. */
    void mark()
    {
        mark = graph.runtime();
    }

    /** @return one line per stage that saw packets since {@link #mark()}; empty when none did. */
    String report()
    {
        final StringBuilder sb = new StringBuilder();
        final List<Graph.RuntimeRow> now = graph.runtime();
        for (int i = 0; i < now.size(); i++)
        {
            final Graph.RuntimeRow r = now.get(i);
            final Graph.RuntimeRow m = mark.isEmpty() ? new Graph.RuntimeRow(r.name(), 0, 0, 0) : mark.get(i);
            final Graph.RuntimeRow d = new Graph.RuntimeRow(r.name(), r.calls() - m.calls(),
                r.packets() - m.packets(), r.nanos() - m.nanos());
            if (d.packets() > 0)
            {
                sb.append(String.format(Locale.ROOT, "  %-18s calls %10d  packets %12d  %7.2f ns/packet"
                    + "  %6.1f packets/call%n", d.name(), d.calls(), d.packets(), d.nanosPerPacket(),
                    d.vectorsPerCall()));
            }
        }
        return sb.toString();
    }
}
