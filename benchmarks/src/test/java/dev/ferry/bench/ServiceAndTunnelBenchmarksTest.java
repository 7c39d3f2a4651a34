package dev.ferry.bench;

import dev.ferry.conntrack.ConntrackTable;
import dev.ferry.core.PacketVector;
import dev.ferry.core.header.Ip4Header;
import dev.ferry.core.header.TcpHeader;
import dev.ferry.core.header.UdpHeader;
import dev.ferry.core.header.Wire;
import dev.ferry.core.route.Ip4;
import dev.ferry.nat.Nat;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The Service, conntrack and tunnel benchmarks measure what they claim: established flows DNATed and
 * encapsulated toward the right remote node with valid checksums, hits that hit and misses that miss, a
 * table that keeps its size, encap and decap without a drop, and no leaked buffer.
 */
class ServiceAndTunnelBenchmarksTest
{
    private static final int VXLAN_PORT = 8472;

    @ParameterizedTest
    @CsvSource({"64, 1000", "1500, 1000", "64, 5000"})
    void shouldDnatEveryEstablishedPacketAndEncapsulateItTowardTheEndpointsNode(final int frameSize, final int flows)
    {
        try (ClusterIpNode node = new ClusterIpNode(frameSize, flows))
        {
            node.warm();
            assertThat(node.conntrack().prefetchPays()).as("nat44-in batches its lookups (5000 flows)")
                .isEqualTo(flows >= 5000);
            final List<byte[]> frames = new ArrayList<>();
            node.sink().capture(frames);
            node.forward();
            node.sink().capture(null);
            node.forward();

            assertThat(frames).hasSize(PacketVector.CAPACITY);
            for (int i = 0; i < frames.size(); i++)
            {
                final int f = node.flowAt(i);
                final byte[] b = frames.get(i);
                final MemorySegment m = MemorySegment.ofArray(b);
                assertThat(b.length).as("outer frame of flow %d", f).isEqualTo(frameSize + 50);
                final Ip4Header outer = new Ip4Header().wrap(m, 14);
                assertThat(outer.checksumValid()).as("outer IPv4 checksum").isTrue();
                assertThat(outer.src()).isEqualTo(ClusterIpNode.NODE_IP);
                assertThat(Wire.u16(m, 36)).as("VXLAN port").isEqualTo(VXLAN_PORT);
                assertThat(new UdpHeader().wrap(m, 34).checksumValid(outer.src(), outer.dst()))
                    .as("outer UDP checksum").isTrue();
                final Ip4Header inner = new Ip4Header().wrap(m, 50 + 14);
                assertThat(inner.checksumValid()).as("inner IPv4 checksum after DNAT").isTrue();
                assertThat(inner.src()).as("no masquerade for a pod client").isEqualTo(
                    ClusterIpNode.podIp(ClusterIpNode.pod(f)));
                final int s = ClusterIpNode.service(f);
                final Set<Integer> endpoints = new HashSet<>();
                for (int k = 0; k < ClusterIpNode.ENDPOINTS; k++)
                {
                    endpoints.add(ClusterIpNode.endpointIp(s, k));
                }
                assertThat(endpoints).as("DNAT to an endpoint of svc-%d", s).contains(inner.dst());
                final int remote = (inner.dst() >>> 8 & 0xff) - 2;
                assertThat(Ip4.format(outer.dst())).as("VTEP of the endpoint's node").isEqualTo(
                    "192.168.1." + (remote + 11));
                assertThat(Wire.u16(m, inner.payloadOffset())).isEqualTo(ClusterIpNode.sourcePort(f));
                assertThat(Wire.u16(m, inner.payloadOffset() + 2)).isEqualTo(ClusterIpNode.TARGET_PORT);
                assertThat(new TcpHeader().wrap(m, inner.payloadOffset()).checksumValid(inner.src(), inner.dst(),
                    inner.payloadLength())).as("inner TCP checksum after DNAT").isTrue();
                assertThat(inner.ttl()).isEqualTo(63);
            }
            assertThat(node.sink().transmittedOn(node.uplinkPort())).isEqualTo(flows + 2L * PacketVector.CAPACITY);
            node.verify();
            assertThat(node.pool().available()).as("no leaked buffer").isEqualTo(node.pool().capacity());
        }
    }

