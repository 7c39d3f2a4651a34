package dev.ferry.tapio;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Runs {@code ip} and friends for the netns tests; every name starts with ferry-tio-. */
final class Netns
{
    private Netns()
    {
    }

    static void assumeRoot()
    {
        assumeTrue("root".equals(System.getProperty("user.name")),
            "needs root to create TAP devices, veths and network namespaces (CI runs as root)");
        assumeTrue(Files.exists(Path.of("/dev/net/tun")), "needs /dev/net/tun");
    }

    static Path path(final String ns)
    {
        return Path.of("/run/netns", ns);
    }

    /** Runs a command; returns its exit code and output (stdout and stderr merged). */
    static Result run(final String... command)
    {
        try
        {
            final Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            final String out;
            try (InputStream s = p.getInputStream())
            {
                out = new String(s.readAllBytes(), StandardCharsets.UTF_8);
            }
            if (!p.waitFor(30, TimeUnit.SECONDS))
            {
                p.destroyForcibly();
                return new Result(-1, out + " (timed out)");
            }
            return new Result(p.exitValue(), out);
        }
        catch (final IOException e)
        {
            return new Result(-1, e.toString());
        }
        catch (final InterruptedException e)
        {
            Thread.currentThread().interrupt();
            return new Result(-1, e.toString());
        }
    }

    /** Runs a command that must succeed. */
    static String must(final String... command)
    {
        final Result r = run(command);
        if (r.code() != 0)
        {
            throw new IllegalStateException(String.join(" ", command) + " failed (" + r.code() + "): " + r.out());
        }
        return r.out();
    }

    static String inNs(final String ns, final String... command)
    {
        final List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", ns));
        cmd.addAll(List.of(command));
        return must(cmd.toArray(new String[0]));
    }

    static Process startInNs(final String ns, final String... command) throws IOException
    {
        final List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", ns));
        cmd.addAll(List.of(command));
        return new ProcessBuilder(cmd).redirectErrorStream(true).start();
    }

    /** Creates a namespace with IPv6 off (no router solicitations on the test links) and lo up. */
    static void create(final String ns)
    {
        run("ip", "netns", "del", ns);
        must("ip", "netns", "add", ns);
        // no sysctl binary needed: /proc/sys/net shows the namespace of the process that reads it
        run("ip", "netns", "exec", ns, "bash", "-c", "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; "
            + "echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6");
        must("ip", "-n", ns, "link", "set", "lo", "up");
    }

    /** Turns IPv6 off on a link of this namespace, if the kernel has IPv6 at all. */
    static void disableIpv6(final String link)
    {
        try
        {
            Files.writeString(Path.of("/proc/sys/net/ipv6/conf", link, "disable_ipv6"), "1");
        }
        catch (final IOException e)
        {
            // no IPv6 on this kernel: nothing to turn off
        }
    }

    static void delete(final String ns)
    {
        run("ip", "netns", "del", ns);
    }

    static void deleteLink(final String link)
    {
        run("ip", "link", "del", link);
    }

    record Result(int code, String out)
    {
    }
}
