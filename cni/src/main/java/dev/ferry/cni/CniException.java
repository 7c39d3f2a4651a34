package dev.ferry.cni;

/**
 * A failure that the plugin reports as a CNI error: the code and sentence of a {@link CniError} plus a detail
 * that names what was wrong (the field, the variable, the command that failed).
 */
public class CniException extends RuntimeException
{
    private static final long serialVersionUID = 1L;

    private final CniError error;

    /**
     * @param error  the error code.
     * @param detail what went wrong, for {@code details}.
     */
    public CniException(final CniError error, final String detail)
    {
        super(detail);
        this.error = error;
    }

    /**
     * @param error  the error code.
     * @param detail what went wrong, for {@code details}.
     * @param cause  the underlying failure.
     */
    public CniException(final CniError error, final String detail, final Throwable cause)
    {
        super(detail, cause);
        this.error = error;
    }

    /**
     * @return the error code.
     */
    public CniError error()
    {
        return error;
    }
}
