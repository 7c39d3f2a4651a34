package dev.ferry.core.workers;

/**
 * The ownership rule: which worker owns a flow, computed from one packet's 5-tuple as it arrives (before any NAT
 * of this node), so that the original and the reply direction of every flow reach the same worker without a
 * shared table lookup. The owner holds the flow's conntrack entry in its own shard; every other worker hands
 * the packet over ({@link Handoff}). This is VPP nat44-ed's split (in2out by a hash of the inside endpoint,
 * out2in by the worker whose SNAT port range holds the destination port), extended to Service DNAT.
 *
 * <p>The rule picks one <em>anchor</em> endpoint (address, port) of the packet that NAT never rewrites, and the
 * owner is the anchor's worker:
 * <ol>
 *   <li>The destination is a node SNAT address with a port inside the masquerade range, and is neither a Service
 *       frontend nor a backend: it is the reply to a SNATed flow, and the anchor is the destination. Its worker is
 *       the one whose partition of the range holds the port ({@link #partitionOf}).</li>
 *   <li>Exactly one end is <em>translatable</em>, a Service frontend (ClusterIP, NodePort, external or
 *       LoadBalancer address with its port) or a Service backend (an endpoint address with its target port): the
 *       anchor is the other end, the client. DNAT replaces a frontend by a backend, so the original carries the
 *       frontend where the reply carries the backend: both are translatable, and the client is the end that
 *       stays.</li>
 *   <li>Both ends are translatable: the flow is {@linkplain #PINNED pinned} to worker 0. This is the rare client
 *       that sends from a tuple that is itself a frontend or backend (a backend pod reaching a ClusterIP from its
 *       own Service port). No rule on one packet can give such a flow a balanced owner and stay symmetric.</li>
 *   <li>Neither is translatable, and the source is an SNAT address with a port in the range (the host's own
 *       traffic): the anchor is the source, so that rule 1 finds the same worker for the reply.</li>
 *   <li>Otherwise a symmetric keyed hash of both ends: pod to pod, pod to the outside (masquerade), VXLAN from
 *       a peer node (the rule runs on the inner packet, after vxlan-decap).</li>
 * </ol>
 * An anchor that is an SNAT address with a port in the range maps to its partition's worker; any other anchor to
 * a keyed hash of the endpoint. The SNAT side closes the loop: a worker allocates masquerade ports only from its
 * own partition ({@link #portMin}, {@link #portMax}) and never a port that is a frontend or backend on that
 * address ({@link #snatPortUsable}), so the reply of a masqueraded or NodePort (DNAT + SNAT) flow comes back by
 * rule 1 to the worker that translated it.
 *
 * <p>ICMP echo uses the identifier as both ports. An ICMP error belongs to the flow it quotes: apply the rule to
 * the embedded header with source and destination swapped. A flow whose two ends are both this node's own
 * addresses never crosses ferry (the host kernel delivers it locally), and the rule does not order it.
 *
 * <p>Partitions: the range {@code [portMin, portMax]} is cut into {@code workers} contiguous blocks of
 * {@code range / workers} ports, the last block taking the remainder. The range may hold NodePorts (ferry's
 * default masquerade range, 1024-65535, does): a NodePort is a frontend, so rule 1 never takes it for an SNAT
 * reply and {@link #snatPortUsable} keeps it from being allocated.
 *
 * <p>Hashes: 32-bit words and only the operations classic BPF has (add, multiply, xor, shifts, unsigned
 * remainder), so that the uplink's fanout program ({@link OwnerProgram}) computes the same owner in the kernel
 * before a worker reads the frame. Four key words are derived from the node's 64-bit secret. An endpoint's hash is
 * {@code fmix(fmix(ip ^ k0) + (port ^ k3))}, rule 5's {@code fmix((fmix(fmix(lo ^ k0) + (hi ^ k1)) ^ ports ^ k2)
 * + proto * 0x9e3779b1)} over the pair ordered canonically (lower unsigned address first, then lower port; both
 * ports in one word, the low end's on top), where {@code fmix} is murmur3's 32-bit finaliser; a hash names the
 * worker {@code hash mod workers}, unsigned, which is what the kernel's {@code PACKET_FANOUT_CBPF} does with a
 * program's answer.
 *
 * <p>Immutable; safe on every worker. {@link #owner} allocates nothing: two role look-ups and a hash.
 */
public final class FlowOwner
{
    /** The worker that owns flows no balanced rule can place (rule 3). */
    public static final int PINNED = 0;

    /** 2^32 / phi, odd: spreads the protocol number over the word. */
    static final int GOLDEN32 = 0x9e3779b1;
    /** murmur3's finaliser constants. */
    static final int FMIX1 = 0x85ebca6b;
    static final int FMIX2 = 0xc2b2ae35;

    /** What the Service tables say about an endpoint. Implementations read an immutable snapshot. */
    public interface Roles
    {
        /**
         * @param proto IP protocol.
         * @param ip    address.
         * @param port  port (ICMP: identifier).
         * @return whether DNAT rewrites this endpoint: a ClusterIP, NodePort, external or LoadBalancer frontend.
         */
        boolean frontend(int proto, int ip, int port);

