package dev.ferry.nat;

import dev.ferry.core.header.Ip4Header;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.workers.FlowOwner;
import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static dev.ferry.nat.Harness.B1;
import static dev.ferry.nat.Harness.CLIENT;
import static dev.ferry.nat.Harness.EXTERNAL;
import static dev.ferry.nat.Harness.GATEWAY;
import static dev.ferry.nat.Harness.NODE_IP;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * The NAT's side of the ownership rule with several workers: a worker's NAT masquerades only with ports of its
 * own partition of the range, never with a port that is a Service frontend on the SNAT address, so that
 * {@link FlowOwner} sends the reply of every masqueraded flow back to the worker that holds its conntrack entry.
 */
class NatWorkerPartitionTest
{
    private static final int VIP = Ip4.parse("10.96.0.10");
    private static final int PORT_MIN = 30000;
    private static final int PORT_MAX = 30015;
    /** A NodePort inside the masquerade range: a frontend on the node's address. */
    private static final int NODE_PORT = 30003;
    private static final int WORKERS = 2;

    private static Harness worker(final int w)
    {
        final Harness net = new Harness(Nat.Options.defaults(42).worker(w, WORKERS), 1000);
        final var d = NodeTables.ClusterSettings.defaults();
        net.settings = new NodeTables.ClusterSettings(d.clusterCidr(), d.serviceCidrs(), 1, 8472, 30000, 32767,
            List.of(), false, List.of(), PORT_MIN, PORT_MAX, Map.of());
        net.publish(Harness.nodePort("np", VIP, 80, NODE_PORT, false, Harness.ready(B1, 8080, true)));
        return net;
    }

    @Test
    void shouldMasqueradeOnlyWithinTheWorkersPartitionSoThatRepliesFindTheOwner()
    {
        for (int w = 0; w < WORKERS; w++)
        {
            try (Harness net = worker(w))
            {
                final FlowOwner rule = new FlowOwner(WORKERS, new int[] {NODE_IP, GATEWAY}, PORT_MIN, PORT_MAX,
                    net.nat.roles(net.publisher.current()), 7);
                final int lo = rule.portMin(w);
                final int hi = rule.portMax(w);
                final int usable = hi - lo + 1 - (NODE_PORT >= lo && NODE_PORT <= hi ? 1 : 0);
                final Set<Integer> used = new HashSet<>();
                for (int f = 0; f < usable; f++)
                {
                    final Harness.Pkt out = net.sendOne("pod-client", Harness.fromPod(CLIENT).ip4(CLIENT, EXTERNAL)
                        .tcp(40000 + f, 443, 0x02, 1, 0).build()).pkt();
                    assertThat(out.src()).as("masqueraded").isEqualTo(NODE_IP);
                    final int port = out.sport();
                    assertThat(port).as("worker %d's block", w).isBetween(lo, hi).isNotEqualTo(NODE_PORT);
                    assertThat(used.add(port)).as("one port per flow").isTrue();
                    assertThat(rule.owner(Ip4Header.PROTO_TCP, EXTERNAL, 443, NODE_IP, port))
                        .as("the reply's owner is the worker that translated it").isEqualTo(w);
                    final Harness.Pkt back = net.sendOne("uplink", Harness.fromUplink().ip4(EXTERNAL, NODE_IP)
                        .tcp(443, port, 0x12, 1, 2).build()).pkt();
                    assertThat(back.dst()).as("this worker's conntrack shard has the flow").isEqualTo(CLIENT);
                    assertThat(back.dport()).isEqualTo(40000 + f);
                }
                assertThat(net.send("pod-client", Harness.fromPod(CLIENT).ip4(CLIENT, EXTERNAL)
                    .tcp(50000, 443, 0x02, 1, 0).build())).as("the block is used up; no port of another's").isEmpty();
                assertThat(net.counter(Nat.COUNTER_PORTS_EXHAUSTED)).isEqualTo(1);
            }
        }
    }

    @Test
    void shouldTellTheRuleTheSnapshotsFrontendsAndBackends()
    {
        try (Harness net = worker(0))
        {
            final FlowOwner.Roles roles = net.nat.roles(net.publisher.current());
            assertThat(roles.frontend(Ip4Header.PROTO_TCP, VIP, 80)).as("ClusterIP").isTrue();
            assertThat(roles.frontend(Ip4Header.PROTO_TCP, NODE_IP, NODE_PORT)).as("NodePort").isTrue();
            assertThat(roles.frontend(Ip4Header.PROTO_UDP, VIP, 80)).as("other protocol").isFalse();
            assertThat(roles.frontend(Ip4Header.PROTO_TCP, VIP, 81)).isFalse();
            assertThat(roles.backend(Ip4Header.PROTO_TCP, B1, 8080)).as("endpoint, target port").isTrue();
            assertThat(roles.backend(Ip4Header.PROTO_UDP, B1, 8080)).isFalse();
            assertThat(roles.backend(Ip4Header.PROTO_TCP, B1, 80)).isFalse();
            assertThat(net.nat.roles(null)).isSameAs(FlowOwner.NO_SERVICES);
        }
    }

    /**
     * The lists the uplink's fanout program compiles in say what the roles say: each listed endpoint answers
     * true, and the Service's own endpoints are listed (the ClusterIP also as its marker, protocol and port 0,
     * which the frontend map answers too).
     */
    @Test
    void shouldListTheSameFrontendsAndBackendsAsTheRoles()
    {
        try (Harness net = worker(0))
        {
            final var s = net.publisher.current();
            final FlowOwner.Roles roles = net.nat.roles(s);
            final long[] frontends = net.nat.frontendEndpoints(s);
            final long[] backends = net.nat.backendEndpoints(s);
            for (final long e : frontends)
            {
                assertThat(roles.frontend((int)(e >>> 48), (int)e, (int)(e >>> 32) & 0xffff)).as("%x", e).isTrue();
            }
            for (final long e : backends)
            {
                assertThat(roles.backend((int)(e >>> 48), (int)e, (int)(e >>> 32) & 0xffff)).as("%x", e).isTrue();
            }
            assertThat(frontends).contains(FlowOwner.endpoint(Ip4Header.PROTO_TCP, VIP, 80),
                FlowOwner.endpoint(Ip4Header.PROTO_TCP, NODE_IP, NODE_PORT), FlowOwner.endpoint(0, VIP, 0));
            assertThat(backends).containsExactly(FlowOwner.endpoint(Ip4Header.PROTO_TCP, B1, 8080));
            assertThat(net.nat.frontendEndpoints(null)).isEmpty();
            assertThat(net.nat.backendEndpoints(null)).isEmpty();
        }
    }
}
