package dev.ferry.agent.cli;

import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The agent names the API server directly when asked to, so that it does not depend on the Services it serves. */
class ApiServerAddressTest
{
    @Test
    void shouldPreferTheFlagThenTheEnvironmentThenNothing()
    {
        final Map<String, String> env = Map.of(ApiServerAddress.HOST_ENV, "10.0.0.1", ApiServerAddress.PORT_ENV,
            "6443");

        assertThat(ApiServerAddress.resolve("https://api.example:8443", env)).isEqualTo("https://api.example:8443");
        assertThat(ApiServerAddress.resolve(null, env)).isEqualTo("https://10.0.0.1:6443");
        assertThat(ApiServerAddress.resolve(null, Map.of(ApiServerAddress.HOST_ENV, "10.0.0.1")))
            .as("port 443 by default").isEqualTo("https://10.0.0.1:443");
        assertThat(ApiServerAddress.resolve(null, Map.of(ApiServerAddress.HOST_ENV, "10.0.0.1",
            ApiServerAddress.PORT_ENV, " "))).as("an empty port is unset (the ConfigMap's optional key)")
            .isEqualTo("https://10.0.0.1:443");
        assertThat(ApiServerAddress.resolve(null, Map.of(ApiServerAddress.HOST_ENV, "fd00::1")))
            .as("IPv6 in brackets").isEqualTo("https://[fd00::1]:443");
        assertThat(ApiServerAddress.resolve(null, Map.of())).as("keep the configured address").isNull();
    }

    @Test
    void shouldRefuseWhatIsNotAnHttpsAddress()
    {
        assertThatThrownBy(() -> ApiServerAddress.resolve("http://10.0.0.1:6443", Map.of()))
            .hasMessage("--api-server: 'http://10.0.0.1:6443' is not an https://HOST[:PORT] URL");
        assertThatThrownBy(() -> ApiServerAddress.resolve(null, Map.of(ApiServerAddress.HOST_ENV, "10.0.0.1",
            ApiServerAddress.PORT_ENV, "sixty"))).hasMessage("FERRY_K8S_SERVICE_PORT: 'sixty' is not a TCP port");
    }
}
