package dev.ferry.node;

import dev.ferry.conntrack.ConntrackEntry;
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

    /**
     * Copies up to {@code max} conntrack entries from entry index {@code from} on, as plain values, for
     * {@code show conntrack}: bounded work on the worker, formatted on the control thread.
     *
     * @param from the entry index to start at.
     * @param max  how many entries at most.
     * @param done the entries and the index to continue at (-1 at the end).
     */
    record CopyConntrack(int from, int max, CompletableFuture<ConntrackChunk> done)
        implements WorkerCommand<ConntrackChunk>
    {
        CopyConntrack(final int from, final int max)
        {
            this(from, max, new CompletableFuture<>());
        }
    }

    /**
     * A chunk of conntrack entries copied by the worker.
     *
     * @param entries the entries.
     * @param next    the index to continue at, or -1 when the table was walked to its end (or there is none).
     */
    record ConntrackChunk(List<ConntrackEntry> entries, int next)
    {
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
