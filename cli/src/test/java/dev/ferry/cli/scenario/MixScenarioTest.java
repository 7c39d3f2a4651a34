package dev.ferry.cli.scenario;

import dev.ferry.agent.ManifestLoader;
import dev.ferry.agent.NodeTablesCompiler;
import dev.ferry.cli.Ferry;
import dev.ferry.cli.replay.ReplayEngine;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.nat.Nat;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code ferry scenario --kind mix}: a long capture of many flows over every path of node-a, deterministic, that
 * replays with the fate each path should have.
 */
class MixScenarioTest
{
    private static final Path ROOT = Path.of(System.getProperty("user.dir")).getParent();
    private static final Path CLUSTER = ROOT.resolve("examples/two-node/cluster");

    @TempDir
    Path tmp;

    private static String run(final String... args)
    {
        final StringWriter sw = new StringWriter();
        final int rc = Ferry.commandLine().setOut(new PrintWriter(sw)).setErr(new PrintWriter(sw)).execute(args);
        assertThat(rc).as(sw.toString()).isZero();
        return sw.toString();
    }

    @Test
    void shouldWriteTheSameBytesForTheSameSeedAndReplayThemTheSameWay() throws Exception
    {
        final Path a = tmp.resolve("a");
        final Path b = tmp.resolve("b");
        final Path c = tmp.resolve("c");
        for (final Path d : List.of(a, b))
        {
            run("scenario", "--kind", "mix", "--frames", "5000", "--flows", "100", "--seed", "7", "--out",
                d.toString());
        }
        run("scenario", "--kind", "mix", "--frames", "5000", "--flows", "100", "--seed", "8", "--out", c.toString());
        final byte[] first = Files.readAllBytes(a.resolve("mix.pcap"));
        assertThat(first).isEqualTo(Files.readAllBytes(b.resolve("mix.pcap")));
        assertThat(first).as("another seed, another capture").isNotEqualTo(Files.readAllBytes(c.resolve("mix.pcap")));

        for (final Path d : List.of(a, b))
        {
            run("replay", "--quiet", "--cluster", CLUSTER.toString(), "--node", "node-a", "--in",
                d.resolve("mix.pcap").toString(), "--out", d.resolve("out.pcap").toString());
        }
        final byte[] out = Files.readAllBytes(a.resolve("out.pcap"));
        assertThat(out.length).isGreaterThan(24 + 5000 * 16);
        assertThat(out).isEqualTo(Files.readAllBytes(b.resolve("out.pcap")));
    }

    @Test
    void shouldSendEveryPathWhereItGoes() throws Exception
    {
        final int frames = 6000;
        final List<MixScenario.Path> paths = new ArrayList<>();
        final List<byte[]> captured = new ArrayList<>();
        final List<Long> times = new ArrayList<>();
        new MixScenario(frames, 120, 3, 1000, 1).generate((ns, p, f) ->
        {
            paths.add(p);
            captured.add(f);
            times.add(ns);
        });
        assertThat(captured).hasSize(frames);
        final NodeTables tables = NodeTablesCompiler.compile(ManifestLoader.load(CLUSTER, n -> { }), "node-a", 1);
        final Map<MixScenario.Path, Map<String, Integer>> fates = new EnumMap<>(MixScenario.Path.class);
        try (ReplayEngine e = new ReplayEngine(tables, Nat.Balancing.RANDOM, (ns, port, m, o, l) -> { }, frames, 0))
        {
            for (int i = 0; i < frames; i++)
            {
                e.feed(times.get(i), captured.get(i));
            }
            e.finish();
            final List<ReplayEngine.Fate> all = e.frameFates();
            for (int i = 0; i < frames; i++)
            {
                final String fate = all.get(i).fate();
                final String where = fate.substring(0, fate.indexOf("   ("));
                fates.computeIfAbsent(paths.get(i), k -> new TreeMap<>()).merge(where, 1, Integer::sum);
            }
        }
        // web-1 tap0af40102, client-1 tap0af40103, dns-1 tap0af40104: no frame of any path is dropped
        assertThat(fates).containsOnlyKeys(MixScenario.Path.values());
        assertThat(fates.get(MixScenario.Path.POD_TO_POD)).as("client to web-1, web-1 back to the client")
            .isEqualTo(Map.of("SENT on tap0af40102", 729, "SENT on tap0af40103", 621));
        assertThat(fates.get(MixScenario.Path.CLUSTER_IP)).as("the Service balances over web-1 and web-2")
            .isEqualTo(Map.of("SENT on tap0af40102", 450, "SENT on uplink", 450));
        assertThat(fates.get(MixScenario.Path.CROSS_NODE)).as("out through VXLAN, web-2's frames decapsulated")
            .isEqualTo(Map.of("SENT on tap0af40103", 506, "SENT on uplink", 594));
        assertThat(fates.get(MixScenario.Path.NODE_PORT))
            .isEqualTo(Map.of("SENT on tap0af40102", 400, "SENT on uplink", 350));
        assertThat(fates.get(MixScenario.Path.MASQUERADE)).isEqualTo(Map.of("SENT on uplink", 900));
        assertThat(fates.get(MixScenario.Path.DNS)).as("queries to dns-1, answers to the client")
            .isEqualTo(Map.of("SENT on tap0af40104", 500, "SENT on tap0af40103", 500));
    }
}
