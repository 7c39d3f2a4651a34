package dev.ferry.cli;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Runs tshark as an independent dissector over replay output: one row per frame, one column per field.
 */
final class Tshark
{
    /** The skip reason; the same words as vxlan's TsharkReplayTest, so the skip summary groups them. */
    private static final String REASON = "needs tshark on the PATH to dissect the output (apt-get install tshark; .ci/run "
        + "installs it)";

    private Tshark()
    {
    }

    /** Looks where {@link #fields} runs it from: the PATH. */
    static boolean available()
    {
        final String path = System.getenv("PATH");
        return path != null && Arrays.stream(path.split(File.pathSeparator))
            .anyMatch(dir -> !dir.isEmpty() && Files.isExecutable(Path.of(dir, "tshark")));
    }

    static void assumeAvailable()
    {
        assumeTrue(available(), REASON);
    }

    /**
     * @param pcap   capture.
     * @param extra  extra tshark options (e.g. "-d", "udp.port==8472,vxlan"), may be empty.
     * @param fields field names.
     * @return rows of field values (multi-occurrence fields come comma separated).
     */
    static List<List<String>> fields(final Path pcap, final List<String> extra, final String... fields)
        throws IOException, InterruptedException
    {
        final List<String> cmd = new ArrayList<>(List.of("tshark", "-n", "-r", pcap.toString(),
            "-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
            "-T", "fields", "-E", "separator=|", "-E", "occurrence=a", "-E", "aggregator=,"));
        cmd.addAll(extra);
        for (final String f : fields)
        {
            cmd.add("-e");
            cmd.add(f);
        }
        final Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        final String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0)
        {
            throw new IOException("tshark failed on " + pcap + ": exit " + p.exitValue());
        }
        final List<List<String>> rows = new ArrayList<>();
        for (final String line : out.split("\n"))
        {
            if (!line.isEmpty())
            {
                rows.add(Arrays.asList(line.split("\\|", -1)));
            }
        }
        return rows;
    }
}
