package dev.ferry.node;

import dev.ferry.core.DropReason;
import dev.ferry.core.PacketVector;
import dev.ferry.core.Stage;
import dev.ferry.core.StageInfo;

import java.util.List;

/**
 * A place in the graph for a stage that can only be built once the first tables are known (the Services' NAT
 * stages, whose conntrack table is sized by the cluster's settings). It takes its name, next edges and drop
 * reasons from the stage's {@link StageInfo}, so that the graph registers the right counters at build; once
 * {@link #target(Stage)} is set, every vector goes to the real stage, which counts its drops under this name.
 *
 * <p>Until then (no tables were ever published, so nothing reaches it in practice) packets pass unchanged along
 * next edge {@code passNext}.
 *
 * <pre>
 *   in ──► [target set?] ──yes──► target.process(in, out)      (one volatile read per vector)
 *                  └──────no───► every packet → next edge passNext
 * </pre>
 */
final class DeferredStage implements Stage
{
    private final String name;
    private final List<String> nextNames;
    private final List<? extends DropReason> dropReasons;
    private final int passNext;
    // written by the control thread before it publishes the tables the target needs; the worker reads it after
    // it acquired those tables, so the target's own fields are visible too
    private volatile Stage target;

    DeferredStage(final StageInfo info, final int passNext)
    {
        this.name = info.name();
        this.nextNames = info.nextNames();
        this.dropReasons = info.dropReasons();
        this.passNext = passNext;
    }

    /**
     * Hands the work to the real stage (control thread, before publishing the tables it needs).
     *
     * @param stage the real stage: same name, next edges and drop reasons as the template.
     */
    void target(final Stage stage)
    {
        if (!stage.name().equals(name) || !stage.nextNames().equals(nextNames)
            || !List.copyOf(stage.dropReasons()).equals(dropReasons))
        {
            throw new IllegalArgumentException("stage " + stage.name() + " does not match its template " + name);
        }
        target = stage;
    }

    boolean hasTarget()
    {
        return target != null;
    }

    @Override
    public String name()
    {
        return name;
    }

    @Override
    public List<String> nextNames()
    {
        return nextNames;
    }

    @Override
    public List<? extends DropReason> dropReasons()
    {
        return dropReasons;
    }

    @Override
    public void process(final PacketVector in, final Next out)
    {
        final Stage t = target;
        if (t != null)
        {
            t.process(in, out);
            return;
        }
        final int n = in.count();
        for (int i = 0; i < n; i++)
        {
            out.next(in.get(i), passNext);
        }
    }

    @Override
    public String formatTrace(final long a, final long b)
    {
        final Stage t = target;
        return t == null ? "" : t.formatTrace(a, b);
    }
}
