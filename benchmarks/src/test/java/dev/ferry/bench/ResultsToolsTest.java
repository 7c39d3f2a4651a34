package dev.ferry.bench;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

class ResultsToolsTest
{
    private static final String L3 = "dev.ferry.bench.L3GraphBenchmark.forward";

    @TempDir
    Path dir;

    @Test
    void shouldReadScoresParamsForksAndAllocationFromJmhJson() throws IOException
    {
        final Path file = new JmhJson()
            .add(L3, "frameSize=64", "avgt", 40.0, 2.0, 0.001, new double[] {41, 43}, new double[] {38, 38})
            .add("dev.ferry.bench.ChecksumBenchmark.ip4Header", "", "avgt", 6.5, Double.NaN, Double.NaN,
                new double[] {6.5})
            .write(dir.resolve("r.json"));

        final List<JmhResult> results = JmhResult.read(file);

        assertThat(results).hasSize(2);
        final JmhResult r = results.get(0);
        assertThat(r.key()).isEqualTo("L3GraphBenchmark.forward frameSize=64 [avgt]");
        assertThat(r.score()).isEqualTo(40.0);
        assertThat(r.error()).isEqualTo(2.0);
        assertThat(r.forkMeans()).containsExactly(42.0, 38.0);
        assertThat(JmhResult.median(r.forkMeans())).isEqualTo(40.0);
        assertThat(r.allocatedPerOp()).isEqualTo(0.001);
        assertThat(results.get(1).error()).as("JMH writes NaN as a string").isNaN();
        assertThat(results.get(1).allocatedPerOp()).as("no gc profiler").isNaN();
    }

    @Test
    void shouldPassWhenEveryHotPathBenchmarkAllocatesNothing() throws IOException
    {
        final Path file = new JmhJson()
            .add(L3, "frameSize=64", "avgt", 40.0, 2.0, 0.002, new double[] {40})
            .add("dev.ferry.bench.LpmBenchmark.lookup", "routes=1000", "avgt", 2.0, 0.1, 0.0, new double[] {2})
            .write(dir.resolve("ok.json"));
        final ByteArrayOutputStream out = new ByteArrayOutputStream();

        final int code = AllocationCheck.run(file, new PrintStream(out, true, StandardCharsets.UTF_8), System.err);

        assertThat(code).isZero();
        assertThat(out.toString(StandardCharsets.UTF_8)).contains("all 2 benchmark(s) pass");
    }

    @Test
    void shouldFailNamingTheBenchmarksThatAllocateOrWereRunWithoutTheGcProfiler() throws IOException
    {
        final Path file = new JmhJson()
            .add(L3, "frameSize=64", "avgt", 40.0, 2.0, 24.0, new double[] {40})
            .add("dev.ferry.bench.LpmBenchmark.lookup", "routes=1000", "avgt", 2.0, 0.1, Double.NaN,
                new double[] {2})
            .add("dev.ferry.bench.ChecksumBenchmark.ip4Header", "", "avgt", 6.0, 0.1, 0.0, new double[] {6})
            .add("dev.ferry.bench.FibCompileBenchmark.controlCompile", "", "avgt", 9e6, 1e5, 5e6, new double[] {9e6})
            .write(dir.resolve("bad.json"));
        final ByteArrayOutputStream err = new ByteArrayOutputStream();

        final int code = AllocationCheck.run(file, System.out, new PrintStream(err, true, StandardCharsets.UTF_8));

        assertThat(code).isEqualTo(1);
        final String text = err.toString(StandardCharsets.UTF_8);
        assertThat(text).contains("2 hot-path benchmark(s) allocate")
            .contains("L3GraphBenchmark.forward frameSize=64 [avgt]: 24.000 B/op allocated")
            .contains("LpmBenchmark.lookup routes=1000 [avgt]: no gc.alloc.rate.norm (run with -prof gc)")
            .doesNotContain("ChecksumBenchmark")
            .as("control-plane benchmarks are exempt").doesNotContain("controlCompile");
    }

    @Test
    void shouldExitTwoOnAnEmptyOrMissingResultsFile() throws IOException
    {
        final Path empty = Files.writeString(dir.resolve("empty.json"), "[]");
        final PrintStream quiet = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);

