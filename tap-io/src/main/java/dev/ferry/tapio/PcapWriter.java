package dev.ferry.tapio;

import dev.ferry.core.PacketPool;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;

/**
 * Writes Ethernet frames to a classic pcap or a pcapng file, in pure Java, through one buffer: no native library
 * and no allocation per frame.
 *
 * <pre>
 *   pcap:   | magic, 2.4, zone 0, sigfigs 0, snaplen 262144, Ethernet | rec hdr 16 | frame | ...
 *   pcapng: | SHB | IDB "name" (if_tsresol 9) | IDB ... | EPB (interface, ns timestamp, frame) | ...
 * </pre>
 *
 * <p>pcap records are written in the machine's byte order, as libpcap's {@code pcap_dump} writes them, so the
 * bytes match what tcpdump would write. Nanosecond precision (magic {@code 0xa1b23c4d}) is the default, so that
 * timestamps survive a round trip exactly; microsecond precision truncates to whole microseconds. Nothing in the
 * file comes from the wall clock, so the same frames and timestamps always give the same bytes. pcap timestamps
 * must lie in [1970-01-01, 2106-02-07): pcap records hold an unsigned 32-bit second count.
 */
public final class PcapWriter implements AutoCloseable
{
    /** Timestamp resolution of the file. */
    public enum Precision
    {
        /** Microseconds (magic 0xa1b2c3d4), the format every tool reads. */
        MICRO,
        /** Nanoseconds (magic 0xa1b23c4d). */
        NANO
    }

    /** Snaplen written in the file header, and the largest frame accepted. */
    public static final int SNAPLEN = PcapReader.MAX_CAPLEN;

    private static final long MAX_SECONDS = 0xffff_ffffL;
    private static final long NANOS = 1_000_000_000L;
    private static final int BUFFER = 1024 * 1024;
    /** Longest interface name (an option's length is 16 bits; Kubernetes names are far shorter). */
    private static final int MAX_NAME = 0xffff - 3;

    private final Path file;
    private final FileChannel channel;
    private final ByteBuffer buffer = ByteBuffer.allocate(BUFFER).order(ByteOrder.nativeOrder());
    private final Precision precision;
    private final boolean pcapng;
    private final int interfaces;
    private long written;
    private boolean closed;

    private PcapWriter(final Path file, final FileChannel channel, final Precision precision, final boolean pcapng,
        final int interfaces)
    {
        this.file = file;
        this.channel = channel;
        this.precision = precision;
        this.pcapng = pcapng;
        this.interfaces = interfaces;
    }

    /**
     * Creates (or truncates) a nanosecond pcap file.
     *
     * @param file where to write.
     * @return the writer.
     * @throws IOException when the file cannot be created.
     */
    public static PcapWriter create(final Path file) throws IOException
    {
        return create(file, Precision.NANO);
    }

    /**
     * Creates (or truncates) a pcap file.
     *
     * @param file      where to write.
     * @param precision timestamp resolution.
     * @return the writer.
     * @throws IOException when the file cannot be created.
     */
    public static PcapWriter create(final Path file, final Precision precision) throws IOException
    {
        final PcapWriter w = new PcapWriter(file, open(file), precision, false, 1);
        final ByteBuffer b = w.buffer;
        b.putInt(precision == Precision.NANO ? PcapReader.PCAP_MAGIC_NANO : PcapReader.PCAP_MAGIC_MICRO);
        b.putShort((short)2).putShort((short)4).putInt(0).putInt(0).putInt(SNAPLEN)
            .putInt(PcapReader.LINKTYPE_ETHERNET);
        return w;
    }

    /**
     * Creates (or truncates) a pcapng file with one Ethernet interface per name, nanosecond timestamps
     * ({@code if_tsresol} 9). Frames name their interface by its index in {@code interfaceNames}.
     *
     * @param file           where to write.
     * @param interfaceNames the interfaces ({@code if_name}), at least one.
     * @return the writer.
     * @throws IOException when the file cannot be created.
     */
    public static PcapWriter createPcapng(final Path file, final List<String> interfaceNames) throws IOException
    {
        if (interfaceNames.isEmpty())
        {
            throw new IllegalArgumentException(file + ": a pcapng file needs at least one interface");
        }
        final PcapWriter w = new PcapWriter(file, open(file), Precision.NANO, true, interfaceNames.size());
        final ByteBuffer b = w.buffer;
        // section header: byte-order magic, version 1.0, section length unknown (-1), no options
        b.putInt(PcapReader.PCAPNG_SHB).putInt(28).putInt(PcapReader.PCAPNG_BYTE_ORDER_MAGIC)
            .putShort((short)1).putShort((short)0).putLong(-1L).putInt(28);
        for (final String name : interfaceNames)
        {
            final byte[] n = name.getBytes(StandardCharsets.UTF_8);
            if (n.length > MAX_NAME)
            {
                w.close();
                throw new IllegalArgumentException(file + ": interface name of " + n.length + " bytes exceeds "
                    + MAX_NAME);
            }
            final int padded = (n.length + 3) & ~3;
            final int total = 20 + 4 + padded + 8 + 4;
            // a whole cluster's ports can describe more than the buffer holds
            if (b.remaining() < total)
            {
                w.drain();
            }
            b.putInt(PcapReader.PCAPNG_IDB).putInt(total).putShort((short)PcapReader.LINKTYPE_ETHERNET)
                .putShort((short)0).putInt(SNAPLEN);
            b.putShort((short)2).putShort((short)n.length).put(n);
            for (int i = n.length; i < padded; i++)
            {
                b.put((byte)0);
            }
            b.putShort((short)9).putShort((short)1).put((byte)9).put((byte)0).put((byte)0).put((byte)0);
            b.putInt(0).putInt(total);
        }
        return w;
    }

