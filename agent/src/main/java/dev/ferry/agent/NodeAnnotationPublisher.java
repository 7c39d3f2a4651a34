package dev.ferry.agent;

import dev.ferry.core.route.Ip4;
import dev.ferry.core.tables.NodeTables;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;

/**
 * Publishes this node's flannel annotations, as flanneld's kube subnet manager does, so that kernel flannel
 * nodes and other ferry nodes route to it: no flannel needs to run anywhere.
 *
 * <pre>
 *  sync thread: offer(snapshot, tables) ── desired(own Node, tables) ── differs from the Node? ──► pending
 *                                                                                                    │
 *  ferry-annotate thread:  patch(pending)  JSON merge patch of metadata.annotations, status subresource
 *                          ok → patched (counted);  error → counted, logged, retried 1 s, 2 s, … 60 s
 * </pre>
 *
 * <p>The annotations (flannel's {@code pkg/subnet/kube}, VXLAN backend):
 * <ul>
 *   <li>{@code flannel.alpha.coreos.com/backend-data}: {@code {"VNI":1,"VtepMAC":"0e:58:c0:a8:32:0b"}}: the
 *       cluster's VNI, and the VTEP MAC ferry's tables use for this node (an existing one is kept, else
 *       {@code 0e:58:<public IP>}). ferry's tunnel port accepts any inner destination MAC, so whatever a
 *       kernel peer puts in its static neighbour entry reaches the node;</li>
 *   <li>{@code …/backend-type}: {@code vxlan}; {@code …/kube-subnet-manager}: {@code true} (kernel flannel
 *       ignores nodes without it);</li>
 *   <li>{@code …/public-ip}: {@code …/public-ip-overwrite} when set (flannel's override), else the node's first
 *       InternalIP (then ExternalIP).</li>
 * </ul>
 *
 * <p>Only the annotations whose value differs are patched, and a patch already sent for the same values is not
 * sent again while the informer has not yet seen it: a restarted agent whose Node already carries the values
 * patches nothing. The sync thread never waits on the API server.
 */
public final class NodeAnnotationPublisher implements AutoCloseable
{
    /** flannel's annotation prefix (its {@code --kube-annotation-prefix} default). */
    public static final String PREFIX = "flannel.alpha.coreos.com/";
    /** {@code {"VNI":n,"VtepMAC":"…"}}. */
    public static final String BACKEND_DATA = NodeView.FLANNEL_BACKEND_DATA;
    /** {@code vxlan}. */
    public static final String BACKEND_TYPE = PREFIX + "backend-type";
    /** {@code true}: the node's lease is managed through the Kubernetes API. */
    public static final String KUBE_SUBNET_MANAGER = PREFIX + "kube-subnet-manager";
    /** The node's underlay address. */
    public static final String PUBLIC_IP = NodeView.FLANNEL_PUBLIC_IP;
    /** Set by an operator: the public IP to publish instead of the detected one. */
    public static final String PUBLIC_IP_OVERWRITE = PREFIX + "public-ip-overwrite";

    private static final Logger LOG = Logger.getLogger("dev.ferry.agent");
    private static final ObjectMapper JSON = JsonMapper.builder().build();
    private static final long MAX_BACKOFF_MS = 60_000;

    /** Writes annotations to a Node: one API call, throws on failure. */
    @FunctionalInterface
    public interface Patcher
    {
        /**
         * @param nodeName    the Node.
         * @param annotations the annotations to set (others are left alone).
         */
        void patch(String nodeName, Map<String, String> annotations);
    }

    private final Patcher patcher;
    private final String nodeName;
    private final AgentMetrics metrics;
    private final long firstBackoffMs;
    private final ScheduledExecutorService thread;
    private Map<String, String> pending;
    private Map<String, String> lastPatched = Map.of();
    private boolean scheduled;
    private long backoffMs;
    private String lastError;
    private String lastSkip;

    /**
     * @param patcher      writes the annotations.
     * @param nodeName     this node.
     * @param metrics      where patches and failures are counted.
     * @param firstBackoff delay before the first retry of a failed patch (doubles up to 60 s).
     */
    public NodeAnnotationPublisher(final Patcher patcher, final String nodeName, final AgentMetrics metrics,
        final Duration firstBackoff)
    {
        this.patcher = Objects.requireNonNull(patcher, "patcher");
        this.nodeName = Objects.requireNonNull(nodeName, "nodeName");
        this.metrics = Objects.requireNonNull(metrics, "metrics");
        this.firstBackoffMs = Math.max(1, firstBackoff.toMillis());
        this.backoffMs = firstBackoffMs;
        this.thread = Executors.newSingleThreadScheduledExecutor(r ->
        {
            final Thread t = new Thread(r, "ferry-annotate-" + nodeName);
            t.setDaemon(true);
            return t;
        });
    }

    /**
     * Patches through the status subresource, as flanneld does (RBAC: patch on
     * {@code nodes/status}), with a JSON merge patch of {@code metadata.annotations} (flanneld sends a strategic
     * merge patch; for a map of strings both merge the same way, and the merge patch is the one every API server
     * and fabric8's mock server accept).
     *
     * @param client the API client (not closed here).
     * @return the patcher.
     */
    public static Patcher statusPatcher(final KubernetesClient client)
    {
        return (name, annotations) ->
        {
            final Map<String, Object> patch = Map.of("metadata", Map.of("annotations", annotations));
            client.nodes().withName(name).subresource("status")
                .patch(PatchContext.of(PatchType.JSON_MERGE), JSON.writeValueAsString(patch));
        };
    }