        assertThat(AllocationCheck.run(empty, quiet, quiet)).isEqualTo(2);
        assertThat(AllocationCheck.run(dir.resolve("missing.json"), quiet, quiet)).isEqualTo(2);
    }

    @Test
    void shouldFlagAChangeOnlyWhenTheRatioLeavesTheCombinedErrorBar() throws IOException
    {
        final JmhResult old = result(40.0, 1.0, "avgt");

        final Compare.Row faster = Compare.row(old, result(30.0, 1.0, "avgt"));
        assertThat(faster.ratio()).isCloseTo(0.75, within(1e-9));
        // 0.75 * sqrt((1/40)^2 + (1/30)^2)
        assertThat(faster.ratioError()).isCloseTo(0.75 * Math.sqrt(1 / 1600.0 + 1 / 900.0), within(1e-9));
        assertThat(faster.verdict()).isEqualTo("better");

        assertThat(Compare.row(old, result(41.0, 1.5, "avgt")).verdict()).as("within noise").isEqualTo("~");
        assertThat(Compare.row(old, result(50.0, 1.0, "avgt")).verdict()).isEqualTo("WORSE");
        assertThat(Compare.row(result(10.0, 0.1, "thrpt"), result(12.0, 0.1, "thrpt")).verdict())
            .as("throughput: higher is better").isEqualTo("better");
        assertThat(Compare.row(old, result(30.0, Double.NaN, "avgt")).verdict()).as("no error bar").isEqualTo("?");
    }

    @Test
    void shouldPrintOneRowPerBenchmarkAndWarnWhenTheMachinesDiffer() throws IOException
    {
        final Path oldFile = new JmhJson()
            .add(L3, "frameSize=64", "avgt", 40.0, 1.0, 0.0, new double[] {40})
            .add(L3, "frameSize=1500", "avgt", 80.0, 1.0, 0.0, new double[] {80})
            .write(dir.resolve("old.json"));
        final Path newFile = new JmhJson()
            .add(L3, "frameSize=64", "avgt", 30.0, 1.0, 0.0, new double[] {30})
            .add("dev.ferry.bench.LpmBenchmark.lookup", "routes=1000", "avgt", 2.0, 0.1, 0.0, new double[] {2})
            .write(dir.resolve("new.json"));
        Files.writeString(dir.resolve("old.machine.json"), "{\"cpu\":\"A\",\"cores\":\"2\",\"jdk\":\"25\",\"kernel\":\"6\"}");
        Files.writeString(dir.resolve("new.machine.json"), "{\"cpu\":\"B\",\"cores\":\"2\",\"jdk\":\"25\",\"kernel\":\"6\"}");
        final ByteArrayOutputStream out = new ByteArrayOutputStream();

        Compare.run(oldFile, newFile, new PrintStream(out, true, StandardCharsets.UTF_8));

        final String text = out.toString(StandardCharsets.UTF_8);
        assertThat(text).contains("WARNING: cpu differs: 'A' vs 'B'");
        assertThat(text.lines().filter(l -> l.startsWith("L3GraphBenchmark.forward frameSize=64 ")).findFirst())
            .hasValueSatisfying(l -> assertThat(l).contains("40.000 ± 1.000", "30.000 ± 1.000", "0.750 ± ", "better"));
        assertThat(text).containsPattern("LpmBenchmark.lookup routes=1000 \\[avgt\\].* new")
            .containsPattern("L3GraphBenchmark.forward frameSize=1500 \\[avgt\\].* gone");
    }

    @Test
    void shouldDescribeTheMachineWithoutItsHostname()
    {
        final var info = MachineInfo.describe();

        assertThat(info).containsKeys("cpu", "cores", "jdk", "kernel", "loadAverage");
        assertThat(info.get("cores")).isEqualTo(Integer.toString(Runtime.getRuntime().availableProcessors()));
        assertThat(info.get("kernel")).isEqualTo(System.getProperty("os.version"));
        assertThat(info.keySet()).noneMatch(k -> k.toLowerCase(java.util.Locale.ROOT).contains("host"));
    }

    private static JmhResult result(final double score, final double error, final String mode)
    {
        return new JmhResult(L3, mode, java.util.Map.of(), score, error, "ns/op", List.of(List.of(score)),
            java.util.Map.of());
    }
}
