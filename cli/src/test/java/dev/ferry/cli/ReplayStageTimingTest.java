package dev.ferry.cli;

import dev.ferry.agent.ManifestLoader;
import dev.ferry.agent.NodeTablesCompiler;
import dev.ferry.cli.replay.ReplayEngine;
import dev.ferry.cli.scenario.MixScenario;
import dev.ferry.cli.scenario.TimedFrame;
import dev.ferry.core.Graph;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.nat.Nat;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Replay without {@code --stats} runs the graph untimed ({@code Graph.timeStages(false)}): the same frames go out,
 * the same stages run the same packets, only the per-stage nanoseconds are not measured.
 */
class ReplayStageTimingTest
{
    private static final Path CLUSTER = Path.of(System.getProperty("user.dir")).getParent()
        .resolve("examples/two-node/cluster");

    private record Result(byte[] out, List<Graph.RuntimeRow> runtime)
    {
    }

    private static Result replay(final List<TimedFrame> frames, final boolean timed) throws Exception
    {
        final NodeTables tables = NodeTablesCompiler.compile(ManifestLoader.load(CLUSTER, n -> { }), "node-a", 1);
        final ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (ReplayEngine e = new ReplayEngine(tables, Nat.Balancing.RANDOM, (ns, port, m, off, len) ->
        {
            out.writeBytes(port.getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            out.writeBytes(m.asSlice(off, len).toArray(ValueLayout.JAVA_BYTE));
        }, 0, 0))
        {
            e.graph().timeStages(timed);
            for (final TimedFrame f : frames)
            {
                e.feed(f.epochNanos(), f.frame());
            }
            e.finish();
            return new Result(out.toByteArray(), e.graph().runtime());
        }
    }

    @Test
    void shouldSendTheSameFramesTimedOrNot() throws Exception
    {
        final List<TimedFrame> frames = new ArrayList<>();
        new MixScenario(3000, 60, 5, 1000, 1).generate((ns, p, f) -> frames.add(new TimedFrame(ns, f)));
        final Result timed = replay(frames, true);
        final Result untimed = replay(frames, false);
        assertThat(untimed.out()).isEqualTo(timed.out());
        assertThat(timed.out().length).isGreaterThan(3000 * 40);
        long timedNanos = 0;
        for (int i = 0; i < timed.runtime().size(); i++)
        {
            final Graph.RuntimeRow t = timed.runtime().get(i);
            final Graph.RuntimeRow u = untimed.runtime().get(i);
            assertThat(u.calls()).as(t.name()).isEqualTo(t.calls());
            assertThat(u.packets()).as(t.name()).isEqualTo(t.packets());
            assertThat(u.nanosPerPacket()).as(t.name()).isZero();
            timedNanos += (long)(t.nanosPerPacket() * t.packets());
        }
        assertThat(timedNanos).as("timed stages measure time").isPositive();
    }
}
