package dev.ferry.conntrack;

import dev.ferry.core.ManualClock;
import dev.ferry.core.route.Ip4;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.stream.Stream;

import static dev.ferry.conntrack.ConntrackTable.MISS;
import static dev.ferry.conntrack.ConntrackTable.ORIGINAL;
import static dev.ferry.conntrack.ConntrackTable.REPLY;
import static dev.ferry.conntrack.ConntrackTable.TCP;
import static dev.ferry.conntrack.ConntrackTable.UDP;
import static org.assertj.core.api.Assertions.assertThat;

/** The mapped state file: a restarted process finds the same flows; a bad file is set aside, never half-read. */
class ConntrackFileTest
{
    private static final long SEC = 1_000_000_000L;
    private static final int CLIENT = Ip4.parse("10.244.1.3");
    private static final int VIP = Ip4.parse("10.96.0.10");
    private static final int BACKEND = Ip4.parse("10.244.1.2");
    private static final int NODE = Ip4.parse("192.168.1.10");
    private static final int EXTERNAL = Ip4.parse("203.0.113.9");
    private static final int SYN = 0x02;
    private static final int SYN_ACK = 0x12;
    private static final int ACK = 0x10;

    @TempDir
    Path dir;

    private final ManualClock clock = new ManualClock(1_700_000_000L * SEC);
    private final ConntrackConfig config = ConntrackConfig.builder().capacity(1024).build();

    private Path file()
    {
        return dir.resolve("conntrack.state");
    }

    /** A ClusterIP flow (DNAT) and a masqueraded one (SNAT to the node, port 61000), both established. */
    private static void fill(final ConntrackTable t)
    {
        final int a = t.insert(0, TCP, CLIENT, VIP, 40000, 80, BACKEND, CLIENT, 8080, 40000);
        establish(t, a);
        final int b = t.insert(0, TCP, CLIENT, EXTERNAL, 40001, 443, EXTERNAL, NODE, 443, 61000);
        establish(t, b);
        t.insert(0, UDP, CLIENT, VIP, 5353, 53, BACKEND, CLIENT, 53, 5353);
    }

    private static void establish(final ConntrackTable t, final int e)
    {
        assertThat(t.update(e, ORIGINAL, SYN, 60)).isTrue();
        assertThat(t.update(e, REPLY, SYN_ACK, 60)).isTrue();
        assertThat(t.update(e, ORIGINAL, ACK, 52)).isTrue();
    }

    private static void assertSameFlows(final ConntrackTable t, final long[] expires)
    {
        final long a = t.lookup(0, TCP, BACKEND, CLIENT, 8080, 40000);
        assertThat(a).as("ClusterIP flow, reply direction").isNotEqualTo(MISS);
        assertThat(ConntrackTable.directionOf(a)).isEqualTo(REPLY);
        final int ea = ConntrackTable.entryOf(a);
        assertThat(t.tcpState(ea)).isEqualTo(TcpState.ESTABLISHED);
        assertThat(t.assured(ea)).isTrue();
        assertThat(t.replySrc(ea)).as("same backend").isEqualTo(BACKEND);
        final long b = t.lookup(0, TCP, CLIENT, EXTERNAL, 40001, 443);
        assertThat(b).as("masqueraded flow").isNotEqualTo(MISS);
        final int eb = ConntrackTable.entryOf(b);
        assertThat(t.replyDstPort(eb)).as("same SNAT port").isEqualTo(61000);
        assertThat(t.tupleInUse(0, TCP, EXTERNAL, NODE, 443, 61000)).as("the SNAT port stays taken").isTrue();
        assertThat(t.lookup(0, UDP, CLIENT, VIP, 5353, 53)).isNotEqualTo(MISS);
        assertThat(t.size()).isEqualTo(3);
        assertThat(new long[] {t.expiresAt(ea), t.expiresAt(eb)}).as("expiry times kept").isEqualTo(expires);
    }

