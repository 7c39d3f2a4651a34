package dev.ferry.cni;

import dev.ferry.core.route.Ip4;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The network configuration read from stdin.
 *
 * <pre>
 * {
 *   "cniVersion": "1.1.0", "name": "ferry", "type": "ferry",
 *   "socket": "/run/ferry/ferry.sock",          (optional, the node API)
 *   "mtu": 1450,                                 (optional, else the node's answer)
 *   "stateDir": "/var/lib/cni/ferry",            (optional, where attachments are recorded for CHECK and GC)
 *   "ipam": { "type": "host-local", "ranges": [[{"subnet": "10.244.1.0/24", "gateway": "10.244.1.1"}]],
 *             "routes": [{"dst": "10.96.0.0/12"}], "dataDir": "/var/lib/cni/networks" },
 *   "dns": { "nameservers": ["10.96.0.10"], "search": ["default.svc.cluster.local"] },
 *   "runtimeConfig": { "mac": "0a:58:0a:f4:01:05" },     (optional capability)
 *   "prevResult": { ... },                               (CHECK, DEL, chained ADD)
 *   "cni.dev/valid-attachments": [{"containerID": "...", "ifname": "eth0"}]   (GC)
 * }
 * </pre>
 *
 * @param version           the parsed cniVersion.
 * @param name              network name.
 * @param ipamType          the IPAM plugin to delegate to (host-local).
 * @param ipamDataDir       host-local's {@code dataDir} (default /var/lib/cni/networks).
 * @param socket            the node's API socket.
 * @param mtu               MTU to set, or 0 to take the node's.
 * @param stateDir          the plugin's attachment records.
 * @param dns               DNS settings of the configuration.
 * @param mac               MAC requested through runtimeConfig, or null.
 * @param prevResult        the previous result, or null.
 * @param validAttachments  for GC: the attachments to keep, or null when absent.
 * @param raw               the configuration as read, passed on to the IPAM plugin.
 */
public record NetConf(CniVersion version, String name, String ipamType, Path ipamDataDir, Path socket, int mtu,
    Path stateDir, CniResult.Dns dns, String mac, CniResult prevResult, List<Attachment> validAttachments,
    Map<String, Object> raw)
{
    /** Where the node daemon listens unless the configuration says otherwise. */
    public static final String DEFAULT_SOCKET = "/run/ferry/ferry.sock";
    /** Where the plugin records attachments unless the configuration says otherwise. */
    public static final String DEFAULT_STATE_DIR = "/var/lib/cni/ferry";
    /** host-local's default data directory. */
    public static final String DEFAULT_IPAM_DATA_DIR = "/var/lib/cni/networks";
    private static final Pattern NETWORK_NAME = Pattern.compile("[a-zA-Z0-9][a-zA-Z0-9_.\\-]*");

    /**
     * A container attachment, as GC names it.
     *
     * @param containerId container id.
     * @param ifName      interface name.
     */
    public record Attachment(String containerId, String ifName)
    {
    }

    /**
     * Reads the cniVersion alone, so that an error about the rest can still be answered in that version.
     *
     * @param text the configuration text.
     * @return the version text, or null when it cannot be read.
     */
    static String peekVersion(final String text)
    {
        try
        {
            return Fields.parse(text, "network configuration", CniError.DECODE_FAILURE, CniError.INVALID_CONFIG)
                .optText("cniVersion", null);
        }
        catch (final CniException e)
        {
            return null;
        }
    }

    /**
     * Parses and validates a configuration.
     *
     * @param text the configuration on stdin.
     * @return the configuration.
     * @throws CniException code 6 (not JSON), 1 (unsupported cniVersion) or 7 (invalid field).
     */
    public static NetConf parse(final String text)
    {
        final Fields f = Fields.parse(text, "network configuration", CniError.DECODE_FAILURE,
            CniError.INVALID_CONFIG);
        final CniVersion version = CniVersion.parse(f.text("cniVersion"));
        final String name = f.text("name");
        if (!NETWORK_NAME.matcher(name).matches())
        {
            throw f.fail("name", "'" + name + "' must start with a letter or digit, then letters, digits, "
                + "'_', '.' or '-'");
        }
        final String type = f.text("type");
        if (!type.equals("ferry"))
        {
            throw f.fail("type", "'" + type + "' is not this plugin (ferry)");
        }
        final Fields ipam = f.obj("ipam");
        final String ipamType = ipam.text("type");
        if (ipamType.isEmpty() || ipamType.contains("/"))
        {
            throw ipam.fail("type", "'" + ipamType + "' is not a plugin name");
        }
        final String dataDir = ipam.optText("dataDir", DEFAULT_IPAM_DATA_DIR);
        final String socket = f.optText("socket", DEFAULT_SOCKET);
        final String stateDir = f.optText("stateDir", DEFAULT_STATE_DIR);
        final int mtu = f.optInt("mtu", 0, 68, 65535);
        final Fields d = f.optObj("dns");
        final CniResult.Dns dns = d == null ? CniResult.Dns.NONE : new CniResult.Dns(d.optTextList("nameservers"),
            d.optText("domain", null), d.optTextList("search"), d.optTextList("options"));
        final Fields runtime = f.optObj("runtimeConfig");
        String mac = runtime == null ? null : runtime.optText("mac", null);
        if (mac != null)
        {
            try
            {
                mac = Ip4.formatMac(Ip4.parseMac(mac));
            }
            catch (final IllegalArgumentException e)
            {
                throw runtime.fail("mac", e.getMessage());
            }
        }
        final Fields prev = f.optObj("prevResult");
        final CniResult prevResult = prev == null ? null : CniResult.parse(prev);
        List<Attachment> valid = null;
        if (f.has("cni.dev/valid-attachments"))
        {
            valid = new ArrayList<>();
            for (final Fields a : f.optObjList("cni.dev/valid-attachments"))
            {
                valid.add(new Attachment(a.text("containerID"), a.text("ifname")));
            }
        }
        return new NetConf(version, name, ipamType, Path.of(dataDir), Path.of(socket), mtu, Path.of(stateDir),
            dns, mac, prevResult, valid, f.map());
    }
}
