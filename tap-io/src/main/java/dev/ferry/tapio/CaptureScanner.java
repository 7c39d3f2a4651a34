package dev.ferry.tapio;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Locale;

/**
 * A small validating walk over a pcap or pcapng file that runs one record ahead of libpcap, so that a truncated
 * or corrupt record is reported with its exact byte offset (libpcap reports none) before libpcap reaches it.
 *
 * <pre>
 *  pcap:    | file header 24 | rec hdr 16 | caplen bytes | rec hdr 16 | caplen bytes | ...
 *            offset of record K = 24 + sum over earlier records of (16 + caplen)
 *  pcapng:  | SHB | IDB | EPB | EPB | ISB | ...   each block: type 4, total length 4, body, total length 4
 * </pre>
 *
 * <p>It only reads headers (and skips bodies) through a 64 KiB window, so it costs little beside libpcap.
 */
final class CaptureScanner implements AutoCloseable
{
    /** Largest capture length libpcap accepts for Ethernet (its MAXIMUM_SNAPLEN). */
    static final int MAX_CAPLEN = 262144;
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
    private static final int WINDOW = 64 * 1024;
    private static final int MAX_INTERFACES = 4096;

    private final Path file;
    private final FileChannel channel;
    private final long size;
    private final ByteBuffer window = ByteBuffer.allocate(WINDOW);
    private long windowStart = -1;
    private int windowLength;

    private PcapReader.Format format;
    private ByteOrder order = ByteOrder.LITTLE_ENDIAN;
    private int snaplen;
    private int linkType = -1;
    private int interfaces;
    private final int[] interfaceSnaplen = new int[MAX_INTERFACES];

    private long position;
    private long packets;
    private long packetOffset = -1;
    private int capturedLength;

    private CaptureScanner(final Path file, final FileChannel channel, final long size)
    {
        this.file = file;
        this.channel = channel;
        this.size = size;
    }

    /**
     * Opens a file and validates its header: the pcap file header, or for pcapng the section header and the
     * blocks up to the first interface description.
     *
     * @param file the capture file.
     * @return a scanner positioned before the first packet record.
     * @throws IOException when the file cannot be read or its header is bad.
     */
    static CaptureScanner open(final Path file) throws IOException
    {
        final FileChannel ch = FileChannel.open(file, StandardOpenOption.READ);
        final CaptureScanner s = new CaptureScanner(file, ch, ch.size());
        try
        {
            s.readFileHeader();
            return s;
        }
        catch (final IOException | RuntimeException e)
        {
            ch.close();
            throw e;
        }
    }

    PcapReader.Format format()
    {
        return format;
    }

    /** @return the link type, or -1 for a pcapng file without an interface description. */
    int linkType()
    {
        return linkType;
    }

    /** @return packet records walked so far. */
    long packets()
    {
        return packets;
    }

    /** @return byte offset of the packet record found by the last {@link #nextPacket()}. */
    long packetOffset()
    {
        return packetOffset;
    }

    /** @return capture length of the packet record found by the last {@link #nextPacket()}. */
    int capturedLength()
    {
        return capturedLength;
    }

    /**
     * Walks to the end of the next packet record, validating it and every block before it.
     *
     * @return false at a clean end of file.
     * @throws PcapFormatException when the next record is truncated or corrupt.
     * @throws IOException when the file cannot be read.
     */
    boolean nextPacket() throws IOException
    {
        return format == PcapReader.Format.PCAPNG ? nextBlockPacket(false) : nextPcapRecord();
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
            format = PcapReader.Format.PCAPNG;
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
        format = magic == PCAP_MAGIC_NANO ? PcapReader.Format.PCAP_NANO : PcapReader.Format.PCAP;
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
        // libpcap treats a zero or oversized snaplen as its maximum
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
        final long caplen = b.getInt(index(at + 8)) & 0xffff_ffffL;
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
        position = at + PCAP_RECORD_HEADER + caplen;
        packets++;
        return true;
    }

    /**
     * Walks pcapng blocks. In header mode it stops after the first interface description (or at end of file);
     * otherwise after the next packet block.
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
            final boolean packet = inspectBlock(at, type, total);
            position = at + total;
            if (packet)
            {
                if (headerMode)
                {
                    throw fault("packet block before any interface description block", at);
                }
                packetOffset = at;
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
        final ByteOrder sectionOrder;
        if (bom == PCAPNG_BYTE_ORDER_MAGIC)
        {
            sectionOrder = ByteOrder.BIG_ENDIAN;
        }
        else if (Integer.reverseBytes(bom) == PCAPNG_BYTE_ORDER_MAGIC)
        {
            sectionOrder = ByteOrder.LITTLE_ENDIAN;
        }
        else
        {
            throw fault("corrupt section header block: byte-order magic 0x" + hex(bom), at);
        }
        // libpcap reads a whole file in the byte order of its first section
        if (at > 0 && sectionOrder != order)
        {
            throw fault("section header block changes the byte order, which libpcap cannot read", at);
        }
        order = sectionOrder;
    }

    /** Validates the fixed part of one complete block; returns whether it carries a packet. */
    private boolean inspectBlock(final long at, final int type, final long total) throws IOException
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
                final int snap = b.getInt(index(at + 12));
                interfaceSnaplen[interfaces++] = snap <= 0 || snap > MAX_CAPLEN ? MAX_CAPLEN : snap;
                linkType = lt;
                return false;
            }
            case PCAPNG_EPB, PCAPNG_PB ->
            {
                requireBody(at, type, total, 32);
                final ByteBuffer b = load(at + 8, 24).order(order);
                final int iface = type == PCAPNG_EPB ? b.getInt(index(at + 8)) : b.getShort(index(at + 8)) & 0xffff;
                final long caplen = b.getInt(index(at + 20)) & 0xffff_ffffL;
                checkInterface(at, iface);
                checkCaplen(at, caplen, interfaceSnaplen[iface], total, 32);
                return true;
            }
            case PCAPNG_SPB ->
            {
                requireBody(at, type, total, 16);
                checkInterface(at, 0);
                final long origlen = load(at + 8, 4).order(order).getInt(index(at + 8)) & 0xffff_ffffL;
                final long caplen = Math.min(origlen, interfaceSnaplen[0]);
                checkCaplen(at, caplen, interfaceSnaplen[0], total, 16);
                return true;
            }
            default ->
            {
                return false;
            }
        }
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
        channel.close();
    }
}
