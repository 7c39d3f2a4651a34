package dev.ferry.cli;

import dev.ferry.cli.scenario.ExampleScenarios;
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
    description = "Write the example captures (examples/two-node/*.pcap) from the scenario generator.")
public final class ScenarioCommand implements Callable<Integer>
{
    @Spec
    private CommandSpec spec;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Directory to write into.")
    private Path out;

    /** Creates the command (picocli). */
    public ScenarioCommand()
    {
    }

    @Override
    public Integer call() throws IOException
    {
        Files.createDirectories(out);
        final Path file = out.resolve("node-a.pcap");
        write(file, ExampleScenarios.nodeA());
        spec.commandLine().getOut().println("wrote " + file);
        return 0;
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
