package dev.ferry.nat;

import dev.ferry.core.route.Ip4;
import dev.ferry.core.route.Ip4Prefix;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * One entry of {@code ferry show services}, as the Service table compiled it: the text ({@link #render}, in
 * {@code ipvsadm -Ln} style) and the node API's JSON are both made from these, so the two never disagree.
 */
public sealed interface ServiceView
{
    /** The two header lines of {@code show services} (ipvsadm's). */
    List<String> HEADER = List.of("Prot LocalAddress:Port      Service (frontend)  Scheduler Flags",
        "  -> RemoteAddress:Port      Conditions");

    /** What a real server's line becomes: the node appends its connection counts. */
    @FunctionalInterface
    interface BackendLine
    {
        /**
         * @param port    the Service port.
         * @param backend its endpoint.
         * @param line    the line as {@code ipvsadm -Ln} would print it.
         * @return the line to print.
         */
        String line(Port port, Backend backend, String line);
    }

    /**
     * A Service (or one of its ports) that is not proxied.
     *
     * @param name   {@code namespace/name}, with {@code :port} when one port is refused.
     * @param reason why, in words.
     */
    record NotProxied(String name, String reason) implements ServiceView
    {
    }

    /**
     * One proxied Service port: ipvsadm's virtual services (one per frontend) with their real servers.
     *
     * @param service          {@code namespace/name}.
     * @param portName         the Service port's name ("" when unnamed).
     * @param protocol         TCP or UDP.
     * @param scheduler        random or maglev.
     * @param affinitySeconds  ClientIP affinity's timeout, or 0 without affinity.
     * @param internalLocal    internalTrafficPolicy Local.
     * @param externalLocal    externalTrafficPolicy Local.
     * @param frontends        the addresses it answers on, in the order the table installed them.
     * @param nodePortProblem  why its nodePort is not installed, or null.
     * @param sourceRanges     loadBalancerSourceRanges (only with LoadBalancer IPs; empty: from anywhere).
     * @param lbIpsAlsoAllowed the LoadBalancer IPs themselves may also connect (a range holds the node).
     * @param hasEndpoints     a usable endpoint exists (else new connections are rejected).
     * @param backends         the endpoints, by address then port.
     */
    record Port(String service, String portName, String protocol, String scheduler, long affinitySeconds,
        boolean internalLocal, boolean externalLocal, List<Frontend> frontends, String nodePortProblem,
        List<Ip4Prefix> sourceRanges, boolean lbIpsAlsoAllowed, boolean hasEndpoints, List<Backend> backends)
        implements ServiceView
    {
        /** @return {@code namespace/name[:port]}, as the text view names it. */
        public String name()
        {
            return service + (portName.isEmpty() ? "" : ":" + portName);
        }

        /** @return the Flags column: scheduler, persistence, traffic policies. */
        public String flags()
        {
            return scheduler + (affinitySeconds > 0 ? " persistent " + affinitySeconds : "")
                + (internalLocal ? " itp=Local" : "") + (externalLocal ? " etp=Local" : "");
        }
    }

    /**
     * An address a Service port answers on.
     *
     * @param protocol  TCP or UDP.
     * @param address   the virtual address.
     * @param port      the virtual port (the nodePort for NodePort).
     * @param kind      ClusterIP, NodePort, externalIP or LoadBalancer.
     * @param usedBy    the Service port that already holds this address (then it is not installed), or null.
     */
    record Frontend(String protocol, int address, int port, String kind, String usedBy)
    {
        /** @return whether new connections to it reach this Service. */
        public boolean installed()
        {
            return usedBy == null;
        }
    }

    /**
     * An endpoint of a Service port.
     *
     * @param address     its address.
     * @param port        its target port.
     * @param ready       EndpointSlice's ready.
     * @param serving     EndpointSlice's serving.
     * @param terminating EndpointSlice's terminating.
     * @param local       on this node.
     * @param used        new connections may be sent to it (ipvsadm's weight 1; 0 when not).
     */
    record Backend(int address, int port, boolean ready, boolean serving, boolean terminating, boolean local,
        boolean used)
    {
        /** @return ready, serving-terminating or not-ready. */
        public String state()
        {
            return ready ? "ready" : serving && terminating ? "serving-terminating" : "not-ready";
        }
    }

    /**
     * @param views the table's entries.
     * @return the lines of {@code show services} below its two header lines.
     */
    static List<String> render(final List<ServiceView> views)
    {
        return render(views, (p, b, line) -> line);
    }

    /**
     * @param views   the table's entries.
     * @param backend what each real server's line becomes.
     * @return the lines of {@code show services} below its two header lines.
     */
    static List<String> render(final List<ServiceView> views, final BackendLine backend)
    {
        final List<String> out = new ArrayList<>();
        for (final ServiceView v : views)
        {
            switch (v)
            {
                case NotProxied n -> out.add("---  " + n.name() + "  not proxied: " + n.reason());
                case Port p -> render(p, backend, out);
            }
        }
        return out;
    }

    private static void render(final Port p, final BackendLine backend, final List<String> out)
    {
        final String name = p.name();
        for (final Frontend f : p.frontends())
        {
            final String addr = String.format(Locale.ROOT, "%-4s %-21s", f.protocol(),
                Ip4.format(f.address()) + ":" + f.port());
            out.add(f.installed() ? addr + " " + name + " (" + f.kind() + ")  " + p.flags()
                : "!!!  " + addr + " " + name + " (" + f.kind() + "): frontend already used by " + f.usedBy()
                    + ": not installed");
        }
        if (p.nodePortProblem() != null)
        {
            out.add("!!!  " + name + "  " + p.nodePortProblem() + ": not installed");
        }
        if (!p.sourceRanges().isEmpty())
        {
            out.add("  LoadBalancer IPs and NodePorts only from " + String.join(" ", p.sourceRanges().stream()
                .map(Ip4Prefix::toString).toList()) + (p.lbIpsAlsoAllowed()
                ? " and the LoadBalancer IPs themselves (a range holds the node's address)" : ""));
        }
        if (!p.hasEndpoints())
        {
            out.add("  -> (no usable endpoints: REJECT)");
        }
        for (final Backend b : p.backends())
        {
            out.add(backend.line(p, b, String.format(Locale.ROOT, "  -> %-21s %s%s%s", Ip4.format(b.address()) + ":"
                + b.port(), b.state(), b.local() ? " local" : "", b.used() ? "" : " (unused)")));
        }
    }
}
