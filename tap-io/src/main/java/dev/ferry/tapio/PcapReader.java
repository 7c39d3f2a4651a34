package dev.ferry.tapio;

import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Locale;

/**
 * Reads Ethernet frames and their timestamps from a pcap (microsecond or nanosecond) or pcapng file, in pure
 * Java: no native library, no per-record native call. The file is read through one buffered window; a record's
 * frame is copied once, into a reused array or straight into a pool buffer.
 *
 * <pre>
 *  pcap:    | file header 24 | rec hdr 16 | caplen bytes | rec hdr 16 | caplen bytes | ...
 *            offset of record K = 24 + sum over earlier records of (16 + caplen)
 *  pcapng:  | SHB | IDB | IDB | EPB | EPB | ISB | SHB | ...  each block: type 4, total length 4, body, length 4
 *            an interface's if_tsresol (10^-n or 2^-n s, default microseconds) and if_tsoffset are honoured
 * </pre>
 *
 * <p>Timestamps come back in nanoseconds since the epoch whatever the file's resolution. A truncated or corrupt
 * file raises {@link PcapFormatException} naming the exact byte offset and record of the fault; every record
 * before it has been returned and stays valid, so a caller such as replay writes what it processed and then
 * reports the error. {@link #next()} and {@link #receive} allocate nothing per record; {@link #frame()} returns a
 * copy for callers that keep frames.
 *
 * <pre>
 *   try (PcapReader in = PcapReader.open(path))
 *   {
 *       while (in.next())
 *       {
 *           use(in.timestampNanos(), in.buffer(), in.capturedLength());
 *       }
 *   }
 * </pre>
 */
public final class PcapReader implements AutoCloseable
{
    /** The kind of capture file. */
    public enum Format
    {
        /** Classic pcap with microsecond timestamps. */
        PCAP,
        /** Classic pcap with nanosecond timestamps (magic 0xa1b23c4d). */
        PCAP_NANO,
        /** pcapng. */
        PCAPNG
    }

    /** Largest capture length accepted for Ethernet (libpcap's MAXIMUM_SNAPLEN). */
    public static final int MAX_CAPLEN = 262144;
    /** pcap link type of Ethernet (LINKTYPE_ETHERNET). */
    static final int LINKTYPE_ETHERNET = 1;

    static final int PCAP_MAGIC_MICRO = 0xa1b2c3d4;
    static final int PCAP_MAGIC_NANO = 0xa1b23c4d;
    static final int PCAPNG_SHB = 0x0a0d0d0a;
    static final int PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;
    static final int PCAPNG_IDB = 1;
    static final int PCAPNG_PB = 2;
    static final int PCAPNG_SPB = 3;
    static final int PCAPNG_EPB = 6;

    private static final int PCAP_HEADER = 24;
    private static final int PCAP_RECORD_HEADER = 16;
    private static final int WINDOW = 1024 * 1024;
    /** Most interfaces in one section: a whole-cluster replay writes one per node port; 16 bytes each. */
    private static final int MAX_INTERFACES = 1 << 20;
    private static final int OPT_END = 0;
    private static final int OPT_IF_TSRESOL = 9;
    private static final int OPT_IF_TSOFFSET = 14;
    private static final long NANOS = 1_000_000_000L;
    private static final long[] POW10 = {
        1L, 10L, 100L, 1_000L, 10_000L, 100_000L, 1_000_000L, 10_000_000L, 100_000_000L, 1_000_000_000L,
    };

    private final Path file;
    private final FileChannel channel;
    private final long size;
    private final ByteBuffer window = ByteBuffer.allocate(WINDOW);
    private final byte[] frameBuffer = new byte[MAX_CAPLEN];
    private long windowStart = -1;
    private int windowLength;

    private Format format;
    private ByteOrder order = ByteOrder.LITTLE_ENDIAN;
    private int snaplen;
    private int linkType = -1;
    private int interfaces;
    // per interface, grown as interface descriptions come (never per record)
    private int[] interfaceSnaplen = new int[16];
    /** Per interface: timestamp units are 10^-n s (n ≥ 0) or 2^-n s (stored as -1 - n). */
    private int[] interfaceResolution = new int[16];
    private long[] interfaceOffsetSeconds = new long[16];

