package dev.ferry.node;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

import static org.assertj.core.api.Assertions.assertThat;

/** Rate-limited warnings, and the node logging its features' lines (masquerade port exhaustion) through them. */
class LogLimiterTest
{
    private static final long MINUTE = 60_000_000_000L;

    @TempDir
    Path dir;

    /** Collects what a logger writes. */
    private static final class Capture extends Handler
    {
        final List<String> lines = new CopyOnWriteArrayList<>();

        @Override
        public void publish(final LogRecord r)
        {
            lines.add(r.getLevel() + " " + r.getMessage());
        }

        @Override
        public void flush()
        {
        }

        @Override
        public void close()
        {
        }
    }

    @Test
    void shouldLogTheFirstLinesOfAWindowAndCountTheRest()
    {
        final Logger log = Logger.getLogger("dev.ferry.node.test.limiter");
        log.setUseParentHandlers(false);
        final Capture capture = new Capture();
        log.addHandler(capture);
        try
        {
            final LogLimiter limiter = new LogLimiter(log, 3, MINUTE, 0);
            final List<Boolean> logged = new ArrayList<>();
            for (int i = 0; i < 5; i++)
            {
                logged.add(limiter.warn(1_000 + i, "line " + i));
            }
            limiter.roll(MINUTE - 1);
            assertThat(logged).containsExactly(true, true, true, false, false);
            assertThat(capture.lines).containsExactly("WARNING line 0", "WARNING line 1", "WARNING line 2");

            assertThat(limiter.warn(MINUTE, "line 5")).as("a new window").isTrue();
            assertThat(capture.lines).containsExactly("WARNING line 0", "WARNING line 1", "WARNING line 2",
                "WARNING 2 more such warnings suppressed in the last 60 s (at most 3 per window are logged)",
                "WARNING line 5");
            limiter.roll(3 * MINUTE);
            assertThat(capture.lines).as("nothing suppressed, nothing to report").hasSize(5);
        }
        finally
        {
            log.removeHandler(capture);
        }
    }

    @Test
    void shouldLogTheLinesAFeatureRecordsTenAMinute() throws Exception
    {
        final AtomicInteger drains = new AtomicInteger();
        final NodeFeature exhausting = new NodeFeature()
        {
            @Override
            public String name()
            {
                return "exhausting";
            }

            @Override
            public List<String> drainLog()
            {
                final List<String> lines = new ArrayList<>();
                if (drains.getAndIncrement() == 0)
                {
                    for (int i = 0; i < 15; i++)
                    {
                        lines.add("masquerade source ports exhausted toward TCP 198.51.100." + i + ":443");
                    }
                }
                return lines;
            }
        };
        final Logger log = Logger.getLogger("dev.ferry.node");
        final Capture capture = new Capture();
        log.addHandler(capture);
        try (NodeFixture node = new NodeFixture(dir, ThreadingMode.SHARED, NodeFixture.basic(1),
            NodeConfig.METRICS_OFF, exhausting))
        {
            assertThat(node.daemon.generation()).isEqualTo(1);
            // housekeeping logs one drain's lines before it drains again: a second drain means all 15 were seen
            NodeFixture.await("the control side drains the feature's log twice", () -> drains.get() >= 2,
                Duration.ofSeconds(10));
            assertThat(exhaustion(capture)).as("the other five are held back this minute").hasSize(10)
                .allMatch(l -> l.startsWith("WARNING masquerade source ports exhausted toward TCP 198.51.100."));
        }
        finally
        {
            log.removeHandler(capture);
        }
    }

    private static List<String> exhaustion(final Capture capture)
    {
        return capture.lines.stream().filter(l -> l.contains("ports exhausted")).toList();
    }
}
