package dev.ferry.tapio;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A capture file is truncated or corrupt. The message names the file, what is wrong, the exact byte offset of
 * the fault and the record being read, e.g.
 * {@code in.pcap: truncated record body (needs 98 bytes, 40 left) at byte offset 1234 (record 12)}.
 *
 * <p>Records count from 1: record K is the K-th packet of the file, the one the reader was looking for when it
 * met the fault. Every record before it was complete and has been returned.
 */
public final class PcapFormatException extends IOException
{
    private static final long serialVersionUID = 1L;

    private final transient Path file;
    private final String what;
    private final long offset;
    private final long record;

    /**
     * @param file   the capture file.
     * @param what   what is wrong, e.g. "truncated record header".
     * @param offset byte offset of the fault from the start of the file.
     * @param record number of the packet record being read, from 1.
     */
    public PcapFormatException(final Path file, final String what, final long offset, final long record)
    {
        super(file + ": " + what + " at byte offset " + offset + " (record " + record + ")");
        this.file = file;
        this.what = what;
        this.offset = offset;
        this.record = record;
    }

    /** @return the capture file. */
    public Path file()
    {
        return file;
    }

    /** @return what is wrong, without the file name and offset. */
    public String what()
    {
        return what;
    }

    /** @return the byte offset of the fault from the start of the file. */
    public long offset()
    {
        return offset;
    }

    /** @return the number of the packet record being read when the fault was met, from 1. */
    public long record()
    {
        return record;
    }
}
