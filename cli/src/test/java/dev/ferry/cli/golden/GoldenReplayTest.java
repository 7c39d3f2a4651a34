package dev.ferry.cli.golden;

import dev.ferry.cli.Ferry;
import dev.ferry.cli.ScenarioCommand;
import dev.ferry.cli.scenario.ExampleScenarios;
import dev.ferry.cli.scenario.Scenario;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringReader;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

/**
 * Golden replay tuples, Snabb lwaftr style: for every case under {@code src/test/golden/<case>/}, the input
 * made by code is byte-identical to the committed {@code in.pcap}, and {@code ferry replay} (the picocli
 * command, in process) turns it into exactly {@code expected.pcap} and {@code expected-counters.txt}.
 *
 * <p>With {@code -Dferry.golden.regenerate=all} (or a comma-separated list of cases) the same code path
 * rewrites those files instead of comparing: {@code src/test/golden/regenerate.sh} runs it.
 */
class GoldenReplayTest
{
    static final String IN = "in.pcap";
    static final String CLUSTER = "cluster";
    static final String EXPECTED = "expected.pcap";
    static final String EXPECTED_COUNTERS = "expected-counters.txt";
    static final String REGENERATE = System.getProperty("ferry.golden.regenerate", "").trim();

    @TempDir
    Path tmp;

    @TestFactory
    Stream<DynamicTest> goldenCases()
    {
        return GoldenCases.all().stream().map(c -> DynamicTest.dynamicTest(c.name(), () -> check(c)));
    }

    @Test
    void shouldHaveOneCaseDirectoryPerTableEntryAndNothingElse() throws IOException
    {
        final List<String> names = GoldenCases.all().stream().map(GoldenCase::name).toList();
        assertThat(names).as("case names are unique").doesNotHaveDuplicates();
        assertThat(names).as("the brief asks for at least 25 cases").hasSizeGreaterThanOrEqualTo(25);
        final Set<String> dirs;
        try (Stream<Path> list = Files.list(GoldenCases.ROOT))
        {
            dirs = list.filter(Files::isDirectory).map(p -> p.getFileName().toString())
                .filter(n -> !n.equals(GoldenCases.CLUSTERS)).collect(Collectors.toCollection(TreeSet::new));
        }
        final Set<String> stray = new TreeSet<>(dirs);
        names.forEach(stray::remove);
        assertThat(stray).as("directories under %s with no case in GoldenPathCases/GoldenMalformedCases "
            + "(delete them, or add the case)", GoldenCases.ROOT).isEmpty();
    }

    @Test
    void shouldRegenerateOnlyCasesThatExist()
    {
        final Set<String> known = GoldenCases.all().stream().map(GoldenCase::name).collect(Collectors.toSet());
        final Set<String> asked = new HashSet<>(selected());
        asked.remove("all");
        asked.removeAll(known);
        assertThat(asked).as("-Dferry.golden.regenerate names unknown cases").isEmpty();
    }

    private static List<String> selected()
    {
        return REGENERATE.isEmpty() ? List.of() : Arrays.stream(REGENERATE.split(",")).map(String::trim).toList();
    }

    private static boolean regenerating(final GoldenCase c)
    {
        return selected().contains("all") || selected().contains(c.name());
    }

    private void check(final GoldenCase c) throws IOException
    {
        final Path dir = GoldenCases.ROOT.resolve(c.name());
        final Path work = Files.createDirectories(tmp.resolve(c.name()));
        final Path generated = work.resolve(IN);
        final Scenario s = new Scenario(ExampleScenarios.START);
        c.input().write(s);
        ScenarioCommand.write(generated, s.frames());
        if (regenerating(c))
        {
            regenerate(c, dir, generated, work);
            return;
        }
        for (final String f : List.of(IN, CLUSTER, EXPECTED, EXPECTED_COUNTERS))
        {
            assertThat(dir.resolve(f)).as("%s has no %s: run src/test/golden/regenerate.sh %s", dir, f, c.name())
                .exists();
        }
        assertThat(Files.readAllBytes(dir.resolve(IN))).as("%s/%s is what the generator makes today (if the "
            + "generator changed on purpose, run src/test/golden/regenerate.sh %s)", dir, IN, c.name())
            .isEqualTo(Files.readAllBytes(generated));
        assertThat(Files.readString(dir.resolve(CLUSTER))).as("%s/%s matches the case table", dir, CLUSTER)
            .isEqualTo(c.clusterFile());

        final Replayed r = replay(dir, work);
        final boolean samePcap = Arrays.equals(Files.readAllBytes(dir.resolve(EXPECTED)),
            Files.readAllBytes(r.pcap()));
        final List<String> expectedCounters = Files.readAllLines(dir.resolve(EXPECTED_COUNTERS));
        final List<String> actualCounters = Files.readAllLines(r.counters());
        if (samePcap && expectedCounters.equals(actualCounters))
        {
            return;
        }
        final StringBuilder why = new StringBuilder("golden case " + c.name() + " differs (" + c.description()
            + ")\n\n");
        if (!samePcap)
        {
            why.append("== output pcap\n").append(PcapDiff.explain(dir.resolve(EXPECTED), r.pcap())).append('\n');
        }
        if (!expectedCounters.equals(actualCounters))
        {
            why.append("== counters\n").append(LineDiff.unified(EXPECTED_COUNTERS, expectedCounters, "actual",
                actualCounters)).append('\n');
        }
        why.append("== ferry replay said\n").append(r.stdout()).append('\n');
        why.append("If the change is intended: src/test/golden/regenerate.sh ").append(c.name())
            .append(", then review git diff and commit the new expected files.\n");
        fail(why.toString());
    }

    private void regenerate(final GoldenCase c, final Path dir, final Path generated, final Path work)
        throws IOException
    {
        Files.createDirectories(dir);
        Files.copy(generated, dir.resolve(IN), StandardCopyOption.REPLACE_EXISTING);
        Files.writeString(dir.resolve(CLUSTER), c.clusterFile(), StandardCharsets.UTF_8);
        final Replayed r = replay(dir, work);
        Files.copy(r.pcap(), dir.resolve(EXPECTED), StandardCopyOption.REPLACE_EXISTING);
        Files.copy(r.counters(), dir.resolve(EXPECTED_COUNTERS), StandardCopyOption.REPLACE_EXISTING);
        System.out.println("golden: regenerated " + dir);
    }

    /** What one replay left behind. */
    private record Replayed(Path pcap, Path counters, String stdout)
    {
    }

    /** Runs {@code ferry replay} in process, with the cluster and node the case directory names. */
    private static Replayed replay(final Path dir, final Path work) throws IOException
    {
        final Properties p = new Properties();
        p.load(new StringReader(Files.readString(dir.resolve(CLUSTER))));
        final Path manifests = dir.resolve(p.getProperty("manifests")).normalize();
        final Path out = work.resolve("out.pcap");
        final Path counters = work.resolve("counters.txt");
        final StringWriter stdout = new StringWriter();
        final StringWriter stderr = new StringWriter();
        final int exit = Ferry.commandLine().setOut(new PrintWriter(stdout)).setErr(new PrintWriter(stderr))
            .execute("replay", "--cluster", manifests.toString(), "--node", p.getProperty("node"),
                "--in", dir.resolve(IN).toString(), "--out", out.toString(), "--counters", counters.toString());
        assertThat(exit).as("ferry replay exit status for %s; stderr:%n%s%nstdout:%n%s", dir, stderr, stdout)
            .isZero();
        return new Replayed(out, counters, stdout.toString());
    }
}
