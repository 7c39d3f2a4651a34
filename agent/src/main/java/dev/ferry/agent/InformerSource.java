package dev.ferry.agent;

import dev.ferry.core.Clock;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;

import java.time.Duration;
import java.time.OffsetDateTime;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.logging.Logger;

/**
 * A live cluster as a source: fabric8 SharedIndexInformers on the objects the compiler reads.
 *
 * <pre>
 *   API server ──list+watch──► informer store ──onAdd/onUpdate/onDelete──► changed(key, t)
 *     Nodes                      (all)
 *     Pods                       spec.nodeName=NODE (this node's pods only)
 *     Services                   (all namespaces)
 *     EndpointSlices             discovery.k8s.io/v1 (all namespaces)
 *     ConfigMaps                 metadata.name=kube-flannel-cfg, metadata.name=kube-proxy (any namespace)
 * </pre>
 *
 * <p>The informers list, then watch; when a watch breaks or the server restarts they reconnect and list again
 * by themselves, and the store (not the event stream) is what {@link #snapshot()} compiles, so a lost event
 * cannot leave a stale object behind after the next list. Updates that carry the same resourceVersion (the
 * informers' periodic resync) are not changes. An EndpointSlice's change time is its
 * {@code endpoints.kubernetes.io/last-change-trigger-time} annotation when set (as kube-proxy measures
 * network-programming latency), else the time the event arrived.
 */
public final class InformerSource implements ClusterSource
{
    /** EndpointSlice annotation with the time of the change that triggered it (set by the slice controller). */
    public static final String TRIGGER_TIME_ANNOTATION = "endpoints.kubernetes.io/last-change-trigger-time";

    private static final Logger LOG = Logger.getLogger("dev.ferry.agent");

    private final KubernetesClient client;
    private final String nodeName;
    private final Duration resync;
    private final Clock clock;
    private final List<SharedIndexInformer<? extends HasMetadata>> informers = new ArrayList<>();
    private volatile boolean synced;
    private ChangeListener listener;

    /**
     * @param client   the API client (the source closes it).
     * @param nodeName this node, for the Pod field selector.
     * @param resync   the informers' resync period.
     * @param clock    time for change stamps.
     */
    public InformerSource(final KubernetesClient client, final String nodeName, final Duration resync,
        final Clock clock)
    {
        this.client = client;
        this.nodeName = nodeName;
        this.resync = resync;
        this.clock = clock;
    }

    @Override
    public synchronized void start(final ChangeListener changeListener)
    {
        this.listener = changeListener;
        final long resyncMillis = resync.toMillis();
        informers.add(client.nodes().runnableInformer(resyncMillis));
        informers.add(client.pods().inAnyNamespace().withField("spec.nodeName", nodeName)
            .runnableInformer(resyncMillis));
        informers.add(client.services().inAnyNamespace().runnableInformer(resyncMillis));
        informers.add(client.discovery().v1().endpointSlices().inAnyNamespace().runnableInformer(resyncMillis));
        informers.add(client.configMaps().inAnyNamespace().withField("metadata.name", "kube-flannel-cfg")
            .runnableInformer(resyncMillis));
        informers.add(client.configMaps().inAnyNamespace().withField("metadata.name", "kube-proxy")
            .runnableInformer(resyncMillis));
        final List<CompletableFuture<Void>> started = new ArrayList<>();
        for (final SharedIndexInformer<? extends HasMetadata> i : informers)
        {
            started.add(start(i));
        }
        // ServiceCIDRs (networking.k8s.io/v1, GA in Kubernetes 1.33) name the Service ranges on every node; on
        // worker nodes the kube-apiserver Pod is not in the Pod informer. An API server without them (older
        // Kubernetes, or RBAC without servicecidrs) leaves this informer out: the settings reader falls back.
        final SharedIndexInformer<? extends HasMetadata> cidrs = client.network().v1().serviceCIDRs()
            .runnableInformer(resyncMillis);
        informers.add(cidrs);
        started.add(start(cidrs).exceptionally(e ->
        {
            LOG.warning("no ServiceCIDR informer (" + e.getMessage() + "): Service CIDRs come from the "
                + "kube-apiserver Pod when this node sees it, else the default");
            cidrs.stop();
            return null;
        }));
        CompletableFuture.allOf(started.toArray(new CompletableFuture<?>[0])).whenComplete((v, e) ->
        {
            if (e != null)
            {
                LOG.warning("informers failed to start: " + e.getMessage());
                return;
            }
            synced = true;
            LOG.info(() -> "informers synced: " + describe());
            listener.changed(SYNCED_KEY, clock.nanos());
        });
    }

    private <T extends HasMetadata> CompletableFuture<Void> start(final SharedIndexInformer<T> informer)
    {
        informer.addEventHandler(new Handler<>());
        return informer.start().toCompletableFuture();
    }

    private final class Handler<T extends HasMetadata> implements ResourceEventHandler<T>
    {
        @Override
        public void onAdd(final T obj)
        {
            listener.changed(ClusterState.key(obj), changeTime(obj));
        }

        @Override
        public void onUpdate(final T oldObj, final T newObj)
        {
            final String oldVersion = oldObj.getMetadata().getResourceVersion();
            if (oldVersion != null && oldVersion.equals(newObj.getMetadata().getResourceVersion()))
            {
                return;
            }
            listener.changed(ClusterState.key(newObj), changeTime(newObj));
        }

        @Override
        public void onDelete(final T obj, final boolean deletedFinalStateUnknown)
        {
            listener.changed(ClusterState.key(obj), clock.nanos());
        }
    }

    private long changeTime(final HasMetadata obj)
    {
        final long now = clock.nanos();
        final Map<String, String> annotations = obj.getMetadata().getAnnotations();
        final String trigger = annotations == null ? null : annotations.get(TRIGGER_TIME_ANNOTATION);
        if (trigger == null)
        {
            return now;
        }
        try
        {
            final var t = OffsetDateTime.parse(trigger).toInstant();
            final long nanos = t.getEpochSecond() * 1_000_000_000L + t.getNano();
            return Math.min(nanos, now);
        }
        catch (final DateTimeParseException e)
        {
            return now;
        }
    }

    @Override
    public boolean synced()
    {
        return synced;
    }

    @Override
    public ClusterState snapshot()
    {
        final ClusterState.Builder b = ClusterState.builder();
        for (final SharedIndexInformer<? extends HasMetadata> i : informers)
        {
            for (final HasMetadata o : i.getStore().list())
            {
                // the Pod field selector is the API server's job; a server that ignores it must not add pods
                if (o instanceof io.fabric8.kubernetes.api.model.Pod p && p.getSpec() != null
                    && !Objects.equals(nodeName, p.getSpec().getNodeName()))
                {
                    continue;
                }
                if (!b.contains(o))
                {
                    b.add(o, "api");
                }
            }
        }
        return b.build();
    }

    @Override
    public String describe()
    {
        return "api " + client.getConfiguration().getMasterUrl();
    }

    @Override
    public synchronized void close()
    {
        for (final SharedIndexInformer<? extends HasMetadata> i : informers)
        {
            i.close();
        }
        client.close();
    }
}
