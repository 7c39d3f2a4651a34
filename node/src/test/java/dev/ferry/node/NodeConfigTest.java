package dev.ferry.node;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class NodeConfigTest
{
    @TempDir
    Path dir;

    private Path yaml(final String text) throws Exception
    {
        return Files.writeString(dir.resolve("node.yaml"), text);
    }

    @Test
    void shouldReadAFullConfig() throws Exception
    {
        final NodeConfig c = NodeConfig.load(yaml("""
            nodeName: node-a
            apiSocket: /run/ferry/test.sock
            clusterDir: /etc/ferry/cluster
            uplink: eth1
            underlay: udp
            threading: dedicated
            poolSize: 4096
            metricsPort: 9101
            metricsBindAddress: 0.0.0.0
            podTapPrefix: fy
            hostTap: ferry0
            seed: 42
            balancing: maglev
            healthzBindAddress: 127.0.0.1:10266
            logLevel: debug
            workers: 1
            """));

        assertThat(c).isEqualTo(new NodeConfig("node-a", Path.of("/run/ferry/test.sock"), Path.of("/etc/ferry/cluster"),
            "eth1", UnderlayMode.UDP, ThreadingMode.DEDICATED, 4096, 9101, "0.0.0.0", "fy", "ferry0", 42,
            BalancingMode.MAGLEV, dev.ferry.nat.Nat.FragmentLimits.DEFAULTS, "127.0.0.1:10266", "debug",
            Path.of("/run/ferry"), 1, BusyPollWindow.DEFAULT_MAX_MICROS));
        assertThat(c.podTapName(0x0af40105)).isEqualTo("fy0af40105");
    }

    @Test
    void shouldReadTheFragmentBoundsAndRefuseBadOnes() throws Exception
    {
        final NodeConfig c = NodeConfig.load(yaml("nodeName: node-a\nuplink: eth0\nfragments:\n  maxDatagrams: 16\n"
            + "  maxHeld: 4\n  timeoutMillis: 500\n"));
        assertThat(c.fragments()).isEqualTo(new dev.ferry.nat.Nat.FragmentLimits(16, 64, 4, 500));
        assertThat(NodeConfig.load(yaml("nodeName: node-a\nuplink: eth0\n")).fragments())
            .isEqualTo(dev.ferry.nat.Nat.FragmentLimits.DEFAULTS);
        assertThatThrownBy(() -> NodeConfig.load(yaml("nodeName: a\nuplink: eth0\nfragments:\n  timeoutMillis: 0\n")))
            .hasMessageContaining("node.yaml: fragments: fragment limits out of range");
        assertThatThrownBy(() -> NodeConfig.load(yaml("nodeName: a\nuplink: eth0\nfragments:\n  maxdatagrams: 1\n")))
            .hasMessageContaining("node.yaml: fragments.maxdatagrams: unknown setting");
    }

    @Test
    void shouldFillDefaults() throws Exception
    {
        final NodeConfig c = NodeConfig.load(yaml("nodeName: node-a\nuplink: eth0\n"));

        assertThat(c.apiSocket()).isEqualTo(NodeConfig.DEFAULT_SOCKET);
        assertThat(c.underlay()).isEqualTo(UnderlayMode.PACKET);
        assertThat(c.threading()).as("no client read on the forwarding thread (issue 13 class 10)")
            .isEqualTo(ThreadingMode.DEDICATED);
        assertThat(c.poolSize()).isEqualTo(8192);
        assertThat(c.clusterDir()).isNull();
        assertThat(c.metricsPort()).as("metrics off unless asked for").isEqualTo(NodeConfig.METRICS_OFF);
        assertThat(c.metricsBindAddress()).as("loopback unless asked for").isEqualTo("127.0.0.1");
        assertThat(c.podTapName(0x0af40105)).isEqualTo("tap0af40105");
        assertThat(c.balancing()).isEqualTo(BalancingMode.RANDOM);
        assertThat(c.healthzBindAddress()).as("kube-proxy's default").isEqualTo("0.0.0.0:10256");
        assertThat(c.logLevel()).isEqualTo("info");
        assertThat(c.stateDir()).as("beside the API socket, as attachments.json").isEqualTo(Path.of("/run/ferry"));
        assertThat(NodeConfig.load(yaml("nodeName: node-a\nuplink: eth0\nstateDir: /var/lib/ferry\n")).stateDir())
            .isEqualTo(Path.of("/var/lib/ferry"));
        assertThat(c.workers()).as("the CPUs but one").isEqualTo(WorkerCount.fromCpus(WorkerCount.cpus()));
        assertThat(NodeConfig.load(yaml("nodeName: node-a\nuplink: eth0\nworkers: 2\n")).workers()).isEqualTo(2);
        assertThat(NodeConfig.defaults("n", Path.of("/tmp/x.sock"), "eth0").workers()).isEqualTo(1);
        assertThat(NodeConfig.defaults("n", Path.of("/tmp/x.sock"), "eth0").stateDir())
            .as("tests and replay keep the table in memory").isNull();
    }

    @Test
    void shouldPickARandomSeedPerNodeUnlessOneIsSet() throws Exception
    {
        final java.util.Set<Long> seeds = new java.util.HashSet<>();
        for (int i = 0; i < 8; i++)
        {
            seeds.add(NodeConfig.load(yaml("nodeName: node-a\nuplink: eth0\n")).seed());
        }

        assertThat(seeds).as("nodes do not all pick backends in the same order").hasSizeGreaterThan(1);
        assertThat(NodeConfig.load(yaml("nodeName: node-a\nuplink: eth0\nseed: 7\n")).seed()).isEqualTo(7);
        assertThatThrownBy(() -> NodeConfig.load(yaml("nodeName: node-a\nuplink: eth0\nbalancing: roundrobin\n")))
            .hasMessageContaining("balancing: 'roundrobin' is not one of random or maglev");
    }

    @Test
    void shouldReadTheBusyPollWindowAndRefuseBadOnes() throws Exception
    {
        assertThat(NodeConfig.load(yaml("nodeName: a\nuplink: eth0\n")).busyPollMicros())
            .isEqualTo(BusyPollWindow.DEFAULT_MAX_MICROS);
        assertThat(NodeConfig.load(yaml("nodeName: a\nuplink: eth0\nbusyPollMicros: 0\n")).busyPollMicros()).isZero();
        assertThat(NodeConfig.load(yaml("nodeName: a\nuplink: eth0\nbusyPollMicros: 250000\n")).busyPollMicros())
            .isEqualTo(250_000);
        assertThatThrownBy(() -> NodeConfig.load(yaml("nodeName: a\nuplink: eth0\nbusyPollMicros: -5\n")))
            .hasMessageContaining("node.yaml: busyPollMicros: -5 is out of range 0..1000000");
        assertThatThrownBy(() -> NodeConfig.load(yaml("nodeName: a\nuplink: eth0\nbusyPollMicros: 2000000\n")))
            .hasMessageContaining("node.yaml: busyPollMicros: 2000000 is out of range 0..1000000");
        assertThatThrownBy(() -> NodeConfig.load(yaml("nodeName: a\nuplink: eth0\nbusyPollMicros: 10ms\n")))
            .hasMessageEndingWith("node.yaml: busyPollMicros: expected a whole number, got '10ms'");
    }

    @Test
    void shouldNameTheFieldInEveryError() throws Exception
    {
        assertThatThrownBy(() -> NodeConfig.load(yaml("uplink: eth0\n")))
            .hasMessageEndingWith("node.yaml: nodeName: required");
        assertThatThrownBy(() -> NodeConfig.load(yaml("nodeName: a\nuplink: eth0\nunderlay: vxlan\n")))
            .hasMessageEndingWith("node.yaml: underlay: 'vxlan' is not one of packet or udp");
        assertThatThrownBy(() -> NodeConfig.load(yaml("nodeName: a\nuplink: eth0\npoolSize: 12\n")))
            .hasMessageEndingWith("node.yaml: poolSize: 12 is out of range 256..1048576");
        assertThatThrownBy(() -> NodeConfig.load(yaml("nodeName: a\nuplink: eth0\npoolsize: 4096\n")))
            .hasMessageContaining("node.yaml: poolsize: unknown setting (known: apiSocket, balancing, busyPollMicros, clusterDir,");
        assertThatThrownBy(() -> NodeConfig.load(yaml("nodeName: a\nuplink: eth0\nmetricsBindAddress: localhost\n")))
            .hasMessageEndingWith("node.yaml: metrics bind address: 'localhost' is not an IP address (e.g. 127.0.0.1,"
                + " 0.0.0.0, ::)");
        assertThatThrownBy(() -> NodeConfig.load(yaml("nodeName: a\nuplink: eth0\nmetricsPort: many\n")))
            .hasMessageEndingWith("node.yaml: metricsPort: expected a whole number, got 'many'");
        assertThatThrownBy(() -> NodeConfig.load(yaml("nodeName: a\nuplink: eth0\nmetricsPort: -2\n")))
            .hasMessageEndingWith("node.yaml: metricsPort: -2 is out of range -1..65535 (-1: off, 0: any free port)");
        assertThatThrownBy(() -> NodeConfig.load(yaml("nodeName: a\nuplink: eth0\npodTapPrefix: toolongpfx\n")))
            .hasMessageContaining("podTapPrefix: 1 to 7 characters");
        assertThatThrownBy(() -> NodeConfig.load(yaml("nodeName: a\nuplink: eth0\nhealthzBindAddress: \"10256\"\n")))
            .hasMessageEndingWith("node.yaml: healthzBindAddress: '10256' is not IP:PORT (e.g. 0.0.0.0:10256)");
        assertThatThrownBy(() -> NodeConfig.load(yaml("nodeName: a\nuplink: eth0\nhealthzBindAddress: x:1\n")))
            .hasMessageEndingWith("node.yaml: healthzBindAddress: 'x:1' is not IP:PORT (e.g. 0.0.0.0:10256)");
        assertThatThrownBy(() -> NodeConfig.load(yaml("nodeName: a\nuplink: eth0\nlogLevel: loud\n")))
            .hasMessageEndingWith("node.yaml: logLevel: 'loud' is not one of error, warn, info, debug, trace");
        assertThatThrownBy(() -> NodeConfig.load(yaml("nodeName: a\nuplink: eth0\nworkers: 0\n")))
            .hasMessageEndingWith("node.yaml: workers: 0 is out of range 1..64");
        assertThatThrownBy(() -> NodeConfig.load(yaml("nodeName: a\nuplink: eth0\nworkers: 65\n")))
            .hasMessageEndingWith("node.yaml: workers: 65 is out of range 1..64");
        assertThatThrownBy(() -> NodeConfig.load(yaml("nodeName: a\nuplink: eth0\nworkers: 5000000000\n")))
            .hasMessageEndingWith("node.yaml: workers: 2147483647 is out of range 1..64");
        assertThatThrownBy(() -> NodeConfig.load(yaml("nodeName: a\nuplink: eth0\nworkers: two\n")))
            .hasMessageEndingWith("node.yaml: workers: expected a whole number, got 'two'");
        assertThatThrownBy(() -> NodeConfig.load(yaml("nodeName: [a\n")))
            .hasMessageContaining("node.yaml: not valid YAML");
    }
}
