package dev.ferry.node;

import dev.ferry.core.DropReason;
import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;
import dev.ferry.core.Stage;
import dev.ferry.tapio.MemoryPort;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

import static dev.ferry.node.NodeFixture.POD_A;
import static dev.ferry.node.NodeFixture.POD_B;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 13, class 1: a stage that throws inside a running node. A feature wires in a stage that throws whenever a
 * vector holds the poisoned frame (sequence number 5). The node drops what the stage still held under
 * {@code graph/drop/stage-exception}, logs the exception from the control thread, keeps forwarding, and leaks no
 * buffer (the fixture checks on close).
 */
class StageFaultTest
{
    private static final Duration TIMEOUT = Duration.ofSeconds(10);
    private static final int POISON = 5;

    @TempDir
    Path dir;

    @Test
    void shouldKeepForwardingAfterAStageThrows() throws Exception
    {
        final List<String> warnings = new CopyOnWriteArrayList<>();
        final Handler capture = new Handler()
        {
            @Override
            public void publish(final LogRecord r)
            {
                warnings.add(r.getMessage());
            }

            @Override
            public void flush()
            {
            }

            @Override
            public void close()
            {
            }
        };
        final Logger log = Logger.getLogger("dev.ferry.node");
        log.addHandler(capture);
        try (NodeFixture node = new NodeFixture(dir, ThreadingMode.DEDICATED, NodeFixture.basic(1),
            NodeConfig.METRICS_OFF, new Poisoned()))
        {
            node.daemon.attach(NodeFixture.attachRequest("ca", POD_A)).get();
            node.daemon.attach(NodeFixture.attachRequest("cb", POD_B)).get();
            final MemoryPortView a = node.ports.port("tap0af40102");
            final MemoryPortView b = node.ports.port("tap0af40103");
            final List<Integer> received = new CopyOnWriteArrayList<>();
            for (int seq = 0; seq < 10; seq++)
            {
                a.enqueue(NodeFixture.udp(POD_A, POD_B, seq));
                final int n = seq;
                if (seq == POISON)
                {
                    try
                    {
                        NodeFixture.await("the poisoned frame dropped", () -> stat(node, "stage-exception") == 1,
                            TIMEOUT);
                    }
                    catch (final AssertionError e)
                    {
                        throw new AssertionError(e.getMessage() + "; show stats:\n"
                            + String.join("\n", node.daemon.show("stats").get()) + "\nlog: " + warnings, e);
                    }
                }
                else
                {
                    NodeFixture.await("frame " + seq + " forwarded", () -> b.txPackets() == (n < POISON ? n + 1 : n),
                        TIMEOUT);
                }
            }
            assertThat(b.txPackets()).as("every frame but the poisoned one forwarded, before and after").isEqualTo(9);
            assertThat(stat(node, "stage-exception")).as("the poisoned frame, counted").isEqualTo(1);
            NodeFixture.await("the exception logged by the control side", () -> warnings.stream()
                .anyMatch(w -> w.contains("stage poisoned threw") && w.contains("poisoned frame")), TIMEOUT);
        }
        finally
        {
            log.removeHandler(capture);
        }
    }

    /** The count {@code show stats} prints for a drop counter whose line names {@code reason}, or 0. */
    private static long stat(final NodeFixture node, final String reason)
    {
        try
        {
            for (final String line : node.daemon.show("stats").get())
            {
                if (line.contains(" " + reason + ":"))
                {
                    return Long.parseLong(line.trim().split("\\s+")[0]);
                }
            }
            return 0;
        }
        catch (final Exception e)
        {
            throw new AssertionError(e);
        }
    }

    /** A feature with one stage before ip4-lookup that throws on a vector holding the poisoned frame. */
    private static final class Poisoned implements NodeFeature
    {
        @Override
        public String name()
        {
            return "poisoned";
        }

        @Override
        public int order()
        {
            return 5; // first after ip4-input (Services lead to ip4-lookup by name, so nothing may follow them)
        }

        @Override
        public List<Stage> beforeLookup(final Context context, final String next)
        {
            final PacketPool pool = context.pool();
            return List.of(new Stage()
            {
                @Override
                public String name()
                {
                    return "poisoned";
                }

                @Override
                public List<String> nextNames()
                {
                    return List.of(next);
                }

                @Override
                public List<? extends DropReason> dropReasons()
                {
                    return List.of();
                }

                @Override
                public void process(final PacketVector in, final Next out)
                {
                    for (int i = 0; i < in.count(); i++)
                    {
                        final int h = in.get(i);
                        final byte[] f = pool.toArray(h);
                        if (NodeFixture.seqOf(f) == POISON)
                        {
                            throw new IllegalStateException("poisoned frame");
                        }
                        out.next(h, 0);
                    }
                }
            });
        }
    }
}
