package dev.ferry.conntrack;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The table's memory in huge pages, through FFM: a hit's random accesses then miss the TLB far less (256 MiB of
 * table at 1M flows is 65,536 pages of 4 KiB but 128 of 2 MiB, which the second-level TLB holds).
 *
 * <ul>
 *   <li>{@link ConntrackConfig.HugePages#HUGETLB}: {@code mmap(MAP_HUGETLB)} from the reserved pool
 *       ({@code vm.nr_hugepages}); it fails at once when the pool is too small (no {@code MAP_NORESERVE}, so a fault
 *       can never find the pool empty later), and the transparent kind is tried next.</li>
 *   <li>{@link ConntrackConfig.HugePages#TRANSPARENT}: an anonymous mapping aligned to 2 MiB (one extra huge page
 *       mapped, the unaligned ends unmapped), {@code madvise(MADV_HUGEPAGE)}, then
 *       {@code madvise(MADV_POPULATE_WRITE)} so that the pages are faulted in now and not on the hot path (Linux
 *       5.14+; older kernels fault on first touch). Works when the kernel's THP mode is {@code always} or
 *       {@code madvise}.</li>
 *   <li>{@link ConntrackConfig.HugePages#OFF}, or when the calls are not available: {@link Arena#allocate}.</li>
 * </ul>
 *
 * <p>Mapped memory is unmapped when the table's arena closes. Anonymous mappings start zeroed, as
 * {@link Arena#allocate} does.
 */
@SuppressWarnings("restricted")
final class TableMemory
{
    /** Size of a huge page on x86-64 and arm64 with 4 KiB base pages. */
    static final long HUGE_PAGE = 2L << 20;

    private static final int PROT_READ = 1;
    private static final int PROT_WRITE = 2;
    private static final int MAP_PRIVATE = 2;
    private static final int MAP_ANONYMOUS = 0x20;
    private static final int MAP_HUGETLB = 0x40000;
    private static final int MADV_HUGEPAGE = 14;
    private static final int MADV_POPULATE_WRITE = 23;
    private static final long MAP_FAILED = -1L;
    private static final Path THP_ENABLED = Path.of("/sys/kernel/mm/transparent_hugepage/enabled");

    private static final MethodHandle MMAP;
    private static final MethodHandle MUNMAP;
    private static final MethodHandle MADVISE;

    static
    {
        MethodHandle mmap = null;
        MethodHandle munmap = null;
        MethodHandle madvise = null;
        try
        {
            final Linker linker = Linker.nativeLinker();
            final ValueLayout.OfLong l = ValueLayout.JAVA_LONG;
            final ValueLayout.OfInt i = ValueLayout.JAVA_INT;
            mmap = linker.downcallHandle(linker.defaultLookup().findOrThrow("mmap"),
                FunctionDescriptor.of(l, l, l, i, i, i, l));
            munmap = linker.downcallHandle(linker.defaultLookup().findOrThrow("munmap"),
                FunctionDescriptor.of(i, l, l));
            madvise = linker.downcallHandle(linker.defaultLookup().findOrThrow("madvise"),
                FunctionDescriptor.of(i, l, l, i));
        }
        catch (final RuntimeException | LinkageError e)
        {
            // not Linux, or native access denied: every table gets arena memory
            mmap = null;
        }
        MMAP = mmap;
        MUNMAP = munmap;
        MADVISE = madvise;
    }

    /**
     * A block of table memory and what kind it is.
     *
     * @param segment the memory, zeroed.
     * @param kind    {@code hugetlb}, {@code transparent huge pages}, or {@code 4 KiB pages (REASON)}.
     */
    record Block(MemorySegment segment, String kind)
    {
    }

    private TableMemory()
    {
    }

    /**
     * Allocates {@code bytes} of zeroed table memory of the asked kind, or the next kind that works.
     *
     * @param arena the table's arena: closing it frees the memory.
     * @param bytes the size.
     * @param mode  the kind asked for.
     * @return the memory and what it is.
     */
    static Block allocate(final Arena arena, final long bytes, final ConntrackConfig.HugePages mode)
    {
        if (mode == ConntrackConfig.HugePages.OFF)
        {
            return new Block(arena.allocate(bytes, 64), "4 KiB pages (hugePages off)");
        }
        if (MMAP == null)
        {
            return new Block(arena.allocate(bytes, 64), "4 KiB pages (no mmap through FFM here)");
        }
        final long length = (bytes + HUGE_PAGE - 1) & -HUGE_PAGE;
        if (mode == ConntrackConfig.HugePages.HUGETLB)
        {
            final long a = mmap(0, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB);
            if (a != MAP_FAILED)
            {
                // the pool reserved the pages at mmap; fault them in now rather than on the first packets
                madvise(a, length, MADV_POPULATE_WRITE);
                return new Block(wrap(arena, a, length, bytes), "hugetlb");
            }
        }
        final String thp = thpMode();
        if ("never".equals(thp))
        {
            return new Block(arena.allocate(bytes, 64), "4 KiB pages (transparent huge pages are off in the kernel)"
                + (mode == ConntrackConfig.HugePages.HUGETLB ? "; no hugetlb pages reserved" : ""));
        }
        // one huge page more than needed, so that a 2 MiB-aligned start lies inside; the ends are unmapped
        final long raw = mmap(0, length + HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
        if (raw == MAP_FAILED)
        {
            return new Block(arena.allocate(bytes, 64), "4 KiB pages (mmap failed)");
        }
        final long start = (raw + HUGE_PAGE - 1) & -HUGE_PAGE;
        if (start > raw)
        {
            munmap(raw, start - raw);
        }
        final long tail = raw + length + HUGE_PAGE - (start + length);
        if (tail > 0)
        {
            munmap(start + length, tail);
        }
        final MemorySegment seg = wrap(arena, start, length, bytes);
        if (madvise(start, length, MADV_HUGEPAGE) != 0)
        {
            return new Block(seg, "4 KiB pages (madvise(MADV_HUGEPAGE) refused)");
        }
        // fault every page in now (zeroing 2 MiB at a time), not on the first packets; an older kernel refuses
        madvise(start, length, MADV_POPULATE_WRITE);
        return new Block(seg, "transparent huge pages" + (mode == ConntrackConfig.HugePages.HUGETLB
            ? " (no hugetlb pages reserved)" : ""));
    }

    /**
     * @param segments memory from {@link #allocate}.
     * @return bytes of them that the kernel backs with huge pages now ({@code AnonHugePages} of the mappings they lie
     *         in, from one read of {@code /proc/self/smaps}, or the whole mapping for hugetlb), at most their total
     *         size (a mapping is rounded up to whole huge pages), or -1 when unknown. Each mapping counts once, also
     *         when the kernel merged two tables' adjacent mappings into one.
     */
    static long hugeBytes(final MemorySegment... segments)
    {
        long total = 0;
        for (final MemorySegment s : segments)
        {
            total += s.byteSize();
        }
        try
        {
            final List<String> lines = Files.readAllLines(Path.of("/proc/self/smaps"));
            long huge = 0;
            boolean inside = false;
            for (final String line : lines)
            {
                final int dash = line.indexOf('-');
                final int space = line.indexOf(' ');
                if (dash > 0 && space > dash && isHex(line, 0, dash))
                {
                    final long from = Long.parseUnsignedLong(line, 0, dash, 16);
                    final long to = Long.parseUnsignedLong(line, dash + 1, space, 16);
                    inside = overlaps(segments, from, to);
                }
                else if (inside && (line.startsWith("AnonHugePages:") || line.startsWith("Private_Hugetlb:")))
                {
                    huge += Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
                }
            }
            return Math.min(huge, total);
        }
        catch (final IOException | RuntimeException e)
        {
            return -1;
        }
    }

    private static boolean overlaps(final MemorySegment[] segments, final long from, final long to)
    {
        for (final MemorySegment s : segments)
        {
            if (from < s.address() + s.byteSize() && to > s.address())
            {
                return true;
            }
        }
        return false;
    }

    private static boolean isHex(final String s, final int from, final int to)
    {
        for (int i = from; i < to; i++)
        {
            if (Character.digit(s.charAt(i), 16) < 0)
            {
                return false;
            }
        }
        return true;
    }

    /** @return the kernel's THP mode ({@code always}, {@code madvise}, {@code never}), or "" when unknown. */
    static String thpMode()
    {
        try
        {
            final String s = Files.readString(THP_ENABLED);
            final int open = s.indexOf('[');
            final int close = s.indexOf(']', open + 1);
            return open >= 0 && close > open ? s.substring(open + 1, close) : "";
        }
        catch (final IOException | RuntimeException e)
        {
            return "";
        }
    }

    private static MemorySegment wrap(final Arena arena, final long address, final long length, final long bytes)
    {
        return MemorySegment.ofAddress(address).reinterpret(bytes, arena, s -> munmap(address, length));
    }

    private static long mmap(final long addr, final long length, final int prot, final int flags)
    {
        try
        {
            return (long)MMAP.invokeExact(addr, length, prot, flags, -1, 0L);
        }
        catch (final Throwable t)
        {
            return MAP_FAILED;
        }
    }

    private static void munmap(final long addr, final long length)
    {
        try
        {
            final int r = (int)MUNMAP.invokeExact(addr, length);
            assert r == 0 : "munmap failed";
        }
        catch (final Throwable t)
        {
            throw new IllegalStateException("munmap", t);
        }
    }

    private static int madvise(final long addr, final long length, final int advice)
    {
        try
        {
            return (int)MADVISE.invokeExact(addr, length, advice);
        }
        catch (final Throwable t)
        {
            return -1;
        }
    }
}
