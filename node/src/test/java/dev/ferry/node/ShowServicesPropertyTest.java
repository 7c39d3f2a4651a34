package dev.ferry.node;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.ferry.core.route.Ip4;
import dev.ferry.nat.ServiceView;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code show services}: for any Service table and any connection counts, the text and {@code -o json} name the
 * same real servers in the same order with the same ActiveConn/InActConn, and the same virtual servers.
 */
class ShowServicesPropertyTest
{
    private static final ObjectMapper MAPPER = new ObjectMapper();
    private static final int BASE = Ip4.parse("10.244.1.0");

    @Property(tries = 300)
    void textAndJsonAgree(@ForAll("tables") final List<ServiceView> views, @ForAll("counts") final Map<Long, long[]> counts)
    {
        final List<String> text = ShowFormat.services(views, counts);
        final JsonNode json = ShowJson.services(MAPPER.createObjectNode(), views, counts);
        assertThat(text.get(1)).endsWith("ActiveConn  InActConn");

        final List<String> backendLines = text.stream().filter(l -> l.matches("  -> \\d.*")).toList();
        final List<String> frontendLines = text.stream().filter(l -> l.matches("(!!!  )?(TCP|UDP) .*")).toList();
        final List<String> backendsFromJson = new ArrayList<>();
        final List<String> frontendsFromJson = new ArrayList<>();
        for (final JsonNode s : json.path("services"))
        {
            for (final JsonNode v : s.path("virtualServers"))
            {
                frontendsFromJson.add((v.path("installed").asBoolean() ? "" : "!!!  ") + v.path("protocol").asText()
                    + " " + v.path("vip").asText() + ":" + v.path("port").asInt() + " " + s.path("name").asText()
                    + " (" + v.path("kind").asText() + ")");
            }
            for (final JsonNode r : s.path("realServers"))
            {
                backendsFromJson.add(r.path("address").asText() + ":" + r.path("port").asInt() + " "
                    + r.path("state").asText() + (r.path("local").asBoolean() ? " local" : "")
                    + (r.path("weight").asInt() == 1 ? "" : " (unused)") + " " + r.path("activeConn").asLong() + " "
                    + r.path("inActConn").asLong());
            }
        }
        assertThat(backendLines.stream().map(l -> l.substring(5).trim().replaceAll(" +", " ")).toList())
            .isEqualTo(backendsFromJson);
        assertThat(frontendLines.stream().map(l -> l.replaceAll(" +", " ").replaceAll(":? ?frontend already .*", "")
            .replaceAll("\\) .*", ")").replace("!!! ", "!!!  ")).toList()).isEqualTo(frontendsFromJson);
    }

    @Provide
    Arbitrary<List<ServiceView>> tables()
    {
        final Arbitrary<ServiceView.Backend> backend = Combinators.combine(Arbitraries.integers().between(2, 6),
            Arbitraries.of(8080, 53), Arbitraries.of(true, false), Arbitraries.of(true, false),
            Arbitraries.of(true, false), Arbitraries.of(true, false)).as((ip, port, ready, term, local, used) ->
                new ServiceView.Backend(BASE + ip, port, ready, ready || term, term, local, used));
        final Arbitrary<ServiceView.Frontend> frontend = Combinators.combine(Arbitraries.of("TCP", "UDP"),
            Arbitraries.integers().between(1, 3), Arbitraries.of("ClusterIP", "NodePort", "externalIP",
                "LoadBalancer"), Arbitraries.of("other/svc", null)).as((proto, n, kind, usedBy) ->
                new ServiceView.Frontend(proto, Ip4.parse("10.96.0.0") + n, 80, kind, usedBy));
        final Arbitrary<ServiceView> port = Combinators.combine(Arbitraries.of("TCP", "UDP"),
            frontend.list().ofMaxSize(3), backend.list().ofMaxSize(4), Arbitraries.of(true, false),
            Arbitraries.longs().between(0, 3)).as((proto, fes, bes, ranges, affinity) ->
                new ServiceView.Port("default/s", "p", proto, "random", affinity, false, false, fes, null,
                    ranges ? List.of(dev.ferry.core.route.Ip4Prefix.parse("203.0.113.0/24")) : List.of(), false,
                    !bes.isEmpty(), bes));
        final Arbitrary<ServiceView> notProxied = Arbitraries.of(new ServiceView.NotProxied("default/db", "headless"));
        return Arbitraries.frequencyOf(net.jqwik.api.Tuple.of(5, port), net.jqwik.api.Tuple.of(1, notProxied))
            .list().ofMaxSize(5);
    }

    @Provide
    Arbitrary<Map<Long, long[]>> counts()
    {
        return Combinators.combine(Arbitraries.of(6, 17), Arbitraries.integers().between(2, 6),
            Arbitraries.of(8080, 53), Arbitraries.longs().between(0, 5), Arbitraries.longs().between(0, 5))
            .as((proto, ip, port, active, inactive) -> new Object[] {ShowFormat.backendKey(proto, BASE + ip, port),
                new long[] {active, inactive}})
            .list().ofMaxSize(8).map(l ->
            {
                final Map<Long, long[]> m = new HashMap<>();
                l.forEach(o -> m.put((Long)o[0], (long[])o[1]));
                return m;
            });
    }
}