    private long position;
    private long packets;
    private long packetOffset = -1;
    /** Byte offset in the file of the current record's frame. */
    private long frameAt;
    private int capturedLength;
    private int originalLength;
    private long timestampNanos;
    private long oversizeFrames;
    private PcapFormatException deferred;
    private boolean closed;

    private PcapReader(final Path file, final FileChannel channel, final long size)
    {
        this.file = file;
        this.channel = channel;
        this.size = size;
    }

    /**
     * Opens a capture file and validates its header: the pcap file header, or for pcapng the section header and
     * the blocks up to the first interface description. Its link type must be Ethernet.
     *
     * @param file a pcap or pcapng file.
     * @return the reader, positioned before the first record.
     * @throws PcapFormatException when the header is bad or the link type is not Ethernet.
     * @throws IOException when the file cannot be read.
     */
    public static PcapReader open(final Path file) throws IOException
    {
        final FileChannel ch = FileChannel.open(file, StandardOpenOption.READ);
        final PcapReader r = new PcapReader(file, ch, ch.size());
        try
        {
            r.readFileHeader();
            return r;
        }
        catch (final IOException | RuntimeException e)
        {
            ch.close();
            throw e;
        }
    }

    /** @return the file's format. */
    public Format format()
    {
        return format;
    }

    /**
     * Reads the next record.
     *
     * @return false at the end of the file.
     * @throws PcapFormatException when the next record is truncated or corrupt; earlier records stay valid.
     * @throws IOException when the file cannot be read.
     */
    public boolean next() throws IOException
    {
        if (!advance())
        {
            return false;
        }
        System.arraycopy(window.array(), index(frameAt), frameBuffer, 0, capturedLength);
        return true;
    }

    /**
     * Reads the next record: its timestamp, its lengths and {@link #frameAt}, and leaves its frame in the window for
     * the caller to copy once.
     */
    private boolean advance() throws IOException
    {
        if (deferred != null)
        {
            final PcapFormatException e = deferred;
            deferred = null;
            throw e;
        }
        if (closed)
        {
            throw new IOException(file + ": reader is closed");
        }
        final long before = position;
        final boolean more = format == Format.PCAPNG ? nextBlockPacket(false) : nextPcapRecord();
        if (!more)
        {
            capturedLength = 0;
            return false;
        }
        if (position <= before)
        {
            throw fault("reader made no progress", before);
        }
        return true;
    }

    /** @return the current record's timestamp, in nanoseconds since the epoch. */
    public long timestampNanos()
    {
        return timestampNanos;
    }

    /**
     * The current record's frame in the reader's own array, valid until the next call to {@link #next()}: bytes
     * [0, {@link #capturedLength()}). {@link #receive} copies frames straight into pool buffers and leaves it alone.
     *
     * @return the reused frame array.
     */
    public byte[] buffer()
    {
        return frameBuffer;
    }

    /** @return the current record's captured length. */
    public int capturedLength()
    {
        return capturedLength;
    }

    /** @return a copy of the current record's frame (as captured), which the caller may keep. */
    public byte[] frame()
    {
        return Arrays.copyOf(frameBuffer, capturedLength);
    }

    /** @return the current record's length on the wire (at least the captured length). */
    public int originalLength()
    {
        return originalLength;
    }

    /** @return the number of the current record, from 1. */
    public long record()
    {
        return packets;
    }

    /** @return the byte offset of the current record in the file. */
    public long recordOffset()
    {
        return packetOffset;
    }

    /** @return bytes of the file walked so far (the end of the current record). */
    public long position()
    {
        return position;
    }

    /** @return the file's size in bytes. */
    public long size()
    {
        return size;
    }

    /** @return frames that {@link #receive} skipped because they do not fit a pool buffer. */
    public long oversizeFrames()
    {
        return oversizeFrames;
    }

