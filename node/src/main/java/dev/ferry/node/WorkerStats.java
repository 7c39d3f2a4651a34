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
 */
record WorkerStats(List<Graph.RuntimeRow> runtime, List<Drop> drops, List<PortRow> ports, int poolInUse,
    int poolCapacity, long allocationFailures, int conntrackEntries, int conntrackCapacity)
{
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
     * The trace buffer's records, for {@link Graph#formatTrace(List, long)}.
     *
     * @param entries the records, oldest first.
     * @param lost    records that did not fit.
     */
    record TraceRecords(List<TraceBuffer.Entry> entries, long lost)
    {
    }
}
