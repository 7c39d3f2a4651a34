package dev.ferry.node;

import dev.ferry.core.Graph;
import dev.ferry.core.TraceBuffer;

import java.util.List;

/**
 * The numbers behind {@code show stats}, {@code show runtime} and {@code show ports}, copied on the worker thread
 * and formatted by {@link ShowFormat} on the control thread.
 *
 * @param runtime            per stage: calls, vectors, nanoseconds.
 * @param drops              non-zero drop counters.
 * @param ports              the attached ports' counters.
 * @param poolInUse          buffers handed out.
 * @param poolCapacity       buffers in the pool.
 * @param allocationFailures times the pool was empty.
 * @param conntrackEntries   live conntrack entries (0 before the first tables).
 * @param conntrackCapacity  the conntrack table's capacity (0 before the first tables).
 * @param handoff            frames this worker handed to and took from other workers ({@link Handoffs#NONE} with one
 *                           worker).
 */
record WorkerStats(List<Graph.RuntimeRow> runtime, List<Drop> drops, List<PortRow> ports, int poolInUse,
    int poolCapacity, long allocationFailures, int conntrackEntries, int conntrackCapacity, Handoffs handoff)
{
    /**
     * The worker handoff's counters ({@code handoff/sent}, {@code handoff/received}, {@code handoff/held}); its drops
     * are among {@link #drops()}.
     *
     * @param sent     frames written into rings toward their owner.
     * @param received frames taken from rings and forwarded here.
     * @param held     frames that waited in a hold queue for room in a ring.
     */
    record Handoffs(long sent, long received, long held)
    {
        /** A node of one worker: nothing crosses. */
        static final Handoffs NONE = new Handoffs(0, 0, 0);
    }

    /**
     * One non-zero drop counter.
     *
     * @param node     the stage that dropped, or "graph" / "node".
     * @param sentence the reason's sentence.
     * @param count    packets dropped.
     */
    record Drop(String node, String sentence, long count)
    {
    }

    /**
     * An attached port's counters ({@code port/NAME/...}).
     *
     * @param id        the port's id.
     * @param name      its name.
     * @param rxPackets frames received.
     * @param rxBytes   bytes received.
     * @param rxDropped receives lost: pool empty, errors.
     * @param txPackets frames sent.
     * @param txBytes   bytes sent.
     * @param txDropped sends lost: errors, link down, queue full.
     */
    record PortRow(int id, String name, long rxPackets, long rxBytes, long rxDropped, long txPackets, long txBytes,
        long txDropped)
    {
    }

    /**
     * The trace buffer's records, for {@link Graph#trace(List, int)}.
     *
     * @param entries the records, oldest first.
     * @param lost    records that did not fit.
     */
    record TraceRecords(List<TraceBuffer.Entry> entries, long lost)
    {
    }

    /**
     * The node's figures over several workers, as {@code show stats} and the {@code stats} op give them: every
     * counter summed (stage rows by stage name, drops by stage and reason, port rows by port id, buffers and
     * conntrack entries over the pools and shards).
     *
     * @param each every worker's figures, worker 0 first.
     * @return the sums; the single element when there is one.
     */
    static WorkerStats sum(final List<WorkerStats> each)
    {
        if (each.size() == 1)
        {
            return each.get(0);
        }
        final java.util.Map<String, long[]> stages = new java.util.LinkedHashMap<>();
        final java.util.Map<List<String>, long[]> drops = new java.util.LinkedHashMap<>();
        final java.util.Map<Integer, PortRow> ports = new java.util.TreeMap<>();
        int inUse = 0;
        int capacity = 0;
        long failures = 0;
        int entries = 0;
        int ctCapacity = 0;
        long sent = 0;
        long received = 0;
        long held = 0;
        for (final WorkerStats s : each)
        {
            sent += s.handoff().sent();
            received += s.handoff().received();
            held += s.handoff().held();
            for (final Graph.RuntimeRow r : s.runtime())
            {
                final long[] t = stages.computeIfAbsent(r.name(), k -> new long[3]);
                t[0] += r.calls();
                t[1] += r.packets();
                t[2] += r.nanos();
            }
            for (final Drop d : s.drops())
            {
                drops.computeIfAbsent(List.of(d.node(), d.sentence()), k -> new long[1])[0] += d.count();
            }
            for (final PortRow p : s.ports())
            {
                final PortRow t = ports.get(p.id());
                ports.put(p.id(), t == null ? p : new PortRow(p.id(), p.name(), t.rxPackets() + p.rxPackets(),
                    t.rxBytes() + p.rxBytes(), t.rxDropped() + p.rxDropped(), t.txPackets() + p.txPackets(),
                    t.txBytes() + p.txBytes(), t.txDropped() + p.txDropped()));
            }
            inUse += s.poolInUse();
            capacity += s.poolCapacity();
            failures += s.allocationFailures();
            entries += s.conntrackEntries();
            ctCapacity += s.conntrackCapacity();
        }
        final List<Graph.RuntimeRow> runtime = new java.util.ArrayList<>();
        stages.forEach((name, t) -> runtime.add(new Graph.RuntimeRow(name, t[0], t[1], t[2])));
        final List<Drop> dropRows = new java.util.ArrayList<>();
        drops.forEach((k, c) -> dropRows.add(new Drop(k.get(0), k.get(1), c[0])));
        return new WorkerStats(List.copyOf(runtime), List.copyOf(dropRows), List.copyOf(ports.values()), inUse,
            capacity, failures, entries, ctCapacity, new Handoffs(sent, received, held));
    }
}
