package dev.ferry.conntrack;

import dev.ferry.core.Clock;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.zip.CRC32C;

/**
 * The conntrack state file: a 4 KiB header, then the entry records exactly as the table uses them, mapped
 * shared ({@link FileChannel#map} into an {@link Arena}), so every write the worker makes is in the page cache
 * at once and survives the process (SIGKILL, OOM kill) though not a reboot ({@code /run} is a tmpfs; nor need
 * it: the peers' connections do not survive a reboot either).
 *
 * <pre>
 *  offset  size  field
 *   0      8     magic "FERRYCT1"
 *   8      4     format version ({@value #VERSION})
 *  12      4     entry size (128)
 *  16      4     capacity (entries, a power of two)
 *  20      4     slot count (capacity x 4; the slot index is rebuilt on load, not stored)
 *  24      8     hash seed (the keyed hash's secret: the rebuilt index hashes as before)
 *  32      4     flags: bit 0 = clean (written by close, cleared when a process maps the file)
 *  36      4     high water (entries in use below it; meaningful when clean)
 *  40      8     CRC32C of the entries below high water (meaningful when clean)
 *  48      8     clock at the last header write (nanoseconds since the epoch; for the log)
 *  56      4     CRC32C of bytes 0..55
 * </pre>
 *
 * <p>The entries are written continuously by the worker, so no checksum can cover them while a process runs.
 * The header carries its own checksum, always valid. A clean close adds a checksum of the entries and sets the
 * clean flag; a file mapped back after a clean close must match it, or it is set aside whole. After a crash the
 * flag is clear and {@link ConntrackTable#restore} validates every entry structurally instead, dropping (and
 * counting) the ones that fail: an entry torn by a kill in the middle of an insert is at worst dropped.
 */
final class ConntrackFile
{
    static final long MAGIC = 0x4645_5252_5943_5431L; // "FERRYCT1"
    static final int VERSION = 1;
    static final int HEADER_BYTES = 4096;
    static final int ENTRY_BYTES = 128;

    static final int H_MAGIC = 0;
    static final int H_VERSION = 8;
    static final int H_ENTRY_BYTES = 12;
    static final int H_CAPACITY = 16;
    static final int H_SLOTS = 20;
    static final int H_SEED = 24;
    static final int H_FLAGS = 32;
    static final int H_HIGH_WATER = 36;
    static final int H_ENTRIES_CRC = 40;
    static final int H_CLOCK = 48;
    static final int H_CRC = 56;
    static final int FLAG_CLEAN = 1;

    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT;
    private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG;

    private final MemorySegment header;

    private ConntrackFile(final MemorySegment header)
    {
        this.header = header;
    }

