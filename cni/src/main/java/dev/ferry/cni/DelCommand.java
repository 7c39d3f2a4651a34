package dev.ferry.cni;

import java.io.PrintStream;
import java.util.Map;
import java.util.function.BiPredicate;

/**
 * DEL: detach at the node, delete the interface when the namespace still exists, release the address. Every
 * step treats "already gone" as done, so DEL can be repeated and succeeds after the namespace, the container or
 * the node's daemon has gone. Only a node that is running but does not answer fails it (code 11), after the
 * local steps are done, so that the runtime retries the detach.
 *
 * <p>DEL touches only what this plugin created: it deletes {@code CNI_IFNAME} in {@code CNI_NETNS} only when the
 * {@link AttachmentStore} holds a record of that attachment in that namespace (ADD writes the record before it
 * moves the interface in). Without one, the interface belongs to someone else (another plugin of a chain, or a
 * DEL for an ADD that never reached us), and is left alone.
 */
final class DelCommand
{
    private DelCommand()
    {
    }

    static void run(final NetConf conf, final CniEnv env, final PrintStream log)
    {
        run(conf, env, log, Netns::deleteLink);
    }

    /**
     * DEL with the interface deletion given (tests observe it without root).
     *
     * @param conf       the network configuration.
     * @param env        the CNI_* environment.
     * @param log        diagnostics.
     * @param deleteLink deletes an interface in a namespace path (returns whether there was one).
     */
    static void run(final NetConf conf, final CniEnv env, final PrintStream log,
        final BiPredicate<String, String> deleteLink)
    {
        final AttachmentStore store = new AttachmentStore(conf);
        final AttachmentStore.Record record = store.read(env.containerId(), env.ifName());
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
        if (record == null)
        {
            log.println("ferry: DEL: no record of " + env.containerId() + "/" + env.ifName()
                + "; its interface was not created by ferry and is left alone");
        }
        else if (record.netns() != null && env.netns() != null && !record.netns().equals(env.netns()))
        {
            log.println("ferry: DEL: " + env.containerId() + "/" + env.ifName() + " was attached in "
                + record.netns() + ", not " + env.netns() + "; the interface there is left alone");
        }
        else
        {
            deleteLink.test(env.netns(), env.ifName());
        }
        new Ipam(conf, env).del();
        store.delete(env.containerId(), env.ifName());
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
