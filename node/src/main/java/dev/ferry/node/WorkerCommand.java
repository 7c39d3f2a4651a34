package dev.ferry.node;

import dev.ferry.conntrack.ConntrackEntry;
import dev.ferry.conntrack.ConntrackFilter;
import dev.ferry.core.TraceBuffer;
import dev.ferry.tapio.Port;

import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * What control asks of the worker, through its command queue (Aeron's {@code ReceiverProxy} commands). Each
 * command carries the future the worker completes; {@link Worker} executes them with one switch. Answers are
 * plain data (snapshots of numbers), formatted by the caller on its own thread.
 *
 * @param <T> the answer's type.
 */
sealed interface WorkerCommand<T>
{
    /** @return completed by the worker with the answer, or failed. */
    CompletableFuture<T> done();

    /**
     * Attaches an opened port under its id; its frames enter the graph at the port's entry stage.
     *
     * @param id   the port's id in {@link dev.ferry.core.Ports}.
     * @param port the port, opened on the caller's thread.
     * @param done the id once the worker polls the port.
     */
    record Attach(int id, Port port, CompletableFuture<Integer> done) implements WorkerCommand<Integer>
    {
        Attach(final int id, final Port port)
        {
            this(id, port, new CompletableFuture<>());
        }
    }

    /**
     * Detaches a port and closes it, or removes it for good (a pod's TAP on CNI DEL).
     *
     * @param id     the port's id.
     * @param remove delete the device (true) or keep a persistent one (false).
     * @param done   whether a port was attached.
     */
    record Detach(int id, boolean remove, CompletableFuture<Boolean> done) implements WorkerCommand<Boolean>
    {
        Detach(final int id, final boolean remove)
        {
            this(id, remove, new CompletableFuture<>());
        }
    }

    /**
     * Copies the numbers behind {@code show stats}, {@code show runtime} and {@code show ports}.
     *
     * @param done the snapshot.
     */
    record Stats(CompletableFuture<WorkerStats> done) implements WorkerCommand<WorkerStats>
    {
        Stats()
        {
            this(new CompletableFuture<>());
        }
    }

    /**
     * Copies the trace records behind {@code show trace}.
     *
     * @param done the records.
     */
    record Trace(CompletableFuture<WorkerStats.TraceRecords> done) implements WorkerCommand<WorkerStats.TraceRecords>
    {
        Trace()
        {
            this(new CompletableFuture<>());
        }
    }

    /**
     * Clears the trace buffer and samples the next packets (VPP {@code trace add}).
     *
     * @param packets how many.
     * @param filter  which entering packets count (a compiled tcpdump expression), or null for every one.
     * @param done    completed once sampling is on.
     */
    record TraceAdd(int packets, TraceBuffer.Filter filter, CompletableFuture<Void> done)
        implements WorkerCommand<Void>
    {
        TraceAdd(final int packets, final TraceBuffer.Filter filter)
        {
            this(packets, filter, new CompletableFuture<>());
        }
    }

    /** What a {@link Conntrack} command does to the entries its filter selects. */
    enum ConntrackAction
    {
        /** Copies them ({@code conntrack -L}). */
        LIST,
        /** Counts them ({@code conntrack -C} with filters). */
        COUNT,
        /** Removes them, each as an expiry would: the NAT's removal listener runs ({@code conntrack -D/-F}). */
        DELETE,
        /**
         * Counts the DNATed ones per backend (reply source address, port and protocol): active (TCP ESTABLISHED)
         * and inactive (any other state, every UDP flow), as {@code ipvsadm -Ln --stats} shows them.
         */
        BACKENDS
    }

    /**
     * One bounded step of a conntrack walk for {@code show conntrack} (list, count, delete): the worker examines
     * the entry indexes {@code [from, from + budget)} and acts on the live ones the filter selects. Control
     * chains commands until {@code next} is -1, so no command holds the forwarding thread for long.
     *
     * @param action what to do with each selected entry.
     * @param filter which entries.
     * @param from   the entry index to start at.
     * @param budget entry indexes to examine (for LIST also the most entries copied).
     * @param done   the chunk.
     */
    record Conntrack(ConntrackAction action, ConntrackFilter filter, int from, int budget,
        CompletableFuture<ConntrackChunk> done) implements WorkerCommand<ConntrackChunk>
    {
        Conntrack(final ConntrackAction action, final ConntrackFilter filter, final int from, final int budget)
        {
            this(action, filter, from, budget, new CompletableFuture<>());
        }
    }

    /**
     * One step's result.
     *
     * @param entries  the selected entries (LIST), else empty.
     * @param matched  entries selected in this step.
     * @param next     the index to continue at, or -1 when the table was walked to its end (or there is none).
     * @param size     live entries after this step.
     * @param capacity the table's capacity (0 before the first tables).
     * @param backends per backend key ({@code proto << 48 | port << 32 | address}): {active, inactive} (BACKENDS).
     */
    record ConntrackChunk(List<ConntrackEntry> entries, int matched, int next, int size, int capacity,
        java.util.Map<Long, long[]> backends)
    {
        ConntrackChunk(final List<ConntrackEntry> entries, final int matched, final int next, final int size,
            final int capacity)
        {
            this(entries, matched, next, size, capacity, java.util.Map.of());
        }
    }

    /**
     * Does nothing: the answer proves that the worker drains its queue ({@code /healthz}).
     *
     * @param done completed by the worker.
     */
    record Ping(CompletableFuture<Void> done) implements WorkerCommand<Void>
    {
        Ping()
        {
            this(new CompletableFuture<>());
        }
    }

    /**
     * Runs a feature's task on the worker thread (the VXLAN socket bound again to a new address), the one
     * command that carries code: features reach the worker only through the executor
     * that {@link NodeFeature#ports} gets.
     *
     * @param task the task.
     * @param done completed once it ran.
     */
    record FeatureTask(Runnable task, CompletableFuture<Void> done) implements WorkerCommand<Void>
    {
        FeatureTask(final Runnable task)
        {
            this(task, new CompletableFuture<>());
        }
    }
}
