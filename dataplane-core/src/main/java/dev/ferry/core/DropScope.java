package dev.ferry.core;

import java.util.List;

/**
 * The drop reasons counted under one counter prefix: a stage's ({@code stage/NAME/drop/}) or the graph's own
 * ({@code graph/drop/}). Lets a module hand its reasons to the catalogue without making its stages public.
 *
 * @param counterPrefix what goes in front of {@link DropReason#counterName()} to name the counter.
 * @param reasons       the reasons, in index order.
 */
public record DropScope(String counterPrefix, List<? extends DropReason> reasons)
{
    /** Prefix of the graph's own drop counters. */
    public static final String GRAPH = "graph/drop/";

    /**
     * @param stageName the stage's name.
     * @param reasons   its reasons ({@code Drop.values()}).
     * @return the scope of a stage's drops, prefix {@code stage/NAME/drop/}.
     */
    public static DropScope stage(final String stageName, final DropReason... reasons)
    {
        return new DropScope("stage/" + stageName + "/drop/", List.of(reasons));
    }

    /**
     * @param reason one of this scope's reasons.
     * @return the full counter name, e.g. {@code stage/ip4-input/drop/bad-checksum}.
     */
    public String counter(final DropReason reason)
    {
        return counterPrefix + reason.counterName();
    }
}
