package dev.ferry.cli;

import dev.ferry.agent.ManifestLoader;
import dev.ferry.agent.NodeTablesCompiler;
import dev.ferry.cli.replay.ReplayEngine;
import dev.ferry.core.Ports;
import dev.ferry.core.StageInfo;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.nat.Nat;
import dev.ferry.node.MemoryPortFactory;
import dev.ferry.node.NodeConfig;
import dev.ferry.node.NodeDaemon;
import dev.ferry.node.UnderlayMode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code ferry node} and {@code ferry replay} run one graph: for the same manifests, a node daemon (packet mode, on
 * memory ports) and a replay engine have the same stages in the same order, with the same next edges and drop
 * reasons, and their fixed ports have the same kinds and flags. Only the ports' implementations and the clock
 * differ.
 */
class OneGraphTest
{
    private static final Path EXAMPLE = Path.of("../examples/two-node/cluster").toAbsolutePath();

    @TempDir
    Path dir;

    @Test
    void shouldBuildTheSameGraphForTheNodeAndForReplay() throws Exception
    {
        for (final String nodeName : List.of("node-a", "node-b"))
        {
            final NodeTables tables = NodeTablesCompiler.compile(ManifestLoader.load(EXAMPLE, n -> { }), nodeName, 1);
            final NodeConfig config = NodeConfig.defaults(nodeName, dir.resolve(nodeName + "/ferry.sock"), "eth9");
            assertThat(config.underlay()).isEqualTo(UnderlayMode.PACKET);
            final List<StageInfo> nodeStages;
            final List<Ports.Port> nodePorts;
            try (NodeDaemon node = NodeDaemon.builder(config).portFactory(new MemoryPortFactory())
                .initialTables(tables).build())
            {
                node.start();
                nodeStages = node.graphStages();
                nodePorts = node.portList();
            }
            try (ReplayEngine replay = new ReplayEngine(tables, Nat.Balancing.RANDOM, (t, p, m, o, l) -> { }, 0, 0))
            {
                final List<StageInfo> replayStages = replay.graph().stages().stream().map(StageInfo::of).toList();
                assertThat(replayStages).as(nodeName + ": replay's stages, edges and drop reasons")
                    .isEqualTo(nodeStages);
                assertThat(fixedPorts(replay.ports().all())).as(nodeName + ": the ports every node has")
                    .isEqualTo(fixedPorts(nodePorts));
            }
            assertThat(nodeStages).extracting(StageInfo::name).as("the node's whole graph")
                .containsSubsequence("neighbour-learn", "ethernet-input", "arp", "ip4-input", "vxlan-bypass",
                    "nat44-in", "nat44-new", "ip4-lookup", "vxlan-encap", "vxlan-decap", "host-output", "ip4-local",
                    "icmp-error", "ip4-rewrite", "interface-output");
        }
    }

    /** Kind, MAC-less promiscuity and order of the ports that are not pods (their names and MACs are the host's). */
    private static List<String> fixedPorts(final List<Ports.Port> ports)
    {
        return ports.stream().filter(p -> p.kind() != Ports.Kind.POD)
            .map(p -> p.kind() + (p.promiscuous() ? " promiscuous" : "")).toList();
    }
}