    /**
     * Reads frames into pool buffers at the headroom mark until {@code out} is full, the pool is empty or the
     * file ends. Each buffer gets the rx port and the record's timestamp. A frame larger than a small buffer goes
     * into a large one ({@link PacketPool#allocateLarge}); one larger than that, or with no large buffer free, is
     * skipped and counted in {@link #oversizeFrames()}.
     *
     * <p>When a fault follows good records, those records are returned first and the fault is thrown by the
     * next call, so the caller processes everything that was readable before it reports the error.
     *
     * @param pool   where the frames go.
     * @param out    the vector that receives the handles.
     * @param rxPort port id stamped on each packet.
     * @return packets added; 0 at the end of the file (or when {@code out} is full or the pool is empty).
     * @throws PcapFormatException when the file is truncated or corrupt and no packet was added by this call.
     * @throws IOException when the file cannot be read.
     */
    public int receive(final PacketPool pool, final PacketVector out, final int rxPort) throws IOException
    {
        final int room = pool.bufferSize() - pool.headroom();
        int added = 0;
        while (!out.isFull())
        {
            int h = pool.allocate();
            if (h == PacketPool.NO_BUFFER)
            {
                break;
            }
            final boolean more;
            try
            {
                more = advance();
            }
            catch (final PcapFormatException e)
            {
                pool.free(h);
                if (added == 0)
                {
                    throw e;
                }
                deferred = e;
                break;
            }
            if (!more)
            {
                pool.free(h);
                break;
            }
            if (capturedLength > room)
            {
                // a jumbo or offload-sized frame: a large buffer when the pool has one free
                pool.free(h);
                h = capturedLength <= PacketPool.LARGE_BUFFER_SIZE - pool.headroom() ? pool.allocateLarge()
                    : PacketPool.NO_BUFFER;
                if (h == PacketPool.NO_BUFFER)
                {
                    oversizeFrames++;
                    continue;
                }
            }
            // straight from the file's window into the buffer: one copy
            pool.write(h, window.array(), index(frameAt), capturedLength);
            pool.rxPort(h, rxPort);
            pool.timestamp(h, timestampNanos);
            out.add(h);
            added++;
        }
        return added;
    }

    private PcapFormatException fault(final String what, final long offset)
    {
        return new PcapFormatException(file, what, offset, packets + 1);
    }

    private void readFileHeader() throws IOException
    {
        if (size < 4)
        {
            throw fault("truncated file header (" + size + " bytes, a capture file needs at least 24)", 0);
        }
        final int magicBe = load(0, 4).order(ByteOrder.BIG_ENDIAN).getInt(index(0));
        if (magicBe == PCAPNG_SHB)
        {
            format = Format.PCAPNG;
            position = 0;
            nextBlockPacket(true);
            return;
        }
        final int magicLe = Integer.reverseBytes(magicBe);
        if (magicBe == PCAP_MAGIC_MICRO || magicBe == PCAP_MAGIC_NANO)
        {
            order = ByteOrder.BIG_ENDIAN;
        }
        else if (magicLe == PCAP_MAGIC_MICRO || magicLe == PCAP_MAGIC_NANO)
        {
            order = ByteOrder.LITTLE_ENDIAN;
        }
        else
        {
            throw fault("not a pcap or pcapng file (magic number 0x" + hex(magicBe) + ")", 0);
        }
        final int magic = order == ByteOrder.BIG_ENDIAN ? magicBe : magicLe;
        format = magic == PCAP_MAGIC_NANO ? Format.PCAP_NANO : Format.PCAP;
        if (size < PCAP_HEADER)
        {
            throw fault("truncated file header (" + size + " of 24 bytes)", 0);
        }
        final ByteBuffer b = load(0, PCAP_HEADER).order(order);
        final int major = b.getShort(index(4)) & 0xffff;
        final int minor = b.getShort(index(6)) & 0xffff;
        if (major != 2)
        {
            throw fault("unsupported pcap version " + major + "." + minor, 4);
        }
        snaplen = b.getInt(index(16));
        // like libpcap, a zero or oversized snaplen means the maximum
        if (snaplen <= 0 || snaplen > MAX_CAPLEN)
        {
            snaplen = MAX_CAPLEN;
        }
        linkType = b.getInt(index(20)) & 0xffff;
        if (linkType != LINKTYPE_ETHERNET)
        {
            throw fault("link type " + linkType + " is not Ethernet (1)", 20);
        }
        position = PCAP_HEADER;
    }

