package dev.ferry.nat;

import dev.ferry.core.route.Ip4;
import dev.ferry.core.tables.ServiceInfo;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static dev.ferry.nat.Harness.B1;
import static dev.ferry.nat.Harness.B2;
import static dev.ferry.nat.Harness.CLIENT;
import static dev.ferry.nat.Harness.NODE_IP;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * For random Service tables and random flows (pod clients, hairpin, external clients through NodePorts,
 * pods leaving the cluster), the reply to every translated packet comes back restored exactly to the
 * original tuple, on the port the original came in on, with valid checksums.
 */
class RestorePropertyTest
{
    private static final int[] PODS = {CLIENT, B1, B2};

    @Property(tries = 150)
    void everyReplyIsRestoredToTheOriginalTuple(@ForAll final long seed,
        @ForAll @IntRange(min = 1, max = 12) final int services, @ForAll @IntRange(min = 1, max = 8) final int flows)
    {
        final SplittableRandom rnd = new SplittableRandom(seed);
        try (Harness net = new Harness(new Nat.Options(rnd.nextBoolean() ? Nat.Balancing.RANDOM
            : Nat.Balancing.MAGLEV, seed, 1024, 1024), 4096))
        {
            final List<ServiceInfo> svcs = new ArrayList<>();
            for (int s = 0; s < services; s++)
            {
                svcs.add(randomService(rnd, s));
            }
            net.publish(svcs.toArray(new ServiceInfo[0]));
            for (int f = 0; f < flows; f++)
            {
                oneFlow(net, rnd, svcs);
            }
            assertThat(net.poolFull()).isTrue();
        }
    }

    private static ServiceInfo randomService(final SplittableRandom rnd, final int index)
    {
        final int proto = rnd.nextBoolean() ? 6 : 17;
        final List<ServiceInfo.Endpoint> eps = new ArrayList<>();
        final int n = 1 + rnd.nextInt(3);
        for (int i = 0; i < n; i++)
        {
            eps.add(Harness.ready(PODS[rnd.nextInt(PODS.length)], 1 + rnd.nextInt(65535), true));
        }
        final int nodePort = rnd.nextBoolean() ? 30000 + index : 0;
        return new ServiceInfo("default", "s" + index, nodePort != 0 ? "NodePort" : "ClusterIP", null,
            List.of(Ip4.parse("10.96.1.0") + index), List.of(), List.of(), rnd.nextInt(4) == 0,
            ServiceInfo.DEFAULT_AFFINITY_TIMEOUT, rnd.nextInt(3) == 0, false,
            List.of(new ServiceInfo.ServicePort("p", proto, 1 + rnd.nextInt(65535), nodePort, eps)));
    }

    private static void oneFlow(final Harness net, final SplittableRandom rnd, final List<ServiceInfo> svcs)
    {
        final int kind = rnd.nextInt(3);
        final ServiceInfo svc = svcs.get(rnd.nextInt(svcs.size()));
        final ServiceInfo.ServicePort sp = svc.ports().get(0);
        final int proto;
        final int dst;
        final int dport;
        final String inPort;
        final int src;
        if (kind == 2)
        {
            proto = rnd.nextBoolean() ? 6 : 17;
            dst = Ip4.parse("198.51.100.0") + rnd.nextInt(200);
            dport = 1 + rnd.nextInt(65535);
            src = PODS[rnd.nextInt(PODS.length)];
            inPort = Harness.podPort(src);
        }
        else if (kind == 1 && sp.nodePort() != 0)
        {
            proto = sp.protocol();
            dst = NODE_IP;
            dport = sp.nodePort();
            src = Harness.EXTERNAL + rnd.nextInt(100);
            inPort = "uplink";
        }
        else
        {
            proto = sp.protocol();
            dst = svc.clusterIps().get(0);
            dport = sp.port();
            src = PODS[rnd.nextInt(PODS.length)];
            inPort = Harness.podPort(src);
        }
        final int sport = 1024 + rnd.nextInt(64000);
        final byte[] payload = new byte[rnd.nextInt(40)];
        rnd.nextBytes(payload);
        final byte[] first = frame(inPort, src, dst, proto, sport, dport, 0x02, payload);
        final List<Harness.Out> out = net.send(inPort, first);
        assertThat(out).as("every flow has a usable local endpoint or leaves through the uplink").hasSize(1);
        final Harness.Pkt fwd = out.get(0).pkt();
        assertThat(fwd.checksumsValid()).as("forward checksums").isTrue();
        final String back = out.get(0).port();
        final byte[] reply = frame(back, fwd.dst(), fwd.src(), proto, fwd.dport(), fwd.sport(), 0x12,
            new byte[] {1, 2, 3});
        final Harness.Out r = net.sendOne(back, reply);
        final Harness.Pkt p = r.pkt();
        assertThat(r.port()).as("reply leaves where the original came in").isEqualTo(inPort);
        assertThat(p.src()).isEqualTo(dst);
        assertThat(p.dst()).isEqualTo(src);
        assertThat(p.sport()).isEqualTo(dport);
        assertThat(p.dport()).isEqualTo(sport);
        assertThat(p.checksumsValid()).as("reply checksums").isTrue();
    }

    private static byte[] frame(final String port, final int src, final int dst, final int proto, final int sport,
        final int dport, final int tcpFlags, final byte[] payload)
    {
        final var b = "uplink".equals(port) ? Harness.fromUplink() : Harness.fromPod(src);
        b.ip4(src, dst).payload(payload);
        if (proto == 6)
        {
            b.tcp(sport, dport, tcpFlags, 100, tcpFlags == 0x02 ? 0 : 101);
        }
        else
        {
            b.udp(sport, dport);
        }
        return b.build();
    }
}
