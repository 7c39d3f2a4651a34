package dev.ferry.node;

import dev.ferry.core.Graph;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code show trace}'s order on a node of several workers: the parts of a packet in the order it took them,
 * whichever worker answers first, and the text naming each part's worker.
 */
class TracePartsTest
{
    private static Graph.TracedPacket part(final int packet, final int worker, final int handedOverBy,
        final String last)
    {
        return new Graph.TracedPacket(packet, worker, List.of(
            new Graph.TraceStep("input", "graph", 5, "tap0", 54, handedOverBy < 0 ? "ethernet-input" : "nat44-in",
                null, -1, handedOverBy),
            new Graph.TraceStep("detail", last, 0, null, -1, null, "w" + worker, -1)));
    }

    @Test
    void shouldChainEachPacketsPartsInTheOrderItTookThem()
    {
        // packet 1 entered on worker 1 and was handed to worker 0; packet 2 stayed on worker 0; packet 3 went
        // 0 -> 1 -> 0; packet 4's first part is missing (cleared while in flight)
        final List<Graph.TracedPacket> w0 = List.of(part(1, 0, 1, "a"), part(2, 0, -1, "b"), part(3, 0, -1, "c"),
            part(3, 0, 1, "e"), part(4, 0, 1, "f"));
        final List<Graph.TracedPacket> w1 = List.of(part(1, 1, -1, "g"), part(3, 1, 0, "d"));
        assertThat(TraceParts.inOrder(List.of(w0, w1))).extracting(p -> p.steps().get(1).stage())
            .containsExactly("g", "a", "b", "c", "d", "e", "f");
        assertThat(TraceParts.inOrder(List.of(w0, w1))).isEqualTo(TraceParts.inOrder(List.of(w0, w1).reversed()));
    }

    @Test
    void shouldHeadEachPartWithItsWorkerOnlyWhenThereAreSeveral()
    {
        final List<Graph.TracedPacket> parts = TraceParts.inOrder(List.of(List.of(part(1, 0, -1, "x"))));
        assertThat(TraceParts.lines(parts, 0, 1)).containsExactly("Packet 1:",
            "0.000000005  input on tap0, 54 bytes, into ethernet-input", "  x: w0");
        assertThat(TraceParts.lines(TraceParts.inOrder(List.of(List.of(part(1, 0, 1, "x")), List.of())), 3, 2))
            .containsExactly("Packet 1 (worker 0):",
                "0.000000005  input on tap0, 54 bytes, into nat44-in, handed over by worker 1", "  x: w0",
                "(3 trace records did not fit the buffer)");
        assertThat(TraceParts.lines(List.of(), 0, 2)).containsExactly("No packets traced (use: ferry trace add N)");
    }
}