    private boolean nextPcapRecord() throws IOException
    {
        final long at = position;
        final long left = size - at;
        if (left == 0)
        {
            return false;
        }
        if (left < PCAP_RECORD_HEADER)
        {
            throw fault("truncated record header (needs 16 bytes, " + left + " left)", at);
        }
        final ByteBuffer b = load(at, PCAP_RECORD_HEADER).order(order);
        final long seconds = b.getInt(index(at)) & 0xffff_ffffL;
        final long fraction = b.getInt(index(at + 4)) & 0xffff_ffffL;
        final long caplen = b.getInt(index(at + 8)) & 0xffff_ffffL;
        final long origlen = b.getInt(index(at + 12)) & 0xffff_ffffL;
        if (caplen > snaplen)
        {
            throw fault("corrupt record: capture length " + caplen + " exceeds the snaplen " + snaplen, at);
        }
        if (left - PCAP_RECORD_HEADER < caplen)
        {
            throw fault("truncated record body (needs " + caplen + " bytes, " + (left - PCAP_RECORD_HEADER)
                + " left)", at);
        }
        packetOffset = at;
        capturedLength = (int)caplen;
        originalLength = (int)Math.max(caplen, Math.min(origlen, Integer.MAX_VALUE));
        timestampNanos = seconds * NANOS + (format == Format.PCAP_NANO ? fraction : fraction * 1000L);
        frameAt = at + PCAP_RECORD_HEADER;
        load(frameAt, capturedLength);
        position = at + PCAP_RECORD_HEADER + caplen;
        packets++;
        return true;
    }

    /**
     * Walks pcapng blocks. In header mode it stops after the first interface description (or at end of file);
     * otherwise after the next packet block, whose frame and timestamp it reads.
     */
    private boolean nextBlockPacket(final boolean headerMode) throws IOException
    {
        while (true)
        {
            final long at = position;
            final long left = size - at;
            if (left == 0)
            {
                if (at == 0)
                {
                    throw fault("empty file", 0);
                }
                return false;
            }
            if (left < 8)
            {
                throw fault("truncated block header (needs 8 bytes, " + left + " left)", at);
            }
            int type = load(at, 8).order(order).getInt(index(at));
            if (type == PCAPNG_SHB)
            {
                readSectionOrder(at, left);
            }
            else if (at == 0)
            {
                throw fault("pcapng file does not start with a section header block", 0);
            }
            final ByteBuffer b = load(at, 8).order(order);
            type = b.getInt(index(at));
            final long total = b.getInt(index(at + 4)) & 0xffff_ffffL;
            if (total < 12 || (total & 3) != 0)
            {
                throw fault("corrupt block: total length " + total + " (type 0x" + hex(type) + ")", at);
            }
            if (left < total)
            {
                throw fault("truncated block (type 0x" + hex(type) + ", needs " + total + " bytes, " + left
                    + " left)", at);
            }
            final long trailer = load(at + total - 4, 4).order(order).getInt(index(at + total - 4)) & 0xffff_ffffL;
            if (trailer != total)
            {
                throw fault("corrupt block: trailing length " + trailer + " differs from leading length " + total
                    + " (type 0x" + hex(type) + ")", at);
            }
            final boolean packet = inspectBlock(at, type, total, headerMode);
            position = at + total;
            if (packet)
            {
                packets++;
                return true;
            }
            if (headerMode && type == PCAPNG_IDB)
            {
                return true;
            }
        }
    }

    private void readSectionOrder(final long at, final long left) throws IOException
    {
        if (left < 12)
        {
            throw fault("truncated section header block (needs 12 bytes, " + left + " left)", at);
        }
        final int bom = load(at + 8, 4).order(ByteOrder.BIG_ENDIAN).getInt(index(at + 8));
        if (bom == PCAPNG_BYTE_ORDER_MAGIC)
        {
            order = ByteOrder.BIG_ENDIAN;
        }
        else if (Integer.reverseBytes(bom) == PCAPNG_BYTE_ORDER_MAGIC)
        {
            order = ByteOrder.LITTLE_ENDIAN;
        }
        else
        {
            throw fault("corrupt section header block: byte-order magic 0x" + hex(bom), at);
        }
    }

