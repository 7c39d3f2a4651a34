package dev.ferry.node;

/**
 * How the node's agents share threads, as in Aeron's {@code ThreadingMode}.
 */
public enum ThreadingMode
{
    /**
     * One thread runs the worker (port I/O and the graph) and the API agent: clients are read on the forwarding
     * thread, bounded per duty cycle (SECURITY.md). For a node with one core to spare; not the default.
     */
    SHARED,
    /**
     * The worker and the API agent each get their own thread; the API's blocks in its selector when idle, so it
     * costs no core. The default: no client is ever read or parsed on the forwarding thread.
     */
    DEDICATED
}
