package dev.ferry.nat;

import dev.ferry.core.route.Ip4Prefix;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.tables.ServiceInfo;
import dev.ferry.core.workers.FlowOwner;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The compiled, immutable Service part of a snapshot: what {@code nat44-new} reads per new flow.
 *
 * <pre>
 *  frontend map (open addressing, linear probe):  (proto, ip, port) ──► frontend ──► service port + kind
 *                                                  (0, clusterIP, 0) ──► "this is a ClusterIP" marker
 *  per service port:  internal / external / cluster endpoint selectors (kube-proxy CategorizeEndpoints:
 *                     ready, else serving+terminating; Local policies keep node-local ones), Maglev tables
 * </pre>
 *
 * <p>Work per lookup depends on the map's load, never on the number of Services: the map has the smallest
 * power-of-two number of slots (at least 16) that is at least four times the entries plus four, so it is
 * always less than a quarter full. Everything the masquerade decision needs (cluster CIDR, Service CIDRs,
 * exemptions, node addresses, port range) is copied here as primitives.
 */
final class ServiceTable implements FlowOwner.Roles
{
    static final int KIND_CLUSTER_IP = 0;
    static final int KIND_NODE_PORT = 1;
    static final int KIND_EXTERNAL_IP = 2;
    static final int KIND_LOAD_BALANCER = 3;
    static final String[] KIND_NAMES = {"ClusterIP", "NodePort", "externalIP", "LoadBalancer"};

    /** Lookup result: no frontend. */
    static final int NONE = -1;
    /** Frontend value marking an address that is a ClusterIP (looked up with protocol and port 0). */
    static final int CLUSTER_IP_MARK = Integer.MAX_VALUE;

    private static final long USED = 1L << 63;
    private static final int MAGLEV_FACTOR = 100;

    /** How a Service port picks among endpoints. */
    static final class Selector
    {
        static final Selector EMPTY = new Selector(new int[0], null);

        final int[] endpoints;
        final int[] maglev;

        Selector(final int[] endpoints, final int[] maglev)
        {
            this.endpoints = endpoints;
            this.maglev = maglev;
        }

        boolean isEmpty()
        {
            return endpoints.length == 0;
        }

        boolean contains(final int ep)
        {
            final int[] eps = endpoints;
            for (int i = 0; i < eps.length; i++)
            {
                if (eps[i] == ep)
                {
                    return true;
                }
            }
            return false;
        }
    }

    // frontend map
    /** Open addressing, key and value side by side ({@code [2 * slot]} key, {@code [2 * slot + 1]} value), so a
     *  probe touches one cache line; less than a quarter full, so lookups stay near one probe at any size. */
    private final long[] slots;
    private final int mask;

    // frontends
    final int[] feServicePort;
    final int[] feKind;

    // service ports
    final int[] spProtocol;
    final Selector[] internal;
    final Selector[] external;
    final Selector[] cluster;
    final boolean[] hasEndpoints;
    final boolean[] externalLocal;
    final boolean[] affinity;
    final long[] affinityNanos;
    final int[] affinityKey;
    final String[] spName;
    final int[][] serving;
    /** loadBalancerSourceRanges per service port: networks and masks (null: every source), and the sources that
     *  kube-proxy's allowFromNode rule adds (the Service's LB IPs, when a range holds the node's primary address). */
    final int[][] srcRangeNet;
    final int[][] srcRangeMask;
    final int[][] srcAlsoAllowed;

    // endpoints
    final int[] epIp;
    final int[] epPort;
    /** Every endpoint of every Service port as {@link #key}(protocol, ip, target port), sorted: the backends of
     *  {@link FlowOwner.Roles}. */
    private final long[] backendKeys;

    // settings
    final boolean hasClusterCidr;
    final int clusterNet;
    final int clusterMask;
    final int[] serviceNet;
    final int[] serviceMask;
    final int[] nonMasqNet;
    final int[] nonMasqMask;
    final boolean masqueradeAll;
    final int portMin;
    final int portMax;
    final int gatewayIp;
    final boolean hasPodCidr;
    final int podNet;
    final int podMask;
    final int primaryIp;
    final int[] nodeAddrs;

