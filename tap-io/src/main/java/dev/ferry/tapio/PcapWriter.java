package dev.ferry.tapio;

import dev.ferry.core.PacketPool;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.sql.Timestamp;

import org.pcap4j.core.NotOpenException;
import org.pcap4j.core.PcapDumper;
import org.pcap4j.core.PcapHandle;
import org.pcap4j.core.PcapNativeException;
import org.pcap4j.core.Pcaps;
import org.pcap4j.packet.namednumber.DataLinkType;

/**
 * Writes Ethernet frames to a classic pcap file through pcap4j and libpcap ({@code pcap_dump}).
 *
 * <pre>
 *   write(epochNanos, frame) ──► | magic, 2.4, zone 0, sigfigs 0, snaplen 262144, Ethernet | rec | rec | ...
 * </pre>
 *
 * <p>Nanosecond precision (magic {@code 0xa1b23c4d}) is the default, so that timestamps survive a round trip
 * exactly; microsecond precision truncates to whole microseconds. Nothing in the file comes from the wall clock,
 * so the same frames and timestamps always give the same bytes. Timestamps must lie in
 * [1970-01-01, 2038-01-19): pcap records hold a signed 32-bit second count.
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
    public static final int SNAPLEN = CaptureScanner.MAX_CAPLEN;

    private static final long MAX_SECONDS = Integer.MAX_VALUE;

    static
    {
        NativePcap.configure();
    }

    private final Path file;
    private final PcapHandle handle;
    private final PcapDumper dumper;
    private long written;
    private boolean closed;

    private PcapWriter(final Path file, final PcapHandle handle, final PcapDumper dumper)
    {
        this.file = file;
        this.handle = handle;
        this.dumper = dumper;
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
        final PcapHandle.TimestampPrecision p = precision == Precision.NANO ?
            PcapHandle.TimestampPrecision.NANO : PcapHandle.TimestampPrecision.MICRO;
        PcapHandle handle = null;
        try
        {
            handle = Pcaps.openDead(DataLinkType.EN10MB, SNAPLEN, p);
            return new PcapWriter(file, handle, handle.dumpOpen(file.toString()));
        }
        catch (final PcapNativeException | NotOpenException e)
        {
            if (handle != null)
            {
                handle.close();
            }
            throw new IOException(file + ": cannot create pcap file: " + e.getMessage(), e);
        }
    }

    /**
     * Writes one frame.
     *
     * @param epochNanos timestamp in nanoseconds since the epoch.
     * @param frame      the frame, at most {@link #SNAPLEN} bytes.
     * @throws IOException when the writer is closed.
     */
    public void write(final long epochNanos, final byte[] frame) throws IOException
    {
        if (frame.length > SNAPLEN)
        {
            throw new IllegalArgumentException(file + ": frame of " + frame.length + " bytes exceeds " + SNAPLEN);
        }
        final long seconds = Math.floorDiv(epochNanos, 1_000_000_000L);
        if (seconds < 0 || seconds > MAX_SECONDS)
        {
            throw new IllegalArgumentException(file + ": timestamp " + epochNanos + " ns does not fit a pcap record");
        }
        final Timestamp ts = new Timestamp(seconds * 1000L);
        ts.setNanos((int)(epochNanos - seconds * 1_000_000_000L));
        try
        {
            dumper.dumpRaw(frame, ts);
        }
        catch (final NotOpenException e)
        {
            throw new IOException(file + ": writer is closed", e);
        }
        written++;
    }

    /**
     * Writes one frame copied from memory, e.g. a packet buffer.
     *
     * @param epochNanos timestamp in nanoseconds since the epoch.
     * @param mem        the memory holding the frame.
     * @param offset     offset of the frame's first byte in {@code mem}.
     * @param length     frame length.
     * @throws IOException when the writer is closed.
     */
    public void write(final long epochNanos, final MemorySegment mem, final long offset, final int length)
        throws IOException
    {
        final byte[] frame = new byte[length];
        MemorySegment.copy(mem, ValueLayout.JAVA_BYTE, offset, frame, 0, length);
        write(epochNanos, frame);
    }

    /**
     * Writes a packet buffer's frame with its timestamp ({@link PacketPool#timestamp(int)}). The buffer stays
     * with the caller.
     *
     * @param pool   the pool.
     * @param handle the packet.
     * @throws IOException when the writer is closed.
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
        try
        {
            dumper.flush();
        }
        catch (final PcapNativeException | NotOpenException e)
        {
            throw new IOException(file + ": flush failed: " + e.getMessage(), e);
        }
    }

    @Override
    public void close()
    {
        if (closed)
        {
            return;
        }
        closed = true;
        dumper.close();
        handle.close();
    }
}