    private static long[] expiries(final ConntrackTable t)
    {
        return new long[] {
            t.expiresAt(ConntrackTable.entryOf(t.lookup(0, TCP, CLIENT, VIP, 40000, 80))),
            t.expiresAt(ConntrackTable.entryOf(t.lookup(0, TCP, CLIENT, EXTERNAL, 40001, 443)))};
    }

    @Test
    void shouldFindTheSameFlowsAfterACleanCloseAndReopen() throws IOException
    {
        final long[] expires;
        try (ConntrackTable t = ConntrackTable.open(config, clock, file()))
        {
            assertThat(t.restoreReport().outcome()).isEqualTo("created");
            fill(t);
            expires = expiries(t);
        }
        clock.advance(10 * SEC);
        try (ConntrackTable t = ConntrackTable.open(config.withHashSeed(42), clock, file()))
        {
            final ConntrackTable.RestoreReport r = t.restoreReport();
            assertThat(r.outcome()).isEqualTo("restored");
            assertThat(r.cleanClose()).isTrue();
            assertThat(r.restored()).isEqualTo(3);
            assertThat(t.config().hashSeed()).as("the file's secret, not the new seed").isEqualTo(config.hashSeed());
            assertSameFlows(t, expires);
            assertThat(t.insert(0, TCP, CLIENT, VIP, 40002, 80, BACKEND, CLIENT, 8080, 40002))
                .as("new flows go into free entries").isEqualTo(3);
        }
    }

    @Test
    void shouldValidateEveryEntryAfterACrash() throws IOException
    {
        final Path crashed = dir.resolve("crashed.state");
        final long[] expires;
        try (ConntrackTable t = ConntrackTable.open(config, clock, file()))
        {
            fill(t);
            expires = expiries(t);
            // what SIGKILL leaves: the mapped pages as they are, the clean flag clear
            Files.copy(file(), crashed);
        }
        try (ConntrackTable t = ConntrackTable.open(config, clock, crashed))
        {
            assertThat(t.restoreReport().cleanClose()).isFalse();
            assertThat(t.restoreReport().restored()).isEqualTo(3);
            assertSameFlows(t, expires);
        }
    }

    @Test
    void shouldDropTornAndExpiredEntriesAfterACrashAndKeepTheRest() throws IOException
    {
        final Path crashed = dir.resolve("crashed.state");
        try (ConntrackTable t = ConntrackTable.open(config, clock, file()))
        {
            fill(t);
            final int e = t.insert(0, TCP, CLIENT, VIP, 40005, 80, BACKEND, CLIENT, 8080, 40005);
            final int dup = t.insert(0, TCP, CLIENT, VIP, 40006, 80, BACKEND, CLIENT, 8080, 40006);
            Files.copy(file(), crashed);
            // entry e: a torn insert (protocol word garbage); entry dup: both tuples equal to entry e's
            try (FileChannel ch = FileChannel.open(crashed, StandardOpenOption.WRITE, StandardOpenOption.READ))
            {
                writeInt(ch, ConntrackFile.HEADER_BYTES + e * 128L + 24, 0x7f00_0006);
                final ByteBuffer tuples = ByteBuffer.allocate(24);
                ch.read(tuples, ConntrackFile.HEADER_BYTES + 0L);
                ch.write(tuples.flip(), ConntrackFile.HEADER_BYTES + dup * 128L);
            }
        }
        try (ConntrackTable t = ConntrackTable.open(config, clock, crashed))
        {
            assertThat(t.restoreReport().invalid()).isEqualTo(2);
            assertThat(t.restoreReport().restored()).isEqualTo(3);
            assertThat(t.lookup(0, TCP, CLIENT, VIP, 40005, 80)).isEqualTo(MISS);
        }
        clock.advance(200 * SEC);
        try (ConntrackTable t = ConntrackTable.open(config, clock, crashed))
        {
            assertThat(t.restoreReport().expired()).as("the UDP flow's 30 s are up").isEqualTo(1);
            assertThat(t.restoreReport().restored()).as("established TCP lasts 5 days").isEqualTo(2);
        }
    }

