package dev.ferry.cni;

import java.io.PrintStream;
import java.util.HashSet;
import java.util.Set;

/**
 * GC and STATUS, the two commands of CNI 1.1.0.
 *
 * <p>GC: every attachment the plugin recorded that {@code cni.dev/valid-attachments} does not list is detached
 * at the node, its interface deleted if its namespace still exists, and its record removed; then IPAM is
 * garbage-collected (host-local GC, or a DEL per stale allocation for a host-local older than 1.1.0).
 *
 * <p>STATUS: success when the node answers {@code health} and the IPAM plugin is installed; else error 50.
 */
final class GcCommand
{
    private GcCommand()
    {
    }

    private static void require11(final NetConf conf, final String command)
    {
        if (!conf.version().hasStatusAndGc())
        {
            throw new CniException(CniError.INCOMPATIBLE_VERSION, command + " needs cniVersion 1.1.0, the "
                + "configuration has " + conf.version().text());
        }
    }

    static void gc(final NetConf conf, final CniEnv env, final PrintStream log)
    {
        require11(conf, "GC");
        if (conf.validAttachments() == null)
        {
            throw new CniException(CniError.INVALID_CONFIG, "cni.dev/valid-attachments: required for GC");
        }
        final Set<NetConf.Attachment> valid = new HashSet<>(conf.validAttachments());
        final AttachmentStore store = new AttachmentStore(conf);
        final NodeClient node = new NodeClient(conf.socket());
        boolean nodeDown = false;
        for (final AttachmentStore.Record r : store.list())
        {
            if (valid.contains(new NetConf.Attachment(r.containerId(), r.ifName())))
            {
                continue;
            }
            if (!nodeDown)
            {
                try
                {
                    DelCommand.detach(node, r.containerId(), r.ifName());
                }
                catch (final NodeClient.NodeDownException e)
                {
                    nodeDown = true;
                    log.println("ferry: GC: " + e.getMessage() + "; nothing to detach");
                }
            }
            Netns.deleteLink(r.netns(), r.ifName());
            store.delete(r.containerId(), r.ifName());
            log.println("ferry: GC: removed stale attachment " + r.containerId() + "/" + r.ifName() + " ("
                + r.tap() + ", " + r.ip() + ")");
        }
        final int released = new Ipam(conf, env).gc(valid);
        if (released > 0)
        {
            log.println("ferry: GC: released " + released + " stale address(es) through " + conf.ipamType()
                + " DEL");
        }
    }

    static void status(final NetConf conf, final CniEnv env)
    {
        require11(conf, "STATUS");
        try
        {
            Ipam.locate(conf.ipamType(), env.path());
            new NodeClient(conf.socket()).call(NodeClient.request("health"));
        }
        catch (final CniException e)
        {
            throw new CniException(CniError.NOT_AVAILABLE, e.getMessage(), e);
        }
    }
}
