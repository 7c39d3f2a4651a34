package dev.ferry.core.tables;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * The one reference through which the dataplane sees its current compiled tables. The control side
 * publishes a new snapshot with a release store; workers read it with an acquire load once per vector.
 *
 * @param <T> the snapshot type.
 */
public final class TablesRef<T>
{
    private static final VarHandle CURRENT;

    static
    {
        try
        {
            CURRENT = MethodHandles.lookup().findVarHandle(TablesRef.class, "current", Object.class);
        }
        catch (final ReflectiveOperationException e)
        {
            throw new ExceptionInInitializerError(e);
        }
    }

    @SuppressWarnings("unused")
    private Object current;

    /**
     * @param initial the first snapshot.
     */
    public TablesRef(final T initial)
    {
        CURRENT.setRelease(this, initial);
    }

    /**
     * Acquire load: use once per vector.
     *
     * @return the current snapshot.
     */
    @SuppressWarnings("unchecked")
    public T lvCurrent()
    {
        return (T)CURRENT.getAcquire(this);
    }

    /**
     * Release store of a new snapshot.
     *
     * @param next the new snapshot.
     */
    public void soCurrent(final T next)
    {
        CURRENT.setRelease(this, next);
    }
}