    @Test
    void shouldSetACorruptHeaderAside() throws IOException
    {
        createClean();
        try (FileChannel ch = FileChannel.open(file(), StandardOpenOption.WRITE))
        {
            writeInt(ch, ConntrackFile.H_CAPACITY, 1 << 20);
        }
        assertSetAsideAndEmpty("header checksum mismatch");
    }

    @Test
    void shouldSetAFileOfAnotherVersionAside() throws IOException
    {
        createClean();
        rewriteHeaderInt(ConntrackFile.H_VERSION, ConntrackFile.VERSION + 1);
        assertSetAsideAndEmpty("format version 2, this ferry reads 1");
    }

    @Test
    void shouldSetAFileOfAnotherCapacityAside() throws IOException
    {
        createClean();
        try (ConntrackTable t = ConntrackTable.open(ConntrackConfig.builder().capacity(2048).build(), clock, file()))
        {
            assertThat(t.restoreReport().outcome()).startsWith("set aside: layout: capacity 1024");
            assertThat(t.size()).isZero();
        }
    }

    @Test
    void shouldSetATruncatedFileAside() throws IOException
    {
        createClean();
        try (RandomAccessFile f = new RandomAccessFile(file().toFile(), "rw"))
        {
            f.setLength(ConntrackFile.HEADER_BYTES + 100 * 128);
        }
        assertSetAsideAndEmpty("size");
        try (RandomAccessFile f = new RandomAccessFile(file().toFile(), "rw"))
        {
            f.setLength(100);
        }
        assertSetAsideAndEmpty("truncated (100 bytes)");
    }

    @Test
    void shouldSetACleanFileWhoseEntriesChangedAside() throws IOException
    {
        createClean();
        try (FileChannel ch = FileChannel.open(file(), StandardOpenOption.WRITE))
        {
            writeInt(ch, ConntrackFile.HEADER_BYTES + 128 + 4, Ip4.parse("10.0.0.1"));
        }
        assertSetAsideAndEmpty("entries checksum mismatch after a clean shutdown");
    }

    private void createClean() throws IOException
    {
        try (ConntrackTable t = ConntrackTable.open(config, clock, file()))
        {
            fill(t);
        }
    }

    private void assertSetAsideAndEmpty(final String reason) throws IOException
    {
        try (ConntrackTable t = ConntrackTable.open(config, clock, file()))
        {
            final ConntrackTable.RestoreReport r = t.restoreReport();
            assertThat(r.outcome()).startsWith("set aside: " + reason);
            assertThat(r.setAside().getFileName().toString()).startsWith("conntrack.state.corrupt-");
            assertThat(r.setAside()).exists();
            assertThat(t.size()).isZero();
            assertThat(t.lookup(0, TCP, CLIENT, VIP, 40000, 80)).isEqualTo(MISS);
        }
        try (Stream<Path> files = Files.list(dir))
        {
            final List<String> names = files.map(p -> p.getFileName().toString()).toList();
            assertThat(names).contains("conntrack.state");
        }
        Files.delete(dir.resolve(Files.list(dir).filter(p -> p.toString().contains("corrupt")).findFirst()
            .orElseThrow().getFileName()));
        createClean();
    }

    private void rewriteHeaderInt(final int offset, final int value) throws IOException
    {
        try (FileChannel ch = FileChannel.open(file(), StandardOpenOption.WRITE, StandardOpenOption.READ))
        {
            writeInt(ch, offset, value);
            final ByteBuffer h = ByteBuffer.allocate(ConntrackFile.H_CRC);
            ch.read(h, 0);
            final java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
            crc.update(h.flip());
            writeInt(ch, ConntrackFile.H_CRC, (int)crc.getValue());
        }
    }

    private static void writeInt(final FileChannel ch, final long offset, final int value) throws IOException
    {
        ch.write(ByteBuffer.allocate(4).order(ByteOrder.nativeOrder()).putInt(0, value), offset);
    }
}
