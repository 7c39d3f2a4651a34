package dev.ferry.nat;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.zip.CRC32C;

/**
 * {@code sessionAffinity: ClientIP}: remembers, per (Service port, client address), the endpoint that the
 * client's last new connection went to, like the iptables {@code recent} match that kube-proxy writes
 * ({@code --rcheck --seconds T --reap}, then {@code --set} in the endpoint chain).
 *
 * <p>Endpoints are remembered by address and port, not by index, so an entry survives a table swap; the
 * caller checks that the endpoint is still usable. An 8-way set-associative table of fixed size: no
 * allocation and bounded work; a full set replaces its least recently used entry.
 *
 * <p>The entries are off-heap: in memory, or mapped from a state file ({@link #open}) so that a restarted node
 * keeps sending each client where it went before. File: a 64-byte header (magic {@code FERRYAF1}, version, ways,
 * sets, CRC32C of the header), then keys, endpoints and last-use times, 8 bytes each per way. Each entry is
 * independent and the caller checks that a remembered endpoint is still usable, so an entry torn by a crash can
 * at worst send one client's next new connection to another live endpoint: no validation pass is needed. Times
 * are the clock's nanoseconds since the epoch and keep their meaning in the next process.
 *
 * <p>One table serves every worker of a node (VPP's NAT affinity does the same, behind a spin lock): the ownership
 * rule spreads one client's connections over the workers by their ports, and {@code sessionAffinity: ClientIP}
 * means that all of them meet one endpoint. A worker holds {@link #lock()} from its lookup to its record, so that
 * two workers opening a client's first connections at once cannot pick two endpoints. Only a new connection to a
 * Service with affinity takes the lock, never an established flow's packet; the lock spins (nothing allocated,
 * no syscall), then yields.
 */
public final class AffinityTable
{
    /** Lookup result: no live entry. */
    static final long NONE = -1;

    private static final int WAYS = 8;

    static final long MAGIC = 0x4645_5252_5941_4631L; // "FERRYAF1"
    static final int VERSION = 1;
    static final int HEADER_BYTES = 64;
    private static final int H_VERSION = 8;
    private static final int H_WAYS = 12;
    private static final int H_SETS = 16;
    private static final int H_CRC = 20;
    private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG;
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT;

    private static final VarHandle LOCK;
    /** Spins before a waiting worker yields its core (the holder may have been descheduled). */
    private static final int SPINS = 128;

    static
    {
        try
        {
            LOCK = MethodHandles.lookup().findVarHandle(AffinityTable.class, "lock", int.class);
        }
        catch (final ReflectiveOperationException e)
        {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final MemorySegment keys;
    private final MemorySegment endpoints;
    private final MemorySegment lastUsed;
    private final int setMask;
    private final String restored;
    /** 1 while a worker is between its lookup and its record. */
    @SuppressWarnings("unused")
    private volatile int lock;

    /**
     * The table a NAT (or a node's workers together) uses: mapped from the state file when there is one, else in
     * memory; a file that cannot be created or mapped leaves the table in memory, and {@link #restored()} says why.
     *
     * @param capacity entries, rounded up to a power of two.
     * @param file     the state file, or null.
     * @return the table.
     */
    public static AffinityTable openOrInMemory(final int capacity, final Path file)
    {
        if (file == null)
        {
            return inMemory(capacity, "in memory");
        }
        try
        {
            return open(capacity, file);
        }
        catch (final IOException | RuntimeException e)
        {
            return inMemory(capacity, "cannot be mapped (" + e + "): kept in memory");
        }
    }

    /**
     * A table in memory.
     *
     * @param capacity entries, rounded up to a power of two.
     * @param why      what {@link #restored()} says.
     * @return the table.
     */
    public static AffinityTable inMemory(final int capacity, final String why)
    {
        return new AffinityTable(capacity, why);
    }

    /**
     * A table in memory.
     *
     * @param capacity entries, rounded up to a power of two.
     * @param why      what {@link #restored()} says.
     */
    AffinityTable(final int capacity, final String why)
    {
        this(sets(capacity), Arena.ofAuto().allocate(bytes(sets(capacity)), 64), why);
    }

    private AffinityTable(final int sets, final MemorySegment all, final String restored)
    {
        final long n = (long)sets * WAYS * Long.BYTES;
        final long base = all.byteSize() - 3 * n;
        keys = all.asSlice(base, n);
        endpoints = all.asSlice(base + n, n);
        lastUsed = all.asSlice(base + 2 * n, n);
        setMask = sets - 1;
        this.restored = restored;
    }

    /**
     * A table mapped from a state file: a compatible file is mapped back as it is; another one (magic, version,
     * layout, header checksum, size) is renamed to {@code NAME.corrupt-<epoch ms>} and a new one created.
     *
     * @param capacity entries, rounded up to a power of two.
     * @param file     the state file.
     * @return the table; {@link #restored()} says what was found.
     * @throws IOException when the file cannot be created or mapped.
     */
    public static AffinityTable open(final int capacity, final Path file) throws IOException
    {
        final int sets = sets(capacity);
        final long size = HEADER_BYTES + bytes(sets);
        String outcome = "created";
        if (Files.exists(file))
        {
            final String why = incompatibility(file, sets, size);
            if (why == null)
            {
                outcome = "restored";
            }
            else
            {
                final Path aside = file.resolveSibling(file.getFileName() + ".corrupt-" + System.currentTimeMillis());
                Files.move(file, aside, StandardCopyOption.ATOMIC_MOVE);
                outcome = "set aside (" + why + ") as " + aside.getFileName();
            }
        }
        final MemorySegment all;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ,
            StandardOpenOption.WRITE))
        {
            if (!"restored".equals(outcome))
            {
                ch.truncate(0);
                ch.write(java.nio.ByteBuffer.wrap(new byte[] {0}), size - 1);
            }
            // unmapped when the table is no longer reachable (the node keeps it for its life)
            all = ch.map(FileChannel.MapMode.READ_WRITE, 0, size, Arena.ofAuto());
        }
        if (!"restored".equals(outcome))
        {
            all.set(LONG, 0, MAGIC);
            all.set(INT, H_VERSION, VERSION);
            all.set(INT, H_WAYS, WAYS);
            all.set(INT, H_SETS, sets);
            all.set(INT, H_CRC, headerCrc(all));
            all.force();
        }
        return new AffinityTable(sets, all, outcome);
    }