    /** Validates one complete block; for a packet block reads its frame and timestamp and returns true. */
    private boolean inspectBlock(final long at, final int type, final long total, final boolean headerMode)
        throws IOException
    {
        switch (type)
        {
            case PCAPNG_SHB ->
            {
                requireBody(at, type, total, 28);
                final int major = load(at + 12, 2).order(order).getShort(index(at + 12)) & 0xffff;
                if (major != 1)
                {
                    throw fault("unsupported pcapng version " + major, at);
                }
                interfaces = 0;
                return false;
            }
            case PCAPNG_IDB ->
            {
                requireBody(at, type, total, 20);
                final ByteBuffer b = load(at + 8, 8).order(order);
                final int lt = b.getShort(index(at + 8)) & 0xffff;
                if (lt != LINKTYPE_ETHERNET)
                {
                    throw fault("interface " + interfaces + " has link type " + lt + ", not Ethernet (1)", at);
                }
                if (interfaces == MAX_INTERFACES)
                {
                    throw fault("more than " + MAX_INTERFACES + " interfaces in one section", at);
                }
                if (interfaces == interfaceSnaplen.length)
                {
                    final int grown = Math.min(MAX_INTERFACES, interfaces * 2);
                    interfaceSnaplen = Arrays.copyOf(interfaceSnaplen, grown);
                    interfaceResolution = Arrays.copyOf(interfaceResolution, grown);
                    interfaceOffsetSeconds = Arrays.copyOf(interfaceOffsetSeconds, grown);
                }
                final int snap = b.getInt(index(at + 12));
                interfaceSnaplen[interfaces] = snap <= 0 || snap > MAX_CAPLEN ? MAX_CAPLEN : snap;
                readInterfaceOptions(at, total, interfaces);
                interfaces++;
                linkType = lt;
                return false;
            }
            case PCAPNG_EPB, PCAPNG_PB ->
            {
                requireBody(at, type, total, 32);
                if (headerMode)
                {
                    throw fault("packet block before any interface description block", at);
                }
                final ByteBuffer b = load(at + 8, 20).order(order);
                final int iface = type == PCAPNG_EPB ? b.getInt(index(at + 8)) : b.getShort(index(at + 8)) & 0xffff;
                final long high = b.getInt(index(at + 12)) & 0xffff_ffffL;
                final long low = b.getInt(index(at + 16)) & 0xffff_ffffL;
                final long caplen = b.getInt(index(at + 20)) & 0xffff_ffffL;
                final long origlen = b.getInt(index(at + 24)) & 0xffff_ffffL;
                checkInterface(at, iface);
                checkCaplen(at, caplen, interfaceSnaplen[iface], total, 32);
                packetOffset = at;
                originalLength = (int)Math.max(caplen, Math.min(origlen, Integer.MAX_VALUE));
                timestampNanos = toNanos(iface, (high << 32) | low);
                frameAt = at + 28;
                load(frameAt, capturedLength);
                return true;
            }
            case PCAPNG_SPB ->
            {
                requireBody(at, type, total, 16);
                if (headerMode)
                {
                    throw fault("packet block before any interface description block", at);
                }
                checkInterface(at, 0);
                final long origlen = load(at + 8, 4).order(order).getInt(index(at + 8)) & 0xffff_ffffL;
                final long caplen = Math.min(origlen, interfaceSnaplen[0]);
                checkCaplen(at, caplen, interfaceSnaplen[0], total, 16);
                packetOffset = at;
                originalLength = (int)Math.min(origlen, Integer.MAX_VALUE);
                // a simple packet block carries no timestamp
                timestampNanos = 0;
                frameAt = at + 12;
                load(frameAt, capturedLength);
                return true;
            }
            default ->
            {
                return false;
            }
        }
    }