    // UDP bindings a flow may have: (frontend, endpoint) pairs as ip << 16 | port, sorted by frontend then
    // endpoint; the worker flushes the flows of the pairs that a new table no longer has
    final long[] udpFrontends;
    final long[] udpEndpoints;

    // what show services prints, rendered when asked (ServiceView.render)
    final List<ServiceView> views;
    final long generation;

    private ServiceTable(final Builder b, final NodeTables t)
    {
        final int feCount = b.feKey.size();
        int cap = 16;
        while (cap < feCount * 4 + 4)
        {
            cap <<= 1;
        }
        slots = new long[cap * 2];
        mask = cap - 1;
        for (int i = 0; i < feCount; i++)
        {
            put(b.feKey.get(i), b.feValue.get(i));
        }
        feServicePort = toInts(b.feSp);
        feKind = toInts(b.feKindList);
        final int sps = b.sps.size();
        spProtocol = new int[sps];
        internal = new Selector[sps];
        external = new Selector[sps];
        cluster = new Selector[sps];
        hasEndpoints = new boolean[sps];
        externalLocal = new boolean[sps];
        affinity = new boolean[sps];
        affinityNanos = new long[sps];
        affinityKey = new int[sps];
        spName = new String[sps];
        serving = new int[sps][];
        srcRangeNet = new int[sps][];
        srcRangeMask = new int[sps][];
        srcAlsoAllowed = new int[sps][];
        for (int i = 0; i < sps; i++)
        {
            final CompiledPort p = b.sps.get(i);
            serving[i] = p.serving;
            spProtocol[i] = p.protocol;
            internal[i] = p.internal;
            external[i] = p.external;
            cluster[i] = p.cluster;
            hasEndpoints[i] = p.hasEndpoints;
            externalLocal[i] = p.externalLocal;
            affinity[i] = p.affinity;
            affinityNanos[i] = p.affinitySeconds * 1_000_000_000L;
            affinityKey[i] = p.name.hashCode();
            spName[i] = p.name;
            if (!p.sourceRanges.isEmpty())
            {
                srcRangeNet[i] = nets(p.sourceRanges);
                srcRangeMask[i] = masks(p.sourceRanges);
                srcAlsoAllowed[i] = p.sourceAlsoAllowed;
            }
        }
        epIp = toInts(b.epIps);
        epPort = toInts(b.epPorts);
        backendKeys = backendKeys();

        final NodeTables.ClusterSettings c = t.cluster();
        hasClusterCidr = c.clusterCidr() != null;
        clusterNet = hasClusterCidr ? c.clusterCidr().address() : 0;
        clusterMask = hasClusterCidr ? Ip4Prefix.mask(c.clusterCidr().length()) : 0;
        serviceNet = nets(c.serviceCidrs());
        serviceMask = masks(c.serviceCidrs());
        nonMasqNet = nets(c.nonMasqueradeCidrs());
        nonMasqMask = masks(c.nonMasqueradeCidrs());
        masqueradeAll = c.masqueradeAll();
        portMin = Nat.masqueradePortMin(c);
        portMax = Nat.masqueradePortMax(c);
        final NodeTables.NodeInfo n = t.node();
        gatewayIp = n.gatewayIp();
        hasPodCidr = n.podCidr() != null;
        podNet = hasPodCidr ? n.podCidr().address() : 0;
        podMask = hasPodCidr ? Ip4Prefix.mask(n.podCidr().length()) : 0;
        primaryIp = n.primaryAddress();
        final List<Integer> own = new ArrayList<>(n.addresses());
        own.add(n.publicIp());
        own.add(n.gatewayIp());
        nodeAddrs = own.stream().filter(a -> a != 0).mapToInt(Integer::intValue).distinct().toArray();
        final long[][] pairs = udpBindings(b.feKey, b.feValue);
        udpFrontends = pairs[0];
        udpEndpoints = pairs[1];
        views = List.copyOf(b.views);
        generation = t.generation();
    }

