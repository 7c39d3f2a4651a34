package dev.ferry.tapio;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

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

    /** {@code struct sched_attr}, SCHED_ATTR_SIZE_VER1: size, policy, flags, nice, priority, runtime, ... */
    private static final int SCHED_ATTR_SIZE = 56;
    private static final long OFF_POLICY = 4;
    private static final long OFF_RUNTIME = 24;

    /**
     * Requests a scheduler slice for the calling thread ({@code sched_setattr} with {@code SCHED_OTHER} and
     * {@code sched_runtime}; Linux 6.12+, EEVDF). A thread with a shorter slice than the default (about 3 ms) gets an
     * earlier virtual deadline, so when it wakes it preempts a thread that is using a longer slice instead of
     * waiting for that slice to end: what a forwarding thread woken by a packet needs on a busy core. The kernel
     * clamps the request to 0.1-100 ms; the thread keeps its nice value. No capability is needed.
     *
     * @param nanos the slice; 0 returns to the default.
     * @throws NativeException when the kernel refuses, or ignores the request (before Linux 6.12).
     */
    public static void slice(final long nanos) throws NativeException
    {
        try (Arena arena = Arena.ofConfined())
        {
            final MemorySegment state = LinuxNative.newCallState(arena);
            final int tid = LinuxNative.gettid(state);
            final MemorySegment attr = currentAttr(arena, state, tid);
            if (attr.get(ValueLayout.JAVA_INT, OFF_POLICY) != 0)
            {
                throw new NativeException("sched_setattr: the thread is not SCHED_OTHER", LinuxNative.EINVAL);
            }
            attr.set(ValueLayout.JAVA_INT, 0, SCHED_ATTR_SIZE);
            attr.set(ValueLayout.JAVA_LONG, 8, 0L);
            attr.set(ValueLayout.JAVA_LONG, OFF_RUNTIME, nanos);
            LinuxNative.check((int)LinuxNative.syscall(state, LinuxNative.SYS_SCHED_SETATTR, tid, attr, 0, 0), state,
                "sched_setattr(slice " + nanos + " ns)");
        }
        // kernels before 6.12 accept the call and ignore sched_runtime for SCHED_OTHER: say so instead
        if (nanos > 0 && slice() == 0)
        {
            throw new NativeException("sched_setattr: slice request ignored by this kernel (Linux 6.12+ takes it)",
                LinuxNative.EINVAL);
        }
    }

    /**
     * @return the calling thread's slice in nanoseconds, as {@code sched_getattr} reports it (the default slice
     *     when none was requested).
     * @throws NativeException when the kernel refuses.
     */
    public static long slice() throws NativeException
    {
        try (Arena arena = Arena.ofConfined())
        {
            final MemorySegment state = LinuxNative.newCallState(arena);
            return currentAttr(arena, state, LinuxNative.gettid(state)).get(ValueLayout.JAVA_LONG, OFF_RUNTIME);
        }
    }

    private static MemorySegment currentAttr(final Arena arena, final MemorySegment state, final int tid)
        throws NativeException
    {
        final MemorySegment attr = arena.allocate(SCHED_ATTR_SIZE, 8);
        LinuxNative.check((int)LinuxNative.syscall(state, LinuxNative.SYS_SCHED_GETATTR, tid, attr, SCHED_ATTR_SIZE,
            0), state, "sched_getattr");
        return attr;
    }
}