    /**
     * The annotations this node should carry, from its Node object and its compiled tables.
     *
     * @param node   this node's Node object.
     * @param tables the tables compiled from it.
     * @return the four annotations, or an empty map when the node has no IPv4 address to publish.
     */
    static Map<String, String> desired(final Node node, final NodeTables tables)
    {
        final Map<String, String> ann = node.getMetadata().getAnnotations() == null
            ? Map.of() : node.getMetadata().getAnnotations();
        final NodeView self = NodeView.of(ObjectRef.of(ClusterState.UNKNOWN_SOURCE, node), node);
        int publicIp = self.addresses().isEmpty() ? tables.node().publicIp() : self.addresses().getFirst();
        final String overwrite = ann.get(PUBLIC_IP_OVERWRITE);
        if (overwrite != null && !overwrite.isBlank())
        {
            publicIp = Fields.ip4(ObjectRef.of(ClusterState.UNKNOWN_SOURCE, node),
                NodeView.annotation(PUBLIC_IP_OVERWRITE), overwrite.trim());
        }
        if (publicIp == 0)
        {
            return Map.of();
        }
        final long vtepMac = self.hasVtep() ? self.vtepMac()
            : NodeTablesCompiler.FALLBACK_VTEP_PREFIX | (publicIp & 0xffffffffL);
        final Map<String, String> out = new LinkedHashMap<>();
        // the bytes flanneld writes: Go's encoding/json of vxlanLeaseAttrs{VNI uint16; VtepMAC hardwareAddr}
        out.put(BACKEND_DATA, "{\"VNI\":" + tables.cluster().vni() + ",\"VtepMAC\":\"" + Ip4.formatMac(vtepMac)
            + "\"}");
        out.put(BACKEND_TYPE, "vxlan");
        out.put(KUBE_SUBNET_MANAGER, "true");
        out.put(PUBLIC_IP, Ip4.format(publicIp));
        return out;
    }

    /**
     * @param node    the Node as the agent sees it.
     * @param desired the annotations it should carry.
     * @return those whose value differs (flannel compares the strings too).
     */
    static Map<String, String> changes(final Node node, final Map<String, String> desired)
    {
        final Map<String, String> ann = node.getMetadata().getAnnotations() == null
            ? Map.of() : node.getMetadata().getAnnotations();
        final Map<String, String> out = new LinkedHashMap<>();
        for (final Map.Entry<String, String> e : desired.entrySet())
        {
            if (!e.getValue().equals(ann.get(e.getKey())))
            {
                out.put(e.getKey(), e.getValue());
            }
        }
        return out;
    }

    /**
     * Called after each successful sync: schedules a patch when this node's annotations differ. Never blocks.
     *
     * @param state  the snapshot the tables were compiled from.
     * @param tables the compiled tables.
     */
    void offer(final ClusterState state, final NodeTables tables)
    {
        final Node self = state.nodes().stream().filter(n -> nodeName.equals(n.getMetadata().getName()))
            .findFirst().orElse(null);
        if (self == null)
        {
            return;
        }
        final Map<String, String> desired;
        try
        {
            desired = desired(self, tables);
        }
        catch (final ManifestException e)
        {
            skip("cannot publish the flannel annotations of node " + nodeName + ": " + e.getMessage());
            return;
        }
        if (desired.isEmpty())
        {
            skip("node " + nodeName + " has no IPv4 InternalIP or ExternalIP: its flannel annotations are not "
                + "published, so other nodes have no route to its pods");
            return;
        }
        final Map<String, String> changes = changes(self, desired);
        synchronized (this)
        {
            lastSkip = null;
            if (!lastPatched.isEmpty() && changes(self, lastPatched).isEmpty())
            {
                // the informer has seen our patch: a later difference (someone edited the Node) is patched again
                lastPatched = Map.of();
            }
            if (changes.isEmpty() || changes.equals(lastPatched) || changes.equals(pending))
            {
                return;
            }
            pending = changes;
            if (!scheduled && !thread.isShutdown())
            {
                scheduled = true;
                thread.execute(this::patchPending);
            }
        }
    }

    private synchronized void skip(final String message)
    {
        if (!message.equals(lastSkip))
        {
            LOG.warning(message);
        }
        lastSkip = message;
    }

    private void patchPending()
    {
        final Map<String, String> changes;
        synchronized (this)
        {
            changes = pending;
        }
        try
        {
            patcher.patch(nodeName, changes);
        }
        catch (final RuntimeException e)
        {
            metrics.annotationPatch(AgentMetrics.PATCH_ERROR);
            synchronized (this)
            {
                final String message = "cannot patch the flannel annotations of node " + nodeName + " (retry in "
                    + backoffMs + " ms): " + e.getMessage();
                if (!message.equals(lastError))
                {
                    LOG.warning(message);
                }
                lastError = message;
                if (!thread.isShutdown())
                {
                    thread.schedule(this::patchPending, backoffMs, TimeUnit.MILLISECONDS);
                }
                backoffMs = Math.min(MAX_BACKOFF_MS, backoffMs * 2);
            }
            return;
        }
        metrics.annotationPatch(AgentMetrics.PATCH_OK);
        LOG.info(() -> "published node " + nodeName + "'s flannel annotations " + changes);
        synchronized (this)
        {
            lastPatched = changes;
            lastError = null;
            backoffMs = firstBackoffMs;
            if (pending == changes)
            {
                pending = null;
                scheduled = false;
            }
            else if (!thread.isShutdown())
            {
                thread.execute(this::patchPending);
            }
        }
    }

    /** @return whether no patch is pending or being retried (tests wait on it instead of sleeping). */
    synchronized boolean idle()
    {
        return pending == null && !scheduled;
    }

    /** @return the last patch failure, or null after a success. */
    public synchronized String lastError()
    {
        return lastError;
    }

    @Override
    public void close()
    {
        thread.shutdownNow();
    }
}
