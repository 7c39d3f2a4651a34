package dev.ferry.cni;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class CniResultTest
{
    private static final CniResult RESULT = new CniResult(
        List.of(new CniResult.Iface("eth0", "0a:58:0a:f4:01:05", "/var/run/netns/p1", 1450)),
        List.of(new CniResult.IpConfig("10.244.1.5/24", "10.244.1.1", 0)),
        List.of(new CniResult.Route("0.0.0.0/0", "10.244.1.1")),
        new CniResult.Dns(List.of("10.96.0.10"), null, List.of("svc.cluster.local"), List.of()));

    @Test
    void shouldRenderEachVersionsShape()
    {
        assertThat(Fields.write(RESULT.render(CniVersion.V0_3_1))).isEqualTo("{\"cniVersion\":\"0.3.1\","
            + "\"interfaces\":[{\"name\":\"eth0\",\"mac\":\"0a:58:0a:f4:01:05\",\"sandbox\":\"/var/run/netns/p1\"}],"
            + "\"ips\":[{\"version\":\"4\",\"interface\":0,\"address\":\"10.244.1.5/24\",\"gateway\":\"10.244.1.1\"}],"
            + "\"routes\":[{\"dst\":\"0.0.0.0/0\",\"gw\":\"10.244.1.1\"}],"
            + "\"dns\":{\"nameservers\":[\"10.96.0.10\"],\"search\":[\"svc.cluster.local\"]}}");
        assertThat(Fields.write(RESULT.render(CniVersion.V1_0_0))).isEqualTo("{\"cniVersion\":\"1.0.0\","
            + "\"interfaces\":[{\"name\":\"eth0\",\"mac\":\"0a:58:0a:f4:01:05\",\"sandbox\":\"/var/run/netns/p1\"}],"
            + "\"ips\":[{\"interface\":0,\"address\":\"10.244.1.5/24\",\"gateway\":\"10.244.1.1\"}],"
            + "\"routes\":[{\"dst\":\"0.0.0.0/0\",\"gw\":\"10.244.1.1\"}],"
            + "\"dns\":{\"nameservers\":[\"10.96.0.10\"],\"search\":[\"svc.cluster.local\"]}}");
        assertThat(Fields.write(RESULT.render(CniVersion.V1_1_0))).contains("\"cniVersion\":\"1.1.0\"")
            .contains("{\"name\":\"eth0\",\"mac\":\"0a:58:0a:f4:01:05\",\"mtu\":1450,\"sandbox\":\"/var/run/netns/p1\"}");
    }

    @ParameterizedTest
    @EnumSource(CniVersion.class)
    void shouldReadBackWhatItWritesInEveryVersion(final CniVersion v)
    {
        final CniResult back = CniResult.parse(Fields.parse(Fields.write(RESULT.render(v)), "r",
            CniError.DECODE_FAILURE, CniError.INVALID_CONFIG));
        final CniResult expected = v.hasStatusAndGc() ? RESULT : new CniResult(
            List.of(new CniResult.Iface("eth0", "0a:58:0a:f4:01:05", "/var/run/netns/p1", 0)), RESULT.ips(),
            RESULT.routes(), RESULT.dns());
        assertThat(back).isEqualTo(expected);
    }

    @Test
    void shouldReadHostLocalsAnswerWithoutInterfaces()
    {
        final CniResult r = CniResult.parse(Fields.parse("{\"cniVersion\":\"0.4.0\",\"ips\":[{\"version\":\"4\","
            + "\"address\":\"10.244.1.2/24\",\"gateway\":\"10.244.1.1\"}],\"routes\":[{\"dst\":\"10.96.0.0/12\"}],"
            + "\"dns\":{}}", "r", CniError.IPAM_FAILED, CniError.IPAM_FAILED));
        assertThat(r.interfaces()).isEmpty();
        assertThat(r.ips()).containsExactly(new CniResult.IpConfig("10.244.1.2/24", "10.244.1.1", -1));
        assertThat(r.routes()).containsExactly(new CniResult.Route("10.96.0.0/12", null));
        assertThat(r.dns().isEmpty()).isTrue();
    }

    @Test
    void shouldAppendAfterAPreviousResultShiftingInterfaceIndexes()
    {
        final CniResult prev = new CniResult(List.of(new CniResult.Iface("lo", null, "/ns", 0)), List.of(),
            List.of(), CniResult.Dns.NONE);
        final CniResult both = prev.append(RESULT);
        assertThat(both.interfaces()).extracting(CniResult.Iface::name).containsExactly("lo", "eth0");
        assertThat(both.ips().get(0).iface()).isEqualTo(1);
        assertThat(both.dns()).isEqualTo(RESULT.dns());
    }

    @Test
    void shouldPutDefaultRouteFirstUnlessIpamGivesOne()
    {
        final CniResult ipam = new CniResult(List.of(), List.of(), List.of(new CniResult.Route("10.96.0.0/12", null),
            new CniResult.Route("192.168.0.0/16", "10.244.1.254")), CniResult.Dns.NONE);
        assertThat(AddCommand.routes(ipam, "10.244.1.1")).containsExactly(
            new CniResult.Route("0.0.0.0/0", "10.244.1.1"), new CniResult.Route("10.96.0.0/12", "10.244.1.1"),
            new CniResult.Route("192.168.0.0/16", "10.244.1.254"));
        final CniResult withDefault = new CniResult(List.of(), List.of(),
            List.of(new CniResult.Route("0.0.0.0/0", "10.244.1.254")), CniResult.Dns.NONE);
        assertThat(AddCommand.routes(withDefault, "10.244.1.1"))
            .containsExactly(new CniResult.Route("0.0.0.0/0", "10.244.1.254"));
    }
}