        /**
         * @param proto IP protocol.
         * @param ip    address.
         * @param port  port.
         * @return whether the endpoint is a backend that DNAT may write in (an endpoint with its target port).
         */
        boolean backend(int proto, int ip, int port);
    }

    /** Roles of a node without Services: nothing is translatable. */
    public static final Roles NO_SERVICES = new Roles()
    {
        @Override
        public boolean frontend(final int proto, final int ip, final int port)
        {
            return false;
        }

        @Override
        public boolean backend(final int proto, final int ip, final int port)
        {
            return false;
        }
    };

    /**
     * One endpoint as a long, for lists of roles (what {@link OwnerProgram} compiles in): the protocol in bits
     * 48-55, the port in bits 32-47, the address in the low 32 bits. Ordered as longs, such endpoints sort by
     * protocol, then port, then unsigned address.
     *
     * @param proto IP protocol.
     * @param ip    address.
     * @param port  port (ICMP: identifier).
     * @return the endpoint.
     */
    public static long endpoint(final int proto, final int ip, final int port)
    {
        return (long)(proto & 0xff) << 48 | (long)(port & 0xffff) << 32 | ip & 0xffffffffL;
    }

    private final int workers;
    private final int[] snatAddresses;
    private final int portMin;
    private final int portMax;
    private final int blockSize;
    /** {@code workers - 1} when the worker count is a power of two, else -1. */
    private final int workerMask;
    private final Roles roles;
    private final int k0;
    private final int k1;
    private final int k2;
    private final int k3;

    /**
     * @param workers       worker count, at least 1.
     * @param snatAddresses every address SNAT may write (the node's primary address, the pods' gateway).
     * @param portMin       lowest masquerade port.
     * @param portMax       highest masquerade port; the range holds at least {@code workers} ports.
     * @param roles         frontends and backends of the current Service tables.
     * @param secret        per-node hash secret, so that pods cannot aim their flows at one worker by hash.
     */
    public FlowOwner(final int workers, final int[] snatAddresses, final int portMin, final int portMax,
        final Roles roles, final long secret)
    {
        if (workers < 1)
        {
            throw new IllegalArgumentException("workers must be at least 1: " + workers);
        }
        if (portMin < 1 || portMax > 65535 || portMax - portMin + 1 < workers)
        {
            throw new IllegalArgumentException("masquerade range " + portMin + "-" + portMax
                + " must hold at least one port per worker (" + workers + ")");
        }
        this.workers = workers;
        this.snatAddresses = snatAddresses.clone();
        this.portMin = portMin;
        this.portMax = portMax;
        this.blockSize = (portMax - portMin + 1) / workers;
        this.workerMask = Integer.bitCount(workers) == 1 ? workers - 1 : -1;
        this.roles = roles;
        this.k0 = keyWord(secret, 0);
        this.k1 = keyWord(secret, 1);
        this.k2 = keyWord(secret, 2);
        this.k3 = keyWord(secret, 3);
    }

    /** @return the worker count. */
    public int workers()
    {
        return workers;
    }

    /**
     * The owner of the packet's flow.
     *
     * @param proto IP protocol.
     * @param src   source address.
     * @param sport source port (ICMP echo: identifier).
     * @param dst   destination address.
     * @param dport destination port (ICMP echo: identifier).
     * @return the owning worker, {@code 0 .. workers - 1}.
     */
    public int owner(final int proto, final int src, final int sport, final int dst, final int dport)
    {
        if (workers == 1)
        {
            return 0;
        }
        final boolean srcT = translatable(proto, src, sport);
        final boolean dstT = translatable(proto, dst, dport);
        if (!dstT && snatEndpoint(dst, dport))
        {
            return partitionOf(dport);
        }
        if (srcT != dstT)
        {
            return srcT ? endpointOwner(dst, dport) : endpointOwner(src, sport);
        }
        if (srcT)
        {
            return PINNED;
        }
        if (snatEndpoint(src, sport))
        {
            return partitionOf(sport);
        }
        return reduce(symmetricHash(proto, src, sport, dst, dport));
    }

    /**
     * @param worker a worker.
     * @return the lowest masquerade port that worker may allocate.
     */
    public int portMin(final int worker)
    {
        return portMin(portMin, portMax, workers, worker);
    }

    /**
     * @param worker a worker.
     * @return the highest masquerade port that worker may allocate.
     */
    public int portMax(final int worker)
    {
        return portMax(portMin, portMax, workers, worker);
    }

    /**
     * The partition rule on its own, for an allocator that reads the range from its tables (the NAT): the range
     * cut into {@code workers} blocks of {@code range / workers} ports, the last taking the remainder.
     *
     * @param min     lowest masquerade port.
     * @param max     highest masquerade port.
     * @param workers worker count.
     * @param worker  a worker.
     * @return the lowest port of that worker's block.
     */
    public static int portMin(final int min, final int max, final int workers, final int worker)
    {
        return min + worker * ((max - min + 1) / workers);
    }