    @Test
    void shouldCycleThroughEveryFlowOnTheFastPath()
    {
        try (ClusterIpNode node = new ClusterIpNode(64, 300))
        {
            node.warm();
            for (int v = 0; v < 4; v++)
            {
                node.forward();
            }
            final ConntrackTable ct = node.conntrack();
            long packets = 0;
            for (int f = 0; f < 300; f++)
            {
                final long r = ct.lookup(0, Ip4Header.PROTO_TCP, ClusterIpNode.podIp(ClusterIpNode.pod(f)),
                    ClusterIpNode.clusterIp(ClusterIpNode.service(f)), ClusterIpNode.sourcePort(f),
                    ClusterIpNode.SERVICE_PORT);
                assertThat(r).as("flow %d tracked", f).isNotEqualTo(ConntrackTable.MISS);
                packets += ct.packets(ConntrackTable.entryOf(r), ConntrackTable.ORIGINAL);
            }
            assertThat(packets).as("SYN + ACK + 4 vectors of data").isEqualTo(2 * 300 + 4L * PacketVector.CAPACITY);
            assertThat(node.counters().get(Nat.COUNTER_SESSIONS_CREATED)).isEqualTo(300);
            node.verify();
        }
    }

    @Test
    void shouldFailVerificationWhenAPacketTakesTheSlowPath()
    {
        try (ClusterIpNode node = new ClusterIpNode(64, 256))
        {
            node.forward();
            assertThat(node.sink().transmitted()).as("forwarded, through nat44-new").isEqualTo(256);
            org.assertj.core.api.Assertions.assertThatThrownBy(node::verify)
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("fast path");
        }
    }

    @Test
    void shouldHitEveryFlowInNatRewrite()
    {
        final NatRewriteBenchmark b = new NatRewriteBenchmark();
        b.setUp();
        assertThat(b.dnatHit()).isEqualTo(PacketVector.CAPACITY);
        assertThat(b.dnatHit()).isEqualTo(PacketVector.CAPACITY);
        assertThat(b.restoreOnly()).isEqualTo(PacketVector.CAPACITY);
        assertThat(b.out().on(NatRewriteBenchmark.NEXT_LOOKUP)).as("all to ip4-lookup").isEqualTo(512);
        assertThat(b.out().drops()).isZero();
        final ClusterIpNode node = b.node();
        b.tearDown();
        assertThat(node.pool().available()).as("no leaked buffer").isEqualTo(node.pool().capacity());
    }

    @ParameterizedTest
    @ValueSource(ints = {64, 1500})
    void shouldEncapsulateAndDecapsulateEveryFrame(final int frameSize)
    {
        final VxlanBenchmark b = new VxlanBenchmark();
        b.frameSize = frameSize;
        b.setUp();
        b.encap();
        b.decap();
        b.decap();
        b.rearmInnerOnly();
        b.rearmOuterOnly();
        assertThat(b.encapOut().on(0)).as("setup + one encap").isEqualTo(2L * PacketVector.CAPACITY);
        assertThat(b.decapOut().on(0)).as("two decaps to ethernet-input").isEqualTo(2L * PacketVector.CAPACITY);
        assertThat(b.decapOut().drops()).isZero();
        final ClusterIpNode node = b.node();
        assertThat(node.pool().available()).as("no leaked buffer").isEqualTo(node.pool().capacity());
        b.tearDown();
    }

    @Test
    void shouldHitMissAndKeepTheConntrackTableSize()
    {
        final ConntrackBenchmark b = new ConntrackBenchmark();
        b.flows = 1000;
        b.setUp();
        assertThat(b.table().size()).isEqualTo(1000);
        long hits = 0;
        for (int i = 0; i < 8; i++)
        {
            hits += b.hit();
        }
        assertThat(hits).as("every hit found an entry (no -1)").isGreaterThanOrEqualTo(0);
        assertThat(b.table().stats().searchMiss()).as("no hit missed").isZero();
        final ConntrackBenchmark same = new ConntrackBenchmark();
        same.flows = 1000;
        same.setUp();
        long batched = 0;
        for (int i = 0; i < 8; i++)
        {
            batched += same.hitBatch();
        }
        assertThat(batched).as("hitBatch finds the same entries as hit").isEqualTo(hits);
        assertThat(same.table().stats().searchMiss()).as("no batched hit missed").isZero();
        same.tearDown();
        assertThat(b.miss()).as("256 misses of -1 each").isEqualTo(-256);
        for (int i = 0; i < 20; i++)
        {
            b.insertRemove();
        }
        assertThat(b.table().size()).as("steady size (an early drop leaves a hole until the ring comes round)")
            .isBetween(990, 1000);
        assertThat(b.table().stats().searchMiss()).isEqualTo(256);
        b.tearDown();
    }

    @ParameterizedTest
    @ValueSource(ints = {10, 10000})
    void shouldFindEveryServiceInAboutOneProbe(final int services)
    {
        final ServiceLookupBenchmark b = new ServiceLookupBenchmark();
        b.services = services;
        b.setUp();
        assertThat(b.probesPerHit()).as("probes per hit").isBetween(1.0, 2.0);
        assertThat(b.probesPerMiss()).as("probes per miss").isBetween(1.0, 3.0);
        assertThat(b.frontends().slots()).isGreaterThanOrEqualTo(4 * services);
        assertThat(b.hit()).isPositive();
        b.miss();
        b.tearDown();
    }
}
