package dev.ferry.conntrack;

/**
 * Told about every entry that leaves a {@link ConntrackTable} (remove, expiry, flush, early drop), before the
 * entry's record is reused: the accessors still return its tuples, state and mark. The NAT uses it to put a
 * masquerade port into quarantine. Called on the table's thread, on the hot path: it must not allocate and
 * must not modify the table.
 */
@FunctionalInterface
public interface RemovalListener
{
    /**
     * An entry is being removed.
     *
     * @param table the table.
     * @param entry the entry index, still readable during the call.
     */
    void removed(ConntrackTable table, int entry);
}
