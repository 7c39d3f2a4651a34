package dev.ferry.vxlan;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * The one socket option netty does not expose: {@code SO_RCVBUFFORCE} / {@code SO_SNDBUFFORCE}, which let a
 * process with {@code CAP_NET_ADMIN} exceed {@code net.core.rmem_max}/{@code wmem_max}. Called once at setup
 * through the FFM linker, never on the data path.
 */
final class SocketOptions
{
    private static final int SOL_SOCKET = 1;
    private static final int SO_SNDBUFFORCE = 32;
    private static final int SO_RCVBUFFORCE = 33;
    private static final MethodHandle SETSOCKOPT;

    static
    {
        SETSOCKOPT = lookup();
    }

    @SuppressWarnings("restricted")
    private static MethodHandle lookup()
    {
        try
        {
            final Linker linker = Linker.nativeLinker();
            return linker.downcallHandle(linker.defaultLookup().find("setsockopt").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,
                    ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
        }
        catch (final RuntimeException e)
        {
            return null;
        }
    }

    private SocketOptions()
    {
    }

    /**
     * Forces both socket buffers to {@code bytes} (the kernel doubles the value for bookkeeping).
     *
     * @param fd    socket descriptor.
     * @param bytes requested size.
     * @return true when both calls succeeded (root / CAP_NET_ADMIN), false otherwise.
     */
    static boolean forceBuffers(final int fd, final int bytes)
    {
        return set(fd, SO_RCVBUFFORCE, bytes) && set(fd, SO_SNDBUFFORCE, bytes);
    }

    private static boolean set(final int fd, final int option, final int value)
    {
        if (SETSOCKOPT == null)
        {
            return false;
        }
        try (Arena arena = Arena.ofConfined())
        {
            final MemorySegment v = arena.allocate(ValueLayout.JAVA_INT);
            v.set(ValueLayout.JAVA_INT, 0, value);
            return (int)SETSOCKOPT.invokeExact(fd, SOL_SOCKET, option, v, 4) == 0;
        }
        catch (final Throwable t)
        {
            return false;
        }
    }
}
