package dev.ferry.core.tables;

import dev.ferry.core.Ports;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.IntConsumer;

/**
 * Compiles {@link NodeTables} into a {@link Snapshot} and publishes it through one {@link TablesRef}.
 *
 * <p>Feature modules register a {@link PartCompiler} and get a slot. {@link #publish} compiles every part
 * first and swaps only if all succeed, so an invalid push leaves the last good snapshot in place. Generations
 * must grow.
 *
 * <p>All stages of one graph must see the same snapshot for a whole graph run: ip4-lookup leaves an
 * adjacency index in the packet's metadata that ip4-rewrite reads against its own FIB. Replay and tests
 * publish between runs on the graph's thread, so {@link #ref()} is enough. When another thread publishes
 * (a node's API agent), the stages read a worker-owned reference that the worker moves to
 * {@link #current()} only between runs (see the node module's {@code Worker}).
 */
public final class TablesPublisher
{
    /** Compiles one module's part of a snapshot. */
    @FunctionalInterface
    public interface PartCompiler
    {
        /**
         * @param tables   the new tables.
         * @param fib      the FIB compiled from them.
         * @param previous the module's part of the current snapshot, or null.
         * @return the module's new part.
         * @throws InvalidTablesException when the tables are invalid for this module.
         */
        Object compile(NodeTables tables, Fib fib, Object previous);
    }

    private final Ports ports;
    private final boolean conventionalMacs;
    private volatile IntConsumer neighbourMiss;
    private final List<PartCompiler> compilers = new ArrayList<>();
    private final List<Consumer<Snapshot>> listeners = new ArrayList<>();
    private final TablesRef<Snapshot> ref = new TablesRef<>(null);

    /**
     * @param ports            the node's ports.
     * @param conventionalMacs resolve unknown underlay neighbours by the {@code 0a:58} convention (replay).
     */
    public TablesPublisher(final Ports ports, final boolean conventionalMacs)
    {
        this.ports = ports;
        this.conventionalMacs = conventionalMacs;
    }

    /**
     * Registers a module compiler, before the first publish.
     *
     * @param compiler the compiler.
     * @return the module's slot in {@link Snapshot#parts()}.
     */
    public synchronized int register(final PartCompiler compiler)
    {
        if (ref.lvCurrent() != null)
        {
            throw new IllegalStateException("register part compilers before the first publish");
        }
        compilers.add(compiler);
        return compilers.size() - 1;
    }

    /**
     * Asks every FIB compiled from now on to report unknown underlay neighbours (a node that resolves them
     * itself, with ARP). See {@link Fib#compile(NodeTables, Ports, boolean, IntConsumer)}.
     *
     * @param listener told each unknown neighbour address; lock-free, no allocation.
     */
    public void onNeighbourMiss(final IntConsumer listener)
    {
        this.neighbourMiss = listener;
    }

    /**
     * Adds a callback run after each successful swap (on the publishing thread), e.g. to flush conntrack
     * entries of removed endpoints through the worker's command queue.
     *
     * @param listener the callback.
     */
    public synchronized void onPublish(final Consumer<Snapshot> listener)
    {
        listeners.add(listener);
    }

    /**
     * Compiles and swaps in new tables.
     *
     * @param tables the new tables.
     * @return the published snapshot.
     * @throws InvalidTablesException when any compiler refuses them, or the generation does not grow; the
     *                                current snapshot stays.
     */
    public synchronized Snapshot publish(final NodeTables tables)
    {
        return publish(tables, false);
    }

    /**
     * Compiles and swaps in new tables, as {@link #publish(NodeTables)} does.
     *
     * @param tables   the new tables.
     * @param anyOlder take them even when their generation does not grow (a node's first push after it restored
     *                 the tables of its previous run: a restarted agent counts from 1 again).
     * @return the published snapshot.
     * @throws InvalidTablesException when any compiler refuses them, or (unless anyOlder) the generation does not
     *                                grow; the current snapshot stays.
     */
    public synchronized Snapshot publish(final NodeTables tables, final boolean anyOlder)
    {
        final Snapshot current = ref.lvCurrent();
        if (!anyOlder && current != null && tables.generation() <= current.generation())
        {
            throw new InvalidTablesException("generation " + tables.generation()
                + " is not newer than the current generation " + current.generation());
        }
        final Fib fib = Fib.compile(tables, ports, conventionalMacs, neighbourMiss);
        final List<Object> parts = new ArrayList<>(compilers.size());
        for (int i = 0; i < compilers.size(); i++)
        {
            parts.add(compilers.get(i).compile(tables, fib, current == null ? null : current.parts().get(i)));
        }
        final Snapshot next = new Snapshot(tables, fib, parts);
        ref.soCurrent(next);
        for (final Consumer<Snapshot> l : listeners)
        {
            l.accept(next);
        }
        return next;
    }

    /**
     * Recompiles and swaps in tables of the current generation, after the ports changed (a pod port attached
     * or detached) or the node's own view of its local pods changed. Refuses a different generation, so that
     * it can never pass off new control-plane state without a growing generation.
     *
     * @param tables the tables to compile, carrying the current generation.
     * @return the published snapshot.
     * @throws InvalidTablesException when nothing was published yet, the generation differs, or a compiler
     *                                refuses the tables; the current snapshot stays.
     */
    public synchronized Snapshot republish(final NodeTables tables)
    {
        final Snapshot current = ref.lvCurrent();
        if (current == null || tables.generation() != current.generation())
        {
            throw new InvalidTablesException("republish needs the current generation "
                + (current == null ? "(none published yet)" : current.generation()) + ", got "
                + tables.generation());
        }
        final Fib fib = Fib.compile(tables, ports, conventionalMacs, neighbourMiss);
        final List<Object> parts = new ArrayList<>(compilers.size());
        for (int i = 0; i < compilers.size(); i++)
        {
            parts.add(compilers.get(i).compile(tables, fib, current.parts().get(i)));
        }
        final Snapshot next = new Snapshot(tables, fib, parts);
        ref.soCurrent(next);
        for (final Consumer<Snapshot> l : listeners)
        {
            l.accept(next);
        }
        return next;
    }

    /** @return the reference that stages read; it holds null until the first publish. */
    public TablesRef<Snapshot> ref()
    {
        return ref;
    }

    /** @return the current snapshot, or null before the first publish. */
    public Snapshot current()
    {
        return ref.lvCurrent();
    }

    /** @return the ports. */
    public Ports ports()
    {
        return ports;
    }
}
