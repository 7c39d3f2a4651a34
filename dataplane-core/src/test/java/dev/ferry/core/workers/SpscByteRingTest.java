package dev.ferry.core.workers;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** The byte ring's wrap: a record that must skip the ring's tail end counts the skipped bytes as used. */
class SpscByteRingTest
{
    @Test
    void shouldRefuseAWrappingRecordThatWouldOverwriteUnreadRecords()
    {
        try (Arena arena = Arena.ofConfined())
        {
            final SpscByteRing ring = new SpscByteRing(arena, 1024);
            write(ring, 248, (byte)'A');
            write(ring, 344, (byte)'B');
            write(ring, 344, (byte)'C');
            final List<String> read = new ArrayList<>();
            assertThat(ring.read(reader(read), 1)).isEqualTo(1);
            // 704 bytes unread, 64 left before the end: 296 + 8 bytes would fit in the 320 free bytes, but only
            // after skipping those 64, at index 0, over B
            assertThat(ring.claim(296)).isEqualTo(SpscByteRing.FULL);
            assertThat(ring.read(reader(read), 1)).isEqualTo(1);
            assertThat(write(ring, 296, (byte)'D')).isTrue();
            assertThat(ring.read(reader(read), 10)).isEqualTo(2);
            assertThat(read).containsExactly("A248", "B344", "C344", "D296");
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