    /**
     * The (frontend, endpoint) pairs whose UDP flows survive this table: each installed frontend of a UDP
     * Service port with each of the port's serving endpoints, ready or terminating, whatever the traffic
     * policies (kube-proxy's {@code CleanStaleEntries}: changes to a Service do not disturb flows to an
     * endpoint that still serves).
     */
    private long[][] udpBindings(final List<Long> feKeys, final List<Integer> feValues)
    {
        final List<long[]> pairs = new ArrayList<>();
        for (int i = 0; i < feKeys.size(); i++)
        {
            final int fe = feValues.get(i);
            if (fe == CLUSTER_IP_MARK)
            {
                continue;
            }
            final long k = feKeys.get(i);
            final int sp = feServicePort[fe];
            if (spProtocol[sp] != 17)
            {
                continue;
            }
            final long frontend = (k & 0xffffffffL) << 16 | (k >>> 32 & 0xffff);
            for (final int ep : serving[sp])
            {
                pairs.add(new long[] {frontend, (epIp[ep] & 0xffffffffL) << 16 | epPort[ep]});
            }
        }
        pairs.sort((x, y) -> x[0] != y[0] ? Long.compare(x[0], y[0]) : Long.compare(x[1], y[1]));
        final long[] fes = new long[pairs.size()];
        final long[] eps = new long[pairs.size()];
        int n = 0;
        for (final long[] p : pairs)
        {
            if (n > 0 && fes[n - 1] == p[0] && eps[n - 1] == p[1])
            {
                continue;
            }
            fes[n] = p[0];
            eps[n] = p[1];
            n++;
        }
        return new long[][] {Arrays.copyOf(fes, n), Arrays.copyOf(eps, n)};
    }

    /**
     * Compiles the Services of a node's tables.
     *
     * @param t      the tables.
     * @param maglev whether to build Maglev tables.
     * @return the compiled table.
     */
    static ServiceTable compile(final NodeTables t, final boolean maglev)
    {
        return compile(t, maglev, null);
    }

    /**
     * Compiles the Services of a node's tables, keeping each Service port's Maglev table size from the
     * previous table while it still fits, so that a backend leaving moves only its own flows.
     *
     * @param t        the tables.
     * @param maglev   whether to build Maglev tables.
     * @param previous the table this one replaces, or null.
     * @return the compiled table.
     */
    static ServiceTable compile(final NodeTables t, final boolean maglev, final ServiceTable previous)
    {
        final Builder b = new Builder(t, maglev);
        if (previous != null)
        {
            for (int sp = 0; sp < previous.spName.length; sp++)
            {
                if (previous.internal[sp].maglev != null)
                {
                    b.previousSize.put(previous.spName[sp], previous.internal[sp].maglev.length);
                }
                else if (previous.cluster[sp].maglev != null)
                {
                    b.previousSize.put(previous.spName[sp], previous.cluster[sp].maglev.length);
                }
            }
        }
        for (final ServiceInfo s : t.services())
        {
            b.add(s);
        }
        return new ServiceTable(b, t);
    }

    private long[] backendKeys()
    {
        final java.util.TreeSet<Long> keys = new java.util.TreeSet<>();
        for (int sp = 0; sp < spProtocol.length; sp++)
        {
            for (final int[] eps : new int[][] {serving[sp], internal[sp].endpoints, external[sp].endpoints,
                cluster[sp].endpoints})
            {
                for (final int ep : eps == null ? new int[0] : eps)
                {
                    keys.add(key(spProtocol[sp], epIp[ep], epPort[ep]));
                }
            }
        }
        return keys.stream().mapToLong(Long::longValue).toArray();
    }

    @Override
    public boolean frontend(final int proto, final int ip, final int port)
    {
        return (int)lookup(proto, ip, port) != NONE;
    }

    @Override
    public boolean backend(final int proto, final int ip, final int port)
    {
        return Arrays.binarySearch(backendKeys, key(proto, ip, port)) >= 0;
    }

    /**
     * @return every key of the frontend map (frontends, and the ClusterIP markers of protocol and port 0, which
     *         {@link #frontend} answers too) as {@link FlowOwner#endpoint}, for the uplink's fanout program.
     */
    long[] frontendEndpoints()
    {
        final long[] out = new long[slots.length >> 1];
        int n = 0;
        for (int slot = 0; slot < out.length; slot++)
        {
            final long k = slots[slot << 1];
            if (k != 0)
            {
                out[n++] = k & ~USED;
            }
        }
        return Arrays.copyOf(out, n);
    }

