package dev.ferry.core;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Named 64-bit counters in off-heap memory (Agrona {@code CountersManager}, Snabb {@code .counter} files).
 *
 * <p>Counters are registered by name when the graph is built, e.g. {@code stage/ip4-input/drop/bad-checksum}.
 * The forwarding thread is the single writer and uses plain increments; readers on other threads use
 * {@link #getAcquire(int)}. With {@link #mapped(Path, int)} the values live in a file that another process
 * can map.
 *
 * <p>The name registry ({@link #register}, {@link #get(String)}, {@link #names()}, {@link #snapshot()}) is
 * guarded by this object's monitor: a worker registers the counters of a port it attaches while a metrics
 * scrape or a control thread looks names up. Registration is rare and never on the hot path; the values
 * themselves are never locked.
 */
public final class Counters implements AutoCloseable
{
    private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG;

    private final Arena arena;
    private final MemorySegment values;
    private final int maxCounters;
    private final List<String> names = new ArrayList<>();
    private final Map<String, Integer> byName = new LinkedHashMap<>();

    private Counters(final Arena arena, final MemorySegment values, final int maxCounters)
    {
        this.arena = arena;
        this.values = values;
        this.maxCounters = maxCounters;
    }

    /**
     * Creates counters in anonymous off-heap memory.
     *
     * @param maxCounters how many counters may be registered.
     * @return the counters.
     */
    public static Counters inMemory(final int maxCounters)
    {
        final Arena arena = Arena.ofShared();
        return new Counters(arena, arena.allocate((long)maxCounters * Long.BYTES, 64), maxCounters);
    }

    /**
     * Creates counters whose values live in a memory-mapped file, readable by other processes.
     *
     * @param file        the file; created or truncated.
     * @param maxCounters how many counters may be registered.
     * @return the counters.
     * @throws IOException when the file cannot be mapped.
     */
    public static Counters mapped(final Path file, final int maxCounters) throws IOException
    {
        final Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ,
            StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING))
        {
            final MemorySegment seg = ch.map(FileChannel.MapMode.READ_WRITE, 0, (long)maxCounters * Long.BYTES, arena);
            return new Counters(arena, seg, maxCounters);
        }
    }

    /**
     * Registers a counter, or returns the id of the one already registered under that name.
     *
     * @param name counter name, slash separated.
     * @return the counter id.
     */
    public synchronized int register(final String name)
    {
        final Integer existing = byName.get(name);
        if (existing != null)
        {
            return existing;
        }
        if (names.size() == maxCounters)
        {
            throw new IllegalStateException("counter space full (" + maxCounters + "), cannot add " + name);
        }
        final int id = names.size();
        names.add(name);
        byName.put(name, id);
        values.set(LONG, (long)id * Long.BYTES, 0L);
        return id;
    }

    /**
     * Adds one (single writer).
     *
     * @param id counter id.
     */
    public void increment(final int id)
    {
        final long off = (long)id * Long.BYTES;
        values.set(LONG, off, values.get(LONG, off) + 1);
    }

    /**
     * Adds a delta (single writer).
     *
     * @param id    counter id.
     * @param delta amount to add.
     */
    public void add(final int id, final long delta)
    {
        final long off = (long)id * Long.BYTES;
        values.set(LONG, off, values.get(LONG, off) + delta);
    }

    /**
     * Sets a value (single writer), for gauges such as table sizes.
     *
     * @param id    counter id.
     * @param value new value.
     */
    public void set(final int id, final long value)
    {
        values.set(LONG, (long)id * Long.BYTES, value);
    }

    /**
     * Reads a counter from the writer thread.
     *
     * @param id counter id.
     * @return its value.
     */
    public long get(final int id)
    {
        return values.get(LONG, (long)id * Long.BYTES);
    }

    /**
     * Reads a counter from another thread.
     *
     * @param id counter id.
     * @return its value.
     */
    public long getAcquire(final int id)
    {
        return (long)LONG.varHandle().getAcquire(values, (long)id * Long.BYTES);
    }

    /**
     * @param name counter name.
     * @return its value, or 0 when no such counter is registered.
     */
    public synchronized long get(final String name)
    {
        final Integer id = byName.get(name);
        return id == null ? 0 : getAcquire(id);
    }

    /** @return a copy of the registered names, in id order (a name's index is its id). */
    public synchronized List<String> names()
    {
        return List.copyOf(names);
    }

    /** @return a copy of every counter, by name, in registration order. */
    public synchronized Map<String, Long> snapshot()
    {
        final Map<String, Long> out = new LinkedHashMap<>();
        for (int i = 0; i < names.size(); i++)
        {
            out.put(names.get(i), getAcquire(i));
        }
        return out;
    }

    @Override
    public void close()
    {
        arena.close();
    }
}
