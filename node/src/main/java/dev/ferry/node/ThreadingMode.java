package dev.ferry.node;

/**
 * How the node's agents share threads, as in Aeron's {@code ThreadingMode}.
 */
public enum ThreadingMode
{
    /** One thread runs the worker (port I/O and the graph) and the API agent: the default on 2 cores. */
    SHARED,
    /** The worker and the API agent each get their own thread. */
    DEDICATED
}