    private static FileChannel open(final Path file) throws IOException
    {
        return FileChannel.open(file, StandardOpenOption.WRITE, StandardOpenOption.CREATE,
            StandardOpenOption.TRUNCATE_EXISTING);
    }

    /**
     * Writes one frame (on interface 0 of a pcapng file).
     *
     * @param epochNanos timestamp in nanoseconds since the epoch.
     * @param frame      the frame, at most {@link #SNAPLEN} bytes.
     * @throws IOException when the writer is closed or the file cannot be written.
     */
    public void write(final long epochNanos, final byte[] frame) throws IOException
    {
        write(epochNanos, 0, MemorySegment.ofArray(frame), 0, frame.length);
    }

    /**
     * Writes one frame copied from memory, e.g. a packet buffer (on interface 0 of a pcapng file).
     *
     * @param epochNanos timestamp in nanoseconds since the epoch.
     * @param mem        the memory holding the frame.
     * @param offset     offset of the frame's first byte in {@code mem}.
     * @param length     frame length.
     * @throws IOException when the writer is closed or the file cannot be written.
     */
    public void write(final long epochNanos, final MemorySegment mem, final long offset, final int length)
        throws IOException
    {
        write(epochNanos, 0, mem, offset, length);
    }

    /**
     * Writes one frame copied from memory on one interface (a pcap file has only interface 0).
     *
     * @param epochNanos timestamp in nanoseconds since the epoch.
     * @param iface      the interface's index.
     * @param mem        the memory holding the frame.
     * @param offset     offset of the frame's first byte in {@code mem}.
     * @param length     frame length.
     * @throws IOException when the writer is closed or the file cannot be written.
     */
    public void write(final long epochNanos, final int iface, final MemorySegment mem, final long offset,
        final int length) throws IOException
    {
        if (closed)
        {
            throw new IOException(file + ": writer is closed");
        }
        if (length > SNAPLEN)
        {
            throw new IllegalArgumentException(file + ": frame of " + length + " bytes exceeds " + SNAPLEN);
        }
        if (iface < 0 || iface >= interfaces)
        {
            throw new IllegalArgumentException(file + ": no interface " + iface);
        }
        final long seconds = Math.floorDiv(epochNanos, NANOS);
        if (seconds < 0 || !pcapng && seconds > MAX_SECONDS)
        {
            throw new IllegalArgumentException(file + ": timestamp " + epochNanos + " ns does not fit a pcap record");
        }
        final int padded = pcapng ? (length + 3) & ~3 : length;
        final int need = (pcapng ? 32 : 16) + padded;
        if (buffer.remaining() < need)
        {
            drain();
        }
        if (pcapng)
        {
            buffer.putInt(PcapReader.PCAPNG_EPB).putInt(need).putInt(iface).putInt((int)(epochNanos >>> 32))
                .putInt((int)epochNanos).putInt(length).putInt(length);
        }
        else
        {
            final long fraction = epochNanos - seconds * NANOS;
            buffer.putInt((int)seconds).putInt((int)(precision == Precision.NANO ? fraction : fraction / 1000L))
                .putInt(length).putInt(length);
        }
        final int at = buffer.position();
        MemorySegment.copy(mem, ValueLayout.JAVA_BYTE, offset, buffer.array(), at, length);
        buffer.position(at + length);
        for (int i = length; i < padded; i++)
        {
            buffer.put((byte)0);
        }
        if (pcapng)
        {
            buffer.putInt(need);
        }
        written++;
    }

    /**
     * Writes a packet buffer's frame with its timestamp ({@link PacketPool#timestamp(int)}). The buffer stays
     * with the caller.
     *
     * @param pool   the pool.
     * @param handle the packet.
     * @throws IOException when the writer is closed or the file cannot be written.
     */
    public void write(final PacketPool pool, final int handle) throws IOException
    {
        write(pool.timestamp(handle), pool.memory(), pool.frameOffset(handle), pool.length(handle));
    }

    /** @return frames written so far. */
    public long written()
    {
        return written;
    }

    /**
     * Pushes buffered records to the file.
     *
     * @throws IOException when the writer is closed or the file cannot be written.
     */
    public void flush() throws IOException
    {
        if (closed)
        {
            throw new IOException(file + ": writer is closed");
        }
        drain();
    }

    private void drain() throws IOException
    {
        buffer.flip();
        while (buffer.hasRemaining())
        {
            channel.write(buffer);
        }
        buffer.clear();
    }

    /**
     * Writes what is buffered and closes the file.
     *
     * @throws IOException when the file cannot be written.
     */
    @Override
    public void close() throws IOException
    {
        if (closed)
        {
            return;
        }
        closed = true;
        try
        {
            drain();
        }
        finally
        {
            channel.close();
        }
    }
}
