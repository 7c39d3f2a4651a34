package dev.ferry.cli.golden;

import dev.ferry.cli.replay.FrameSummary;
import dev.ferry.tapio.PcapReader;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Explains why two captures differ, for a person: tshark's one line per frame of each, as a unified diff,
 * and tshark's full dissection of the first frame that differs; then, always (tshark or not), a summary per
 * frame with the first differing byte and a hex dump around it.
 */
final class PcapDiff
{
    /** -Dferry.golden.tshark=/nonexistent shows the diff a machine without tshark prints. */
    private static final String TSHARK = System.getProperty("ferry.golden.tshark", "/usr/bin/tshark");
    private static final int MAX_FRAMES_SHOWN = 4;
    /** VXLAN on flannel's port, and checksum checks on, so a wrong checksum shows as a difference. */
    private static final List<String> OPTIONS = List.of("-n", "-d", "udp.port==8472,vxlan",
        "-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE");
    private static final List<String> FIELDS = List.of("frame.number", "frame.len", "eth.src", "eth.dst", "ip.src",
        "ip.dst", "ip.ttl", "ip.id", "ip.flags.df", "ip.checksum.status", "udp.checksum.status",
        "tcp.checksum.status", "vxlan.vni", "_ws.col.Info");

    private PcapDiff()
    {
    }

    static boolean tsharkAvailable()
    {
        return Files.isExecutable(Path.of(TSHARK));
    }

    /**
     * @return the whole explanation, tshark part first when tshark is installed.
     */
    static String explain(final Path expected, final Path actual)
    {
        final StringBuilder sb = new StringBuilder();
        if (tsharkAvailable())
        {
            try
            {
                sb.append("tshark, one line per frame (").append(String.join("|", FIELDS)).append("):\n");
                sb.append(LineDiff.unified("expected", oneLinePerFrame(expected), "actual", oneLinePerFrame(actual)));
                final int first = firstDifferentFrame(expected, actual);
                if (first > 0)
                {
                    sb.append("\ntshark -V, frame ").append(first).append(":\n");
                    sb.append(LineDiff.unified("expected", verbose(expected, first), "actual", verbose(actual, first)));
                }
            }
            catch (final IOException e)
            {
                sb.append("(tshark failed: ").append(e.getMessage()).append(")\n");
            }
        }
        else
        {
            sb.append("(tshark is not installed: bytes only; install it for a dissected diff)\n");
        }
        sb.append('\n').append(bytes(expected, actual));
        return sb.toString();
    }

    private static List<String> oneLinePerFrame(final Path pcap) throws IOException
    {
        final List<String> cmd = new ArrayList<>(List.of(TSHARK, "-r", pcap.toString()));
        cmd.addAll(OPTIONS);
        cmd.addAll(List.of("-T", "fields", "-E", "separator=|", "-E", "occurrence=a", "-E", "aggregator=,"));
        FIELDS.forEach(f -> cmd.addAll(List.of("-e", f)));
        return run(cmd);
    }

    private static List<String> verbose(final Path pcap, final int frame) throws IOException
    {
        final List<String> cmd = new ArrayList<>(List.of(TSHARK, "-r", pcap.toString()));
        cmd.addAll(OPTIONS);
        cmd.addAll(List.of("-V", "-Y", "frame.number == " + frame));
        // the arrival-time lines differ only when timestamps do, and the bytes part below shows that
        return run(cmd).stream().filter(l -> !l.contains("Epoch Time") && !l.contains("Time delta")).toList();
    }

    private static List<String> run(final List<String> cmd) throws IOException
    {
        final Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        final String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        try
        {
            if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0)
            {
                p.destroy();
                throw new IOException("exit " + (p.isAlive() ? "timeout" : p.exitValue()) + " from " + cmd);
            }
        }
        catch (final InterruptedException e)
        {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
        return out.isEmpty() ? List.of() : Arrays.asList(out.split("\n"));
    }

    /** @return the 1-based number of the first frame whose bytes differ, or 0. */
    private static int firstDifferentFrame(final Path expected, final Path actual) throws IOException
    {
        final List<Frame> a = read(expected);
        final List<Frame> b = read(actual);
        for (int i = 0; i < Math.min(a.size(), b.size()); i++)
        {
            if (!a.get(i).same(b.get(i)))
            {
                return i + 1;
            }
        }
        return a.size() == b.size() ? 0 : Math.min(a.size(), b.size()) + 1;
    }

    /** Frame counts, then per differing frame: both summaries, lengths, times, and a hex dump from the change. */
    static String bytes(final Path expected, final Path actual)
    {
        final List<Frame> a;
        final List<Frame> b;
        try
        {
            a = read(expected);
            b = read(actual);
        }
        catch (final IOException e)
        {
            return "cannot read both captures as pcap (" + e.getMessage() + ")\n";
        }
        final StringBuilder sb = new StringBuilder("bytes: expected " + a.size() + " frames, actual " + b.size()
            + "\n");
        int shown = 0;
        for (int i = 0; i < Math.max(a.size(), b.size()) && shown < MAX_FRAMES_SHOWN; i++)
        {
            final Frame x = i < a.size() ? a.get(i) : null;
            final Frame y = i < b.size() ? b.get(i) : null;
            if (x != null && y != null && x.same(y))
            {
                continue;
            }
            shown++;
            sb.append("frame ").append(i + 1).append(":\n");
            sb.append("  expected: ").append(x == null ? "(none)" : x.describe()).append('\n');
            sb.append("  actual:   ").append(y == null ? "(none)" : y.describe()).append('\n');
            if (x != null && y != null)
            {
                final int at = Arrays.mismatch(x.data(), y.data());
                if (at >= 0)
                {
                    sb.append("  first differing byte at offset ").append(at).append('\n');
                    sb.append("  expected ").append(hex(x.data(), at)).append('\n');
                    sb.append("  actual   ").append(hex(y.data(), at)).append('\n');
                }
            }
        }
        return sb.toString();
    }

    private static String hex(final byte[] data, final int at)
    {
        final int from = at & ~0x0f;
        final int to = Math.min(data.length, from + 32);
        return String.format("@%04x: %s", from, from >= to ? "(end)" : HexFormat.ofDelimiter(" ")
            .formatHex(data, from, to));
    }

    private static List<Frame> read(final Path pcap) throws IOException
    {
        final List<Frame> frames = new ArrayList<>();
        try (PcapReader r = PcapReader.open(pcap))
        {
            while (r.next())
            {
                frames.add(new Frame(r.timestampNanos(), r.frame()));
            }
        }
        return frames;
    }

    private record Frame(long nanos, byte[] data)
    {
        boolean same(final Frame o)
        {
            return nanos == o.nanos && Arrays.equals(data, o.data);
        }

        String describe()
        {
            return FrameSummary.describe(data) + " (" + data.length + " bytes, t=" + nanos + ")";
        }
    }
}
