package dev.ferry.tapio;

import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;

import java.io.EOFException;
import java.io.IOException;
import java.nio.file.Path;
import java.sql.Timestamp;
import java.util.concurrent.TimeoutException;

import org.pcap4j.core.NotOpenException;
import org.pcap4j.core.PcapHandle;
import org.pcap4j.core.PcapNativeException;
import org.pcap4j.core.Pcaps;

/**
 * Reads Ethernet frames and their timestamps from a pcap (microsecond or nanosecond) or pcapng file through
 * pcap4j and libpcap.
 *
 * <pre>
 *   file ──► CaptureScanner (validates the next record, knows its byte offset)
 *        └─► libpcap (pcap_next_ex, nanosecond precision) ──► next(): timestampNanos(), frame()
 *                                                          └─► receive(): PacketPool buffers, a vector at a time
 * </pre>
 *
 * <p>Timestamps come back in nanoseconds since the epoch whatever the file's resolution. A truncated or corrupt
 * file raises {@link PcapFormatException} naming the byte offset and record of the fault; every record before it
 * has been returned and stays valid, so a caller such as replay writes what it processed and then reports the
 * error. Reading allocates one array per record (this is the I/O edge, not the hot path).
 *
 * <pre>
 *   try (PcapReader in = PcapReader.open(path))
 *   {
 *       while (in.next())
 *       {
 *           use(in.timestampNanos(), in.frame());
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

    static
    {
        NativePcap.configure();
    }

    private final Path file;
    private final CaptureScanner scanner;
    private final PcapHandle handle;
    private long timestampNanos;
    private byte[] frame;
    private int originalLength;
    private long oversizeFrames;
    private PcapFormatException deferred;
    private boolean closed;

    private PcapReader(final Path file, final CaptureScanner scanner, final PcapHandle handle)
    {
        this.file = file;
        this.scanner = scanner;
        this.handle = handle;
    }

    /**
     * Opens a capture file. The file header is checked here: its link type must be Ethernet.
     *
     * @param file a pcap or pcapng file.
     * @return the reader, positioned before the first record.
     * @throws PcapFormatException when the header is bad or the link type is not Ethernet.
     * @throws IOException when the file cannot be read.
     */
    public static PcapReader open(final Path file) throws IOException
    {
        final CaptureScanner scanner = CaptureScanner.open(file);
        try
        {
            // a pcapng file with no interface description has no packets, and libpcap refuses to open it
            final PcapHandle handle = scanner.linkType() < 0 ? null :
                Pcaps.openOffline(file.toString(), PcapHandle.TimestampPrecision.NANO);
            return new PcapReader(file, scanner, handle);
        }
        catch (final PcapNativeException e)
        {
            scanner.close();
            throw new IOException(file + ": libpcap cannot open it: " + e.getMessage(), e);
        }
    }

    /** @return the file's format. */
    public Format format()
    {
        return scanner.format();
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
        if (!scanner.nextPacket())
        {
            frame = null;
            return false;
        }
        final byte[] raw;
        try
        {
            raw = handle.getNextRawPacketEx();
        }
        catch (final EOFException e)
        {
            throw fault("libpcap ended early");
        }
        catch (final PcapNativeException | TimeoutException | NotOpenException e)
        {
            throw fault("libpcap: " + e.getMessage());
        }
        if (raw.length != scanner.capturedLength())
        {
            throw fault("libpcap returned " + raw.length + " bytes where the record holds " + scanner.capturedLength());
        }
        final Timestamp ts = handle.getTimestamp();
        timestampNanos = Math.floorDiv(ts.getTime(), 1000L) * 1_000_000_000L + ts.getNanos();
        originalLength = handle.getOriginalLength();
        frame = raw;
        return true;
    }

    private PcapFormatException fault(final String what)
    {
        return new PcapFormatException(file, what, scanner.packetOffset(), scanner.packets());
    }

    /** @return the current record's timestamp, in nanoseconds since the epoch. */
    public long timestampNanos()
    {
        return timestampNanos;
    }

    /** @return the current record's frame (as captured; a new array per record, which the caller may keep). */
    public byte[] frame()
    {
        return frame;
    }

    /** @return the current record's length on the wire (at least the captured length). */
    public int originalLength()
    {
        return originalLength;
    }

    /** @return the number of the current record, from 1. */
    public long record()
    {
        return scanner.packets();
    }

    /** @return the byte offset of the current record in the file. */
    public long recordOffset()
    {
        return scanner.packetOffset();
    }

    /** @return frames that {@link #receive} skipped because they do not fit a pool buffer. */
    public long oversizeFrames()
    {
        return oversizeFrames;
    }

    /**
     * Reads frames into pool buffers at the headroom mark until {@code out} is full, the pool is empty or the
     * file ends. Each buffer gets the rx port and the record's timestamp. A frame larger than a buffer is
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
            final int h = pool.allocate();
            if (h == PacketPool.NO_BUFFER)
            {
                break;
            }
            final boolean more;
            try
            {
                more = next();
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
            if (frame.length > room)
            {
                pool.free(h);
                oversizeFrames++;
                continue;
            }
            pool.write(h, frame, 0, frame.length);
            pool.rxPort(h, rxPort);
            pool.timestamp(h, timestampNanos);
            out.add(h);
            added++;
        }
        return added;
    }

    @Override
    public void close() throws IOException
    {
        if (closed)
        {
            return;
        }
        closed = true;
        if (handle != null)
        {
            handle.close();
        }
        scanner.close();
    }
}
