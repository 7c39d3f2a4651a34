package dev.ferry.tapio;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The calling thread's scheduling priority ({@code setpriority(PRIO_PROCESS, gettid(), nice)}: on Linux a tid
 * names one thread, so the rest of the JVM keeps its priority). A lower nice value lets a thread woken from
 * epoll take a core sooner from busier threads of ordinary priority; below 0 needs {@code CAP_SYS_NICE}.
 */
public final class ThreadPriority
{
    private ThreadPriority()
    {
    }

    /**
     * Sets the calling thread's nice value.
     *
     * @param nice -20 (most favoured) to 19.
     * @throws NativeException when the kernel refuses (EACCES/EPERM without {@code CAP_SYS_NICE}).
     */
    public static void nice(final int nice) throws NativeException
    {
        try (Arena arena = Arena.ofConfined())
        {
            final MemorySegment state = LinuxNative.newCallState(arena);
            final int tid = LinuxNative.gettid(state);
            LinuxNative.check(LinuxNative.setpriority(state, LinuxNative.PRIO_PROCESS, tid, nice), state,
                "setpriority(" + nice + ")");
        }
    }
}
