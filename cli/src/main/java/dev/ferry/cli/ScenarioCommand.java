package dev.ferry.cli;

import dev.ferry.cli.scenario.ExampleScenarios;
import dev.ferry.cli.scenario.MixScenario;
import dev.ferry.cli.scenario.TimedFrame;
import dev.ferry.tapio.PcapWriter;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code ferry scenario}: writes the bundled example captures from the scenario generator, so that no
 * binary capture in the repository is edited by hand.
 */
@Command(name = "scenario", mixinStandardHelpOptions = true,
    description = {"Write the example captures (examples/two-node/*.pcap) from the scenario generator,",
        "or with --kind mix a long capture of many flows over a mix of paths (DIR/mix.pcap) for replay speed and",
        "conntrack scale tests."})
public final class ScenarioCommand implements Callable<Integer>
{
    @Spec
    private CommandSpec spec;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Directory to write into.")
    private Path out;

    @Option(names = "--kind", paramLabel = "example|mix", defaultValue = "example",
        description = "example: the bundled node-a capture; mix: many flows over every path "
            + "(default ${DEFAULT-VALUE}).")
    private String kind;

    @Option(names = "--frames", paramLabel = "N", defaultValue = "1000000",
        description = "mix: frames to write (default ${DEFAULT-VALUE}).")
    private long frames;

    @Option(names = "--flows", paramLabel = "N", defaultValue = "10000",
        description = "mix: concurrent flows, each about frames/flows frames long (default ${DEFAULT-VALUE}).")
    private int flows;

    @Option(names = "--seed", paramLabel = "N", defaultValue = "1",
        description = "mix: seed of path choice and interleaving; the same seed gives the same bytes.")
    private long seed;

    @Option(names = "--gap-ns", paramLabel = "NS", defaultValue = "1000",
        description = "mix: time between two timestamps in nanoseconds (default ${DEFAULT-VALUE}).")
    private long gapNanos;

    @Option(names = "--per-timestamp", paramLabel = "N", defaultValue = "1",
        description = "mix: consecutive frames sharing one timestamp (default ${DEFAULT-VALUE}); replay runs the "
            + "graph once per distinct timestamp.")
    private int perTimestamp;

    /** Creates the command (picocli). */
    public ScenarioCommand()
    {
    }

    @Override
    public Integer call() throws IOException
    {
        Files.createDirectories(out);
        if ("mix".equals(kind))
        {
            final Path file = out.resolve("mix.pcap");
            final long t0 = System.nanoTime();
            try
            {
                writeMix(file, new MixScenario(frames, flows, seed, gapNanos, perTimestamp));
            }
            catch (final IllegalArgumentException e)
            {
                throw new picocli.CommandLine.ParameterException(spec.commandLine(), e.getMessage());
            }
            spec.commandLine().getOut().printf("wrote %s (%d frames, %d flows, %.1f s)%n", file, frames, flows,
                (System.nanoTime() - t0) / 1e9);
            return 0;
        }
        if (!"example".equals(kind))
        {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(),
                "--kind must be example or mix, not '" + kind + "'");
        }
        final Path file = out.resolve("node-a.pcap");
        write(file, ExampleScenarios.nodeA());
        spec.commandLine().getOut().println("wrote " + file);
        return 0;
    }

    /**
     * Writes a mix capture to a nanosecond pcap, streaming.
     *
     * @param file     destination.
     * @param scenario the scenario.
     * @throws IOException when writing fails.
     */
    public static void writeMix(final Path file, final MixScenario scenario) throws IOException
    {
        try (PcapWriter w = PcapWriter.create(file))
        {
            scenario.generate((ns, path, frame) -> w.write(ns, frame));
        }
    }

    /**
     * Writes frames to a nanosecond pcap.
     *
     * @param file   destination.
     * @param frames the frames.
     * @throws IOException when writing fails.
     */
    public static void write(final Path file, final List<TimedFrame> frames) throws IOException
    {
        try (PcapWriter w = PcapWriter.create(file))
        {
            for (final TimedFrame f : frames)
            {
                w.write(f.epochNanos(), f.frame());
            }
        }
    }
}
