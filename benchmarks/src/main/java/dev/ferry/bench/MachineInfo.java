package dev.ferry.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Describes the machine a benchmark run happened on, for the {@code .machine.json} file that {@code run.sh}
 * writes beside each results file: CPU model, cores, JDK, kernel, memory, load average at the start. The
 * hostname is left out on purpose.
 *
 * <pre>
 *   java -cp benchmarks.jar dev.ferry.bench.MachineInfo OUT.machine.json [key=value ...]
 * </pre>
 *
 * <p>Extra {@code key=value} arguments (the git commit, the JMH arguments) are recorded as they are.
 */
public final class MachineInfo
{
    /** The fields that must match for two runs to be compared as the same machine. */
    public static final List<String> IDENTITY_KEYS = List.of("cpu", "cores", "jdk", "kernel");
    /** Suffix of the machine file beside a results file. */
    public static final String SUFFIX = ".machine.json";

    private MachineInfo()
    {
    }

    /**
     * Writes the description.
     *
     * @param args output file, then optional {@code key=value} pairs.
     * @throws IOException when the file cannot be written.
     */
    public static void main(final String[] args) throws IOException
    {
        if (args.length < 1)
        {
            System.err.println("usage: MachineInfo OUT.machine.json [key=value ...]");
            System.exit(2);
        }
        final Map<String, String> info = describe();
        for (int i = 1; i < args.length; i++)
        {
            final int eq = args[i].indexOf('=');
            if (eq > 0)
            {
                info.put(args[i].substring(0, eq), args[i].substring(eq + 1));
            }
        }
        final ObjectMapper mapper = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        final ObjectNode node = mapper.createObjectNode();
        info.forEach(node::put);
        mapper.writeValue(Path.of(args[0]).toFile(), node);
    }

    /** @return the description of this machine and JVM, in a stable key order. */
    public static Map<String, String> describe()
    {
        final Map<String, String> m = new LinkedHashMap<>();
        m.put("date", Instant.now().truncatedTo(ChronoUnit.SECONDS).toString());
        m.put("cpu", cpuModel());
        m.put("cores", Integer.toString(Runtime.getRuntime().availableProcessors()));
        m.put("jdk", System.getProperty("java.vendor") + " " + System.getProperty("java.runtime.version"));
        m.put("vm", System.getProperty("java.vm.name") + " " + System.getProperty("java.vm.version"));
        m.put("kernel", System.getProperty("os.version"));
        m.put("os", System.getProperty("os.name") + " " + System.getProperty("os.arch"));
        m.put("memoryKiB", procField(Path.of("/proc/meminfo"), "MemTotal").replace(" kB", ""));
        m.put("loadAverage", firstLine(Path.of("/proc/loadavg")));
        return m;
    }

    /**
     * Reads the machine file beside a results file ({@code X.json} → {@code X.machine.json}).
     *
     * @param results the results file.
     * @return its fields as text, or an empty map when there is none.
     * @throws IOException when the file exists but cannot be read.
     */
    public static Map<String, String> readBeside(final Path results) throws IOException
    {
        final String name = results.getFileName().toString();
        final String base = name.endsWith(".json") ? name.substring(0, name.length() - ".json".length()) : name;
        final Path file = results.resolveSibling(base + SUFFIX);
        final Map<String, String> out = new LinkedHashMap<>();
        if (!Files.isRegularFile(file))
        {
            return out;
        }
        final JsonNode root = new ObjectMapper().readTree(file.toFile());
        for (final Map.Entry<String, JsonNode> e : root.properties())
        {
            out.put(e.getKey(), e.getValue().asText());
        }
        return out;
    }

    private static String cpuModel()
    {
        final String model = procField(Path.of("/proc/cpuinfo"), "model name");
        return model.isEmpty() ? System.getProperty("os.arch") : model;
    }

    private static String procField(final Path file, final String field)
    {
        try
        {
            for (final String line : Files.readAllLines(file))
            {
                final int colon = line.indexOf(':');
                if (colon > 0 && line.substring(0, colon).trim().equals(field))
                {
                    return line.substring(colon + 1).trim();
                }
            }
        }
        catch (final IOException e)
        {
            return "";
        }
        return "";
    }

    private static String firstLine(final Path file)
    {
        try
        {
            final List<String> lines = Files.readAllLines(file);
            return lines.isEmpty() ? "" : lines.get(0).trim();
        }
        catch (final IOException e)
        {
            return "";
        }
    }
}
