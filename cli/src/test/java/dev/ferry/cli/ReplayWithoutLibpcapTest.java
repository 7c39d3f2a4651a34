package dev.ferry.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The README's first command on a machine without libpcap: a JVM started in a private mount namespace
 * ({@code unshare -m}) where every {@code libpcap.so*} is covered by an empty file. Replay reads and writes
 * captures in Java, so it succeeds and tshark (run outside, where libpcap is) dissects its output; only
 * {@code --filter} needs libpcap and says so in one line. Needs root for the mount namespace.
 */
class ReplayWithoutLibpcapTest
{
    private static final Path ROOT = ReplayExampleTest.ROOT;

    @TempDir
    static Path dir;
    static List<Path> libraries;

    @BeforeAll
    static void needsRootAndUnshare() throws IOException
    {
        assumeTrue("root".equals(System.getProperty("user.name")), "needs root for a private mount namespace "
            + "(unshare -m) in which libpcap is hidden");
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/unshare")), "needs unshare (util-linux)");
        libraries = new ArrayList<>();
        for (final String d : List.of("/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib"))
        {
            final Path p = Path.of(d);
            if (!Files.isDirectory(p) || !p.toRealPath().equals(p))
            {
                continue;
            }
            try (var s = Files.list(p))
            {
                s.filter(f -> f.getFileName().toString().startsWith("libpcap.so")).forEach(libraries::add);
            }
        }
    }

    /** Runs ferry with the given arguments in a mount namespace where every libpcap is an empty file. */
    private static Result ferryWithoutLibpcap(final String... args) throws Exception
    {
        final Path empty = dir.resolve("empty.so");
        Files.write(empty, new byte[0]);
        final StringBuilder script = new StringBuilder("set -e\n");
        for (final Path lib : libraries)
        {
            script.append("mount --bind ").append(empty).append(' ').append(lib).append('\n');
        }
        // prove the hiding worked before running ferry
        script.append("for f in ").append(libraries.isEmpty() ? "/nonexistent" : String.join(" ",
            libraries.stream().map(Path::toString).toList())).append("; do test ! -s \"$f\" || test ! -e \"$f\"; "
            + "done\n");
        script.append("exec \"$@\"\n");
        final String java = ProcessHandle.current().info().command().orElseThrow();
        final List<String> cmd = new ArrayList<>(List.of("unshare", "-m", "--propagation", "private", "sh", "-c",
            script.toString(), "sh", java, "--enable-native-access=ALL-UNNAMED", "-cp",
            System.getProperty("java.class.path"), Ferry.class.getName()));
        cmd.addAll(List.of(args));
        final Process p = new ProcessBuilder(cmd).directory(ROOT.toFile()).redirectErrorStream(false).start();
        final byte[] out = p.getInputStream().readAllBytes();
        final byte[] err = p.getErrorStream().readAllBytes();
        assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
        return new Result(p.exitValue(), new String(out, StandardCharsets.UTF_8),
            new String(err, StandardCharsets.UTF_8));
    }

    /** Exit code and output of a run. */
    record Result(int exit, String out, String err)
    {
    }

    @Test
    void readmeFirstCommandSucceedsWithoutLibpcapAndTsharkReadsItsOutput() throws Exception
    {
        final Path out = dir.resolve("OUT.pcap");

        final Result r = ferryWithoutLibpcap("replay", "--cluster", "examples/two-node/cluster", "--node", "node-a",
            "--in", "examples/two-node/node-a.pcap", "--out", out.toString(), "--trace", "3");

        assertThat(r.exit()).as(r.out() + r.err()).isZero();
        assertThat(r.out()).contains("Frames:", "Trace:", "Packet 1:", "frames out, written to " + out);
        Tshark.assumeAvailable();
        final List<List<String>> rows = Tshark.fields(out, List.of(), "frame.number", "ip.checksum.status");
        assertThat(rows).hasSizeGreaterThan(10);
        assertThat(rows).as("no bad IPv4 checksum (0) in any frame").allSatisfy(row ->
            assertThat(row.get(1).split(",")).doesNotContain("0"));
    }

    @Test
    void filterWithoutLibpcapFailsInOneLineNamingThePackage() throws Exception
    {
        assumeTrue(!libraries.isEmpty(), "no libpcap installed to hide");

        final Result r = ferryWithoutLibpcap("replay", "--cluster", "examples/two-node/cluster", "--node", "node-a",
            "--in", "examples/two-node/node-a.pcap", "--out", dir.resolve("f.pcap").toString(), "--filter", "tcp");

        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.err().lines().findFirst().orElse("")).isEqualTo("--filter needs libpcap to compile the "
            + "expression, and it is not installed: install the Debian package libpcap0.8");
    }
}
