package dev.ferry.tapio;

import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class PcapFaultTest
{
    private static final long T0 = 1_700_000_000_000_000_001L;

    @TempDir
    Path dir;

    /** Writes n records and returns the file's bytes; record k (from 1) starts at offsetOf(k). */
    private byte[] pcapOf(final int n) throws IOException
    {
        final Path p = dir.resolve("whole.pcap");
        try (PcapWriter out = PcapWriter.create(p))
        {
            for (int i = 0; i < n; i++)
            {
                out.write(T0 + i, TestFiles.udpFrame(i));
            }
        }
        return Files.readAllBytes(p);
    }

    private static long offsetOf(final int record)
    {
        long off = 24;
        for (int i = 0; i < record - 1; i++)
        {
            off += 16 + TestFiles.udpFrame(i).length;
        }
        return off;
    }

    private Path write(final String name, final byte[] bytes) throws IOException
    {
        final Path p = dir.resolve(name);
        Files.write(p, bytes);
        return p;
    }

    @SuppressWarnings("unchecked")
    private static List<TestFiles.Rec> records(final Object[] result)
    {
        return (List<TestFiles.Rec>)result[0];
    }

    @Test
    void shouldReportTruncatedRecordHeaderWithOffsetAfterReturningEarlierFrames() throws IOException
    {
        final byte[] whole = pcapOf(4);
        final long at = offsetOf(4);
        final Path file = write("hdr.pcap", Arrays.copyOf(whole, (int)at + 7));

        final Object[] result = TestFiles.readUntilFault(file);

        assertThat(records(result)).hasSize(3);
        assertThat(records(result).get(2).frame()).isEqualTo(TestFiles.udpFrame(2));
        assertThat(((PcapFormatException)result[1])).hasMessage(file + ": truncated record header (needs 16 bytes, 7 left) at byte offset " + at + " (record 4)");
        assertThat(((PcapFormatException)result[1]).offset()).isEqualTo(at);
    }

    @Test
    void shouldReportTruncatedRecordBodyWithOffsetAfterReturningEarlierFrames() throws IOException
    {
        final byte[] whole = pcapOf(4);
        final long at = offsetOf(3);
        final int caplen = TestFiles.udpFrame(2).length;
        final Path file = write("body.pcap", Arrays.copyOf(whole, (int)at + 16 + 10));

        final Object[] result = TestFiles.readUntilFault(file);

        assertThat(records(result)).extracting(TestFiles.Rec::nanos).containsExactly(T0, T0 + 1);
        assertThat(((PcapFormatException)result[1])).hasMessage(file + ": truncated record body (needs " + caplen
            + " bytes, 10 left) at byte offset " + at + " (record 3)");
    }

    @Test
    void shouldReportGarbageMagicAtOffsetZero() throws IOException
    {
        final byte[] bytes = pcapOf(2);
        bytes[0] = 'G';
        bytes[1] = 'A';
        bytes[2] = 'R';
        bytes[3] = 'B';
        final Path file = write("garbage.pcap", bytes);
        assertThatThrownBy(() -> PcapReader.open(file)).isInstanceOf(PcapFormatException.class)
            .hasMessage(file + ": not a pcap or pcapng file (magic number 0x47415242) at byte offset 0 (record 1)");
    }

    @Test
    void shouldReportCorruptCaptureLength() throws IOException
    {
        final byte[] bytes = pcapOf(3);
        final int at = (int)offsetOf(2);
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putInt(at + 8, 300_000);
        final Path file = write("caplen.pcap", bytes);

        final Object[] result = TestFiles.readUntilFault(file);

        assertThat(records(result)).hasSize(1);
        assertThat(((PcapFormatException)result[1])).hasMessage(file
            + ": corrupt record: capture length 300000 exceeds the snaplen 262144 at byte offset " + at + " (record 2)");
    }

    @Test
    void shouldRefuseLinkTypesOtherThanEthernet() throws IOException
    {
        final byte[] bytes = pcapOf(1);
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putInt(20, 101);
        final Path file = write("raw.pcap", bytes);
        assertThatThrownBy(() -> PcapReader.open(file)).isInstanceOf(PcapFormatException.class)
            .hasMessage(file + ": link type 101 is not Ethernet (1) at byte offset 20 (record 1)");
    }

    @Test
    void shouldReportTruncatedFileHeader() throws IOException
    {
        final Path file = write("short.pcap", Arrays.copyOf(pcapOf(1), 10));
        assertThatThrownBy(() -> PcapReader.open(file)).isInstanceOf(PcapFormatException.class)
            .hasMessage(file + ": truncated file header (10 of 24 bytes) at byte offset 0 (record 1)");
    }

    @Test
    void shouldReadAnEmptyPcap() throws IOException
    {
        final Path file = write("empty.pcap", Arrays.copyOf(pcapOf(1), 24));
        assertThat(TestFiles.readAll(file)).isEmpty();
    }

    @Test
    void shouldDeferTheFaultUntilTheFramesBeforeItAreReceived() throws IOException
    {
        final byte[] whole = pcapOf(4);
        final Path file = write("deferred.pcap", Arrays.copyOf(whole, (int)offsetOf(4) + 3));
        try (PacketPool pool = new PacketPool(16); PcapReader in = PcapReader.open(file))
        {
            final PacketVector v = new PacketVector();
            assertThat(in.receive(pool, v, 0)).isEqualTo(3);
            assertThat(pool.toArray(v.get(2))).isEqualTo(TestFiles.udpFrame(2));
            PcapRoundTripTest.freeAll(pool, v);
            assertThatThrownBy(() -> in.receive(pool, v, 0)).isInstanceOf(PcapFormatException.class)
                .hasMessageContaining("truncated record header").hasMessageContaining("(record 4)");
            assertThat(v.count()).isZero();
            assertThat(pool.available()).isEqualTo(pool.capacity());
        }
    }

    @Test
    void shouldReadHandWrittenNanosecondPcapngWithSkippedBlocksAndTwoSections() throws IOException
    {
        final PcapngBlocks ng = new PcapngBlocks(ByteOrder.LITTLE_ENDIAN).sectionHeader()
            .interfaceDescription(1, 9)
            .enhancedPacket(0, T0, TestFiles.udpFrame(0))
            .custom(8)
            .enhancedPacket(0, T0 + 5, TestFiles.udpFrame(1));
        // libpcap wants one byte order per file; the second section differs in resolution (microseconds)
        final byte[] second = new PcapngBlocks(ByteOrder.LITTLE_ENDIAN).sectionHeader()
            .interfaceDescription(1, -1)
            .enhancedPacket(0, 1_700_000_000_000_001L, TestFiles.udpFrame(2))
            .simplePacket(TestFiles.udpFrame(3)).bytes();
        final Path file = write("hand.pcapng", ng.raw(second).bytes());

        final List<TestFiles.Rec> recs = TestFiles.readAll(file);

        assertThat(recs).extracting(TestFiles.Rec::nanos)
            .containsExactly(T0, T0 + 5, 1_700_000_000_000_001_000L, 0L);
        for (int i = 0; i < 4; i++)
        {
            assertThat(recs.get(i).frame()).as("frame %d", i + 1).isEqualTo(TestFiles.udpFrame(i));
        }
    }

    @Test
    void shouldReadASectionThatChangesByteOrder() throws IOException
    {
        final PcapngBlocks ng = new PcapngBlocks(ByteOrder.LITTLE_ENDIAN).sectionHeader()
            .interfaceDescription(1, 9).enhancedPacket(0, T0, TestFiles.udpFrame(0));
        ng.raw(new PcapngBlocks(ByteOrder.BIG_ENDIAN).sectionHeader().interfaceDescription(1, 9)
            .enhancedPacket(0, T0 + 1, TestFiles.udpFrame(1)).bytes());
        final Path file = write("mixed.pcapng", ng.bytes());

        final List<TestFiles.Rec> recs = TestFiles.readAll(file);

        assertThat(recs).extracting(TestFiles.Rec::nanos).containsExactly(T0, T0 + 1);
        assertThat(recs.get(1).frame()).isEqualTo(TestFiles.udpFrame(1));
    }

    @Test
    void shouldHonourEachInterfacesResolutionAndOffset() throws IOException
    {
        // interface 0: nanoseconds; 1: microseconds (no option); 2: 2^-10 s; 3: milliseconds with if_tsoffset
        final PcapngBlocks ng = new PcapngBlocks(ByteOrder.LITTLE_ENDIAN).sectionHeader()
            .interfaceDescription(1, 9).interfaceDescription(1, -1).interfaceDescription(1, 0x8a)
            .rawInterfaceWithOffset(3, 1_000L)
            .enhancedPacket(0, T0, TestFiles.udpFrame(0))
            .enhancedPacket(1, 1_700_000_000_000_001L, TestFiles.udpFrame(1))
            .enhancedPacket(2, 3L * 1024 + 512, TestFiles.udpFrame(2))
            .enhancedPacket(3, 2_500L, TestFiles.udpFrame(3));
        final Path file = write("ifaces.pcapng", ng.bytes());

        final List<TestFiles.Rec> recs = TestFiles.readAll(file);

        assertThat(recs).extracting(TestFiles.Rec::nanos).containsExactly(T0, 1_700_000_000_000_001_000L,
            3_500_000_000L, 1_002_500_000_000L);
    }

    @Test
    void shouldReadBigEndianPcapng() throws IOException
    {
        final Path file = write("be.pcapng", new PcapngBlocks(ByteOrder.BIG_ENDIAN).sectionHeader()
            .interfaceDescription(1, 9).enhancedPacket(0, T0, TestFiles.udpFrame(0)).custom(4)
            .enhancedPacket(0, T0 + 1, TestFiles.udpFrame(1)).bytes());
        final List<TestFiles.Rec> recs = TestFiles.readAll(file);
        assertThat(recs).extracting(TestFiles.Rec::nanos).containsExactly(T0, T0 + 1);
        assertThat(recs.get(1).frame()).isEqualTo(TestFiles.udpFrame(1));
    }

    @Test
    void shouldReportTruncatedPcapngBlockWithItsOffset() throws IOException
    {
        final PcapngBlocks ng = new PcapngBlocks(ByteOrder.LITTLE_ENDIAN).sectionHeader()
            .interfaceDescription(1, 9)
            .enhancedPacket(0, T0, TestFiles.udpFrame(0));
        final int at = ng.size();
        ng.enhancedPacket(0, T0 + 1, TestFiles.udpFrame(1));
        final byte[] whole = ng.bytes();
        final Path file = write("trunc.pcapng", Arrays.copyOf(whole, whole.length - 6));

        final Object[] result = TestFiles.readUntilFault(file);

        assertThat(records(result)).hasSize(1);
        final int total = whole.length - at;
        assertThat(((PcapFormatException)result[1])).hasMessage(file + ": truncated block (type 0x00000006, needs "
            + total + " bytes, " + (total - 6) + " left) at byte offset " + at + " (record 2)");
    }

    @Test
    void shouldReportCorruptPcapngTrailer() throws IOException
    {
        final PcapngBlocks ng = new PcapngBlocks(ByteOrder.LITTLE_ENDIAN).sectionHeader()
            .interfaceDescription(1, 9);
        final int at = ng.size();
        ng.enhancedPacket(0, T0, TestFiles.udpFrame(0));
        final byte[] bytes = ng.bytes();
        bytes[bytes.length - 4] ^= 0x40;
        final Path file = write("trailer.pcapng", bytes);

        final Object[] result = TestFiles.readUntilFault(file);

        assertThat(records(result)).isEmpty();
        assertThat(((PcapFormatException)result[1]).offset()).isEqualTo(at);
        assertThat(((PcapFormatException)result[1])).hasMessageContaining("trailing length")
            .hasMessageEndingWith("at byte offset " + at + " (record 1)");
    }

    @Test
    void shouldRefusePcapngInterfacesThatAreNotEthernet() throws IOException
    {
        final PcapngBlocks ng = new PcapngBlocks(ByteOrder.LITTLE_ENDIAN).sectionHeader();
        final int at = ng.size();
        ng.interfaceDescription(101, 9).enhancedPacket(0, T0, TestFiles.udpFrame(0));
        final Path file = write("raw.pcapng", ng.bytes());
        assertThatThrownBy(() -> PcapReader.open(file)).isInstanceOf(PcapFormatException.class)
            .hasMessage(file + ": interface 0 has link type 101, not Ethernet (1) at byte offset " + at + " (record 1)");
    }

    @Test
    void shouldReadAPcapngWithoutInterfacesAsEmpty() throws IOException
    {
        final Path file = write("noif.pcapng", new PcapngBlocks(ByteOrder.LITTLE_ENDIAN).sectionHeader().bytes());
        assertThat(TestFiles.readAll(file)).isEmpty();
    }
}
