package dev.ferry.core.tables;

import java.util.List;

/**
 * What workers read per vector: the node tables, the compiled FIB, and one compiled part per feature
 * module (Service tables from {@code nat}, VTEP templates from {@code vxlan}), all swapped as one reference.
 *
 * @param tables the source tables.
 * @param fib    the compiled forwarding table.
 * @param parts  compiled module parts, indexed by the slot that {@link TablesPublisher#register} returned.
 */
public record Snapshot(NodeTables tables, Fib fib, List<Object> parts)
{
    /**
     * @param tables source tables.
     * @param fib    FIB.
     * @param parts  module parts (null entries allowed while a module has nothing to compile).
     */
    public Snapshot
    {
        parts = java.util.Collections.unmodifiableList(new java.util.ArrayList<>(parts));
    }

    /**
     * @param slot the module's slot.
     * @param <T>  the part's type.
     * @return the module's compiled part.
     */
    @SuppressWarnings("unchecked")
    public <T> T part(final int slot)
    {
        return (T)parts.get(slot);
    }

    /** @return the generation of the source tables. */
    public long generation()
    {
        return tables.generation();
    }
}
