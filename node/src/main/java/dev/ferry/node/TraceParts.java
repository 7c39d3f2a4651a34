package dev.ferry.node;

import dev.ferry.core.Graph;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * {@code show trace} on a node of several workers: every worker's trace parts put in one list, by packet, and each
 * packet's parts in the order the packet took them (control thread; not the hot path).
 *
 * <p>A packet handed to its flow's owner is traced on both workers under one id (the node's): up to the handoff
 * on the worker it entered, then on from the owner's entry stage, a part whose first step names the worker that
 * handed it over. Which worker answers {@code show trace} first says nothing about the packet, so the parts are
 * chained: the part that entered from a port first, then the part that the last part's worker handed over, and so
 * on. A part whose predecessor is missing (its records did not fit, or a {@code trace add} cleared them while the
 * packet was in flight) comes last, in worker order.
 */
final class TraceParts
{
    private TraceParts()
    {
    }

    /**
     * @param perWorker each worker's parts ({@link Graph#trace(List, int)}), worker 0 first.
     * @return the parts by packet number, each packet's in the order it took them.
     */
    static List<Graph.TracedPacket> inOrder(final List<List<Graph.TracedPacket>> perWorker)
    {
        final Map<Integer, List<Graph.TracedPacket>> byPacket = new TreeMap<>();
        for (final List<Graph.TracedPacket> parts : perWorker)
        {
            for (final Graph.TracedPacket p : parts)
            {
                byPacket.computeIfAbsent(p.packet(), k -> new ArrayList<>()).add(p);
            }
        }
        final List<Graph.TracedPacket> out = new ArrayList<>();
        for (final List<Graph.TracedPacket> parts : byPacket.values())
        {
            out.addAll(chain(parts));
        }
        return out;
    }

    private static List<Graph.TracedPacket> chain(final List<Graph.TracedPacket> parts)
    {
        final List<Graph.TracedPacket> left = new ArrayList<>(parts);
        final List<Graph.TracedPacket> out = new ArrayList<>(parts.size());
        Graph.TracedPacket cur = take(left, -1);
        while (cur != null)
        {
            out.add(cur);
            cur = take(left, cur.worker());
        }
        out.addAll(left);
        return out;
    }

    /** Removes and returns the first part handed over by {@code from} (-1: entered from a port), or null. */
    private static Graph.TracedPacket take(final List<Graph.TracedPacket> left, final int from)
    {
        for (int i = 0; i < left.size(); i++)
        {
            if (left.get(i).handedOverBy() == from)
            {
                return left.remove(i);
            }
        }
        return null;
    }

    /**
     * The text of {@code show trace}: VPP's, one block per packet; with several workers one block per part, headed
     * {@code Packet N (worker W):}.
     *
     * @param parts   the parts, {@link #inOrder}.
     * @param lost    records that did not fit any worker's buffer.
     * @param workers the node's worker count.
     * @return the lines.
     */
    static List<String> lines(final List<Graph.TracedPacket> parts, final long lost, final int workers)
    {
        final List<String> out = Graph.formatTrace(parts, lost, workers > 1);
        return out.isEmpty() ? List.of("No packets traced (use: ferry trace add N)") : out;
    }
}
