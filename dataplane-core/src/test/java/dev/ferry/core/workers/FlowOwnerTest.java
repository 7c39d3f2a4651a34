package dev.ferry.core.workers;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.Set;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The ownership rule against random flows and the translations NAT applies to them: the reply of every flow, as
 * it arrives at the node, must map to the worker that owns the original.
 */
class FlowOwnerTest
{
    private static final int TCP = 6;
    private static final int UDP = 17;
    private static final int ICMP = 1;
    private static final int PORT_MIN = 1024;
    // wide enough to hold the NodePort 30080: a frontend inside the masquerade range must still work
    private static final int PORT_MAX = 35000;
    private static final int PRIMARY = ip(192, 168, 1, 10);
    private static final int GATEWAY = ip(10, 244, 1, 1);
    private static final int[] SNAT = {PRIMARY, GATEWAY};

    @Property(tries = 3000)
    void replyAlwaysMapsToTheOriginalsOwner(@ForAll final long seed, @ForAll @IntRange(min = 1, max = 8)
        final int workers)
    {
        final Scenario s = new Scenario(seed);
        final FlowOwner rule = new FlowOwner(workers, SNAT, PORT_MIN, PORT_MAX, s.roles, seed * 31);
        for (int i = 0; i < 50; i++)
        {
            final Flow f = s.flow(rule);
            if (f == null)
            {
                continue;
            }
            final int original = rule.owner(f.proto, f.src, f.sport, f.dst, f.dport);
            final int reply = rule.owner(f.proto, f.rsrc, f.rsport, f.rdst, f.rdport);
            assertThat(reply).as("%s, %d workers", f, workers).isEqualTo(original);
            assertThat(original).isBetween(0, workers - 1);
        }
    }

    /** The property has teeth: a symmetric hash of the 5-tuple, the obvious rule, splits DNAT flows. */
    @Test
    void shouldSplitDnatFlowsWithANaiveTupleHash()
    {
        final Scenario s = new Scenario(42);
        final FlowOwner rule = new FlowOwner(2, SNAT, PORT_MIN, PORT_MAX, s.roles, 7);
        final FlowOwner naive = new FlowOwner(2, new int[0], PORT_MIN, PORT_MAX, FlowOwner.NO_SERVICES, 7);
        int split = 0;
        for (int i = 0; i < 5000; i++)
        {
            final Flow f = s.flow(rule);
            if (f != null && naive.owner(f.proto, f.src, f.sport, f.dst, f.dport)
                != naive.owner(f.proto, f.rsrc, f.rsport, f.rdst, f.rdport))
            {
                split++;
            }
        }
        assertThat(split).as("flows whose reply a plain tuple hash sends elsewhere").isGreaterThan(100);
    }

    @Property(tries = 200)
    void partitionsCoverTheRangeOnce(@ForAll @IntRange(min = 1, max = 64) final int workers,
        @ForAll @IntRange(min = 1, max = 60000) final int min, @ForAll @IntRange(min = 0, max = 5000) final int extra)
    {
        final int max = Math.min(65535, min + workers - 1 + extra);
        final FlowOwner rule = new FlowOwner(workers, SNAT, min, max, FlowOwner.NO_SERVICES, 1);
        int expected = min;
        for (int w = 0; w < workers; w++)
        {
            assertThat(rule.portMin(w)).isEqualTo(expected);
            assertThat(rule.portMax(w)).isGreaterThanOrEqualTo(rule.portMin(w));
            assertThat(rule.partitionOf(rule.portMin(w))).isEqualTo(w);
            assertThat(rule.partitionOf(rule.portMax(w))).isEqualTo(w);
            expected = rule.portMax(w) + 1;
        }
        assertThat(expected - 1).isEqualTo(max);
    }