    /** Reads if_tsresol and if_tsoffset from an interface description's options. */
    private void readInterfaceOptions(final long at, final long total, final int iface) throws IOException
    {
        interfaceResolution[iface] = 6;
        interfaceOffsetSeconds[iface] = 0;
        long p = at + 16;
        final long end = at + total - 4;
        while (p + 4 <= end)
        {
            final ByteBuffer b = load(p, 4).order(order);
            final int code = b.getShort(index(p)) & 0xffff;
            final int length = b.getShort(index(p + 2)) & 0xffff;
            if (code == OPT_END)
            {
                break;
            }
            if (p + 4 + length > end)
            {
                throw fault("corrupt interface description: option " + code + " of " + length
                    + " bytes overruns the block", at);
            }
            if (code == OPT_IF_TSRESOL && length >= 1)
            {
                final int v = load(p + 4, 1).get(index(p + 4)) & 0xff;
                final int n = v & 0x7f;
                if ((v & 0x80) == 0 ? n > 18 : n > 62)
                {
                    throw fault("unsupported timestamp resolution 0x" + Integer.toHexString(v), at);
                }
                interfaceResolution[iface] = (v & 0x80) == 0 ? n : -1 - n;
            }
            else if (code == OPT_IF_TSOFFSET && length >= 8)
            {
                interfaceOffsetSeconds[iface] = load(p + 4, 8).order(order).getLong(index(p + 4));
            }
            p += 4 + ((length + 3) & ~3);
        }
    }

    private long toNanos(final int iface, final long units)
    {
        final int res = interfaceResolution[iface];
        final long offset = interfaceOffsetSeconds[iface] * NANOS;
        if (res >= 0)
        {
            if (res <= 9)
            {
                return offset + units * POW10[9 - res];
            }
            final long div = POW10[res - 9];
            return offset + Long.divideUnsigned(units, div);
        }
        final int n = -1 - res;
        final long seconds = units >>> n;
        long fraction = n == 0 ? 0 : units & ((1L << n) - 1);
        int bits = n;
        if (bits > 32)
        {
            fraction >>>= bits - 32;
            bits = 32;
        }
        return offset + seconds * NANOS + ((fraction * NANOS) >>> bits);
    }

    private void requireBody(final long at, final int type, final long total, final int min)
        throws PcapFormatException
    {
        if (total < min)
        {
            throw fault("corrupt block: total length " + total + " too short for type 0x" + hex(type), at);
        }
    }

    private void checkInterface(final long at, final int iface) throws PcapFormatException
    {
        if (iface < 0 || iface >= interfaces)
        {
            throw fault("packet block names interface " + iface + " but the section describes " + interfaces, at);
        }
    }

    private void checkCaplen(final long at, final long caplen, final int snap, final long total, final int overhead)
        throws PcapFormatException
    {
        if (caplen > snap)
        {
            throw fault("corrupt packet block: capture length " + caplen + " exceeds the snaplen " + snap, at);
        }
        if (overhead + ((caplen + 3) & ~3L) > total)
        {
            throw fault("corrupt packet block: capture length " + caplen + " does not fit block length " + total, at);
        }
        capturedLength = (int)caplen;
    }

    /** Makes bytes [at, at + n) available in the window; returns the window with no byte order set. */
    private ByteBuffer load(final long at, final int n) throws IOException
    {
        if (windowStart < 0 || at < windowStart || at + n > windowStart + windowLength)
        {
            window.clear();
            windowStart = at;
            windowLength = 0;
            while (windowLength < n)
            {
                final int r = channel.read(window, at + windowLength);
                if (r < 0)
                {
                    throw new PcapFormatException(file, "file shrank while reading", at, packets + 1);
                }
                windowLength += r;
            }
        }
        return window;
    }

    private int index(final long at)
    {
        return (int)(at - windowStart);
    }

    private static String hex(final int v)
    {
        return String.format(Locale.ROOT, "%08x", v);
    }

    @Override
    public void close() throws IOException
    {
        if (closed)
        {
            return;
        }
        closed = true;
        channel.close();
    }
}
