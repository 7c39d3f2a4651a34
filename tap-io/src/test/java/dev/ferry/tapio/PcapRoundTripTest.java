package dev.ferry.tapio;

import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class PcapRoundTripTest
{
    private static final long T0 = 1_764_072_000_123_456_789L;

    @TempDir
    Path dir;

    @Test
    void shouldKeepFramesAndNanosecondTimestampsExactly() throws IOException
    {
        final Path file = dir.resolve("ns.pcap");
        try (PcapWriter out = PcapWriter.create(file))
        {
            for (int i = 0; i < 5; i++)
            {
                out.write(T0 + i * 1_001L, TestFiles.udpFrame(i));
            }
            assertThat(out.written()).isEqualTo(5);
        }
        final List<TestFiles.Rec> recs = TestFiles.readAll(file);
        assertThat(recs).hasSize(5);
        for (int i = 0; i < 5; i++)
        {
            assertThat(recs.get(i).nanos()).as("timestamp of record %d", i + 1).isEqualTo(T0 + i * 1_001L);
            assertThat(recs.get(i).frame()).as("frame %d", i + 1).isEqualTo(TestFiles.udpFrame(i));
        }
        try (PcapReader in = PcapReader.open(file))
        {
            assertThat(in.format()).isEqualTo(PcapReader.Format.PCAP_NANO);
            assertThat(in.next()).isTrue();
            assertThat(in.record()).isEqualTo(1);
            assertThat(in.recordOffset()).isEqualTo(24);
            assertThat(in.originalLength()).isEqualTo(TestFiles.udpFrame(0).length);
        }
        // magic 0xa1b23c4d in host (little-endian) order, version 2.4, snaplen 262144, link type 1
        assertThat(HexFormat.of().formatHex(Files.readAllBytes(file), 0, 24))
            .isEqualTo("4d3cb2a1" + "02000400" + "00000000" + "00000000" + "00000400" + "01000000");
    }

    @Test
    void shouldTruncateToMicrosecondsInMicrosecondFiles() throws IOException
    {
        final Path file = dir.resolve("us.pcap");
        try (PcapWriter out = PcapWriter.create(file, PcapWriter.Precision.MICRO))
        {
            out.write(T0, TestFiles.udpFrame(1));
            out.write(T0 + 999L, TestFiles.udpFrame(2));
            out.write(T0 + 1_000L, TestFiles.udpFrame(3));
        }
        final List<TestFiles.Rec> recs = TestFiles.readAll(file);
        assertThat(recs).extracting(TestFiles.Rec::nanos)
            .containsExactly(1_764_072_000_123_456_000L, 1_764_072_000_123_457_000L, 1_764_072_000_123_457_000L);
        assertThat(recs.get(2).frame()).isEqualTo(TestFiles.udpFrame(3));
        try (PcapReader in = PcapReader.open(file))
        {
            assertThat(in.format()).isEqualTo(PcapReader.Format.PCAP);
        }
    }

    @Test
    void shouldWriteByteIdenticalFilesForIdenticalInput() throws IOException
    {
        final Path a = dir.resolve("a.pcap");
        final Path b = dir.resolve("b.pcap");
        for (final Path p : List.of(a, b))
        {
            try (PcapWriter out = PcapWriter.create(p))
            {
                for (int i = 0; i < 20; i++)
                {
                    out.write(T0 + i, TestFiles.udpFrame(i));
                }
            }
        }
        assertThat(Files.readAllBytes(a)).isEqualTo(Files.readAllBytes(b));
        assertThat(Files.size(a)).isEqualTo(24 + 20 * 16 + sumOfFrameLengths(20));
    }

    @Test
    void shouldWriteFromPacketBuffers() throws IOException
    {
        final Path file = dir.resolve("pool.pcap");
        try (PacketPool pool = new PacketPool(4); PcapWriter out = PcapWriter.create(file))
        {
            final int h = pool.allocate();
            final byte[] f = TestFiles.udpFrame(7);
            pool.write(h, f, 0, f.length);
            pool.timestamp(h, T0);
            out.write(pool, h);
            final MemorySegment heap = MemorySegment.ofArray(new byte[f.length + 10]);
            MemorySegment.copy(f, 0, heap, java.lang.foreign.ValueLayout.JAVA_BYTE, 10, f.length);
            out.write(T0 + 5, heap, 10, f.length);
            pool.free(h);
            assertThat(pool.available()).isEqualTo(pool.capacity());
        }
        assertThat(TestFiles.readAll(file)).extracting(TestFiles.Rec::nanos).containsExactly(T0, T0 + 5);
        assertThat(TestFiles.readAll(file).get(1).frame()).isEqualTo(TestFiles.udpFrame(7));
    }

    @Test
    void shouldRejectTimestampsAndFramesThatDoNotFitAPcapRecord() throws IOException
    {
        try (PcapWriter out = PcapWriter.create(dir.resolve("bad.pcap")))
        {
            assertThatThrownBy(() -> out.write(-1L, TestFiles.udpFrame(1)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("does not fit a pcap record");
            assertThatThrownBy(() -> out.write(T0, new byte[PcapWriter.SNAPLEN + 1]))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("exceeds 262144");
        }
    }

    @Test
    void shouldBeDissectedByTshark() throws Exception
    {
        final Path file = dir.resolve("tshark.pcap");
        try (PcapWriter out = PcapWriter.create(file))
        {
            out.write(T0, TestFiles.udpFrame(1));
            out.write(T0 + 1L, TestFiles.udpFrame(2));
        }
        final String fields = TestFiles.tshark("-r", file.toString(), "-T", "fields", "-E", "separator=|",
            "-e", "frame.time_epoch", "-e", "eth.src", "-e", "ip.src", "-e", "ip.dst", "-e", "udp.srcport",
            "-e", "udp.dstport", "-e", "ip.checksum.status");
        assertThat(fields.lines().toList()).containsExactly(
            "1764072000.123456789|02:00:00:00:00:01|10.244.1.2|10.244.2.3|10001|53|2",
            "1764072000.123456790|02:00:00:00:00:01|10.244.1.2|10.244.2.3|10002|53|2");
    }

    @Test
    void shouldWritePcapngWithSeveralInterfacesThatTsharkDissects() throws Exception
    {
        final Path file = dir.resolve("ifaces.pcapng");
        try (PcapWriter out = PcapWriter.createPcapng(file, List.of("uplink", "pod-a")))
        {
            final byte[] f1 = TestFiles.udpFrame(1);
            final byte[] f2 = TestFiles.udpFrame(22);
            out.write(T0, 1, MemorySegment.ofArray(f1), 0, f1.length);
            out.write(T0 + 3L, 0, MemorySegment.ofArray(f2), 0, f2.length);
        }
        final String fields = TestFiles.tshark("-r", file.toString(), "-T", "fields", "-E", "separator=|",
            "-e", "frame.time_epoch", "-e", "frame.interface_name", "-e", "udp.srcport");
        assertThat(fields.lines().toList()).containsExactly(
            "1764072000.123456789|pod-a|10001",
            "1764072000.123456792|uplink|10022");
        final List<TestFiles.Rec> back = TestFiles.readAll(file);
        assertThat(back).extracting(TestFiles.Rec::nanos).containsExactly(T0, T0 + 3L);
        assertThat(back.get(1).frame()).isEqualTo(TestFiles.udpFrame(22));
    }

    @Test
    void shouldWritePcapngWithMoreInterfacesThanOneBufferHolds() throws Exception
    {
        // 30,000 interface descriptions of about 56 bytes: more than the writer's 1 MiB buffer (a whole cluster)
        final Path file = dir.resolve("many-ifaces.pcapng");
        final List<String> names = java.util.stream.IntStream.range(0, 30_000).mapToObj(i -> "node-" + i + "/tap" + i)
            .toList();
        try (PcapWriter out = PcapWriter.createPcapng(file, names))
        {
            final byte[] f = TestFiles.udpFrame(7);
            out.write(T0, 29_999, MemorySegment.ofArray(f), 0, f.length);
        }
        final String fields = TestFiles.tshark("-r", file.toString(), "-T", "fields", "-E", "separator=|",
            "-e", "frame.interface_name", "-e", "udp.srcport");
        assertThat(fields.lines().toList()).containsExactly("node-29999/tap29999|10007");
        final List<TestFiles.Rec> back = TestFiles.readAll(file);
        assertThat(back).as("ferry reads back what it wrote").extracting(TestFiles.Rec::nanos).containsExactly(T0);
        assertThat(back.getFirst().frame()).isEqualTo(TestFiles.udpFrame(7));
    }

    @Test
    void shouldReadPcapngWrittenByTshark() throws Exception
    {
        final Path pcap = dir.resolve("src.pcap");
        final Path pcapng = dir.resolve("src.pcapng");
        try (PcapWriter out = PcapWriter.create(pcap))
        {
            for (int i = 0; i < 4; i++)
            {
                out.write(T0 + i * 7L, TestFiles.udpFrame(i));
            }
        }
        TestFiles.tshark("-r", pcap.toString(), "-F", "pcapng", "-w", pcapng.toString());
        try (PcapReader in = PcapReader.open(pcapng))
        {
            assertThat(in.format()).isEqualTo(PcapReader.Format.PCAPNG);
        }
        final List<TestFiles.Rec> recs = TestFiles.readAll(pcapng);
        assertThat(recs).hasSize(4);
        for (int i = 0; i < 4; i++)
        {
            assertThat(recs.get(i).nanos()).isEqualTo(T0 + i * 7L);
            assertThat(recs.get(i).frame()).isEqualTo(TestFiles.udpFrame(i));
        }
    }

    @Test
    void shouldReceiveIntoPoolBuffersAVectorAtATime() throws IOException
    {
        final Path file = dir.resolve("many.pcap");
        try (PcapWriter out = PcapWriter.create(file))
        {
            for (int i = 0; i < 300; i++)
            {
                out.write(T0 + i, TestFiles.udpFrame(i));
            }
        }
        try (PacketPool pool = new PacketPool(512); PcapReader in = PcapReader.open(file))
        {
            final PacketVector v = new PacketVector();
            assertThat(in.receive(pool, v, 3)).isEqualTo(256);
            for (int i = 0; i < 256; i++)
            {
                assertThat(pool.toArray(v.get(i))).as("frame %d", i).isEqualTo(TestFiles.udpFrame(i));
            }
            final int h = v.get(255);
            assertThat(pool.timestamp(h)).isEqualTo(T0 + 255);
            assertThat(pool.rxPort(h)).isEqualTo(3);
            freeAll(pool, v);
            assertThat(in.receive(pool, v, 3)).isEqualTo(44);
            freeAll(pool, v);
            assertThat(in.receive(pool, v, 3)).isZero();
            assertThat(pool.available()).isEqualTo(pool.capacity());
        }
    }

    static void freeAll(final PacketPool pool, final PacketVector v)
    {
        for (int i = 0; i < v.count(); i++)
        {
            pool.free(v.get(i));
        }
        v.clear();
    }

    private static long sumOfFrameLengths(final int n)
    {
        long sum = 0;
        for (int i = 0; i < n; i++)
        {
            sum += TestFiles.udpFrame(i).length;
        }
        return sum;
    }
}
