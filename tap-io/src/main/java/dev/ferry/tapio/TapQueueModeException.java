package dev.ferry.tapio;

/**
 * {@code TUNSETIFF} refused a persistent TAP because its queue mode is not the one asked for: the device was made
 * single-queue and the open asked for one queue of a multi-queue device, or the reverse. This happens when a node
 * restarts with another worker count than the one that made its pods' TAPs; the caller may open the device in its
 * own mode instead ({@link #deviceMultiQueue()}).
 */
public final class TapQueueModeException extends NativeException
{
    private static final long serialVersionUID = 1L;

    private final boolean deviceMultiQueue;

    /**
     * @param call             the call and what it acted on.
     * @param errno            the error number.
     * @param hint             what it means and how to fix it (starts with "; ").
     * @param deviceMultiQueue whether the device is multi-queue.
     */
    TapQueueModeException(final String call, final int errno, final String hint, final boolean deviceMultiQueue)
    {
        super(call, errno, hint);
        this.deviceMultiQueue = deviceMultiQueue;
    }

    /** @return whether the existing device is multi-queue ({@code IFF_MULTI_QUEUE}). */
    public boolean deviceMultiQueue()
    {
        return deviceMultiQueue;
    }
}
