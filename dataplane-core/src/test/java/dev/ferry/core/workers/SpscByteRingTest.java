package dev.ferry.core.workers;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The byte ring against a model queue, and its wrap: a record that must skip the ring's tail end counts the
 * skipped bytes as used.
 */
class SpscByteRingTest
{
    /**
     * The producer writes its cursors on every record, the consumer its cursor on every drain, and both read the
     * constants on every record: each group must sit on lines of its own (128 bytes: adjacent-line prefetch), away
     * from each other and from whatever the heap puts before or after the ring (the other worker's state). The
     * field offsets are the JVM's actual layout, read as JOL would.
     */
    @Test
    void shouldKeepEachThreadsCursorsOnLinesOfTheirOwn() throws ReflectiveOperationException
    {
        // sun.misc.Unsafe by reflection: named in the source, javac warns that it is proprietary (and -Werror fails)
        final Class<?> unsafeClass = Class.forName("sun.misc.Unsafe");
        final java.lang.reflect.Field theUnsafe = unsafeClass.getDeclaredField("theUnsafe");
        theUnsafe.setAccessible(true);
        final Object unsafe = theUnsafe.get(null);
        final java.lang.reflect.Method offsetOf = unsafeClass.getMethod("objectFieldOffset",
            java.lang.reflect.Field.class);
        final java.util.Map<String, List<Long>> groups = new java.util.TreeMap<>();
        final java.util.TreeMap<Long, String> layout = new java.util.TreeMap<>();
        long end = 0;
        for (Class<?> c = SpscByteRing.class; c != Object.class; c = c.getSuperclass())
        {
            for (final java.lang.reflect.Field f : c.getDeclaredFields())
            {
                if (java.lang.reflect.Modifier.isStatic(f.getModifiers()))
                {
                    continue;
                }
                final long at = (long)offsetOf.invoke(unsafe, f);
                layout.put(at, c.getSimpleName() + "." + f.getName());
                end = Math.max(end, at + 8);
                if (!c.getSimpleName().contains("Pad"))
                {
                    groups.computeIfAbsent(c.getSimpleName(), k -> new ArrayList<>()).add(at);
                }
            }
        }
        assertThat(groups).containsOnlyKeys("SpscByteRingConstants", "SpscByteRingProducer", "SpscByteRingConsumer");
        // a group ends where the next field in the layout starts (a reference may take 4 bytes or 8)
        final List<long[]> spans = new ArrayList<>();
        for (final List<Long> offsets : groups.values())
        {
            final long last = java.util.Collections.max(offsets);
            final Long next = layout.higherKey(last);
            spans.add(new long[] {java.util.Collections.min(offsets), next == null ? last + 8 : next});
        }
        for (final long[] a : spans)
        {
            assertThat(a[0]).as("bytes in front of a group in %s", layout).isGreaterThanOrEqualTo(128);
            assertThat(end - a[1]).as("bytes after a group in %s", layout).isGreaterThanOrEqualTo(128);
            for (final long[] b : spans)
            {
                if (a != b && a[0] < b[0])
                {
                    assertThat(b[0] - a[1]).as("bytes between two groups in %s", layout).isGreaterThanOrEqualTo(128);
                }
            }
        }
    }

    /**
     * Random writes (any length up to the limit) and reads (any batch size) on one thread: the ring returns
     * exactly what a queue would, and refuses a write only when the bytes it needs (with the skipped end) are
     * not free.
     */
    @Property(tries = 200)
    void shouldBehaveLikeABoundedQueue(@ForAll final long seed, @ForAll @IntRange(min = 10, max = 14) final int bits)
    {
        final SplittableRandom r = new SplittableRandom(seed);
        try (Arena arena = Arena.ofConfined())
        {
            final int capacity = 1 << bits;
            final SpscByteRing ring = new SpscByteRing(arena, capacity);
            final ArrayDeque<long[]> model = new ArrayDeque<>();
            long used = 0;
            long written = 0;
            long tail = 0;
            // records committed but not yet published, invisible to the reader; and the head the producer last
            // read (a claim that the cached head says does not fit publishes, then reads the head again)
            int unpublished = 0;
            long headCache = 0;
            for (int step = 0; step < 2000; step++)
            {
                if (r.nextInt(3) != 0)
                {
                    final int length = r.nextInt(4) == 0 ? ring.maxPayload() - r.nextInt(8) : r.nextInt(200);
                    final int record = (SpscByteRing.HEADER + length + 3) & ~3;
                    final int toEnd = capacity - (int)(tail % capacity);
                    final int need = toEnd < record ? toEnd + record : record;
                    final long at = ring.claim(length);
                    if (tail + need - headCache > capacity)
                    {
                        unpublished = 0;
                        headCache = tail - used;
                    }
                    if (used + need > capacity)
                    {
                        assertThat(at).as("claim of %d with %d of %d used", length, used, capacity)
                            .isEqualTo(SpscByteRing.FULL);
                        continue;
                    }
                    assertThat(at).as("claim of %d with %d of %d used", length, used, capacity)
                        .isNotEqualTo(SpscByteRing.FULL);
                    final MemorySegment payload = ring.memory().asSlice(at, length);
                    for (int i = 0; i < length; i++)
                    {
                        payload.set(ValueLayout.JAVA_BYTE, i, (byte)(written + i));
                    }
                    ring.commit(at, length);
                    unpublished++;
                    if (r.nextBoolean())
                    {
                        assertThat(ring.publish()).isTrue();
                        unpublished = 0;
                    }
                    model.addLast(new long[] {written, length, need});
                    used += need;
                    tail += need;
                    written++;
                }
                else
                {
                    final int limit = 1 + r.nextInt(8);
                    final int expected = Math.min(limit, model.size() - unpublished);
                    final long[] freed = new long[1];
                    final int n = ring.read((memory, offset, length) ->
                    {
                        final long[] m = model.pollFirst();
                        assertThat(m).as("a record the model does not have").isNotNull();
                        assertThat(length).isEqualTo((int)m[1]);
                        for (int i = 0; i < length; i++)
                        {
                            if (memory.get(ValueLayout.JAVA_BYTE, offset + i) != (byte)(m[0] + i))
                            {
                                throw new AssertionError("record " + m[0] + " corrupt at byte " + i);
                            }
                        }
                        freed[0] += m[2];
                    }, limit);
                    assertThat(n).isEqualTo(expected);
                    used -= freed[0];
                }
            }
        }
    }

