package dev.ferry.cni;

import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class CniEnvTest
{
    private static Map<String, String> add()
    {
        final Map<String, String> e = new HashMap<>();
        e.put("CNI_COMMAND", "ADD");
        e.put("CNI_CONTAINERID", "abc123");
        e.put("CNI_NETNS", "/var/run/netns/x");
        e.put("CNI_IFNAME", "eth0");
        e.put("CNI_PATH", "/opt/cni/bin:/usr/lib/cni");
        e.put("CNI_ARGS", "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-1;K8S_POD_UID=u=1");
        return e;
    }

    @Test
    void shouldReadTheRuntimesVariables()
    {
        final CniEnv env = CniEnv.from(add());
        assertThat(env.command()).isEqualTo("ADD");
        assertThat(env.path()).containsExactly("/opt/cni/bin", "/usr/lib/cni");
        assertThat(env.podNamespace()).isEqualTo("default");
        assertThat(env.podName()).isEqualTo("web-1");
        assertThat(env.args()).containsEntry("K8S_POD_UID", "u=1").containsEntry("IgnoreUnknown", "1");
    }

    @Test
    void shouldNameEveryMissingVariable()
    {
        final Map<String, String> e = add();
        e.remove("CNI_CONTAINERID");
        e.remove("CNI_NETNS");
        assertThatThrownBy(() -> CniEnv.from(e)).isInstanceOf(CniException.class)
            .hasMessage("CNI_CONTAINERID, CNI_NETNS are not set")
            .extracting(x -> ((CniException)x).error()).isEqualTo(CniError.INVALID_ENVIRONMENT);
    }

    @Test
    void shouldLetDelGoWithoutNetnsAndVersionWithoutPath()
    {
        final Map<String, String> del = add();
        del.put("CNI_COMMAND", "DEL");
        del.remove("CNI_NETNS");
        assertThat(CniEnv.from(del).netns()).isNull();
        assertThat(CniEnv.from(Map.of("CNI_COMMAND", "VERSION")).path()).isEmpty();
        assertThat(CniEnv.from(Map.of("CNI_COMMAND", "GC", "CNI_PATH", "/x")).containerId()).isNull();
    }

    @Test
    void shouldRefuseMalformedValues()
    {
        final Map<String, String> e = add();
        e.put("CNI_IFNAME", "eth0/1");
        assertThatThrownBy(() -> CniEnv.from(e)).hasMessageContaining("CNI_IFNAME");
        e.put("CNI_IFNAME", "a-name-longer-than-15");
        assertThatThrownBy(() -> CniEnv.from(e)).hasMessageContaining("CNI_IFNAME");
        e.put("CNI_IFNAME", "eth0");
        e.put("CNI_CONTAINERID", "-bad id");
        assertThatThrownBy(() -> CniEnv.from(e)).hasMessageContaining("CNI_CONTAINERID");
        e.put("CNI_CONTAINERID", "ok");
        e.put("CNI_ARGS", "K8S_POD_NAME");
        assertThatThrownBy(() -> CniEnv.from(e)).hasMessageContaining("CNI_ARGS: 'K8S_POD_NAME' is not KEY=VALUE");
        assertThatThrownBy(() -> CniEnv.from(Map.of("CNI_COMMAND", "ATTACH")))
            .hasMessageContaining("unknown command 'ATTACH'");
        assertThatThrownBy(() -> CniEnv.from(Map.of())).hasMessage("CNI_COMMAND is not set");
    }
}
