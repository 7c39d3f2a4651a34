package dev.ferry.e2e;

import dev.ferry.lab.Lab;
import dev.ferry.lab.LabChecks;
import dev.ferry.lab.LabCommand;
import dev.ferry.lab.LabSpec;
import dev.ferry.lab.Shell;
import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Builds a fresh lab for a test class: ferry nodes started from this test's class path, pods created through the
 * CNI plugin of this source tree ({@code cni/install.sh}), namespaces {@code ferry-node1}, {@code ferry-node2},
 * {@code ferry-ext}, {@code ferry-pod-*}. Skips (with the reason) when not root or when a tool is missing: each
 * test skips in its own {@code @BeforeEach}, because an assumption in {@code @BeforeAll} skips a class without
 * listing a single test in surefire's report (a silent skip).
 */
final class LabFixture
{
    static final Path STATE = Path.of("/run/ferry-lab-e2e");

    private static boolean checked;
    private static String missing;

    private LabFixture()
    {
    }

    /** Skips the calling test, with the reason, when the lab cannot run here. Not for {@code @BeforeAll}. */
    static void assumeRootAndTools()
    {
        final String why = missing();
        Assumptions.assumeTrue(why == null, why);
    }

    /** @return why the lab cannot run here (not root, a tool missing), or null; looked up once. */
    static synchronized String missing()
    {
        if (!checked)
        {
            missing = lookUpMissing();
            checked = true;
        }
        return missing;
    }

    private static String lookUpMissing()
    {
        if (!"root".equals(System.getProperty("user.name")))
        {
            return "the lab needs root (network namespaces, TAPs, AF_PACKET); run as root, as CI does";
        }
        for (final String tool : List.of("ip", "bridge", "ping", "curl", "socat", "iperf3", "ss", "tcpdump"))
        {
            if (!Shell.run("sh", "-c", "command -v " + tool).ok())
            {
                return tool + " is not installed";
            }
        }
        if (!Files.isExecutable(Path.of("/usr/lib/cni/host-local"))
            && !Files.isExecutable(Path.of("/opt/cni/bin/host-local")))
        {
            return "the host-local IPAM plugin is not installed (containernetworking-plugins)";
        }
        return null;
    }

    static Lab lab(final Lab.Node2 node2)
    {
        final Path plugin = LabCommand.defaultPlugin();
        if (plugin == null)
        {
            throw new IllegalStateException("cni/install.sh or cni/target/ferry-cni.jar not found above the class path");
        }
        return new Lab(new Lab.Options(LabSpec.standard(), STATE, LabCommand.ferryCommand(), plugin, node2, true, null,
            System.out));
    }

    /** @return a lab that is up, or null when it cannot run here (each test then skips in its @BeforeEach). */
    static Lab up(final Lab.Node2 node2) throws IOException
    {
        if (missing() != null)
        {
            return null;
        }
        final Lab lab = lab(node2);
        try
        {
            lab.up();
        }
        catch (final RuntimeException | IOException e)
        {
            dumpLogs(lab);
            lab.down();
            throw e;
        }
        return lab;
    }

    /**
     * Pings until it is answered or 15 s pass: a restarted node needs its tables and neighbours first.
     *
     * @param checks the lab's checks.
     * @param name   the check's name.
     * @param pod    the pod that pings.
     * @param dst    the address.
     * @return the last outcome (ok, or the last failure).
     */
    static LabChecks.Outcome awaitPing(final LabChecks checks, final String name, final String pod, final String dst)
    {
        LabChecks.Outcome last = checks.ping(name, pod, dst);
        final long deadline = System.currentTimeMillis() + 15_000;
        while (!last.ok() && System.currentTimeMillis() < deadline)
        {
            last = checks.ping(name, pod, dst);
        }
        return last;
    }

    static void dumpLogs(final Lab lab)
    {
        for (final String node : List.of("node1", "node2"))
        {
            final Path log = lab.state().file(node + ".log");
            try
            {
                if (Files.exists(log))
                {
                    System.out.println("---- " + log);
                    System.out.println(Files.readString(log));
                }
            }
            catch (final IOException ignored)
            {
                // nothing to show
            }
        }
    }

    static void down(final Lab lab) throws IOException
    {
        if (lab != null)
        {
            dumpLogs(lab);
            lab.down();
        }
    }
}
