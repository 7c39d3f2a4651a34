package dev.ferry.cli;

import dev.ferry.agent.ClusterState;
import dev.ferry.agent.ManifestLoader;
import dev.ferry.agent.NodeTablesCompiler;
import dev.ferry.cli.replay.ClusterReplay;
import dev.ferry.cli.replay.Progress;
import dev.ferry.cli.replay.ReplayEngine;
import dev.ferry.conntrack.ConntrackEntry;
import dev.ferry.core.DropReason;
import dev.ferry.core.Graph;
import dev.ferry.core.Stage;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.nat.Nat;
import dev.ferry.node.ServicesFeature;
import dev.ferry.tapio.BpfFilter;
import dev.ferry.tapio.PcapFormatException;
import dev.ferry.tapio.PcapReader;
import dev.ferry.tapio.PcapWriter;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;

/**
 * {@code ferry replay}: runs a capture through one node's full graph, deterministically, and writes every
 * transmitted frame to a pcap.
 */
@Command(name = "replay", mixinStandardHelpOptions = true,
    description = {"Replay a capture through one node's graph (no root needed).",
        "Each frame enters on the port of the local pod whose IP is its source, else on the uplink.",
        "Every transmitted frame goes to OUT in order; the same inputs give byte-identical output.",
        "Without --node, every node runs: frames enter at the node owning their source (or the one they are "
            + "addressed to), nodes reach each other through an underlay, and OUT (pcapng) holds every frame that "
            + "leaves to a pod, a host port or the outside."})
public final class ReplayCommand implements Callable<Integer>
{
    @Spec
    private CommandSpec spec;

    @Option(names = "--cluster", required = true, paramLabel = "DIR",
        description = "Directory of Kubernetes manifests (YAML, multi-document, kubectl List dumps).")
    private Path cluster;

    @Option(names = "--node", paramLabel = "NAME",
        description = "The node to run. Without it, every node of the cluster runs (whole-cluster replay): OUT is "
            + "pcapng with one interface per node port.")
    private String node;

    @Option(names = "--in", required = true, paramLabel = "IN", description = "Input capture (pcap or pcapng).")
    private Path in;

    @Option(names = "--out", required = true, paramLabel = "OUT.pcap", description = "Output capture.")
    private Path out;

    @Option(names = "--trace", paramLabel = "N", defaultValue = "0",
        description = "Print the full trace of the first N packets.")
    private int trace;

    @Option(names = "--fates", paramLabel = "N", defaultValue = "50",
        description = "Print the fate of the first N frames (default ${DEFAULT-VALUE}).")
    private int fates;

    @Option(names = "--stats", description = "Print every non-zero counter and the per-stage runtime.")
    private boolean stats;

    @Option(names = "--micro", description = "Write a microsecond pcap (default: nanosecond).")
    private boolean micro;

    @Option(names = "--conntrack-dump", paramLabel = "FILE",
        description = "Write the connection-tracking table at the end, conntrack -L style.")
    private Path conntrackDump;

    @Option(names = "--lb", paramLabel = "random|maglev", defaultValue = "random",
        description = "Endpoint choice for new Service flows (default ${DEFAULT-VALUE}).")
    private String lb;

    @Option(names = "--show-services", description = "Print the Service table, ipvsadm -Ln style.")
    private boolean showServices;

    @Option(names = "--filter", paramLabel = "EXPR",
        description = "Replay only the input frames that match this tcpdump filter expression, e.g. 'tcp port 80' "
            + "(libpcap compiles it: needs the Debian package libpcap0.8; nothing else in replay does).")
    private String filterExpression;

    @Option(names = "--quiet", description = "No progress line (otherwise shown on stderr when it is a terminal "
        + "and the run takes over 2 s).")
    private boolean quiet;

    @Option(names = "--debug", description = "On an error, print the stack trace after the message.")
    private boolean debug;

    @Option(names = "--counters", paramLabel = "FILE",
        description = "Write the non-zero counters (timings left out), frames sent per port and the drop table "
            + "as sorted text: the same input always gives the same file (golden replay cases compare it).")
    private Path countersFile;

