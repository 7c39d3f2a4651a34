package dev.ferry.conntrack;

/**
 * A snapshot of a table's counters, like {@code conntrack -S}.
 *
 * @param found        lookups that found an entry.
 * @param inserted     entries inserted.
 * @param deleted      entries removed, for any reason (remove, expiry, flush, early drop).
 * @param earlyDrop    non-assured entries removed to make room for a new flow.
 * @param drop         new flows refused because the table was full and nothing could be dropped early.
 * @param searchMiss   lookups that found nothing.
 * @param invalid      packets that {@link ConntrackTable#update} found invalid for their entry's state.
 * @param insertFailed inserts refused because one of the two tuples was already in use.
 */
public record ConntrackStats(
    long found,
    long inserted,
    long deleted,
    long earlyDrop,
    long drop,
    long searchMiss,
    long invalid,
    long insertFailed)
{
    /** @return the counters as {@code conntrack -S} prints them, on one line. */
    @Override
    public String toString()
    {
        return "found=" + found + " invalid=" + invalid + " insert=" + inserted + " insert_failed=" + insertFailed
            + " drop=" + drop + " early_drop=" + earlyDrop + " delete=" + deleted + " search_miss=" + searchMiss;
    }
}