    /** @return every backend as {@link FlowOwner#endpoint}, for the uplink's fanout program. */
    long[] backendEndpoints()
    {
        final long[] out = new long[backendKeys.length];
        for (int i = 0; i < out.length; i++)
        {
            out[i] = backendKeys[i] & ~USED;
        }
        return out;
    }

    static long key(final int proto, final int ip, final int port)
    {
        // the ownership rule's endpoint layout, so that a key less USED is what the uplink's program compiles in
        return USED | FlowOwner.endpoint(proto, ip, port);
    }

    static int mix(final long key)
    {
        long h = key;
        h ^= h >>> 33;
        h *= 0xff51afd7ed558ccdL;
        h ^= h >>> 33;
        h *= 0xc4ceb9fe1a85ec53L;
        h ^= h >>> 33;
        return (int)h;
    }

    private void put(final long key, final int value)
    {
        int slot = mix(key) & mask;
        while (slots[slot << 1] != 0)
        {
            if (slots[slot << 1] == key)
            {
                return;
            }
            slot = (slot + 1) & mask;
        }
        slots[slot << 1] = key;
        slots[(slot << 1) + 1] = value;
    }

    /**
     * Finds a frontend.
     *
     * @param proto IP protocol (0 with port 0 asks whether the address is a ClusterIP).
     * @param ip    destination address.
     * @param port  destination port.
     * @return {@code probes << 32 | value}, value being a frontend index, {@link #CLUSTER_IP_MARK} or
     *         {@link #NONE}.
     */
    long lookup(final int proto, final int ip, final int port)
    {
        final long key = key(proto, ip, port);
        final long[] slots = this.slots;
        int slot = mix(key) & mask;
        long probes = 1;
        while (true)
        {
            final long k = slots[slot << 1];
            if (k == key)
            {
                return (probes << 32) | (slots[(slot << 1) + 1] & 0xffffffffL);
            }
            if (k == 0)
            {
                return (probes << 32) | (NONE & 0xffffffffL);
            }
            slot = (slot + 1) & mask;
            probes++;
        }
    }

    /** @return frontend map capacity (slots). */
    int capacity()
    {
        return slots.length >> 1;
    }

    boolean inClusterCidr(final int ip)
    {
        return hasClusterCidr && (ip & clusterMask) == clusterNet;
    }

    boolean inPodCidr(final int ip)
    {
        return hasPodCidr && (ip & podMask) == podNet;
    }

    boolean inServiceCidr(final int ip)
    {
        return inAny(ip, serviceNet, serviceMask);
    }

    boolean nonMasquerade(final int ip)
    {
        return inAny(ip, nonMasqNet, nonMasqMask);
    }

    boolean isNodeAddress(final int ip)
    {
        final int[] own = nodeAddrs;
        for (int i = 0; i < own.length; i++)
        {
            if (own[i] == ip)
            {
                return true;
            }
        }
        return false;
    }

    /**
     * kube-proxy's firewall chain for a LoadBalancer IP: with loadBalancerSourceRanges, only a source inside one
     * of them may open a flow (or, when a range holds the node's primary address, one of the Service's LB IPs:
     * a VIP bound on the node loops back with itself as the source).
     *
     * @param sp  service port.
     * @param src the packet's source.
     * @return whether the source may open a flow to that port's LoadBalancer IPs.
     */
    boolean sourceAllowed(final int sp, final int src)
    {
        final int[] nets = srcRangeNet[sp];
        if (nets == null || inAny(src, nets, srcRangeMask[sp]))
        {
            return true;
        }
        final int[] also = srcAlsoAllowed[sp];
        for (int i = 0; i < also.length; i++)
        {
            if (also[i] == src)
            {
                return true;
            }
        }
        return false;
    }

    /**
     * The address that SNAT uses toward a destination: the pods' gateway for pods on this node (hairpin
     * included), the node's primary address otherwise.
     *
     * @param dst the (translated) destination.
     * @return the SNAT address.
     */
    int snatAddress(final int dst)
    {
        return inPodCidr(dst) ? gatewayIp : primaryIp;
    }

    private static boolean inAny(final int ip, final int[] nets, final int[] masks)
    {
        for (int i = 0; i < nets.length; i++)
        {
            if ((ip & masks[i]) == nets[i])
            {
                return true;
            }
        }
        return false;
    }