    /**
     * @param min     lowest masquerade port.
     * @param max     highest masquerade port.
     * @param workers worker count.
     * @param worker  a worker.
     * @return the highest port of that worker's block; below {@link #portMin(int, int, int, int)} when the range
     *         holds fewer ports than there are workers (the block is empty).
     */
    public static int portMax(final int min, final int max, final int workers, final int worker)
    {
        return worker == workers - 1 ? max : min + (worker + 1) * ((max - min + 1) / workers) - 1;
    }

    /**
     * @param port a port inside the masquerade range.
     * @return the worker whose partition holds it.
     */
    public int partitionOf(final int port)
    {
        return Math.min((port - portMin) / blockSize, workers - 1);
    }

    /**
     * The allocator's side of the rule: a masquerade port that is a frontend or backend on its address would
     * turn its replies into translatable packets, which rule 1 does not see.
     *
     * @param proto   IP protocol.
     * @param address the SNAT address.
     * @param port    a candidate port.
     * @return whether SNAT may use that port on that address.
     */
    public boolean snatPortUsable(final int proto, final int address, final int port)
    {
        return !translatable(proto, address, port);
    }

    private boolean translatable(final int proto, final int ip, final int port)
    {
        return roles.frontend(proto, ip, port) || roles.backend(proto, ip, port);
    }

    private boolean snatEndpoint(final int ip, final int port)
    {
        if (port < portMin || port > portMax)
        {
            return false;
        }
        final int[] addresses = snatAddresses;
        for (final int a : addresses)
        {
            if (a == ip)
            {
                return true;
            }
        }
        return false;
    }

    private int endpointOwner(final int ip, final int port)
    {
        return snatEndpoint(ip, port) ? partitionOf(port) : reduce(endpointHash(ip, port));
    }

    /**
     * The keyed hash of one endpoint (rules 2 and the SNAT-less anchors): two rounds of murmur3's 32-bit finaliser.
     *
     * @param ip   address.
     * @param port port.
     * @return the hash, before {@link #reduce}.
     */
    int endpointHash(final int ip, final int port)
    {
        return fmix(fmix(ip ^ k0) + (port ^ k3));
    }

    /**
     * Rule 5's hash: the two endpoints ordered canonically (unsigned address, then port), so that both directions
     * of a flow give the same value; the lower address, the higher one, both ports in one word and the protocol,
     * each folded in with murmur3's finaliser.
     *
     * @param proto IP protocol.
     * @param src   source address.
     * @param sport source port.
     * @param dst   destination address.
     * @param dport destination port.
     * @return the hash, before {@link #reduce}.
     */
    int symmetricHash(final int proto, final int src, final int sport, final int dst, final int dport)
    {
        final int c = Integer.compareUnsigned(src, dst);
        final boolean srcLow = c < 0 || c == 0 && sport <= dport;
        final int ipLow = srcLow ? src : dst;
        final int ipHigh = srcLow ? dst : src;
        final int ports = srcLow ? sport << 16 | dport & 0xffff : dport << 16 | sport & 0xffff;
        int h = fmix(ipLow ^ k0);
        h = fmix(h + (ipHigh ^ k1));
        return fmix((h ^ ports ^ k2) + proto * GOLDEN32);
    }

    /**
     * @param hash a hash.
     * @return the worker it names: its unsigned remainder by the worker count, as the kernel's fanout maps a
     *         program's answer onto the group's members.
     */
    int reduce(final int hash)
    {
        // a power-of-two count (2, 4, 8 ... workers) takes the low bits, the same value without a divide
        return workerMask >= 0 ? hash & workerMask : Integer.remainderUnsigned(hash, workers);
    }

    /** @return the SNAT addresses (a copy). */
    int[] snatAddresses()
    {
        return snatAddresses.clone();
    }

    /** @return the lowest masquerade port. */
    int portMin()
    {
        return portMin;
    }

    /** @return the highest masquerade port. */
    int portMax()
    {
        return portMax;
    }

    /** @return ports per partition (the last takes the remainder too). */
    int blockSize()
    {
        return blockSize;
    }

    /**
     * @param i 0 to 3.
     * @return the hash key word {@code i}, derived from the node's secret.
     */
    int key(final int i)
    {
        return switch (i)
        {
            case 0 -> k0;
            case 1 -> k1;
            case 2 -> k2;
            default -> k3;
        };
    }

    /**
     * murmur3's 32-bit finaliser: a bijection of 32 bits in shifts, xors and multiplies, which classic BPF has.
     *
     * @param key 32 bits.
     * @return 32 mixed bits.
     */
    static int fmix(final int key)
    {
        int h = key;
        h ^= h >>> 16;
        h *= FMIX1;
        h ^= h >>> 13;
        h *= FMIX2;
        h ^= h >>> 16;
        return h;
    }

    /** One key word from the 64-bit secret: splitmix64's finaliser of the secret and the word's index. */
    private static int keyWord(final long secret, final int i)
    {
        long z = secret + (i + 1) * 0x9e3779b97f4a7c15L;
        z = (z ^ z >>> 30) * 0xbf58476d1ce4e5b9L;
        z = (z ^ z >>> 27) * 0x94d049bb133111ebL;
        return (int)((z ^ z >>> 31) >>> 32);
    }
}