    /**
     * A committed record stays invisible until the producer publishes (once per vector, so that the consumer does
     * not chase the producer line by line); publishing twice writes the shared tail once; and a producer that finds
     * the ring full publishes first, so that it never waits on records the consumer cannot see.
     */
    @Test
    void shouldShowCommittedRecordsOnlyOncePublishedAndPublishWhenFull()
    {
        try (Arena arena = Arena.ofConfined())
        {
            final SpscByteRing ring = new SpscByteRing(arena, 1024);
            final List<String> read = new ArrayList<>();
            assertThat(ring.publish()).as("nothing to publish").isFalse();
            assertThat(write(ring, 100, (byte)'A')).isTrue();
            assertThat(write(ring, 100, (byte)'B')).isTrue();
            assertThat(ring.readable()).isFalse();
            assertThat(ring.read(reader(read), 10)).isZero();
            assertThat(ring.publish()).isTrue();
            assertThat(ring.publish()).as("already published").isFalse();
            assertThat(ring.readable()).isTrue();
            assertThat(ring.read(reader(read), 10)).isEqualTo(2);
            int committed = 0;
            while (write(ring, 100, (byte)('C' + committed)))
            {
                committed++;
            }
            assertThat(committed).as("1024 bytes, 104 per record, 208 already passed").isEqualTo(9);
            assertThat(ring.read(reader(read), 100)).as("the full claim published all nine").isEqualTo(9);
            assertThat(read).hasSize(11).startsWith("A100", "B100", "C100").endsWith("K100");
        }
    }

    @Test
    void shouldRefuseAWrappingRecordThatWouldOverwriteUnreadRecords()
    {
        try (Arena arena = Arena.ofConfined())
        {
            final SpscByteRing ring = new SpscByteRing(arena, 1024);
            write(ring, 252, (byte)'A');
            write(ring, 348, (byte)'B');
            write(ring, 348, (byte)'C');
            ring.publish();
            final List<String> read = new ArrayList<>();
            assertThat(ring.read(reader(read), 1)).isEqualTo(1);
            // 704 bytes unread, 64 left before the end: 296 + 4 bytes would fit in the 320 free bytes, but only
            // after skipping those 64, at index 0, over B
            assertThat(ring.claim(296)).isEqualTo(SpscByteRing.FULL);
            assertThat(ring.read(reader(read), 1)).isEqualTo(1);
            assertThat(write(ring, 296, (byte)'D')).isTrue();
            ring.publish();
            assertThat(ring.read(reader(read), 10)).isEqualTo(2);
            assertThat(read).containsExactly("A252", "B348", "C348", "D296");
        }
    }

    private static boolean write(final SpscByteRing ring, final int length, final byte fill)
    {
        final long at = ring.claim(length);
        if (at == SpscByteRing.FULL)
        {
            return false;
        }
        ring.memory().asSlice(at, length).fill(fill);
        ring.commit(at, length);
        return true;
    }

    private static SpscByteRing.Reader reader(final List<String> out)
    {
        return (memory, offset, length) ->
        {
            final byte first = memory.get(ValueLayout.JAVA_BYTE, offset);
            final MemorySegment s = memory.asSlice(offset, length);
            for (long i = 0; i < length; i++)
            {
                assertThat(s.get(ValueLayout.JAVA_BYTE, i)).as("record %c intact", (char)first).isEqualTo(first);
            }
            out.add((char)first + Integer.toString(length));
        };
    }
}