    private static int[] nets(final List<Ip4Prefix> ps)
    {
        return ps.stream().mapToInt(Ip4Prefix::address).toArray();
    }

    private static int[] masks(final List<Ip4Prefix> ps)
    {
        return ps.stream().mapToInt(p -> Ip4Prefix.mask(p.length())).toArray();
    }

    private static int[] toInts(final List<Integer> list)
    {
        return list.stream().mapToInt(Integer::intValue).toArray();
    }

    // ---- Maglev (Eisenbud et al., NSDI 2016) ----

    /**
     * The Maglev table size for a number of backends: the smallest prime of a fixed ladder (one prime just
     * above each power of two) that is at least 100 × the backends. The size must not change when a backend
     * leaves, or every flow moves: the ladder keeps it on the same rung for most changes, and
     * {@link #compile(NodeTables, boolean, ServiceTable)} keeps the previous size while it still fits.
     *
     * @param backends number of backends.
     * @return a prime table size.
     */
    static int maglevSize(final int backends)
    {
        final long want = Math.max((long)MAGLEV_FACTOR * backends, 128);
        long m = Long.highestOneBit(want - 1) << 1;
        m++;
        while (!isPrime(m))
        {
            m++;
        }
        return (int)m;
    }

    static boolean fits(final int size, final int backends)
    {
        return size >= (long)MAGLEV_FACTOR * backends && size <= 4L * maglevSize(backends);
    }

    private static boolean isPrime(final long n)
    {
        if (n < 2)
        {
            return false;
        }
        for (long d = 2; d * d <= n; d++)
        {
            if (n % d == 0)
            {
                return false;
            }
        }
        return true;
    }

    /**
     * Fills a Maglev lookup table. Each backend's preference list depends only on its own address, so a
     * backend that leaves disturbs few entries that belonged to the others.
     *
     * @param eps    endpoint indices, in a deterministic order.
     * @param ips    endpoint addresses by index.
     * @param ports  endpoint ports by index.
     * @param m      the table size, a prime of at least 100 × the backends.
     * @return the table of endpoint indices.
     */
    static int[] maglev(final int[] eps, final int[] ips, final int[] ports, final int m)
    {
        final int n = eps.length;
        final long[] offset = new long[n];
        final long[] skip = new long[n];
        final long[] next = new long[n];
        for (int i = 0; i < n; i++)
        {
            final long name = ((ips[eps[i]] & 0xffffffffL) << 16) | ports[eps[i]];
            offset[i] = Integer.toUnsignedLong(mix(name ^ 0x5bd1e995L)) % m;
            skip[i] = Integer.toUnsignedLong(mix(name ^ 0x27d4eb2f165667c5L)) % (m - 1) + 1;
        }
        final int[] table = new int[m];
        Arrays.fill(table, -1);
        int filled = 0;
        while (true)
        {
            for (int i = 0; i < n; i++)
            {
                int c = (int)((offset[i] + next[i] * skip[i]) % m);
                while (table[c] >= 0)
                {
                    next[i]++;
                    c = (int)((offset[i] + next[i] * skip[i]) % m);
                }
                table[c] = eps[i];
                next[i]++;
                filled++;
                if (filled == m)
                {
                    return table;
                }
            }
        }
    }

    private static final class CompiledPort
    {
        String name;
        int protocol;
        Selector internal;
        Selector external;
        Selector cluster;
        boolean hasEndpoints;
        boolean externalLocal;
        boolean affinity;
        long affinitySeconds;
        int[] serving;
        List<Ip4Prefix> sourceRanges = List.of();
        int[] sourceAlsoAllowed = new int[0];
    }

    private static final class Builder
    {
        private final NodeTables tables;
        private final boolean maglev;
        private final List<Long> feKey = new ArrayList<>();
        private final List<Integer> feValue = new ArrayList<>();
        private final List<Integer> feSp = new ArrayList<>();
        private final List<Integer> feKindList = new ArrayList<>();
        private final java.util.Map<Long, String> owner = new java.util.HashMap<>();
        private final List<CompiledPort> sps = new ArrayList<>();
        private final List<Integer> epIps = new ArrayList<>();
        private final List<Integer> epPorts = new ArrayList<>();
        private final List<ServiceView> views = new ArrayList<>();
        private List<ServiceView.Frontend> frontends;
        private final List<Integer> nodePortAddrs = new ArrayList<>();
        private final java.util.Map<String, Integer> previousSize = new java.util.HashMap<>();
        private String currentName;