    @Test
    void shouldSpreadPodFlowsEvenly()
    {
        final FlowOwner rule = new FlowOwner(2, SNAT, PORT_MIN, PORT_MAX, FlowOwner.NO_SERVICES, 99);
        final SplittableRandom r = new SplittableRandom(5);
        final int[] perWorker = new int[2];
        for (int i = 0; i < 20_000; i++)
        {
            perWorker[rule.owner(TCP, ip(10, 244, 1, 10 + r.nextInt(16)), 32768 + r.nextInt(28000),
                ip(10, 244, 2 + r.nextInt(4), 10 + r.nextInt(64)), 8080)]++;
        }
        assertThat(perWorker[0]).as("flows on worker 0 of 20000").isBetween(9500, 10500);
    }

    @Test
    void shouldOwnEverythingWithOneWorker()
    {
        final FlowOwner rule = new FlowOwner(1, SNAT, PORT_MIN, PORT_MAX, FlowOwner.NO_SERVICES, 3);
        assertThat(rule.owner(TCP, GATEWAY, 2000, PRIMARY, 3000)).isZero();
        assertThat(rule.portMin(0)).isEqualTo(PORT_MIN);
        assertThat(rule.portMax(0)).isEqualTo(PORT_MAX);
    }

    static int ip(final int a, final int b, final int c, final int d)
    {
        return a << 24 | b << 16 | c << 8 | d;
    }

    /** A flow as the node sees it: the original at arrival, and its reply at arrival after NAT. */
    record Flow(String kind, int proto, int src, int sport, int dst, int dport, int rsrc, int rsport, int rdst,
        int rdport)
    {
        @Override
        public String toString()
        {
            return kind + " proto " + proto + " " + ep(src, sport) + " -> " + ep(dst, dport) + ", reply "
                + ep(rsrc, rsport) + " -> " + ep(rdst, rdport);
        }

        private static String ep(final int ip, final int port)
        {
            return (ip >>> 24) + "." + (ip >>> 16 & 255) + "." + (ip >>> 8 & 255) + "." + (ip & 255) + ":" + port;
        }
    }

    /**
     * A small random world, so that collisions are common: a few pods, remote pods, external hosts and the node's
     * own addresses; Services whose frontends are ClusterIPs, NodePorts on the node's addresses and external
     * IPs; backends that are pods, remote pods or the host network (the node's own address, some with a port
     * inside the masquerade range). Ports come from a small set that mixes Service ports, ephemeral ports,
     * ports inside each worker's SNAT partition and the Service ports themselves (a client may send from one).
     */
    static final class Scenario
    {
        final SplittableRandom r;
        final int[] hosts;
        final int[] ports;
        final Set<Long> frontends = new HashSet<>();
        final Set<Long> backends = new HashSet<>();
        final long[] frontendList;
        final long[] backendList;
        final FlowOwner.Roles roles;

        Scenario(final long seed)
        {
            r = new SplittableRandom(seed);
            hosts = new int[] {ip(10, 244, 1, 10), ip(10, 244, 1, 11), ip(10, 244, 1, 12), ip(10, 244, 2, 10),
                ip(10, 244, 3, 10), ip(8, 8, 8, 8), ip(203, 0, 113, 5), PRIMARY, GATEWAY, ip(192, 168, 1, 11)};
            ports = new int[] {53, 80, 443, 8080, 1024 + r.nextInt(100), 5000 + r.nextInt(20000),
                PORT_MAX - r.nextInt(50), 30080, 32768 + r.nextInt(20000), 40000, PORT_MIN + r.nextInt(10)};
            final int vip = ip(10, 96, 0, 10);
            final int nFront = 1 + r.nextInt(4);
            for (int i = 0; i < nFront; i++)
            {
                final int kind = r.nextInt(3);
                final int address = kind == 0 ? vip + r.nextInt(3) : kind == 1 ? PRIMARY : ip(203, 0, 113, 5);
                final int port = kind == 1 ? 30080 : ports[r.nextInt(4)];
                frontends.add(key(serviceProto(), address, port));
            }
            final int nBack = 1 + r.nextInt(5);
            for (int i = 0; i < nBack; i++)
            {
                backends.add(key(serviceProto(), hosts[r.nextInt(hosts.length)], ports[r.nextInt(ports.length)]));
            }
            frontendList = frontends.stream().mapToLong(Long::longValue).toArray();
            backendList = backends.stream().mapToLong(Long::longValue).toArray();
            roles = new FlowOwner.Roles()
            {
                @Override
                public boolean frontend(final int proto, final int ip, final int port)
                {
                    return frontends.contains(key(proto, ip, port));
                }

                @Override
                public boolean backend(final int proto, final int ip, final int port)
                {
                    return backends.contains(key(proto, ip, port));
                }
            };
        }

