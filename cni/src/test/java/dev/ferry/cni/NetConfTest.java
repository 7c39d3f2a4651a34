package dev.ferry.cni;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class NetConfTest
{
    private static final String IPAM = "\"ipam\":{\"type\":\"host-local\",\"subnet\":\"10.244.1.0/24\"}";

    private static CniError errorOf(final String text)
    {
        try
        {
            NetConf.parse(text);
        }
        catch (final CniException e)
        {
            return e.error();
        }
        throw new AssertionError("parsed: " + text);
    }

    @Test
    void shouldReadTheUsualExampleWithDefaults()
    {
        final NetConf c = NetConf.parse("{\"cniVersion\":\"1.0.0\",\"name\":\"k8s-pod-network\",\"type\":\"ferry\","
            + IPAM + "}");
        assertThat(c.version()).isEqualTo(CniVersion.V1_0_0);
        assertThat(c.name()).isEqualTo("k8s-pod-network");
        assertThat(c.ipamType()).isEqualTo("host-local");
        assertThat(c.socket()).isEqualTo(Path.of("/run/ferry/ferry.sock"));
        assertThat(c.stateDir()).isEqualTo(Path.of("/var/lib/cni/ferry"));
        assertThat(c.ipamDataDir()).isEqualTo(Path.of("/var/lib/cni/networks"));
        assertThat(c.mtu()).as("0: take the node's").isZero();
        assertThat(c.dns().isEmpty()).isTrue();
        assertThat(c.prevResult()).isNull();
        assertThat(c.validAttachments()).isNull();
    }

    @Test
    void shouldReadEveryOptionalField()
    {
        final NetConf c = NetConf.parse("{\"cniVersion\":\"1.1.0\",\"name\":\"n\",\"type\":\"ferry\",\"mtu\":1400,"
            + "\"socket\":\"/tmp/s.sock\",\"stateDir\":\"/tmp/st\",\"ipam\":{\"type\":\"host-local\","
            + "\"dataDir\":\"/tmp/ipam\"},\"dns\":{\"nameservers\":[\"10.96.0.10\"],\"domain\":\"cluster.local\","
            + "\"search\":[\"a\",\"b\"],\"options\":[\"ndots:5\"]},\"runtimeConfig\":{\"mac\":\"0A-58-00-00-00-01\"},"
            + "\"cni.dev/valid-attachments\":[{\"containerID\":\"c1\",\"ifname\":\"eth0\"}],"
            + "\"prevResult\":{\"cniVersion\":\"1.1.0\",\"ips\":[{\"address\":\"10.244.1.5/24\"}]}}");
        assertThat(c.mtu()).isEqualTo(1400);
        assertThat(c.socket()).isEqualTo(Path.of("/tmp/s.sock"));
        assertThat(c.ipamDataDir()).isEqualTo(Path.of("/tmp/ipam"));
        assertThat(c.dns().nameservers()).containsExactly("10.96.0.10");
        assertThat(c.dns().domain()).isEqualTo("cluster.local");
        assertThat(c.dns().search()).containsExactly("a", "b");
        assertThat(c.dns().options()).containsExactly("ndots:5");
        assertThat(c.mac()).as("normalised").isEqualTo("0a:58:00:00:00:01");
        assertThat(c.validAttachments()).containsExactly(new NetConf.Attachment("c1", "eth0"));
        assertThat(c.prevResult().ips()).extracting(CniResult.IpConfig::address).containsExactly("10.244.1.5/24");
    }

    @ParameterizedTest(name = "{0} -> {1}")
    @CsvSource(delimiter = '|', value = {
        "{bad                                                                          | DECODE_FAILURE",
        "[1,2]                                                                         | DECODE_FAILURE",
        "{\"cniVersion\":\"0.2.0\",\"name\":\"n\",\"type\":\"ferry\"}                  | INCOMPATIBLE_VERSION",
        "{\"cniVersion\":\"2.0.0\",\"name\":\"n\",\"type\":\"ferry\"}                  | INCOMPATIBLE_VERSION",
        "{\"name\":\"n\",\"type\":\"ferry\"}                                           | INVALID_CONFIG",
        "{\"cniVersion\":1,\"name\":\"n\",\"type\":\"ferry\"}                          | INVALID_CONFIG",
        "{\"cniVersion\":\"1.0.0\",\"name\":\"-n\",\"type\":\"ferry\"}                 | INVALID_CONFIG",
        "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"bridge\"}                 | INVALID_CONFIG",
        "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"ferry\"}                  | INVALID_CONFIG",
        "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"ferry\",\"ipam\":{}}      | INVALID_CONFIG",
        "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"ferry\",\"ipam\":{\"type\":\"../x\"}} | INVALID_CONFIG",
    })
    void shouldRefuseWithTheSpecCode(final String text, final CniError expected)
    {
        assertThat(errorOf(text)).isEqualTo(expected);
    }

    @Test
    void shouldNameTheBadFieldByItsPath()
    {
        final String base = "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"ferry\"," + IPAM;
        assertThatThrownBy(() -> NetConf.parse(base + ",\"mtu\":\"big\"}")).isInstanceOf(CniException.class)
            .hasMessageContaining("mtu: must be a whole number from 68 to 65535");
        assertThatThrownBy(() -> NetConf.parse(base + ",\"mtu\":20}")).hasMessageContaining("mtu");
        assertThatThrownBy(() -> NetConf.parse(base + ",\"dns\":{\"nameservers\":[1]}}"))
            .hasMessageContaining("dns.nameservers[0]: must be a string");
        assertThatThrownBy(() -> NetConf.parse(base + ",\"runtimeConfig\":{\"mac\":\"zz\"}}"))
            .hasMessageContaining("runtimeConfig.mac");
        assertThatThrownBy(() -> NetConf.parse(base + ",\"prevResult\":{\"ips\":[{\"address\":\"10.0.0.1\"}]}}"))
            .hasMessageContaining("prevResult.ips[0].address: '10.0.0.1' is not an address with a prefix length");
        assertThatThrownBy(() -> NetConf.parse(base + ",\"cni.dev/valid-attachments\":[{\"containerID\":\"c\"}]}"))
            .hasMessageContaining("cni.dev/valid-attachments[0].ifname: required text is missing");
    }

    @Test
    void shouldPeekTheVersionOfAnOtherwiseBadConfig()
    {
        assertThat(NetConf.peekVersion("{\"cniVersion\":\"0.4.0\",\"type\":3}")).isEqualTo("0.4.0");
        assertThat(NetConf.peekVersion("{bad")).isNull();
    }
}
