package dev.ferry.agent;

import io.fabric8.kubernetes.api.model.EndpointAddress;
import io.fabric8.kubernetes.api.model.EndpointPort;
import io.fabric8.kubernetes.api.model.EndpointSubset;
import io.fabric8.kubernetes.api.model.Endpoints;
import io.fabric8.kubernetes.api.model.discovery.v1.Endpoint;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointConditions;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointHints;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A set of endpoints sharing a set of ports: one IPv4 EndpointSlice, or one subset of a hand-written Endpoints
 * object converted the way the EndpointSlice mirroring controller converts it.
 *
 * @param service   the Service name it belongs to (same namespace).
 * @param ports     its ports.
 * @param endpoints its endpoints.
 */
record EndpointGroup(String service, List<Port> ports, List<Member> endpoints)
{
    /** The label that ties an EndpointSlice to its Service. */
    static final String SERVICE_NAME_LABEL = "kubernetes.io/service-name";

    EndpointGroup
    {
        ports = List.copyOf(ports);
        endpoints = List.copyOf(endpoints);
    }

    /**
     * A port of the group.
     *
     * @param name     port name ("" when unnamed); Service ports match it by name.
     * @param protocol IP protocol number.
     * @param port     the endpoints' port number.
     */
    record Port(String name, int protocol, int port)
    {
    }

    /**
     * An endpoint, conditions resolved as the EndpointSlice API says: ready nil means true, serving nil means
     * ready, terminating nil means false.
     *
     * @param ip          IPv4 address.
     * @param ready       ready.
     * @param serving     serving.
     * @param terminating terminating.
     * @param nodeName    node name or "".
     * @param zone        zone or "".
     * @param zoneHints   hints.forZones names (empty: no zone hint).
     * @param nodeHints   hints.forNodes names (empty: no node hint).
     */
    record Member(int ip, boolean ready, boolean serving, boolean terminating, String nodeName, String zone,
        Set<String> zoneHints, Set<String> nodeHints)
    {
        Member
        {
            zoneHints = Set.copyOf(zoneHints);
            nodeHints = Set.copyOf(nodeHints);
        }
    }

    /**
     * @param ref   the slice's reference.
     * @param slice an EndpointSlice.
     * @return the group, or null when the slice is not IPv4 or has no Service label.
     */
    static EndpointGroup of(final ObjectRef ref, final EndpointSlice slice)
    {
        final Map<String, String> labels = slice.getMetadata().getLabels();
        final String service = labels == null ? null : labels.get(SERVICE_NAME_LABEL);
        if (!"IPv4".equals(slice.getAddressType()))
        {
            return null;
        }
        final List<Port> ports = new ArrayList<>();
        for (int i = 0; i < slice.getPorts().size(); i++)
        {
            final var p = slice.getPorts().get(i);
            if (p.getPort() == null)
            {
                continue;
            }
            final String field = "ports[" + i + "]";
            ports.add(new Port(Fields.nullToEmpty(p.getName()), Fields.protocol(ref, field + ".protocol",
                p.getProtocol()), Fields.port(ref, field + ".port", p.getPort())));
        }
        final List<Member> members = new ArrayList<>();
        for (int i = 0; i < slice.getEndpoints().size(); i++)
        {
            final Endpoint e = slice.getEndpoints().get(i);
            final String field = "endpoints[" + i + "]";
            if (e.getAddresses().isEmpty())
            {
                throw ref.fail(field + ".addresses", "missing");
            }
            final int ip = Fields.ip4(ref, field + ".addresses[0]", e.getAddresses().getFirst());
            final EndpointConditions c = e.getConditions();
            final boolean ready = c == null || c.getReady() == null || c.getReady();
            final boolean serving = c == null || c.getServing() == null ? ready : c.getServing();
            final boolean terminating = c != null && c.getTerminating() != null && c.getTerminating();
            final EndpointHints h = e.getHints();
            final Set<String> zones = new HashSet<>();
            final Set<String> nodes = new HashSet<>();
            if (h != null)
            {
                h.getForZones().forEach(z -> addHint(z.getName(), zones));
                h.getForNodes().forEach(n -> addHint(n.getName(), nodes));
            }
            members.add(new Member(ip, ready, serving, terminating, Fields.nullToEmpty(e.getNodeName()),
                Fields.nullToEmpty(e.getZone()), zones, nodes));
        }
        return service == null ? null : new EndpointGroup(service, ports, members);
    }

    /**
     * Converts a hand-written Endpoints object: addresses are ready and serving, notReadyAddresses are neither.
     *
     * @param ref       its reference.
     * @param endpoints the object; its name is the Service's.
     * @return one group per subset.
     */
    static List<EndpointGroup> of(final ObjectRef ref, final Endpoints endpoints)
    {
        final List<EndpointGroup> out = new ArrayList<>();
        final List<EndpointSubset> subsets = endpoints.getSubsets();
        for (int s = 0; s < subsets.size(); s++)
        {
            final EndpointSubset subset = subsets.get(s);
            final String field = "subsets[" + s + "]";
            final List<Port> ports = new ArrayList<>();
            for (int i = 0; i < subset.getPorts().size(); i++)
            {
                final EndpointPort p = subset.getPorts().get(i);
                final String pf = field + ".ports[" + i + "]";
                ports.add(new Port(Fields.nullToEmpty(p.getName()), Fields.protocol(ref, pf + ".protocol",
                    p.getProtocol()), Fields.port(ref, pf + ".port", p.getPort())));
            }
            final List<Member> members = new ArrayList<>();
            addMembers(ref, field + ".addresses", subset.getAddresses(), true, members);
            addMembers(ref, field + ".notReadyAddresses", subset.getNotReadyAddresses(), false, members);
            out.add(new EndpointGroup(endpoints.getMetadata().getName(), ports, members));
        }
        return out;
    }

    private static void addMembers(final ObjectRef ref, final String field, final List<EndpointAddress> addresses,
        final boolean ready, final List<Member> into)
    {
        for (int i = 0; i < addresses.size(); i++)
        {
            final EndpointAddress a = addresses.get(i);
            if (Fields.isIp6(a.getIp()))
            {
                continue;
            }
            final int ip = Fields.ip4(ref, field + "[" + i + "].ip", a.getIp());
            into.add(new Member(ip, ready, ready, false, Fields.nullToEmpty(a.getNodeName()), "", Set.of(),
                Set.of()));
        }
    }

    private static void addHint(final String name, final Set<String> into)
    {
        if (name != null && !name.isEmpty())
        {
            into.add(name);
        }
    }
}
