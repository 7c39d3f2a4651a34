package dev.ferry.cni;

import dev.ferry.nodeapi.AttachRequest;
import dev.ferry.nodeapi.NodeApi;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The plugin's own node client (jackson-jr, for start-up time) against node-api, the protocol the node serves:
 * a version bump or a new name limit there must show up here, not as a refused ADD on a live node.
 */
class NodeApiContractTest
{
    @Test
    void shouldSpeakTheNodesProtocolVersion()
    {
        assertThat(NodeClient.request("attach")).containsEntry("v", NodeApi.VERSION);
    }

    @Test
    void shouldAcceptExactlyTheInterfaceNamesTheNodeAccepts()
    {
        final String longest = "e".repeat(NodeApi.IFNAMSIZ_MAX);
        CniEnv.validateIfName(longest);
        assertThat(new AttachRequest("c1", longest, "/run/netns/p1", "default", "p1", 1, -1).ifName())
            .isEqualTo(longest);

        final String tooLong = longest + "x";
        assertThatThrownBy(() -> CniEnv.validateIfName(tooLong)).isInstanceOf(CniException.class);
        assertThatThrownBy(() -> new AttachRequest("c1", tooLong, "/run/netns/p1", "default", "p1", 1, -1))
            .isInstanceOf(IllegalArgumentException.class);
    }
}
