package dev.ferry.tapio;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;

/**
 * Moves the calling thread into a network namespace ({@code setns}) and back on {@link #close()}. Sockets and
 * TUN attachments made in between belong to that namespace and keep working after the thread returns: this is
 * how a restarted dataplane attaches again to a persistent TAP that lives in a pod's namespace.
 *
 * <p>Only the calling (platform) thread moves; use it on the control path, never from a virtual thread.
 */
final class NetnsSwitch implements AutoCloseable
{
    private final Arena arena = Arena.ofConfined();
    private final MemorySegment state = LinuxNative.newCallState(arena);
    private final int previous;

    private NetnsSwitch(final Path namespace) throws NativeException
    {
        final int flags = LinuxNative.O_RDONLY | LinuxNative.O_CLOEXEC;
        final int prev = LinuxNative.open(state, arena.allocateFrom("/proc/thread-self/ns/net"), flags, 0);
        if (prev < 0)
        {
            final int e = LinuxNative.errno(state);
            arena.close();
            throw new NativeException("open(/proc/thread-self/ns/net)", e);
        }
        final int target = LinuxNative.open(state, arena.allocateFrom(namespace.toString()), flags, 0);
        if (target < 0 || LinuxNative.setns(state, target, LinuxNative.CLONE_NEWNET) < 0)
        {
            final int e = LinuxNative.errno(state);
            if (target >= 0)
            {
                LinuxNative.close(state, target);
            }
            LinuxNative.close(state, prev);
            arena.close();
            throw new NativeException((target < 0 ? "open(" : "setns(") + namespace + ")", e);
        }
        LinuxNative.close(state, target);
        this.previous = prev;
    }

    /**
     * @param namespace a network namespace file, e.g. {@code /run/netns/pod1}.
     * @return the switch; close it to return to the thread's previous namespace.
     * @throws NativeException when the namespace cannot be entered.
     */
    static NetnsSwitch enter(final Path namespace) throws NativeException
    {
        return new NetnsSwitch(namespace);
    }

    @Override
    public void close()
    {
        final int rc = LinuxNative.setns(state, previous, LinuxNative.CLONE_NEWNET);
        final int e = LinuxNative.errno(state);
        LinuxNative.close(state, previous);
        arena.close();
        if (rc < 0)
        {
            // a thread stranded in a pod's namespace would misroute everything it opens later
            throw new IllegalStateException("cannot return to the previous network namespace: errno " + e);
        }
    }
}
