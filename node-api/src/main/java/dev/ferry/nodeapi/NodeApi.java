package dev.ferry.nodeapi;

/**
 * The constants both ends of the node API agree on: the node's server ({@code node}) and every client
 * ({@link NodeApiClient}, the agent, {@code ferry show}).
 */
public final class NodeApi
{
    /** Protocol version: every request and answer carries {@code "v":1}. */
    public static final int VERSION = 1;

    /** The longest Linux interface name (IFNAMSIZ less its NUL): TAP, uplink and pod interface names. */
    public static final int IFNAMSIZ_MAX = 15;

    private NodeApi()
    {
    }
}
