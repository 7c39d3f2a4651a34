package dev.ferry.cni;

import java.io.PrintStream;
import java.util.Map;

/**
 * DEL: detach at the node, delete the interface when the namespace still exists, release the address. Every
 * step treats "already gone" as done, so DEL can be repeated and succeeds after the namespace, the container or
 * the node's daemon has gone. Only a node that is running but does not answer fails it (code 11), after the
 * local steps are done, so that the runtime retries the detach.
 */
final class DelCommand
{
    private DelCommand()
    {
    }

    static void run(final NetConf conf, final CniEnv env, final PrintStream log)
    {
        CniException later = null;
        try
        {
            detach(new NodeClient(conf.socket()), env.containerId(), env.ifName());
        }
        catch (final NodeClient.NodeDownException e)
        {
            // no daemon: its attachments went with it
            log.println("ferry: DEL: " + e.getMessage() + "; nothing to detach");
        }
        catch (final CniException e)
        {
            if (e.error() != CniError.TRY_AGAIN_LATER)
            {
                throw e;
            }
            later = e;
        }
        Netns.deleteLink(env.netns(), env.ifName());
        new Ipam(conf, env).del();
        new AttachmentStore(conf).delete(env.containerId(), env.ifName());
        if (later != null)
        {
            throw later;
        }
    }

    static boolean detach(final NodeClient node, final String containerId, final String ifName)
    {
        final Map<String, Object> req = NodeClient.request("detach");
        req.put("containerId", containerId);
        req.put("ifName", ifName);
        return node.call(req).optBool("detached", false);
    }
}