        Builder(final NodeTables tables, final boolean maglev)
        {
            this.tables = tables;
            this.maglev = maglev;
            final NodeTables.NodeInfo n = tables.node();
            final List<Ip4Prefix> filter = tables.cluster().nodePortAddresses();
            final List<Integer> candidates = new ArrayList<>(n.addresses());
            if (n.publicIp() != 0 && !candidates.contains(n.publicIp()))
            {
                candidates.add(n.publicIp());
            }
            for (final int a : candidates)
            {
                if (filter.isEmpty() || filter.stream().anyMatch(p -> p.contains(a)))
                {
                    nodePortAddrs.add(a);
                }
            }
        }

        void add(final ServiceInfo s)
        {
            if (!s.proxied())
            {
                views.add(new ServiceView.NotProxied(s.key(), s.notProxiedReason()));
                return;
            }
            for (final ServiceInfo.ServicePort p : s.ports())
            {
                addPort(s, p);
            }
        }

        private void addPort(final ServiceInfo s, final ServiceInfo.ServicePort p)
        {
            final String name = s.key() + (p.name().isEmpty() ? "" : ":" + p.name());
            final String proto = protoName(p.protocol());
            if (p.protocol() != 6 && p.protocol() != 17)
            {
                views.add(new ServiceView.NotProxied(name, "protocol " + proto + " is not supported"));
                return;
            }
            final int sp = sps.size();
            currentName = name;
            final CompiledPort c = new CompiledPort();
            c.name = name;
            c.protocol = p.protocol();
            c.externalLocal = s.externalPolicyLocal();
            c.affinity = s.clientIpAffinity();
            c.affinitySeconds = s.affinityTimeoutSeconds() > 0 ? s.affinityTimeoutSeconds()
                : ServiceInfo.DEFAULT_AFFINITY_TIMEOUT;
            c.sourceRanges = s.sourceRanges();
            final int primary = tables.node().primaryAddress();
            if (s.sourceRanges().stream().anyMatch(r -> r.contains(primary)))
            {
                c.sourceAlsoAllowed = s.loadBalancerIps().stream().mapToInt(Integer::intValue).toArray();
            }
            final int first = epIps.size();
            final List<ServiceInfo.Endpoint> sorted = new ArrayList<>(p.endpoints());
            sorted.sort((x, y) -> x.ip() != y.ip() ? Integer.compareUnsigned(x.ip(), y.ip())
                : Integer.compare(x.port(), y.port()));
            final List<Integer> ready = new ArrayList<>();
            final List<Integer> fallback = new ArrayList<>();
            final List<Integer> localReady = new ArrayList<>();
            final List<Integer> localFallback = new ArrayList<>();
            final List<Integer> serving = new ArrayList<>();
            for (int i = 0; i < sorted.size(); i++)
            {
                final ServiceInfo.Endpoint e = sorted.get(i);
                final int idx = first + i;
                epIps.add(e.ip());
                epPorts.add(e.port());
                if (e.ready() || e.serving())
                {
                    serving.add(idx);
                }
                if (e.ready())
                {
                    // topology hints narrow only the Cluster-policy set (kube-proxy's CategorizeEndpoints)
                    if (e.inTopology())
                    {
                        ready.add(idx);
                    }
                    if (e.local())
                    {
                        localReady.add(idx);
                    }
                }
                else if (e.serving() && e.terminating())
                {
                    fallback.add(idx);
                    if (e.local())
                    {
                        localFallback.add(idx);
                    }
                }
            }
            final Selector clusterSel = selector(ready.isEmpty() ? fallback : ready);
            final Selector localSel = selector(localReady.isEmpty() ? localFallback : localReady);
            c.serving = serving.stream().mapToInt(Integer::intValue).toArray();
            c.cluster = clusterSel;
            c.internal = s.internalPolicyLocal() ? localSel : clusterSel;
            c.external = s.externalPolicyLocal() ? localSel : clusterSel;
            // kube-proxy's hasAnyEndpoints: a usable endpoint anywhere in the cluster, whatever the policies; with
            // none, REJECT; with some but none local under a Local policy, DROP
            c.hasEndpoints = !clusterSel.isEmpty();
            sps.add(c);

            frontends = new ArrayList<>();
            String nodePortProblem = null;
            for (final int ip : s.clusterIps())
            {
                frontend(sp, KIND_CLUSTER_IP, p.protocol(), ip, p.port(), name);
                final long mark = key(0, ip, 0);
                if (!owner.containsKey(mark))
                {
                    owner.put(mark, name);
                    feKey.add(mark);
                    feValue.add(CLUSTER_IP_MARK);
                }
            }
            for (final int ip : s.externalIps())
            {
                frontend(sp, KIND_EXTERNAL_IP, p.protocol(), ip, p.port(), name);
            }
            for (final int ip : s.loadBalancerIps())
            {
                frontend(sp, KIND_LOAD_BALANCER, p.protocol(), ip, p.port(), name);
            }
            if (p.nodePort() != 0)
            {
                final NodeTables.ClusterSettings cs = tables.cluster();
                if (p.nodePort() < cs.nodePortMin() || p.nodePort() > cs.nodePortMax())
                {
                    nodePortProblem = "nodePort " + p.nodePort() + " outside the range " + cs.nodePortMin() + "-"
                        + cs.nodePortMax();
                }
                else
                {
                    for (final int ip : nodePortAddrs)
                    {
                        frontend(sp, KIND_NODE_PORT, p.protocol(), ip, p.nodePort(), name);
                    }
                }
            }
            final List<ServiceView.Backend> backends = new ArrayList<>();
            for (int i = 0; i < sorted.size(); i++)
            {
                final ServiceInfo.Endpoint e = sorted.get(i);
                backends.add(new ServiceView.Backend(e.ip(), e.port(), e.ready(), e.serving(), e.terminating(),
                    e.local(), clusterSel.contains(first + i)));
            }
            views.add(new ServiceView.Port(s.key(), p.name(), proto, maglev ? "maglev" : "random",
                c.affinity ? c.affinitySeconds : 0, s.internalPolicyLocal(), s.externalPolicyLocal(),
                List.copyOf(frontends), nodePortProblem, s.loadBalancerIps().isEmpty() ? List.of() : c.sourceRanges,
                c.sourceAlsoAllowed.length > 0, c.hasEndpoints, List.copyOf(backends)));
        }

