package dev.ferry.node.live;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Runs {@code ip} and friends for the live tests; every namespace starts with ferry-nd2-, every link with fn-. */
final class Netns
{
    private Netns()
    {
    }

    static void assumeRoot()
    {
        assumeTrue("root".equals(System.getProperty("user.name")),
            "needs root to create TAP devices and network namespaces (CI runs as root)");
        assumeTrue(Files.exists(Path.of("/dev/net/tun")), "needs /dev/net/tun");
    }

    /** A command's exit code and merged output. */
    record Result(int code, String out)
    {
    }

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

    static String must(final String... command)
    {
        final Result r = run(command);
        if (r.code() != 0)
        {
            throw new IllegalStateException(String.join(" ", command) + " failed (" + r.code() + "): " + r.out());
        }
        return r.out();
    }

    static String[] inNs(final String ns, final String... command)
    {
        final List<String> cmd = new ArrayList<>(List.of("ip", "netns", "exec", ns));
        cmd.addAll(List.of(command));
        return cmd.toArray(new String[0]);
    }

    static void create(final String ns)
    {
        delete(ns);
        must("ip", "netns", "add", ns);
        must(inNs(ns, "ip", "link", "set", "lo", "up"));
    }

    static void delete(final String ns)
    {
        run("ip", "netns", "delete", ns);
    }

    /** {@link #create} for each, in order. */
    static void createAll(final String... namespaces)
    {
        for (final String ns : namespaces)
        {
            create(ns);
        }
    }

    /** {@link #delete} for each, in order. */
    static void deleteAll(final String... namespaces)
    {
        for (final String ns : namespaces)
        {
            delete(ns);
        }
    }

    /** Bounded ping: count packets, 0.2 s apart, each waited for at most 1 s. */
    static Result ping(final String ns, final String dst, final int count)
    {
        return run(inNs(ns, "ping", "-n", "-c", Integer.toString(count), "-i", "0.2", "-W", "1", dst));
    }

    /** What the CNI plugin does after ADD: move the TAP into the pod, rename it, address it, route via the gateway. */
    static void plumbPod(final String nodeNs, final String tap, final String podNs, final String ip,
        final String gateway)
    {
        must(inNs(nodeNs, "ip", "link", "set", tap, "netns", podNs));
        must(inNs(podNs, "ip", "link", "set", tap, "name", "eth0"));
        must(inNs(podNs, "ip", "addr", "add", ip + "/32", "dev", "eth0"));
        must(inNs(podNs, "ip", "link", "set", "eth0", "up"));
        must(inNs(podNs, "ip", "route", "add", gateway, "dev", "eth0", "scope", "link"));
        must(inNs(podNs, "ip", "route", "add", "default", "via", gateway, "dev", "eth0"));
    }
}