        int serviceProto()
        {
            return r.nextBoolean() ? TCP : UDP;
        }

        static long key(final int proto, final int ip, final int port)
        {
            return (long)proto << 48 | (ip & 0xffffffffL) << 16 | port;
        }

        /**
         * @param rule the rule, for the owner's SNAT partition.
         * @return a random flow with its NAT applied, or null when this world cannot make it (skipped).
         */
        Flow flow(final FlowOwner rule)
        {
            final int proto;
            final int dst;
            final int dport;
            if (r.nextInt(3) == 0)
            {
                final long f = frontendList[r.nextInt(frontendList.length)];
                proto = (int)(f >>> 48);
                dst = (int)(f >>> 16);
                dport = (int)(f & 0xffff);
            }
            else
            {
                proto = r.nextInt(4) == 0 ? ICMP : serviceProto();
                dst = hosts[r.nextInt(hosts.length)];
                dport = ports[r.nextInt(ports.length)];
            }
            final int src = hosts[r.nextInt(hosts.length)];
            // ICMP echo: the identifier stands for both ports
            final int sport = proto == ICMP ? dport : ports[r.nextInt(ports.length)];
            if (isSnatAddress(src) && isSnatAddress(dst) || src == dst && sport == dport)
            {
                return null;
            }
            final int owner = rule.owner(proto, src, sport, dst, dport);
            String kind = "plain";
            int ndst = dst;
            int ndport = dport;
            if (frontends.contains(key(proto, dst, dport)))
            {
                final long b = pick(proto);
                if (b < 0)
                {
                    return null;
                }
                ndst = (int)(b >>> 16);
                ndport = (int)(b & 0xffff);
                kind = "dnat";
            }
            int nsrc = src;
            int nsport = sport;
            if (r.nextBoolean())
            {
                nsrc = SNAT[r.nextInt(SNAT.length)];
                nsport = snatPort(rule, owner, proto, nsrc);
                if (nsport < 0)
                {
                    return null;
                }
                kind += "+snat";
                if (proto == ICMP)
                {
                    // the echo reply carries the translated identifier
                    ndport = nsport;
                }
            }
            if (isSnatAddress(ndst) && isSnatAddress(nsrc))
            {
                // after translation the flow runs from the node to itself: the host delivers it, not ferry
                return null;
            }
            return new Flow(kind, proto, src, sport, dst, dport, ndst, ndport, nsrc, nsport);
        }

        private long pick(final int proto)
        {
            for (int tries = 0; tries < 8; tries++)
            {
                final long b = backendList[r.nextInt(backendList.length)];
                if ((int)(b >>> 48) == proto)
                {
                    return b;
                }
            }
            return -1;
        }

        private int snatPort(final FlowOwner rule, final int owner, final int proto, final int address)
        {
            final int lo = rule.portMin(owner);
            final int span = rule.portMax(owner) - lo + 1;
            for (int tries = 0; tries < 16; tries++)
            {
                // pick near the partition's edges half the time: off-by-one bugs live there
                final int port = r.nextBoolean() ? lo + r.nextInt(span) : (r.nextBoolean() ? lo : lo + span - 1);
                if (rule.snatPortUsable(proto, address, port))
                {
                    return port;
                }
            }
            return -1;
        }

        private static boolean isSnatAddress(final int ip)
        {
            return ip == PRIMARY || ip == GATEWAY;
        }
    }
}
