package dev.ferry.tapio;

import java.io.IOException;

/**
 * A Linux system call failed: the message names the call, its subject and the error as {@code strerror} words,
 * e.g. {@code ioctl(TUNSETIFF, ferry0): Device or resource busy (errno 16)}.
 */
public class NativeException extends IOException
{
    private static final long serialVersionUID = 1L;

    private final int errno;

    /**
     * @param call  the call and what it acted on.
     * @param errno the error number.
     */
    public NativeException(final String call, final int errno)
    {
        super(call + ": " + LinuxNative.strerror(errno) + " (errno " + errno + ")");
        this.errno = errno;
    }

    /**
     * @param call  the call and what it acted on.
     * @param errno the error number.
     * @param hint  what it means here and how to fix it, appended to the message (starts with "; ").
     */
    public NativeException(final String call, final int errno, final String hint)
    {
        super(call + ": " + LinuxNative.strerror(errno) + " (errno " + errno + ")" + hint);
        this.errno = errno;
    }

    /** @return the error number ({@code errno}). */
    public int errno()
    {
        return errno;
    }
}
