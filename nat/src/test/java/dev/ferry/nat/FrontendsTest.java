package dev.ferry.nat;

import dev.ferry.core.route.Ip4;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** The read-only frontend view answers as nat44-new's own lookup does. */
class FrontendsTest
{
    private static final int VIP = Ip4.parse("10.96.0.10");
    private static final int VIP2 = Ip4.parse("10.96.0.11");

    @Test
    void shouldFindServicePortsAndClusterIpMarkersAndNothingElse()
    {
        try (Harness net = new Harness())
        {
            net.publish(Harness.clusterIp("web", VIP, 6, 80, Harness.ready(Harness.B1, 8080, true)),
                Harness.clusterIp("dns", VIP2, 17, 53, Harness.ready(Harness.B2, 53, true)));
            final Nat.Frontends fe = net.nat.frontends(net.publisher.current());

            final long web = fe.lookup(6, VIP, 80);
            final long dns = fe.lookup(17, VIP2, 53);
            assertThat(Nat.Frontends.frontend(web)).as("TCP 80 of web").isNotNegative()
                .isNotEqualTo(Nat.Frontends.CLUSTER_IP);
            assertThat(Nat.Frontends.frontend(dns)).as("UDP 53 of dns").isNotNegative()
                .isNotEqualTo(Nat.Frontends.frontend(web));
            assertThat(Nat.Frontends.frontend(fe.lookup(0, VIP, 0))).isEqualTo(Nat.Frontends.CLUSTER_IP);
            assertThat(Nat.Frontends.frontend(fe.lookup(17, VIP, 80))).as("wrong protocol")
                .isEqualTo(Nat.Frontends.NONE);
            assertThat(Nat.Frontends.frontend(fe.lookup(6, VIP, 81))).as("wrong port").isEqualTo(Nat.Frontends.NONE);
            assertThat(Nat.Frontends.frontend(fe.lookup(6, Ip4.parse("10.96.0.12"), 80))).isEqualTo(
                Nat.Frontends.NONE);
            assertThat(Nat.Frontends.probes(web)).isBetween(1, 4);
            assertThat(fe.slots()).isGreaterThanOrEqualTo(8).isEqualTo(Integer.highestOneBit(fe.slots()));
        }
    }
}
