package dev.ferry.agent;

import java.util.Collection;

/**
 * Topology-aware routing, decided per Service port for one node as kube-proxy decides it
 * ({@code pkg/proxy/topology.go}, {@code topologyModeFromHints} and {@code availableForTopology}):
 *
 * <ol>
 *   <li>Only ready endpoints count. With none, no topology.</li>
 *   <li>Prefer same node: every ready endpoint has a {@code hints.forNodes} entry and at least one names this
 *       node.</li>
 *   <li>Else prefer same zone: every ready endpoint has a {@code hints.forZones} entry and at least one names the
 *       node's {@code topology.kubernetes.io/zone} (a node without the label matches no hint).</li>
 *   <li>Else no topology: every endpoint is available.</li>
 * </ol>
 *
 * <p>In a mode, an endpoint is available when its hints name this node (or zone). There is no fallback after the
 * mode is chosen: the mode is only chosen when some ready endpoint is available. The result narrows only the
 * Cluster-policy endpoints; Local-policy endpoints ignore hints (kube-proxy's {@code CategorizeEndpoints}).
 *
 * <p>{@code trafficDistribution: PreferClose} (or the {@code service.kubernetes.io/topology-mode: Auto}
 * annotation) is not read here: it asks the EndpointSlice controller to write the hints, and current kube-proxy
 * follows whatever hints the slices carry, whatever the Service says.
 */
final class Topology
{
    /** A topology mode. */
    enum Mode
    {
        /** No topology: every endpoint is available. */
        NONE,
        /** kube-proxy's PreferSameNode: endpoints hinted for this node. */
        PREFER_SAME_NODE,
        /** kube-proxy's PreferSameZone (PreferClose): endpoints hinted for this node's zone. */
        PREFER_SAME_ZONE
    }

    private Topology()
    {
    }

    /**
     * @param endpoints the Service port's endpoints.
     * @param nodeName  this node.
     * @param zone      this node's zone label, or "".
     * @return the mode this node routes the port's Cluster-policy traffic in.
     */
    static Mode mode(final Collection<EndpointGroup.Member> endpoints, final String nodeName, final String zone)
    {
        boolean anyReady = false;
        boolean allNodeHints = true;
        boolean forNode = false;
        boolean allZoneHints = true;
        boolean forZone = false;
        for (final EndpointGroup.Member m : endpoints)
        {
            if (!m.ready())
            {
                continue;
            }
            anyReady = true;
            if (m.nodeHints().isEmpty())
            {
                allNodeHints = false;
            }
            else if (m.nodeHints().contains(nodeName))
            {
                forNode = true;
            }
            if (m.zoneHints().isEmpty())
            {
                allZoneHints = false;
            }
            else if (m.zoneHints().contains(zone))
            {
                forZone = true;
            }
        }
        if (!anyReady)
        {
            return Mode.NONE;
        }
        if (allNodeHints && forNode)
        {
            return Mode.PREFER_SAME_NODE;
        }
        // a node without the zone label has zone "": no hint names it, since empty names are never hints
        return allZoneHints && forZone ? Mode.PREFER_SAME_ZONE : Mode.NONE;
    }

    /**
     * @param m        an endpoint.
     * @param mode     the port's mode.
     * @param nodeName this node.
     * @param zone     this node's zone.
     * @return whether this node may send new Cluster-policy connections to it.
     */
    static boolean available(final EndpointGroup.Member m, final Mode mode, final String nodeName, final String zone)
    {
        return switch (mode)
        {
            case NONE -> true;
            case PREFER_SAME_NODE -> m.nodeHints().contains(nodeName);
            case PREFER_SAME_ZONE -> m.zoneHints().contains(zone);
        };
    }
}
