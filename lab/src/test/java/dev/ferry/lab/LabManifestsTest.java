package dev.ferry.lab;

import dev.ferry.agent.ManifestLoader;
import dev.ferry.agent.NodeTablesCompiler;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.core.tables.ServiceInfo;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The lab's manifests, read by the agent's compiler as each node would: the addresses, the Services and the
 * static neighbours that the packet path needs.
 */
final class LabManifestsTest
{
    private static final LabSpec SPEC = LabSpec.standard();

    private static NodeTables compile(final Path dir, final String node) throws IOException
    {
        return NodeTablesCompiler.compile(ManifestLoader.load(dir, note -> { }), node, 1);
    }

    @Test
    void shouldGiveNode1ItsAddressesAndTheExternalRouterAsGateway(@TempDir final Path dir) throws IOException
    {
        LabManifests.write(SPEC, dir, LabManifests.servers(SPEC), LabManifests.servers(SPEC));
        final NodeTables t = compile(dir, "node1");
        assertThat(t.node().addresses()).containsExactly(Ip4.parse("192.168.50.11"), Ip4.parse("203.0.113.1"));
        assertThat(t.node().podCidr().toString()).isEqualTo("10.244.1.0/24");
        assertThat(t.node().underlayGateway()).isEqualTo(Ip4.parse(LabSpec.EXT_ROUTER_IP));
        assertThat(t.node().underlayPrefix().contains(t.node().underlayGateway())).as("gateway on the underlay")
            .isTrue();
        assertThat(t.node().uplinkMac()).isEqualTo(Ip4.parseMac(SPEC.node1().mac()));
        assertThat(t.node().vtepMac()).isEqualTo(Ip4.parseMac(SPEC.node1().vtepMac()));
        assertThat(t.neighbours()).as("node2 is a static neighbour; the gateway is resolved by ARP")
            .containsEntry(Ip4.parse("192.168.50.12"), Ip4.parseMac(SPEC.node2().mac()));
        assertThat(t.remoteNodes()).singleElement().satisfies(r ->
        {
            assertThat(r.name()).isEqualTo("node2");
            assertThat(r.vtepMac()).isEqualTo(Ip4.parseMac(SPEC.node2().vtepMac()));
        });
        assertThat(t.cluster().vni()).isEqualTo(LabSpec.VNI);
        assertThat(t.cluster().vxlanPort()).isEqualTo(LabSpec.VXLAN_PORT);
    }

    @Test
    void shouldCompileWebAndEchoServicesWithBothBackends(@TempDir final Path dir) throws IOException
    {
        LabManifests.write(SPEC, dir, LabManifests.servers(SPEC), LabManifests.servers(SPEC));
        final NodeTables t = compile(dir, "node2");
        final List<String> names = t.services().stream().map(ServiceInfo::name).toList();
        assertThat(names).contains("web", "udp-echo");
        final String text = dev.ferry.agent.TablesText.render(t);
        assertThat(text).contains("10.96.0.10:80").contains("30080").contains("10.96.0.11:7")
            .contains("10.244.1.3:8080").contains("10.244.2.2:8080").contains("10.244.2.2:7007");
    }

    @Test
    void shouldLeaveServiceWithoutEndpointsWhenBackendsAreRemoved(@TempDir final Path dir) throws IOException
    {
        LabManifests.write(SPEC, dir, List.of(), LabManifests.servers(SPEC));
        final String text = dev.ferry.agent.TablesText.render(compile(dir, "node1"));
        assertThat(text).contains("10.96.0.10:80").doesNotContain("10.244.1.3:8080").contains("10.244.1.3:7007");
    }

    @Test
    void shouldOwnOnlyTheLabsNamespaces()
    {
        assertThat(SPEC.owns("ferry-node1")).isTrue();
        assertThat(SPEC.owns("ferry-ext")).isTrue();
        assertThat(SPEC.owns("ferry-pod-p11")).isTrue();
        assertThat(SPEC.owns("ferry-pod-")).isFalse();
        assertThat(SPEC.owns("ferry-bench-node1")).isFalse();
        assertThat(SPEC.owns("ferry-cni-b520")).isFalse();
        final LabSpec bench = LabSpec.withPrefix("ferry-bench-");
        assertThat(bench.podNs("p11")).isEqualTo("ferry-bench-p11");
        assertThat(bench.owns("ferry-bench-p21")).isTrue();
        assertThat(bench.owns("ferry-node1")).isFalse();
    }

    @Test
    void shouldRecognizeOnlyTheProcessItRecorded(@TempDir final Path dir) throws IOException
    {
        final LabState state = new LabState(dir);
        final long self = ProcessHandle.current().pid();
        state.record(self, "me");
        assertThat(state.running("me")).isPresent();
        assertThat(LabState.isOurs(new LabState.Started(self, state.started().getFirst().startTime() + 1, "x")))
            .as("same PID, other start time: a recycled PID is not ours").isFalse();
    }
}
