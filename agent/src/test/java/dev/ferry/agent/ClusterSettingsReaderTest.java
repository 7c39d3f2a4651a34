package dev.ferry.agent;

import dev.ferry.core.route.Ip4;
import dev.ferry.core.route.Ip4Prefix;
import dev.ferry.core.tables.NodeTables.ClusterSettings;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ClusterSettingsReaderTest
{
    private static ClusterState state(final String yaml)
    {
        final ClusterState.Builder b = ClusterState.builder();
        ManifestLoader.parse("settings.yaml", yaml, b, note -> { });
        return b.build();
    }

    private static String flannel(final String netConf)
    {
        return """
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: kube-flannel-cfg, namespace: kube-flannel}
            data:
              net-conf.json: '%s'
            """.formatted(netConf);
    }

    private static String kubeProxy(final String config)
    {
        return """
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: kube-proxy, namespace: kube-system}
            data:
              config.conf: |
            %s""".formatted(config.indent(4));
    }

    @Test
    void shouldApplyTheDocumentedDefaultsWhenNoSourceIsPresent()
    {
        final ClusterSettings s = ClusterSettingsReader.read(ClusterState.empty());
        final ClusterSettings d = ClusterSettings.defaults();

        assertThat(s).isEqualTo(new ClusterSettings(d.clusterCidr(), d.serviceCidrs(), d.vni(), d.vxlanPort(),
            ClusterSettingsReader.ANY_NODE_PORT_MIN, ClusterSettingsReader.ANY_NODE_PORT_MAX, d.nodePortAddresses(), d.masqueradeAll(), d.nonMasqueradeCidrs(),
            d.masqueradePortMin(), d.masqueradePortMax(), ClusterSettingsReader.conntrackDefaults()));
        assertThat(s.clusterCidr()).hasToString("10.244.0.0/16");
        assertThat(s.serviceCidrs()).containsExactly(Ip4Prefix.parse("10.96.0.0/12"));
        assertThat(s.vni()).isEqualTo(1);
        assertThat(s.vxlanPort()).isEqualTo(8472);
        assertThat(s.conntrack()).containsExactlyInAnyOrderEntriesOf(Map.of("maxPerCore", 32768L, "min", 131072L,
            "tcpEstablishedTimeout", 86400L, "tcpCloseWaitTimeout", 3600L, "udpTimeout", 30L,
            "udpStreamTimeout", 120L));
    }

    @Test
    void shouldGuessServiceCidrsFromTheClusterIpsNoWiderThanASlash12()
    {
        assertThat(ClusterSettingsReader.coveringPrefixes(List.of(Ip4.parse("10.96.0.1"), Ip4.parse("10.96.0.10"),
            Ip4.parse("10.100.3.7"), Ip4.parse("172.20.0.10"), Ip4.parse("172.20.0.11"))))
            .extracting(Object::toString).containsExactly("10.96.0.0/13", "172.20.0.10/31");
        // two /12 blocks never merge into one wider prefix, however close the addresses
        assertThat(ClusterSettingsReader.coveringPrefixes(List.of(Ip4.parse("10.111.255.255"),
            Ip4.parse("10.112.0.0")))).extracting(Object::toString)
            .containsExactly("10.111.255.255/32", "10.112.0.0/32");
        assertThat(ClusterSettingsReader.coveringPrefixes(List.of())).isEmpty();
    }

    @Test
    void shouldGuessServiceCidrsCoveringEveryClusterIpTheCompilerAccepts()
    {
        // "10.96.0.010" is not canonical, but the compiler's IPv4 parser takes it as 10.96.0.10: the guessed range
        // must hold it too, or that Service's ClusterIP would lie outside the Service CIDRs
        final ClusterState state = state("""
            apiVersion: v1
            kind: Service
            metadata: {name: a, namespace: default}
            spec: {clusterIP: 10.96.0.1, clusterIPs: [10.96.0.1], ports: [{port: 80}]}
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: b, namespace: default}
            spec: {clusterIP: 10.96.0.010, clusterIPs: [10.96.0.010], ports: [{port: 80}]}
            """);
        final ClusterSettings s = ClusterSettingsReader.read(state);

        assertThat(s.serviceCidrs()).anyMatch(p -> p.contains(Ip4.parse("10.96.0.1")))
            .anyMatch(p -> p.contains(Ip4.parse("10.96.0.010")));
    }

    @Property(tries = 300)
    void shouldHoldEveryAddressInAPrefixNoWiderThanASlash12(@ForAll final List<Integer> ips)
    {
        final List<Ip4Prefix> prefixes = ClusterSettingsReader.coveringPrefixes(ips);

        assertThat(prefixes).allMatch(p -> p.length() >= ClusterSettingsReader.WIDEST_SERVICE_PREFIX);
        assertThat(ips).allMatch(ip -> prefixes.stream().anyMatch(p -> p.contains(ip)));
    }

    @Test
    void shouldReadFlannelNetworkVniAndPort()
    {
        final ClusterSettings s = ClusterSettingsReader.read(state(flannel(
            "{\"Network\": \"10.42.0.0/16\", \"Backend\": {\"Type\": \"vxlan\", \"VNI\": 4096, \"Port\": 4789}}")));

        assertThat(s.clusterCidr()).isEqualTo(Ip4Prefix.parse("10.42.0.0/16"));
        assertThat(s.vni()).isEqualTo(4096);
        assertThat(s.vxlanPort()).isEqualTo(4789);
    }

    @Test
    void shouldUseFlannelsDefaultPortAndVniWhenUnsetOrZero()
    {
        final ClusterSettings unset = ClusterSettingsReader.read(state(flannel(
            "{\"Network\": \"10.244.0.0/16\", \"Backend\": {\"Type\": \"vxlan\"}}")));
        final ClusterSettings zero = ClusterSettingsReader.read(state(flannel(
            "{\"Network\": \"10.244.0.0/16\", \"Backend\": {\"Type\": \"VXLAN\", \"VNI\": 0, \"Port\": 0}}")));

        assertThat(unset.vxlanPort()).isEqualTo(8472);
        assertThat(unset.vni()).isEqualTo(1);
        assertThat(zero.vxlanPort()).isEqualTo(8472);
        assertThat(zero.vni()).isEqualTo(1);
    }

    @Test
    void shouldRefuseBackendsOtherThanVxlanAndBadValues()
    {
        assertThatThrownBy(() -> ClusterSettingsReader.read(state(flannel(
            "{\"Network\": \"10.244.0.0/16\", \"Backend\": {\"Type\": \"host-gw\"}}"))))
            .hasMessage("settings.yaml: ConfigMap kube-flannel/kube-flannel-cfg: data[net-conf.json].Backend.Type: "
                + "ferry speaks only the vxlan backend, not 'host-gw'");
        assertThatThrownBy(() -> ClusterSettingsReader.read(state(flannel(
            "{\"Network\": \"10.244.0.0/16\", \"Backend\": {\"Type\": \"vxlan\", \"Port\": 70000}}"))))
            .hasMessage("settings.yaml: ConfigMap kube-flannel/kube-flannel-cfg: data[net-conf.json].Backend.Port: "
                + "out of range (0-65535): 70000");
        assertThatThrownBy(() -> ClusterSettingsReader.read(state(flannel("{\"Network\": \"10.244.0.0\"}"))))
            .hasMessage("settings.yaml: ConfigMap kube-flannel/kube-flannel-cfg: data[net-conf.json].Network: "
                + "not an IPv4 CIDR: '10.244.0.0'");
        assertThatThrownBy(() -> ClusterSettingsReader.read(state(flannel("{\"Network\": }"))))
            .hasMessageStartingWith("settings.yaml: ConfigMap kube-flannel/kube-flannel-cfg: data[net-conf.json]: "
                + "malformed JSON at line 1, column 13: Unexpected character ('}'");
    }

    @Test
    void shouldReadKubeProxyConfiguration()
    {
        final ClusterSettings s = ClusterSettingsReader.read(state(kubeProxy("""
            apiVersion: kubeproxy.config.k8s.io/v1alpha1
            kind: KubeProxyConfiguration
            clusterCIDR: 10.42.0.0/16,fd00:42::/56
            masqueradeAll: true
            nodePortAddresses: ["192.168.50.0/24", "fd00::/64", "primary"]
            conntrack:
              maxPerCore: 0
              min: 262144
              tcpEstablishedTimeout: 1h30m0s
              tcpCloseWaitTimeout: 60s
              udpTimeout: 0s
              udpStreamTimeout: 3m0s
            """)), List.of(Ip4.parse("192.168.60.11")));

        assertThat(s.clusterCidr()).isEqualTo(Ip4Prefix.parse("10.42.0.0/16"));
        assertThat(s.masqueradeAll()).isTrue();
        assertThat(s.nodePortAddresses()).containsExactly(Ip4Prefix.parse("192.168.50.0/24"),
            Ip4Prefix.parse("192.168.60.11/32"));
        assertThat(s.conntrack()).containsExactlyInAnyOrderEntriesOf(Map.of("maxPerCore", 32768L, "min", 262144L,
            "tcpEstablishedTimeout", 5400L, "tcpCloseWaitTimeout", 60L, "udpTimeout", 30L,
            "udpStreamTimeout", 180L));
    }

    @Test
    void shouldPreferFlannelsNetworkOverKubeProxysClusterCidr()
    {
        final ClusterSettings s = ClusterSettingsReader.read(state(
            flannel("{\"Network\": \"10.244.0.0/16\"}") + "---\n" + kubeProxy("clusterCIDR: 10.42.0.0/16\n")));

        assertThat(s.clusterCidr()).isEqualTo(Ip4Prefix.parse("10.244.0.0/16"));
    }

    @Test
    void shouldNameTheKubeProxyFieldThatIsWrong()
    {
        assertThatThrownBy(() -> ClusterSettingsReader.read(state(kubeProxy("""
            conntrack:
              tcpEstablishedTimeout: one day
            """))))
            .hasMessage("settings.yaml: ConfigMap kube-system/kube-proxy: data[config.conf].conntrack."
                + "tcpEstablishedTimeout: not a duration (like 24h0m0s): 'one day'");
        assertThatThrownBy(() -> ClusterSettingsReader.read(state(kubeProxy("nodePortAddresses: [\"10.0.0.0/40\"]\n"))))
            .hasMessage("settings.yaml: ConfigMap kube-system/kube-proxy: data[config.conf].nodePortAddresses[0]: "
                + "not an IPv4 CIDR: '10.0.0.0/40'");
        assertThatThrownBy(() -> ClusterSettingsReader.read(state(kubeProxy("masqueradeAll: \"yes\"\n"))))
            .hasMessage("settings.yaml: ConfigMap kube-system/kube-proxy: data[config.conf].masqueradeAll: "
                + "expected true or false, got \"yes\"");
    }

    @Test
    void shouldCollectIpv4ServiceCidrsFromEveryServiceCidrObject()
    {
        final ClusterSettings s = ClusterSettingsReader.read(state("""
            apiVersion: networking.k8s.io/v1
            kind: ServiceCIDR
            metadata: {name: kubernetes}
            spec: {cidrs: [10.96.0.0/16, "fd00:96::/112"]}
            ---
            apiVersion: networking.k8s.io/v1
            kind: ServiceCIDR
            metadata: {name: more}
            spec: {cidrs: [10.97.0.0/24, 10.96.0.0/16]}
            """));

        assertThat(s.serviceCidrs()).containsExactly(Ip4Prefix.parse("10.96.0.0/16"), Ip4Prefix.parse("10.97.0.0/24"));
    }

    @Test
    void shouldReadRangesFromTheKubeApiserverPodOfARealCluster() throws Exception
    {
        final ClusterSettings s = ClusterSettingsReader.read(
            ManifestLoader.load(Path.of("src/test/resources/real-dump"), note -> { }));

        assertThat(s.serviceCidrs()).containsExactly(Ip4Prefix.parse("10.96.0.0/16"));
        assertThat(s.nodePortMin()).isEqualTo(30000);
        assertThat(s.nodePortMax()).isEqualTo(32000);
        assertThat(s.clusterCidr()).isEqualTo(Ip4Prefix.parse("10.244.0.0/16"));
        assertThat(s.vxlanPort()).isEqualTo(8472);
    }

    @Test
    void shouldParseGoDurations()
    {
        assertThat(ClusterSettingsReader.goDurationSeconds("24h0m0s")).isEqualTo(86400);
        assertThat(ClusterSettingsReader.goDurationSeconds("1h")).isEqualTo(3600);
        assertThat(ClusterSettingsReader.goDurationSeconds("1.5m")).isEqualTo(90);
        assertThat(ClusterSettingsReader.goDurationSeconds("2500ms")).isEqualTo(2);
        assertThat(ClusterSettingsReader.goDurationSeconds("0s")).isZero();
        assertThat(ClusterSettingsReader.goDurationSeconds("0")).isZero();
        assertThat(ClusterSettingsReader.goDurationSeconds("10")).isEqualTo(-1);
        assertThat(ClusterSettingsReader.goDurationSeconds("1h x")).isEqualTo(-1);
        assertThat(ClusterSettingsReader.goDurationSeconds("")).isEqualTo(-1);
    }

    @Property(tries = 200)
    void goDurationsRoundTripAsKubeProxyPrintsThem(@ForAll @IntRange(min = 0, max = 1000) final int h,
        @ForAll @IntRange(min = 0, max = 59) final int m, @ForAll @IntRange(min = 0, max = 59) final int s)
    {
        assertThat(ClusterSettingsReader.goDurationSeconds(h + "h" + m + "m" + s + "s"))
            .isEqualTo(h * 3600L + m * 60L + s);
    }
}
