package dev.ferry.node.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code ferry top}'s frame from two {@code stats} answers: rates are differences over the node's clock, stages
 * busiest first, drops by reason with their totals, ports in packets/s and Mbit/s, conntrack use.
 */
class TopRenderTest
{
    private static final ObjectMapper MAPPER = new ObjectMapper();

    private static JsonNode stats(final long nanos, final long lookup, final long nat, final long drops,
        final long rxPackets, final long rxBytes, final int entries) throws Exception
    {
        return MAPPER.readTree("""
            {"nanos":%d,
             "stages":[{"name":"ip4-input","calls":%d,"packets":%d,"nanos":%d},
                       {"name":"nat44-in","calls":%d,"packets":%d,"nanos":%d}],
             "drops":[{"node":"ip4-input","reason":"19 bad-checksum: \\"bad IPv4 header checksum\\"","count":%d}],
             "ports":[{"id":0,"name":"eth0","rxPackets":%d,"rxBytes":%d,"rxDropped":0,"txPackets":0,"txBytes":0,
                       "txDropped":0}],
             "buffers":{"inUse":3,"capacity":8192,"allocationFailures":0},
             "conntrack":{"entries":%d,"capacity":1000}}
            """.formatted(nanos, lookup / 10, lookup, lookup * 50, nat / 10, nat, nat * 100, drops, rxPackets,
            rxBytes, entries));
    }

    @Test
    void shouldShowRatesOverTheNodesClock() throws Exception
    {
        // two seconds apart on the node's clock
        final JsonNode a = stats(1_000_000_000L, 1_000, 5_000, 10, 100, 10_000, 10);
        final JsonNode b = stats(3_000_000_000L, 3_000, 25_000, 30, 2_100, 2_510_000, 250);

        final List<String> frame = TopCommand.render("node1", 2.0, a, b, false);

        assertThat(frame.get(0)).isEqualTo("ferry top - node node1, every 2.0s (q quits)");
        assertThat(frame.get(1)).startsWith("conntrack: 250 of 1000 entries (25.0%)")
            .contains("buffers: 3 of 8192 in use");
        final int stages = frame.indexOf(frame.stream().filter(l -> l.startsWith("STAGE")).findFirst().orElseThrow());
        assertThat(frame.get(stages + 1)).as("busiest first: 20000 packets in 2 s")
            .matches("nat44-in +10000 +1000 +100\\.0");
        assertThat(frame.get(stages + 2)).matches("ip4-input +1000 +100 +50\\.0");
        assertThat(frame).anySatisfy(l -> assertThat(l).matches("ip4-input +10 +30  19 bad-checksum: .*"));
        assertThat(frame).anySatisfy(l -> assertThat(l)
            .matches("eth0 +1000 +0 +10\\.00 +0\\.00 +0 +0"));
        assertThat(String.join("\n", frame)).doesNotContain("\033[");
        assertThat(String.join("\n", TopCommand.render("node1", 2.0, a, b, true))).contains("\033[31m")
            .contains("\033[7mSTAGE");
    }

    @Test
    void shouldSayWhenNothingIsDropped() throws Exception
    {
        final JsonNode a = MAPPER.readTree("{\"nanos\":1,\"stages\":[],\"drops\":[],\"ports\":[]}");
        final JsonNode b = MAPPER.readTree("{\"nanos\":1000000001,\"stages\":[],\"drops\":[],\"ports\":[]}");
        assertThat(TopCommand.render("n", 1.0, a, b, false)).contains("(no drops)")
            .anySatisfy(l -> assertThat(l).startsWith("conntrack: 0 of 0 entries (0.0%)"));
    }
}
