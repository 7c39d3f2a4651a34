package dev.ferry.node;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ferry.core.Graph;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.tables.Fib;
import dev.ferry.nat.ServiceView;

import java.util.List;
import java.util.Map;

/**
 * {@code ferry show VIEW -o json}: the node API's {@code show} op with {@code "format":"json"}. Each view is built
 * from the same rows as its text ({@link Fib.Route}, {@link ShowFormat.Neighbour}, {@link ServiceView},
 * {@link ShowFormat.PortView}, {@link Graph.TracedPacket}), so the two formats never disagree. The fields are
 * documented in {@code docs/show-json.schema.json} and node's README.
 */
final class ShowJson
{
    private ShowJson()
    {
    }

    /** An address, or null for none (0). */
    private static ObjectNode address(final ObjectNode o, final String field, final int ip)
    {
        return ip == 0 ? o.putNull(field) : o.put(field, Ip4.format(ip));
    }

    static ObjectNode routes(final ObjectNode o, final long generation, final List<Fib.Route> routes)
    {
        if (generation < 0)
        {
            o.putNull("generation");
        }
        else
        {
            o.put("generation", generation);
        }
        final ArrayNode a = o.putArray("routes");
        for (final Fib.Route r : routes)
        {
            final ObjectNode j = a.addObject().put("prefix", r.prefix().toString()).put("kind", r.kind())
                .put("dev", r.dev());
            address(j, "via", r.via()).put("mtu", r.mtu()).put("description", r.description());
        }
        return o;
    }

    static ObjectNode neighbours(final ObjectNode o, final List<ShowFormat.Neighbour> rows)
    {
        o.put("tables", rows != null);
        final ArrayNode a = o.putArray("neighbors");
        for (final ShowFormat.Neighbour n : rows == null ? List.<ShowFormat.Neighbour>of() : rows)
        {
            a.addObject().put("ip", Ip4.format(n.ip())).put("dev", n.dev()).put("mac", Ip4.formatMac(n.mac()))
                .put("state", n.state()).put("source", n.source()).put("owner", n.owner());
        }
        return o;
    }

    /**
     * @param counts per backend key ({@code proto << 48 | port << 32 | address}): {active, inactive}, as the text
     *               view's ActiveConn and InActConn columns.
     */
    static ObjectNode services(final ObjectNode o, final List<ServiceView> views, final Map<Long, long[]> counts)
    {
        o.put("tables", views != null);
        final ArrayNode a = o.putArray("services");
        for (final ServiceView v : views == null ? List.<ServiceView>of() : views)
        {
            switch (v)
            {
                case ServiceView.NotProxied n -> a.addObject().put("name", n.name()).put("proxied", false)
                    .put("reason", n.reason());
                case ServiceView.Port p -> port(a.addObject(), p, counts);
            }
        }
        return o;
    }

    private static void port(final ObjectNode j, final ServiceView.Port p, final Map<Long, long[]> counts)
    {
        j.put("name", p.name()).put("proxied", true).put("service", p.service()).put("portName", p.portName())
            .put("protocol", p.protocol()).put("scheduler", p.scheduler())
            .put("persistentSeconds", p.affinitySeconds())
            .put("internalTrafficPolicy", p.internalLocal() ? "Local" : "Cluster")
            .put("externalTrafficPolicy", p.externalLocal() ? "Local" : "Cluster");
        final ArrayNode fes = j.putArray("virtualServers");
        for (final ServiceView.Frontend f : p.frontends())
        {
            fes.addObject().put("kind", f.kind()).put("protocol", f.protocol()).put("vip", Ip4.format(f.address()))
                .put("port", f.port()).put("installed", f.installed()).put("usedBy", f.usedBy());
        }
        j.put("nodePortProblem", p.nodePortProblem());
        final ArrayNode ranges = j.putArray("sourceRanges");
        p.sourceRanges().forEach(r -> ranges.add(r.toString()));
        j.put("lbIpsAlsoAllowed", p.lbIpsAlsoAllowed()).put("hasEndpoints", p.hasEndpoints());
        final ArrayNode rs = j.putArray("realServers");
        for (final ServiceView.Backend b : p.backends())
        {
            final long[] c = ShowFormat.connections(counts, p, b);
            rs.addObject().put("address", Ip4.format(b.address())).put("port", b.port())
                .put("weight", b.used() ? 1 : 0).put("activeConn", c[0]).put("inActConn", c[1])
                .put("state", b.state()).put("ready", b.ready()).put("serving", b.serving())
                .put("terminating", b.terminating()).put("local", b.local()).put("used", b.used());
        }
    }

    static ObjectNode ports(final ObjectNode o, final List<ShowFormat.PortView> views)
    {
        final ArrayNode a = o.putArray("ports");
        for (final ShowFormat.PortView v : views)
        {
            final WorkerStats.PortRow r = v.row();
            final ObjectNode j = a.addObject().put("id", r.id()).put("name", r.name()).put("kind", v.kind())
                .put("mac", Ip4.formatMac(v.mac())).put("rxPackets", r.rxPackets()).put("rxBytes", r.rxBytes())
                .put("rxDropped", r.rxDropped()).put("txPackets", r.txPackets()).put("txBytes", r.txBytes())
                .put("txDropped", r.txDropped());
            if (v.pod() == null)
            {
                j.putNull("pod");
            }
            else
            {
                j.putObject("pod").put("namespace", v.pod().podNamespace()).put("name", v.pod().podName())
                    .put("ip", Ip4.format(v.pod().ip()));
            }
        }
        return o;
    }

    static ObjectNode trace(final ObjectNode o, final List<Graph.TracedPacket> packets, final long lost)
    {
        final ArrayNode a = o.putArray("packets");
        for (final Graph.TracedPacket p : packets)
        {
            final ObjectNode j = a.addObject().put("packet", p.packet()).put("worker", p.worker());
            final ArrayNode steps = j.putArray("steps");
            for (final Graph.TraceStep s : p.steps())
            {
                final ObjectNode st = steps.addObject().put("kind", s.kind()).put("stage", s.stage());
                switch (s.kind())
                {
                    case "input" ->
                    {
                        st.put("nanos", s.nanos()).put("port", s.port()).put("bytes", s.bytes()).put("next", s.next());
                        if (s.handedOverBy() < 0)
                        {
                            st.putNull("handedOverBy");
                        }
                        else
                        {
                            st.put("handedOverBy", s.handedOverBy());
                        }
                    }
                    case "next" -> st.put("next", s.next());
                    case "drop" -> st.put("reason", s.text());
                    case "detail" -> st.put("detail", s.text());
                    case "transmit" -> st.put("port", s.port()).put("bytes", s.bytes());
                    case "inject" -> st.put("answerTo", s.answerTo());
                    default -> st.put("detail", s.text());
                }
            }
        }
        return o.put("lost", lost);
    }
}