    static ConntrackTable open(final ConntrackConfig config, final Clock clock, final Path path) throws IOException
    {
        final int capacity = ConntrackTable.roundedCapacity(config.capacity());
        final long size = HEADER_BYTES + (long)capacity * ENTRY_BYTES;
        Path setAside = null;
        String reason = null;
        if (Files.exists(path))
        {
            reason = incompatibility(path, capacity, size);
            if (reason != null)
            {
                setAside = path.resolveSibling(path.getFileName() + ".corrupt-" + System.currentTimeMillis());
                Files.move(path, setAside, StandardCopyOption.ATOMIC_MOVE);
            }
        }
        final boolean existing = Files.exists(path);
        final Arena arena = Arena.ofShared();
        try
        {
            final MemorySegment all;
            try (FileChannel ch = FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.READ,
                StandardOpenOption.WRITE))
            {
                if (!existing)
                {
                    ch.truncate(0);
                    ch.write(java.nio.ByteBuffer.wrap(new byte[] {0}), size - 1);
                }
                all = ch.map(FileChannel.MapMode.READ_WRITE, 0, size, arena);
            }
            final MemorySegment header = all.asSlice(0, HEADER_BYTES);
            final MemorySegment entries = all.asSlice(HEADER_BYTES, (long)capacity * ENTRY_BYTES);
            final ConntrackFile file = new ConntrackFile(header);
            final ConntrackConfig effective;
            final boolean clean;
            final int limit;
            if (existing)
            {
                effective = config.withHashSeed(header.get(LONG, H_SEED));
                clean = (header.get(INT, H_FLAGS) & FLAG_CLEAN) != 0;
                limit = clean ? header.get(INT, H_HIGH_WATER) : capacity;
            }
            else
            {
                effective = config;
                clean = false;
                limit = 0;
                header.set(LONG, H_MAGIC, MAGIC);
                header.set(INT, H_VERSION, VERSION);
                header.set(INT, H_ENTRY_BYTES, ENTRY_BYTES);
                header.set(INT, H_CAPACITY, capacity);
                header.set(INT, H_SLOTS, capacity * 4);
                header.set(LONG, H_SEED, config.hashSeed());
            }
            // from here on the file is in use: a crash leaves it dirty, so the next start validates every entry
            header.set(INT, H_FLAGS, 0);
            header.set(LONG, H_CLOCK, clock.nanos());
            file.seal();
            header.force();
            final ConntrackTable table = new ConntrackTable(effective, clock, arena, entries, file);
            final int[] r = table.restore(limit);
            table.restoreReport(new ConntrackTable.RestoreReport(
                setAside != null ? "set aside: " + reason : existing ? "restored" : "created",
                setAside, r[0], r[1], r[2], clean));
            return table;
        }
        catch (final IOException | RuntimeException e)
        {
            arena.close();
            throw e;
        }
    }

    /**
     * Why an existing file cannot be mapped back, or null when it can. Reads the file, never maps it: a truncated
     * file must not fault a mapping.
     */
    static String incompatibility(final Path path, final int capacity, final long size) throws IOException
    {
        final long actual = Files.size(path);
        if (actual < HEADER_BYTES)
        {
            return "truncated (" + actual + " bytes)";
        }
        final byte[] h;
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ))
        {
            final java.nio.ByteBuffer buf = java.nio.ByteBuffer.allocate(HEADER_BYTES);
            while (buf.hasRemaining() && ch.read(buf) >= 0)
            {
                // read the whole header
            }
            h = buf.array();
        }
        // a long[] backs the copy: the layouts' 8-byte alignment holds for it
        final MemorySegment header = MemorySegment.ofArray(new long[HEADER_BYTES / Long.BYTES]);
        MemorySegment.copy(MemorySegment.ofArray(h), 0, header, 0, HEADER_BYTES);
        if (header.get(LONG, H_MAGIC) != MAGIC)
        {
            return "not a conntrack state file (magic)";
        }
        if (header.get(INT, H_CRC) != headerCrc(header))
        {
            return "header checksum mismatch";
        }
        if (header.get(INT, H_VERSION) != VERSION)
        {
            return "format version " + header.get(INT, H_VERSION) + ", this ferry reads " + VERSION;
        }
        if (header.get(INT, H_ENTRY_BYTES) != ENTRY_BYTES || header.get(INT, H_SLOTS) != capacity * 4
            || header.get(INT, H_CAPACITY) != capacity)
        {
            return "layout: capacity " + header.get(INT, H_CAPACITY) + ", entry " + header.get(INT, H_ENTRY_BYTES)
                + " B; configured capacity " + capacity + ", entry " + ENTRY_BYTES + " B";
        }
        if (actual != size)
        {
            return "size " + actual + " bytes, layout needs " + size;
        }
        final int flags = header.get(INT, H_FLAGS);
        if ((flags & FLAG_CLEAN) != 0)
        {
            final int highWater = header.get(INT, H_HIGH_WATER);
            if (highWater < 0 || highWater > capacity)
            {
                return "high water " + highWater + " out of range";
            }
            if (entriesCrc(path, highWater) != header.get(LONG, H_ENTRIES_CRC))
            {
                return "entries checksum mismatch after a clean shutdown";
            }
        }
        return null;
    }

    /** Marks the file clean: high water, the entries' checksum, the header checksum; then forces it. */
    void closeClean(final MemorySegment entries, final int highWater, final long now)
    {
        final CRC32C crc = new CRC32C();
        crc.update(entries.asSlice(0, (long)highWater * ENTRY_BYTES).asByteBuffer());
        header.set(INT, H_HIGH_WATER, highWater);
        header.set(LONG, H_ENTRIES_CRC, crc.getValue());
        header.set(LONG, H_CLOCK, now);
        header.set(INT, H_FLAGS, FLAG_CLEAN);
        seal();
        entries.force();
        header.force();
    }

    private void seal()
    {
        header.set(INT, H_CRC, headerCrc(header));
    }

    private static int headerCrc(final MemorySegment header)
    {
        final CRC32C crc = new CRC32C();
        crc.update(header.asSlice(0, H_CRC).toArray(ValueLayout.JAVA_BYTE));
        return (int)crc.getValue();
    }

    private static long entriesCrc(final Path path, final int highWater) throws IOException
    {
        final CRC32C crc = new CRC32C();
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ))
        {
            final java.nio.ByteBuffer buf = java.nio.ByteBuffer.allocate(1 << 16);
            long pos = HEADER_BYTES;
            final long end = HEADER_BYTES + (long)highWater * ENTRY_BYTES;
            while (pos < end)
            {
                buf.clear().limit((int)Math.min(buf.capacity(), end - pos));
                final int n = ch.read(buf, pos);
                if (n < 0)
                {
                    break;
                }
                buf.flip();
                crc.update(buf);
                pos += n;
            }
        }
        return crc.getValue();
    }
}
