package dev.ferry.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The file-safety and exit-code rules of {@code ferry replay}: output is renamed into place only on success, a
 * failed run leaves OUT as it was, IN and OUT may not be the same file, and the exit code says who is at fault
 * (0 success, 1 bad input, 2 bad usage, 3 internal error) with the stack trace only under {@code --debug}.
 */
class ReplayFilesTest
{
    private static final Path CLUSTER = ReplayExampleTest.CLUSTER;
    private static final Path EXAMPLE = ReplayExampleTest.EXAMPLE;
    private static final byte[] PRECIOUS = "precious bytes that must survive".getBytes(StandardCharsets.US_ASCII);

    @TempDir
    Path dir;

    /** Exit code and what was printed on stdout and stderr. */
    record Run(int exit, String out, String err)
    {
    }

    private static Run run(final CommandLine cl, final String... args)
    {
        final StringWriter out = new StringWriter();
        final StringWriter err = new StringWriter();
        final int rc = cl.setOut(new PrintWriter(out)).setErr(new PrintWriter(err)).execute(args);
        return new Run(rc, out.toString(), err.toString());
    }

    private static Run replay(final String... args)
    {
        final List<String> all = new ArrayList<>(List.of("replay"));
        all.addAll(List.of(args));
        return run(Ferry.commandLine(), all.toArray(String[]::new));
    }

    private List<Path> leftovers() throws Exception
    {
        try (var s = Files.list(dir))
        {
            return s.filter(p -> p.getFileName().toString().endsWith(".part")).toList();
        }
    }

    @Test
    void shouldReplaceAnExistingOutOnlyWhenTheRunSucceeds() throws Exception
    {
        final Path out = dir.resolve("out.pcap");
        Files.write(out, PRECIOUS);

        final Run r = replay("--cluster", CLUSTER.toString(), "--node", "node-a", "--in", EXAMPLE.toString(),
            "--out", out.toString(), "--fates", "0");

        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(Files.readAllBytes(out)).startsWith(0x4d, 0x3c, 0xb2, 0xa1).hasSizeGreaterThan(1000);
        assertThat(leftovers()).as("no temporary file is left beside OUT").isEmpty();
    }

    @Test
    void shouldLeaveOutUntouchedWhenTheInputIsNotACapture() throws Exception
    {
        final Path in = dir.resolve("bad.pcap");
        Files.writeString(in, "this is not a capture file at all");
        final Path out = dir.resolve("out.pcap");
        Files.write(out, PRECIOUS);

        final Run r = replay("--cluster", CLUSTER.toString(), "--node", "node-a", "--in", in.toString(),
            "--out", out.toString());

        assertThat(r.exit()).as("bad input").isEqualTo(1);
        assertThat(r.err()).startsWith("ferry replay: " + in + ": not a pcap or pcapng file").doesNotContain("\tat ");
        assertThat(Files.readAllBytes(out)).isEqualTo(PRECIOUS);
        assertThat(leftovers()).isEmpty();
    }

    @Test
    void shouldExitOneOnABadManifestAndLeaveOutUntouched() throws Exception
    {
        final Path cluster = Files.createDirectory(dir.resolve("cluster"));
        Files.writeString(cluster.resolve("bad.yaml"), "- just\n- a list\n");
        final Path out = dir.resolve("out.pcap");
        Files.write(out, PRECIOUS);

        final Run r = replay("--cluster", cluster.toString(), "--node", "node-a", "--in", EXAMPLE.toString(),
            "--out", out.toString());

        assertThat(r.exit()).as(r.err()).isEqualTo(1);
        assertThat(r.err()).startsWith("ferry replay: ").contains("bad.yaml").doesNotContain("\tat ");
        assertThat(Files.readAllBytes(out)).isEqualTo(PRECIOUS);
    }

    @Test
    void shouldRefuseInAndOutNamingTheSameFile() throws Exception
    {
        final Path in = dir.resolve("in.pcap");
        Files.copy(EXAMPLE, in);
        final byte[] original = Files.readAllBytes(in);
        final Path link = Files.createSymbolicLink(dir.resolve("link.pcap"), in);
        final Path sub = Files.createDirectory(dir.resolve("sub"));
        final String dotted = sub + "/../in.pcap";

        for (final String out : List.of(in.toString(), link.toString(), dotted))
        {
            final Run r = replay("--cluster", CLUSTER.toString(), "--node", "node-a", "--in", in.toString(),
                "--out", out);
            assertThat(r.exit()).as("--out %s: bad usage", out).isEqualTo(2);
            assertThat(r.err()).as(out).startsWith("--in and --out name the same file");
            assertThat(Files.readAllBytes(in)).as("the input survives --out %s", out).isEqualTo(original);
        }
    }

    @Test
    void shouldExitTwoOnBadUsage()
    {
        final Run missing = replay("--cluster", CLUSTER.toString(), "--node", "node-a", "--out",
            dir.resolve("o.pcap").toString());
        final Run badLb = replay("--cluster", CLUSTER.toString(), "--node", "node-a", "--in", EXAMPLE.toString(),
            "--out", dir.resolve("o.pcap").toString(), "--lb", "roundrobin");

        assertThat(missing.exit()).isEqualTo(2);
        assertThat(missing.err()).startsWith("Missing required option: '--in=IN'");
        assertThat(badLb.exit()).isEqualTo(2);
        assertThat(badLb.err()).startsWith("--lb must be random or maglev, not 'roundrobin'");
        assertThat(Files.exists(dir.resolve("o.pcap"))).isFalse();
    }

    /** A command that fails the way a bug does. */
    @Command(name = "boom")
    static final class Boom implements Callable<Integer>
    {
        @CommandLine.Option(names = "--debug")
        private boolean debug;

        @Override
        public Integer call()
        {
            throw new IllegalStateException("invariant broken");
        }
    }

    @Test
    void shouldExitThreeOnAnInternalErrorWithTheTraceOnlyUnderDebug()
    {
        final Run quiet = run(Ferry.commandLine().addSubcommand("boom", new Boom()), "boom");
        final Run debug = run(Ferry.commandLine().addSubcommand("boom", new Boom()), "boom", "--debug");

        assertThat(quiet.exit()).isEqualTo(3);
        assertThat(quiet.err()).isEqualTo("ferry boom: invariant broken" + System.lineSeparator());
        assertThat(debug.exit()).isEqualTo(3);
        assertThat(debug.err()).startsWith("ferry boom: invariant broken" + System.lineSeparator()
            + "java.lang.IllegalStateException: invariant broken").contains("\tat ");
    }

    @Test
    void shouldPrintTheStackTraceOfBadInputOnlyUnderDebug() throws Exception
    {
        final Path in = dir.resolve("bad.pcap");
        Files.writeString(in, "garbage!");

        final Run r = replay("--cluster", CLUSTER.toString(), "--node", "node-a", "--in", in.toString(),
            "--out", dir.resolve("o.pcap").toString(), "--debug");

        assertThat(r.exit()).isEqualTo(1);
        assertThat(r.err()).startsWith("ferry replay: " + in + ": not a pcap").contains("PcapFormatException",
            "\tat ");
    }
}
