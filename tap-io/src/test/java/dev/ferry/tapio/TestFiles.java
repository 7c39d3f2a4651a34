package dev.ferry.tapio;

import dev.ferry.core.packet.FrameBuilder;
import dev.ferry.core.route.Ip4;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Shared helpers for the pcap tests: frames, whole-file reads and a tshark runner. */
final class TestFiles
{
    private TestFiles()
    {
    }

    /** One record read back. */
    record Rec(long nanos, byte[] frame)
    {
    }

    static byte[] udpFrame(final int i)
    {
        return new FrameBuilder().eth(Ip4.parseMac("02:00:00:00:00:01"), Ip4.parseMac("02:00:00:00:00:02"))
            .ip4(Ip4.parse("10.244.1.2"), Ip4.parse("10.244.2.3")).id(i).udp(10000 + i, 53)
            .payload(("query-" + i).getBytes(StandardCharsets.US_ASCII)).build();
    }

    static List<Rec> readAll(final Path file) throws IOException
    {
        final List<Rec> out = new ArrayList<>();
        try (PcapReader in = PcapReader.open(file))
        {
            while (in.next())
            {
                out.add(new Rec(in.timestampNanos(), in.frame()));
            }
        }
        return out;
    }

    /** Reads until the reader throws; returns the records read before, and the exception (or null). */
    static Object[] readUntilFault(final Path file) throws IOException
    {
        final List<Rec> out = new ArrayList<>();
        try (PcapReader in = PcapReader.open(file))
        {
            while (in.next())
            {
                out.add(new Rec(in.timestampNanos(), in.frame()));
            }
        }
        catch (final PcapFormatException e)
        {
            return new Object[] {out, e};
        }
        return new Object[] {out, null};
    }

    static String run(final String... command) throws IOException, InterruptedException
    {
        final Process p = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        final String out;
        try (InputStream s = p.getInputStream())
        {
            out = new String(s.readAllBytes(), StandardCharsets.UTF_8);
        }
        if (!p.waitFor(120, TimeUnit.SECONDS))
        {
            p.destroyForcibly();
            throw new IOException(String.join(" ", command) + " did not finish in 120 s");
        }
        if (p.exitValue() != 0)
        {
            throw new IOException(String.join(" ", command) + " exited " + p.exitValue() + ": " + out);
        }
        return out;
    }

    static String tshark(final String... args) throws IOException, InterruptedException
    {
        if (!Files.isExecutable(Path.of("/usr/bin/tshark")))
        {
            throw new IllegalStateException("tshark is missing: apt-get install -y tshark");
        }
        final String[] cmd = new String[args.length + 1];
        cmd[0] = "/usr/bin/tshark";
        System.arraycopy(args, 0, cmd, 1, args.length);
        return run(cmd);
    }
}
