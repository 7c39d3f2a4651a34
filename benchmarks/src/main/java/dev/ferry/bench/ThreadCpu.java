package dev.ferry.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * The CPU the calling thread runs on ({@code sched_getcpu(3)} through FFM), and a per-iteration record of it.
 *
 * <p>Why: on the 2-vCPU VM the forks of one jar ran the whole graph at two speeds (195-201 against 370 ns), and
 * every stage of a slow fork was slower by the same factor. Pinned runs showed that the speed follows the vCPU
 * the benchmark thread runs on, not what the JIT compiled (benchmarks/README.md, session 8). The benchmarks print
 * the CPU of each measurement iteration, so that a fork's figure can be read against where it ran.
 *
 * <p>A downcall with no arguments allocates nothing; it is made once per iteration, outside the measured code.
 */
@SuppressWarnings("restricted")
final class ThreadCpu
{
    /** Returned when the CPU cannot be read (not Linux, or native access denied). */
    static final int UNKNOWN = -1;

    private static final MethodHandle SCHED_GETCPU;
    private static final MethodHandle SCHED_SETAFFINITY;
    /** Bytes of the kernel's CPU mask that {@link #pin} passes (1024 CPUs, glibc's {@code cpu_set_t}). */
    private static final int MASK_BYTES = 128;

    static
    {
        MethodHandle h;
        MethodHandle set;
        try
        {
            final Linker linker = Linker.nativeLinker();
            h = linker.downcallHandle(linker.defaultLookup().findOrThrow("sched_getcpu"),
                FunctionDescriptor.of(ValueLayout.JAVA_INT));
            set = linker.downcallHandle(linker.defaultLookup().findOrThrow("sched_setaffinity"),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG,
                    ValueLayout.ADDRESS));
        }
        catch (final RuntimeException | LinkageError e)
        {
            h = null;
            set = null;
        }
        SCHED_GETCPU = h;
        SCHED_SETAFFINITY = set;
    }

    private final int[] cpus;
    private int count;

    /**
     * @param iterations how many iterations to record; later ones are not kept.
     */
    ThreadCpu(final int iterations)
    {
        this.cpus = new int[iterations];
    }

    /** @return the calling thread's CPU now, or {@link #UNKNOWN}. */
    static int current()
    {
        if (SCHED_GETCPU == null)
        {
            return UNKNOWN;
        }
        try
        {
            return (int)SCHED_GETCPU.invokeExact();
        }
        catch (final Throwable t)
        {
            return UNKNOWN;
        }
    }

    /**
     * Pins the calling thread to one CPU ({@code sched_setaffinity(0, ...)}: pid 0 is the calling thread). Control
     * side; allocates.
     *
     * @param cpu the CPU.
     * @return whether the kernel accepted it.
     */
    static boolean pin(final int cpu)
    {
        if (SCHED_SETAFFINITY == null || cpu < 0 || cpu >= MASK_BYTES * 8)
        {
            return false;
        }
        try (Arena arena = Arena.ofConfined())
        {
            final MemorySegment mask = arena.allocate(MASK_BYTES, 8);
            mask.set(ValueLayout.JAVA_BYTE, cpu >>> 3, (byte)(1 << (cpu & 7)));
            return (int)SCHED_SETAFFINITY.invokeExact(0, (long)MASK_BYTES, mask) == 0;
        }
        catch (final Throwable t)
        {
            return false;
        }
    }

    /** Records the calling thread's CPU as the next iteration's. */
    void record()
    {
        if (count < cpus.length)
        {
            cpus[count++] = current();
        }
    }

    /** @return the recorded CPUs in order, e.g. {@code "1 1 1 0 0"} ({@code ?} where unknown); allocates. */
    String report()
    {
        final StringBuilder b = new StringBuilder();
        for (int i = 0; i < count; i++)
        {
            if (i > 0)
            {
                b.append(' ');
            }
            b.append(cpus[i] == UNKNOWN ? "?" : Integer.toString(cpus[i]));
        }
        return b.toString();
    }
}