    /** @return {@code in memory}, {@code created}, {@code restored} or {@code set aside (WHY) as NAME}. */
    public String restored()
    {
        return restored;
    }

    private static String incompatibility(final Path file, final int sets, final long size) throws IOException
    {
        if (Files.size(file) != size)
        {
            return "size " + Files.size(file) + " bytes, layout needs " + size;
        }
        final java.nio.ByteBuffer buf = java.nio.ByteBuffer.allocate(HEADER_BYTES);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ))
        {
            while (buf.hasRemaining() && ch.read(buf) >= 0)
            {
                // the whole header
            }
        }
        final MemorySegment h = aligned(buf.array());
        final String why = headerProblem(h);
        if (why != null)
        {
            return why;
        }
        final int found = h.get(INT, H_SETS);
        return found == sets ? null : "layout " + found + " sets";
    }

    /** The bytes in a segment backed by a long[]: the layouts' 8-byte alignment holds for it. */
    private static MemorySegment aligned(final byte[] bytes)
    {
        final MemorySegment m = MemorySegment.ofArray(new long[(bytes.length + 7) / Long.BYTES]);
        MemorySegment.copy(MemorySegment.ofArray(bytes), 0, m, 0, bytes.length);
        return m;
    }

    /** What is wrong with a header (magic, checksum, version, ways, a sets count that is no power of two), or null. */
    private static String headerProblem(final MemorySegment h)
    {
        if (h.get(LONG, 0) != MAGIC)
        {
            return "magic";
        }
        if (h.get(INT, H_CRC) != headerCrc(h))
        {
            return "header checksum mismatch";
        }
        if (h.get(INT, H_VERSION) != VERSION)
        {
            return "format version " + h.get(INT, H_VERSION);
        }
        final int sets = h.get(INT, H_SETS);
        if (h.get(INT, H_WAYS) != WAYS || sets <= 0 || Integer.bitCount(sets) != 1)
        {
            return "layout " + sets + " sets";
        }
        return null;
    }

    private static int headerCrc(final MemorySegment header)
    {
        final CRC32C crc = new CRC32C();
        crc.update(header.asSlice(0, H_CRC).toArray(ValueLayout.JAVA_BYTE));
        return (int)crc.getValue();
    }

    private static int sets(final int capacity)
    {
        int sets = 1;
        while (sets * WAYS < capacity)
        {
            sets <<= 1;
        }
        return sets;
    }

    private static long bytes(final int sets)
    {
        return 3L * sets * WAYS * Long.BYTES;
    }

    private static long at(final int i)
    {
        return (long)i << 3;
    }

    /**
     * @param servicePort stable key of the Service port.
     * @param client      client address.
     * @param now         clock, nanoseconds.
     * @param timeout     affinity timeout, nanoseconds.
     * @return the endpoint as {@code ip << 16 | port}, or {@link #NONE}.
     */
    long lookup(final int servicePort, final int client, final long now, final long timeout)
    {
        final long k = key(servicePort, client);
        final int base = set(k);
        for (int i = base; i < base + WAYS; i++)
        {
            if (keys.get(LONG, at(i)) == k)
            {
                return now - lastUsed.get(LONG, at(i)) <= timeout ? endpoints.get(LONG, at(i)) : NONE;
            }
        }
        return NONE;
    }

    /**
     * Records (or refreshes) the endpoint a client was sent to.
     *
     * @param servicePort stable key of the Service port.
     * @param client      client address.
     * @param endpoint    {@code ip << 16 | port}.
     * @param now         clock, nanoseconds.
     */
    void record(final int servicePort, final int client, final long endpoint, final long now)
    {
        store(key(servicePort, client), endpoint, now, false);
    }

    /**
     * Takes the lock that makes a worker's lookup, choice and record one step for the other workers: spins, then
     * yields. Release it with {@link #unlock()} in a {@code finally}.
     */
    void lock()
    {
        int spins = 0;
        while (!LOCK.compareAndSet(this, 0, 1))
        {
            if (++spins < SPINS)
            {
                Thread.onSpinWait();
            }
            else
            {
                Thread.yield();
            }
        }
    }

    /** Releases {@link #lock()}: what was written under it is seen by the next worker that takes it. */
    void unlock()
    {
        LOCK.setRelease(this, 0);
    }

    /**
     * Takes in the entries of another affinity state file of this format, whatever its size: a node that kept one
     * table per worker (ferry before the shared table: {@code affinity.state.<worker>}) keeps every client's
     * endpoint through the upgrade. Of two entries for one client and Service port, the one used last wins. Call
     * it before the workers run.
     *
     * @param file the other state file (read, not changed).
     * @return entries taken, or -1 when the file is not an affinity state file of this version (nothing taken).
     * @throws IOException when the file cannot be read.
     */
    public int mergeFrom(final Path file) throws IOException
    {
        final byte[] bytes = Files.readAllBytes(file);
        if (bytes.length < HEADER_BYTES)
        {
            return -1;
        }
        final MemorySegment m = aligned(bytes);
        final int sets = m.get(INT, H_SETS);
        if (headerProblem(m) != null || bytes.length != HEADER_BYTES + bytes(sets))
        {
            return -1;
        }
        final long n = (long)sets * WAYS * Long.BYTES;
        int taken = 0;
        lock();
        try
        {
            for (int i = 0; i < sets * WAYS; i++)
            {
                final long k = m.get(LONG, HEADER_BYTES + at(i));
                final long endpoint = m.get(LONG, HEADER_BYTES + n + at(i));
                final long used = m.get(LONG, HEADER_BYTES + 2 * n + at(i));
                if (k != 0 && store(k, endpoint, used, true))
                {
                    taken++;
                }
            }
        }
        finally
        {
            unlock();
        }
        return taken;
    }

    /**
     * Writes one entry into its set: over the same key, else an empty way, else the least recently used.
     *
     * @param onlyIfNewer keep an entry of the same key used at {@code now} or later (a merge).
     * @return whether it was written.
     */
    private boolean store(final long k, final long endpoint, final long now, final boolean onlyIfNewer)
    {
        final int base = set(k);
        int victim = base;
        for (int i = base; i < base + WAYS; i++)
        {
            final long ki = keys.get(LONG, at(i));
            if (ki == k || ki == 0)
            {
                victim = i;
                break;
            }
            if (lastUsed.get(LONG, at(i)) < lastUsed.get(LONG, at(victim)))
            {
                victim = i;
            }
        }
        if (onlyIfNewer && keys.get(LONG, at(victim)) == k && lastUsed.get(LONG, at(victim)) >= now)
        {
            return false;
        }
        // the key last: a crash between the writes leaves the old key (its endpoint is checked by the caller)
        endpoints.set(LONG, at(victim), endpoint);
        lastUsed.set(LONG, at(victim), now);
        keys.set(LONG, at(victim), k);
        return true;
    }

    private int set(final long k)
    {
        return (ServiceTable.mix(k) & setMask) * WAYS;
    }

    private static long key(final int servicePort, final int client)
    {
        return ((long)servicePort << 32) | (client & 0xffffffffL) | (servicePort == 0 && client == 0 ? 1L << 63 : 0);
    }
}
