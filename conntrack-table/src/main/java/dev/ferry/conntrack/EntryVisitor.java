package dev.ferry.conntrack;

/**
 * Visits the live entries of a {@link ConntrackTable} (control side: dumps, flushes, metrics). The visitor may
 * remove the entry it is visiting, and no other.
 */
@FunctionalInterface
public interface EntryVisitor
{
    /**
     * One live entry.
     *
     * @param table the table.
     * @param entry the entry index.
     */
    void visit(ConntrackTable table, int entry);
}