    /** Creates the command (picocli). */
    public ReplayCommand()
    {
    }

    @Override
    public Integer call() throws Exception
    {
        checkNotSameFile(in, out);
        final Nat.Balancing balancing = switch (lb)
        {
            case "random" -> Nat.Balancing.RANDOM;
            case "maglev" -> Nat.Balancing.MAGLEV;
            default -> throw new picocli.CommandLine.ParameterException(spec.commandLine(),
                "--lb must be random or maglev, not '" + lb + "'");
        };
        final BpfFilter filter;
        try
        {
            filter = filterExpression == null ? null : BpfFilter.compile(filterExpression);
        }
        catch (final IllegalArgumentException e)
        {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(), e.getMessage());
        }
        final PrintWriter o = spec.commandLine().getOut();
        // an object the compiler cannot use is left out with a warning, as the agent leaves it out of a push
        final java.util.Set<String> warned = new java.util.LinkedHashSet<>();
        final java.util.function.Consumer<NodeTablesCompiler.Skipped> skip = s ->
        {
            if (warned.add(s.message()))
            {
                spec.commandLine().getErr().println("warning: skipping " + s.kind() + " (" + s.reason() + "): "
                    + s.message());
            }
        };
        final ClusterState state = ManifestLoader.load(cluster, note -> spec.commandLine().getErr()
            .println("note: " + note), skip);
        if (node == null)
        {
            refuseInClusterMode();
            return writeSafely(file -> replayClusterInto(file, state, balancing, filter, skip, o));
        }
        final NodeTables tables = NodeTablesCompiler.compile(state, node, 1, skip);
        o.printf("ferry replay: node %s (%d pods, %d other nodes, %d Services)%n", node, tables.pods().size(),
            tables.remoteNodes().size(), tables.services().size());