        private void frontend(final int sp, final int kind, final int proto, final int ip, final int port,
            final String name)
        {
            final long k = key(proto, ip, port);
            final String previous = owner.putIfAbsent(k, name);
            frontends.add(new ServiceView.Frontend(protoName(proto), ip, port, KIND_NAMES[kind], previous));
            if (previous != null)
            {
                return;
            }
            feKey.add(k);
            feValue.add(feSp.size());
            feSp.add(sp);
            feKindList.add(kind);
        }

        private Selector selector(final List<Integer> eps)
        {
            if (eps.isEmpty())
            {
                return Selector.EMPTY;
            }
            final int[] arr = eps.stream().mapToInt(Integer::intValue).toArray();
            if (!maglev)
            {
                return new Selector(arr, null);
            }
            final int[] ips = new int[arr.length];
            final int[] ports = new int[arr.length];
            final int[] local = new int[arr.length];
            for (int i = 0; i < arr.length; i++)
            {
                ips[i] = epIps.get(arr[i]);
                ports[i] = epPorts.get(arr[i]);
                local[i] = i;
            }
            final Integer kept = previousSize.get(currentName);
            final int size = kept != null && fits(kept, arr.length) ? kept : maglevSize(arr.length);
            final int[] table = ServiceTable.maglev(local, ips, ports, size);
            for (int i = 0; i < table.length; i++)
            {
                table[i] = arr[table[i]];
            }
            return new Selector(arr, table);
        }

        private static String protoName(final int p)
        {
            return switch (p)
            {
                case 6 -> "TCP";
                case 17 -> "UDP";
                case 132 -> "SCTP";
                default -> "P" + p;
            };
        }
    }
}
