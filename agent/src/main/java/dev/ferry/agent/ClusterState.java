package dev.ferry.agent;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Endpoints;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.api.model.networking.v1.ServiceCIDR;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The Kubernetes objects that ferry reads, as one immutable value: the input of {@link NodeTablesCompiler}.
 * The manifest loader builds it from files; the informers of a live cluster will build it from the API server.
 * Each object remembers its source (a file name) so that errors can name it.
 *
 * @param nodes          Nodes.
 * @param pods           Pods.
 * @param services       Services.
 * @param endpointSlices EndpointSlices (discovery.k8s.io/v1).
 * @param endpoints      hand-written (or legacy) Endpoints.
 * @param configMaps     ConfigMaps (flannel's {@code kube-flannel-cfg}, kube-proxy's {@code kube-proxy}).
 * @param serviceCidrs   ServiceCIDRs (networking.k8s.io/v1).
 * @param sources        source name by object key ({@link #key(HasMetadata)}).
 */
public record ClusterState(
    List<Node> nodes,
    List<Pod> pods,
    List<Service> services,
    List<EndpointSlice> endpointSlices,
    List<Endpoints> endpoints,
    List<ConfigMap> configMaps,
    List<ServiceCIDR> serviceCidrs,
    Map<String, String> sources)
{
    /** Source name used for objects whose origin is not recorded. */
    public static final String UNKNOWN_SOURCE = "cluster";

    /**
     * Copies the lists so the value is immutable.
     *
     * @param nodes          Nodes.
     * @param pods           Pods.
     * @param services       Services.
     * @param endpointSlices EndpointSlices.
     * @param endpoints      Endpoints.
     * @param configMaps     ConfigMaps.
     * @param serviceCidrs   ServiceCIDRs.
     * @param sources        source name by object key.
     */
    public ClusterState
    {
        nodes = List.copyOf(nodes);
        pods = List.copyOf(pods);
        services = List.copyOf(services);
        endpointSlices = List.copyOf(endpointSlices);
        endpoints = List.copyOf(endpoints);
        configMaps = List.copyOf(configMaps);
        serviceCidrs = List.copyOf(serviceCidrs);
        sources = Map.copyOf(sources);
    }

    /** @return a state with no objects. */
    public static ClusterState empty()
    {
        return builder().build();
    }

    /** @return a builder. */
    public static Builder builder()
    {
        return new Builder();
    }

    /**
     * @param obj an object.
     * @return the key under which its source is recorded: "Kind namespace/name".
     */
    public static String key(final HasMetadata obj)
    {
        final String ns = obj.getMetadata().getNamespace();
        return obj.getKind() + " " + (ns == null || ns.isEmpty() ? "" : ns + "/") + obj.getMetadata().getName();
    }

    /**
     * @param obj an object of this state.
     * @return where it came from, or {@link #UNKNOWN_SOURCE}.
     */
    public String sourceOf(final HasMetadata obj)
    {
        return sources.getOrDefault(key(obj), UNKNOWN_SOURCE);
    }

    ObjectRef ref(final HasMetadata obj)
    {
        return ObjectRef.of(sourceOf(obj), obj);
    }

    /** Collects objects of the kinds ferry reads. */
    public static final class Builder
    {
        private final List<Node> nodes = new ArrayList<>();
        private final List<Pod> pods = new ArrayList<>();
        private final List<Service> services = new ArrayList<>();
        private final List<EndpointSlice> endpointSlices = new ArrayList<>();
        private final List<Endpoints> endpoints = new ArrayList<>();
        private final List<ConfigMap> configMaps = new ArrayList<>();
        private final List<ServiceCIDR> serviceCidrs = new ArrayList<>();
        private final Map<String, String> sources = new HashMap<>();

        private Builder()
        {
        }

        /**
         * Adds an object of a kind ferry reads.
         *
         * @param obj    the object.
         * @param source where it came from (a file name).
         * @return this builder.
         * @throws IllegalArgumentException when ferry does not read this kind.
         */
        public Builder add(final HasMetadata obj, final String source)
        {
            switch (obj)
            {
                case Node n -> nodes.add(n);
                case Pod p -> pods.add(p);
                case Service s -> services.add(s);
                case EndpointSlice s -> endpointSlices.add(s);
                case Endpoints e -> endpoints.add(e);
                case ConfigMap c -> configMaps.add(c);
                case ServiceCIDR c -> serviceCidrs.add(c);
                default -> throw new IllegalArgumentException("kind not used by ferry: " + obj.getKind());
            }
            sources.put(key(obj), source);
            return this;
        }

        /**
         * @param obj an object.
         * @return whether an object with the same kind, namespace and name was added already.
         */
        public boolean contains(final HasMetadata obj)
        {
            return sources.containsKey(key(obj));
        }

        /**
         * @param obj an object.
         * @return the source of the object with the same kind, namespace and name, or null.
         */
        public String sourceOf(final HasMetadata obj)
        {
            return sources.get(key(obj));
        }

        /** @return the state. */
        public ClusterState build()
        {
            return new ClusterState(nodes, pods, services, endpointSlices, endpoints, configMaps, serviceCidrs,
                sources);
        }
    }
}
