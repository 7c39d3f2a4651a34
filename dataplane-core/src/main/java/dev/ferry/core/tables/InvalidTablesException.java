package dev.ferry.core.tables;

/**
 * A table push or a compile step found the tables invalid; the node keeps its last good tables.
 */
public final class InvalidTablesException extends RuntimeException
{
    private static final long serialVersionUID = 1L;

    /**
     * @param message what is wrong, naming the object and field.
     */
    public InvalidTablesException(final String message)
    {
        super(message);
    }
}