        return writeSafely(file -> replayInto(file, tables, balancing, filter, o));
    }

    /** Writes OUT through {@code run}. */
    @FunctionalInterface
    private interface Run
    {
        PcapFormatException into(Path file) throws IOException;
    }

    /** Runs into a temporary file beside OUT, renamed over it only when the run succeeds. */
    private int writeSafely(final Run run) throws IOException
    {
        final Path target = out.toAbsolutePath();
        final Path dir = target.getParent();
        // written beside OUT and renamed over it only when the run succeeds: a failed run leaves OUT as it was
        final Path temp = Files.createTempFile(dir, "." + target.getFileName() + ".", ".part");
        keepPermissions(target, temp);
        boolean done = false;
        try
        {
            final PcapFormatException fault = run.into(temp);
            Files.move(temp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            done = true;
            if (fault != null)
            {
                spec.commandLine().getErr().println("ferry replay: " + fault.getMessage()
                    + " (the frames before it were replayed and written to " + out + ")");
                return 1;
            }
            return 0;
        }
        finally
        {
            if (!done)
            {
                Files.deleteIfExists(temp);
            }
        }
    }

    /** Takes each frame that passes the filter (a node's engine, or the whole cluster). */
    @FunctionalInterface
    private interface FrameFeed
    {
        void feed(long epochNanos, byte[] frame, int length);
    }

    /**
     * Reads every frame of IN into {@code feed}, leaving out those the filter does not match, with the progress
     * line; says how many the filter left out.
     *
     * @return the fault that cut the capture short, or null.
     */
    private PcapFormatException feedAll(final PcapReader reader, final BpfFilter filter, final FrameFeed feed,
        final PrintWriter o) throws IOException
    {
        final Progress progress = new Progress(spec.commandLine().getErr(), System::nanoTime,
            !quiet && Progress.stderrIsTerminal());
        long read = 0;
        long filtered = 0;
        PcapFormatException fault = null;
        try
        {
            while (reader.next())
            {
                progress.update(++read, reader.position(), reader.size());
                if (filter != null && !filter.matches(reader.buffer(), reader.capturedLength()))
                {
                    filtered++;
                    continue;
                }
                feed.feed(reader.timestampNanos(), reader.buffer(), reader.capturedLength());
            }
        }
        catch (final PcapFormatException e)
        {
            fault = e;
        }
        progress.finish();
        if (filter != null)
        {
            o.printf("--filter '%s': %d frames did not match and were left out%n", filter.expression(), filtered);
        }
        return fault;
    }

    /** Replays IN through the node's graph into {@code file}; returns the capture's fault, if any. */
    private PcapFormatException replayInto(final Path file, final NodeTables tables, final Nat.Balancing balancing,
        final BpfFilter filter, final PrintWriter o) throws IOException
    {
        PcapFormatException fault = null;
        final int sampled = Math.max(trace, fates);
        try (PcapReader reader = PcapReader.open(in);
            PcapWriter writer = PcapWriter.create(file, micro ? PcapWriter.Precision.MICRO
                : PcapWriter.Precision.NANO))
        {
            // frames per port are counted by the engine, by port id: nothing per frame here but the write
            final ReplayEngine.Output output = (ns, port, mem, off, len) -> writer.write(ns, mem, off, len);
            try (ReplayEngine engine = new ReplayEngine(tables, balancing, output, sampled, 0))
            {
                // stage timings are only printed by --stats (never in --counters): untimed, a run per timestamp is
                // cheaper
                engine.graph().timeStages(stats);
                fault = feedAll(reader, filter, engine::feed, o);
                engine.finish();
                report(o, engine);
                if (showServices)
                {
                    o.println();
                    o.println("Services:");
                    engine.nodeGraph().show("services").forEach(o::println);
                }
                for (final String line : engine.nodeGraph().drainLog())
                {
                    spec.commandLine().getErr().println("ferry replay: " + line);
                }
                if (countersFile != null)
                {
                    writeCounters(engine, engine.sentPerPort());
                }
                if (conntrackDump != null)
                {
                    try (java.io.Writer w = java.nio.file.Files.newBufferedWriter(conntrackDump))
                    {
                        final ServicesFeature services = engine.nodeGraph().feature(ServicesFeature.class);
                        final List<ConntrackEntry> entries = new ArrayList<>();
                        for (int from = 0; from >= 0; entries.clear())
                        {
                            from = services.copyConntrack(from, 4096, entries);
                            for (final ConntrackEntry e : entries)
                            {
                                w.write(e.format());
                                w.write('\n');
                            }
                        }
                    }
                    o.println("conntrack table written to " + conntrackDump);
                }
                o.flush();
            }
        }
        return fault;
    }

    /** Options of single-node replay that whole-cluster replay does not have: a usage error (exit 2). */
    private void refuseInClusterMode()
    {
        final List<String> refused = new ArrayList<>();
        if (trace > 0)
        {
            refused.add("--trace");
        }
        if (conntrackDump != null)
        {
            refused.add("--conntrack-dump");
        }
        if (showServices)
        {
            refused.add("--show-services");
        }
        if (countersFile != null)
        {
            refused.add("--counters");
        }
        if (micro)
        {
            refused.add("--micro");
        }
        if (!refused.isEmpty())
        {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(), String.join(", ", refused)
                + " need --node (whole-cluster replay writes nanosecond pcapng and prints per-node reports)");
        }
    }

    /** Replays IN through every node of the cluster into {@code file} (pcapng); returns the capture's fault. */
    private PcapFormatException replayClusterInto(final Path file, final ClusterState state,
        final Nat.Balancing balancing, final BpfFilter filter,
        final java.util.function.Consumer<NodeTablesCompiler.Skipped> skip, final PrintWriter o) throws IOException
    {
        PcapFormatException fault = null;
        // pcapng interface of each node's port; the names passed are the members' and ports' own strings, so the
        // lookup allocates nothing per frame
        final Map<String, Map<String, Integer>> ifaceOf = new java.util.HashMap<>();
        final long[][] sent = new long[1][];
        final PcapWriter[] writer = new PcapWriter[1];
        final ClusterReplay.Output output = (ns, n, port, mem, off, len) ->
        {
            final int iface = ifaceOf.get(n).get(port);
            sent[0][iface]++;
            writer[0].write(ns, iface, mem, off, len);
        };
        try (PcapReader reader = PcapReader.open(in);
            // every node's compile reports its skipped objects (the warned set drops repeats)
            ClusterReplay replay = new ClusterReplay(state, balancing, output, fates, 0, skip))
        {
            final List<String> names = new ArrayList<>();
            for (final ClusterReplay.Member m : replay.members())
            {
                final Map<String, Integer> own = ifaceOf.computeIfAbsent(m.name(), k -> new java.util.HashMap<>());
                final List<String> ports = new ArrayList<>(List.of(ReplayEngine.UPLINK, ReplayEngine.HOST));
                m.tables().pods().forEach(p -> ports.add(p.portName()));
                for (final String port : ports)
                {
                    own.put(port, names.size());
                    names.add(m.name() + "/" + port);
                }
            }
            sent[0] = new long[names.size()];
            o.printf("ferry replay: whole cluster, %d nodes (%s)%n", replay.members().size(), String.join(", ",
                replay.members().stream().map(m -> m.name() + " " + m.tables().pods().size() + " pods").toList()));
            try (PcapWriter w = PcapWriter.createPcapng(file, names))
            {
                writer[0] = w;
                fault = feedAll(reader, filter, replay::feed, o);
                replay.finish();
            }
            final Map<String, Long> sentPerPort = new TreeMap<>();
            for (int i = 0; i < names.size(); i++)
            {
                if (sent[0][i] > 0)
                {
                    sentPerPort.put(names.get(i), sent[0][i]);
                }
            }
            clusterReport(o, replay, sentPerPort);
        }
        return fault;
    }

    private void clusterReport(final PrintWriter o, final ClusterReplay replay, final Map<String, Long> sentPerPort)
    {
        final List<String> fateLines = replay.fates();
        if (fates > 0 && !fateLines.isEmpty())
        {
            o.println();
            o.println("Frames (#input.underlay-hop, the node it entered, what it was, where it ended):");
            fateLines.forEach(o::println);
            if (replay.framesIn() > fates)
            {
                o.printf("      ... %d more input frames (use --fates N)%n", replay.framesIn() - fates);
            }
        }
        o.println();
        final long written = sentPerPort.values().stream().mapToLong(Long::longValue).sum();
        o.printf("%d frames in, %d through the underlay, %d frames out, written to %s%n", replay.framesIn(),
            replay.underlayFrames(), written, out);
        if (replay.unrouted() > 0)
        {
            o.printf("%d frames from outside the cluster were addressed to no node and not replayed%n",
                replay.unrouted());
        }
        if (replay.cascadeDrops() > 0)
        {
            o.printf("%d underlay frames dropped: one input frame caused more than %d (a loop)%n",
                replay.cascadeDrops(), ClusterReplay.MAX_CASCADE);
        }
        for (final ClusterReplay.Member m : replay.members())
        {
            final ReplayEngine e = m.engine();
            o.println();
            final Map<String, Long> own = new TreeMap<>();
            sentPerPort.forEach((port, n) ->
            {
                if (port.startsWith(m.name() + "/"))
                {
                    own.put(port, n);
                }
            });
            final long toOthers = e.framesOut() - own.values().stream().mapToLong(Long::longValue).sum();
            o.printf("Node %s: %d frames in, %d frames out (%d of them to other nodes through the underlay)%n",
                m.name(), e.framesIn(), e.framesOut(), toOthers);
            own.forEach((port, n) -> o.printf("  %-28s %d frames%n", port, n));
            final List<String> drops = e.dropReport();
            o.println(drops.isEmpty() ? "  Drops: none" : "  Drops:");
            drops.forEach(d -> o.println("    " + d));
            if (stats)
            {
                o.println("  Runtime:");
                e.runtimeReport().forEach(l -> o.println("    " + l));
            }
            for (final String line : e.nodeGraph().drainLog())
            {
                spec.commandLine().getErr().println("ferry replay: " + m.name() + ": " + line);
            }
        }
        o.flush();
    }

    /** Gives the temporary file OUT's permissions, or rw-r--r-- for a new OUT (createTempFile makes it 0600). */
    private static void keepPermissions(final Path target, final Path temp) throws IOException
    {
        if (!(temp.getFileSystem().supportedFileAttributeViews().contains("posix")))
        {
            return;
        }
        Files.setPosixFilePermissions(temp, Files.exists(target) ? Files.getPosixFilePermissions(target)
            : java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
    }

    /** Refuses --in and --out naming the same file, also through links or relative paths. */
    private void checkNotSameFile(final Path input, final Path output) throws IOException
    {
        final boolean same = Files.exists(output) ? Files.isSameFile(input, output)
            : input.toAbsolutePath().normalize().equals(output.toAbsolutePath().normalize());
        if (same)
        {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(),
                "--in and --out name the same file (" + input + "); replay would overwrite its input");
        }
    }

    /** Counters as "name value" lines, then the drop table: sorted and free of timings, so it is reproducible. */
    private void writeCounters(final ReplayEngine engine, final Map<String, Long> sentPerPort) throws IOException
    {
        final Map<String, Long> all = new TreeMap<>(engine.counters().snapshot());
        sentPerPort.forEach((port, n) -> all.put("port/" + port + "/tx-frames", n));
        all.put("replay/pool-exhausted", engine.poolExhausted());
        all.put("replay/oversize-frames", engine.oversizeFrames());
        final StringBuilder sb = new StringBuilder("# counters: non-zero, timings (*/ns) left out\n");
        all.forEach((name, v) ->
        {
            if (v != 0 && !name.endsWith("/ns"))
            {
                sb.append(name).append(' ').append(v).append('\n');
            }
        });
        final List<String> drops = new ArrayList<>();
        for (final Stage s : engine.graph().stages())
        {
            for (final DropReason r : s.dropReasons())
            {
                dropLine(drops, all, s.name(), "stage/" + s.name() + "/drop/", r);
            }
        }
        for (final Graph.GraphDrop r : Graph.GraphDrop.values())
        {
            dropLine(drops, all, "graph", "graph/drop/", r);
        }
        Collections.sort(drops);
        sb.append("\n# drops: stage, reason, count, sentence\n");
        drops.forEach(sb::append);
        Files.writeString(countersFile, sb.toString(), StandardCharsets.UTF_8);
    }

    private static void dropLine(final List<String> drops, final Map<String, Long> all, final String stage,
        final String prefix, final DropReason r)
    {
        final long v = all.getOrDefault(prefix + r.counterName(), 0L);
        if (v != 0)
        {
            drops.add(String.format(Locale.ROOT, "%-20s %-32s %6d  %s\n", stage, r.counterName(), v, r.sentence()));
        }
    }

    private void report(final PrintWriter o, final ReplayEngine engine)
    {
        final List<String> fateLines = engine.fates();
        if (fates > 0 && !fateLines.isEmpty())
        {
            o.println();
            o.println("Frames:");
            fateLines.stream().limit(fates).forEach(o::println);
            if (engine.framesIn() > fates)
            {
                o.printf("      ... %d more frames (use --fates N)%n", engine.framesIn() - fates);
            }
        }
        o.println();
        o.printf("%d frames in, %d frames out, written to %s%n", engine.framesIn(), engine.framesOut(), out);
        final List<String> drops = engine.dropReport();
        o.println();
        o.println(drops.isEmpty() ? "Drops: none" : "Drops:");
        drops.forEach(d -> o.println("  " + d));
        if (stats)
        {
            o.println();
            o.println("Runtime:");
            engine.runtimeReport().forEach(l -> o.println("  " + l));
            o.println();
            o.println("Counters:");
            for (final Map.Entry<String, Long> c : engine.counters().snapshot().entrySet())
            {
                if (c.getValue() != 0 && !c.getKey().endsWith("/ns"))
                {
                    o.printf("  %-60s %d%n", c.getKey(), c.getValue());
                }
            }
        }
        if (trace > 0)
        {
            o.println();
            o.println("Trace:");
            final List<String> lines = engine.graph().formatTrace();
            int packets = 0;
            for (final String l : lines)
            {
                if (l.startsWith("Packet ") && ++packets > trace)
                {
                    break;
                }
                o.println(l);
            }
        }
        o.flush();
    }
}
