package dev.ferry.cni;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The delegated IPAM plugin (host-local), found on CNI_PATH and run the way a runtime runs a plugin: the same
 * environment with CNI_COMMAND set, the same configuration on stdin. Plugins older than the configuration's
 * cniVersion (Debian's containernetworking-plugins 1.1 speaks up to 1.0.0) get the configuration with the
 * newest cniVersion they support; the result shapes of those versions read the same.
 */
final class Ipam
{
    private final NetConf conf;
    private final CniEnv env;
    private final Path plugin;
    private List<String> pluginVersions;

    Ipam(final NetConf conf, final CniEnv env)
    {
        this.conf = conf;
        this.env = env;
        this.plugin = locate(conf.ipamType(), env.path());
    }

    /**
     * @param type the plugin name.
     * @param path the CNI_PATH directories.
     * @return the executable.
     * @throws CniException 100 when it is on none of them.
     */
    static Path locate(final String type, final List<String> path)
    {
        for (final String dir : path)
        {
            final Path p = Path.of(dir, type);
            if (Files.isRegularFile(p) && Files.isExecutable(p))
            {
                return p;
            }
        }
        throw new CniException(CniError.IPAM_FAILED, "IPAM plugin '" + type + "' not found on CNI_PATH " + path);
    }

    /**
     * Allocates (ADD).
     *
     * @return the IPAM result.
     */
    CniResult add()
    {
        final String out = exec("ADD", env.containerId(), env.ifName(), true);
        return CniResult.parse(Fields.parse(out, "the IPAM result", CniError.IPAM_FAILED, CniError.IPAM_FAILED));
    }

    /** Releases (DEL); releasing what is not allocated succeeds. */
    void del()
    {
        exec("DEL", env.containerId(), env.ifName(), true);
    }

    /** Checks that the allocation is still held (CHECK). */
    void check()
    {
        exec("CHECK", env.containerId(), env.ifName(), true);
    }

    /**
     * Garbage-collects allocations of containers not in the valid list (GC). A plugin that speaks 1.1.0 gets GC;
     * an older host-local gets a DEL for each allocation in its data directory that the list does not hold.
     *
     * @param valid the attachments to keep.
     * @return how many allocations were released by DEL (0 when the plugin did its own GC).
     */
    int gc(final Set<NetConf.Attachment> valid)
    {
        if (versions().contains(CniVersion.V1_1_0.text()))
        {
            exec("GC", null, null, false);
            return 0;
        }
        if (!conf.ipamType().equals("host-local"))
        {
            throw new CniException(CniError.IPAM_FAILED, "IPAM plugin '" + conf.ipamType()
                + "' does not support GC (it speaks " + versions() + ")");
        }
        int released = 0;
        for (final NetConf.Attachment a : hostLocalAllocations())
        {
            if (!valid.contains(a))
            {
                exec("DEL", a.containerId(), a.ifName(), true);
                released++;
            }
        }
        return released;
    }

    /**
     * host-local keeps one file per address in dataDir/NETWORK, holding "containerId\r\nifName".
     */
    private List<NetConf.Attachment> hostLocalAllocations()
    {
        final Path dir = conf.ipamDataDir().resolve(conf.name());
        final List<NetConf.Attachment> out = new ArrayList<>();
        if (!Files.isDirectory(dir))
        {
            return out;
        }
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir))
        {
            for (final Path f : files)
            {
                final String n = f.getFileName().toString();
                if (n.startsWith("last_reserved_ip") || n.equals("lock") || !Files.isRegularFile(f))
                {
                    continue;
                }
                final String[] lines = Files.readString(f, StandardCharsets.UTF_8).split("\r?\n");
                if (lines.length >= 2)
                {
                    out.add(new NetConf.Attachment(lines[0].strip(), lines[1].strip()));
                }
            }
        }
        catch (final IOException e)
        {
            throw new CniException(CniError.IO_FAILURE, "reading host-local's " + dir + ": " + e.getMessage(), e);
        }
        return out;
    }

    private List<String> versions()
    {
        if (pluginVersions == null)
        {
            final Map<String, String> e = new HashMap<>(env.all());
            e.put("CNI_COMMAND", "VERSION");
            final Exec.Outcome o = run(e, "{\"cniVersion\":\"" + conf.version().text() + "\"}");
            final Fields f = Fields.parse(o.stdout(), "the IPAM plugin's VERSION answer", CniError.IPAM_FAILED,
                CniError.IPAM_FAILED);
            pluginVersions = f.optTextList("supportedVersions");
        }
        return pluginVersions;
    }

    private String exec(final String command, final String containerId, final String ifName, final boolean onNs)
    {
        final Map<String, String> e = new HashMap<>(env.all());
        e.put("CNI_COMMAND", command);
        if (containerId != null)
        {
            e.put("CNI_CONTAINERID", containerId);
            e.put("CNI_IFNAME", ifName);
        }
        if (!onNs || env.netns() == null)
        {
            e.remove("CNI_NETNS");
        }
        // the common case costs one process; only a plugin that refuses the version is asked which it speaks
        Exec.Outcome o = run(e, Fields.write(conf.raw()));
        if (!o.ok() && errorCode(o) == CniError.INCOMPATIBLE_VERSION.code()
            && !versions().contains(conf.version().text()))
        {
            o = run(e, Fields.write(downgraded()));
        }
        if (!o.ok())
        {
            String message = o.message();
            try
            {
                final Fields err = Fields.parse(o.stdout(), "error", CniError.IPAM_FAILED, CniError.IPAM_FAILED);
                message = err.optText("msg", message) + (err.has("details") ? ": " + err.optText("details", "")
                    : "") + " (code " + err.optInt("code", 0, 0, Integer.MAX_VALUE) + ")";
            }
            catch (final CniException ignored)
            {
                // not a CNI error JSON: keep what it printed
            }
            throw new CniException(CniError.IPAM_FAILED, conf.ipamType() + " " + command + " failed: " + message);
        }
        return o.stdout();
    }

    private static int errorCode(final Exec.Outcome o)
    {
        try
        {
            return Fields.parse(o.stdout(), "error", CniError.IPAM_FAILED, CniError.IPAM_FAILED)
                .optInt("code", 0, 0, Integer.MAX_VALUE);
        }
        catch (final CniException e)
        {
            return 0;
        }
    }

    /** The configuration with the newest cniVersion that both we and the plugin speak. */
    private Map<String, Object> downgraded()
    {
        String best = null;
        for (final CniVersion v : CniVersion.values())
        {
            if (v.compareTo(conf.version()) <= 0 && versions().contains(v.text()))
            {
                best = v.text();
            }
        }
        if (best == null)
        {
            throw new CniException(CniError.IPAM_FAILED, "IPAM plugin '" + conf.ipamType() + "' speaks "
                + versions() + ", none of them at or below " + conf.version().text());
        }
        final Map<String, Object> m = new LinkedHashMap<>(conf.raw());
        m.put("cniVersion", best);
        // fields the older version does not know about stay out of its way
        m.remove("cni.dev/valid-attachments");
        if (m.get("prevResult") != null && conf.prevResult() != null)
        {
            m.put("prevResult", conf.prevResult().render(CniVersion.parse(best)));
        }
        return m;
    }

    private Exec.Outcome run(final Map<String, String> e, final String stdin)
    {
        try
        {
            return Exec.run(List.of(plugin.toString()), e, stdin.getBytes(StandardCharsets.UTF_8));
        }
        catch (final IOException x)
        {
            throw new CniException(CniError.IPAM_FAILED, "running " + plugin + ": " + x.getMessage(), x);
        }
    }
}
