package dev.ferry.node;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ferry.conntrack.ConntrackFilter;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.nodeapi.AttachRequest;
import dev.ferry.nodeapi.NodeTablesJson;
import dev.ferry.nodeapi.NodeApi;

import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/**
 * Version 1 of the node API: one JSON object per line each way. Every answer carries {@code "v":1},
 * {@code "ok"} and the {@code "op"}; a refusal carries {@code "error"} with a sentence naming the field.
 *
 * <pre>
 * {"v":1,"op":"push","generation":8,"tables":{...}}     → {"v":1,"ok":true,"op":"push","generation":8}
 * {"v":1,"op":"attach","containerId":"c1","ifName":"eth0","netns":"/var/run/netns/p1",
 *  "podNamespace":"default","podName":"web-1","ip":"10.244.1.5"}
 *     → {"v":1,"ok":true,"op":"attach","tap":"tap0af40105","mac":"0a:58:0a:f4:01:05","mtu":1450,
 *        "gateway":"10.244.1.1","gatewayMac":"0a:58:0a:f4:01:01"}
 * {"v":1,"op":"detach","containerId":"c1","ifName":"eth0"} → {"v":1,"ok":true,"op":"detach","detached":true}
 * {"v":1,"op":"show","what":"routes"}                    → {"v":1,"ok":true,"op":"show","lines":[...]}
 * {"v":1,"op":"show","what":"routes","format":"json"}  → {"v":1,"ok":true,"op":"show","what":"routes",
 *                                                           "generation":8,"routes":[{"prefix":...},...]}
 * {"v":1,"op":"trace","add":50}                          → {"v":1,"ok":true,"op":"trace","add":50}
 * {"v":1,"op":"trace","add":5,"filter":"udp port 53"}    → {"v":1,"ok":true,"op":"trace","add":5,"filter":...}
 * {"v":1,"op":"conntrack","action":"list","filter":{"proto":6,"dport":80},"from":0,"limit":1000}
 *     → {"v":1,"ok":true,"op":"conntrack","action":"list","entries":[...],"matched":2,"next":-1,"size":9,...}
 * {"v":1,"op":"conntrack","action":"delete","filter":{"proto":17}} → {...,"action":"delete","matched":4,...}
 * {"v":1,"op":"conntrack","action":"events","filter":{"proto":6}}  → {...,"action":"events","id":3,"events":[]}
 * {"v":1,"op":"conntrack","action":"events","id":3}
 *     → {...,"action":"events","id":3,"events":[{"type":"NEW",...}],"lost":0,"more":false}
 * {"v":1,"op":"conntrack","action":"events","id":3,"close":true} → {...,"action":"events","id":3,"closed":true}
 * {"v":1,"op":"stats"}                                   → {"v":1,"ok":true,"op":"stats","stages":[...],...}
 * {"v":1,"op":"health"}                                  → {"v":1,"ok":true,"op":"health","generation":8,...}
 * </pre>
 */
final class ApiProtocol
{
    private static final ObjectMapper MAPPER = new ObjectMapper();

    private final NodeControl control;

    ApiProtocol(final NodeControl control)
    {
        this.control = control;
    }

    static String error(final String op, final String message)
    {
        final ObjectNode o = MAPPER.createObjectNode().put("v", NodeApi.VERSION).put("ok", false);
        if (op != null)
        {
            o.put("op", op);
        }
        return o.put("error", message).toString();
    }

    private static ObjectNode ok(final String op)
    {
        return MAPPER.createObjectNode().put("v", NodeApi.VERSION).put("ok", true).put("op", op);
    }

    /**
     * Handles one request line (control thread).
     *
     * @param line the request.
     * @return the answer line; never completes exceptionally.
     */
    CompletableFuture<String> handle(final String line)
    {
        final JsonNode req;
        try
        {
            req = MAPPER.readTree(line);
        }
        catch (final JsonProcessingException e)
        {
            return CompletableFuture.completedFuture(error(null, "request is not valid JSON: "
                + e.getOriginalMessage()));
        }
        if (req == null || !req.isObject())
        {
            return CompletableFuture.completedFuture(error(null, "request must be a JSON object"));
        }
        final String op = req.path("op").asText("");
        if (req.path("v").asInt(-1) != NodeApi.VERSION)
        {
            return CompletableFuture.completedFuture(error(op, "v: protocol version " + NodeApi.VERSION
                + " is required, got " + req.path("v")));
        }
        CompletableFuture<ObjectNode> answer;
        try
        {
            answer = switch (op)
            {
                case "push" -> push(req);
                case "attach" -> attach(req);
                case "detach" -> control.detach(text(req, "containerId"), text(req, "ifName"))
                    .thenApply(d -> ok("detach").put("detached", d));
                case "show" -> show(req);
                case "trace" -> trace(req);
                case "conntrack" -> conntrack(req);
                case "stats" -> control.stats(ok("stats"));
                case "health" -> CompletableFuture.completedFuture(health());
                default -> throw new IllegalArgumentException("op: unknown '" + op
                    + "' (push, attach, detach, show, trace, conntrack,"
                    + " stats, health)");
            };
        }
        catch (final RuntimeException e)
        {
            answer = CompletableFuture.failedFuture(e);
        }
        return answer.handle((o, e) -> e == null ? o.toString() : error(op, message(e)));
    }

    /** {@code show}: text lines (no {@code format}, or {@code "lines"}) or the view's data ({@code "json"}). */
    private CompletableFuture<ObjectNode> show(final JsonNode req)
    {
        final String what = text(req, "what");
        final String format = req.path("format").asText("lines");
        return switch (format)
        {
            case "lines" -> control.show(what).thenApply(lines -> lines(ok("show").put("what", what), lines));
            case "json" -> control.showJson(what, ok("show").put("what", what));
            default -> throw new IllegalArgumentException("format: 'lines' or 'json', got '" + format + "'");
        };
    }

    private static String message(final Throwable e)
    {
        final Throwable cause = e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
        return cause.getMessage() == null ? cause.getClass().getSimpleName() : cause.getMessage();
    }

    private static String text(final JsonNode req, final String field)
    {
        final JsonNode n = req.get(field);
        if (n == null || !n.isTextual())
        {
            throw new IllegalArgumentException(field + ": required text");
        }
        return n.asText();
    }

    private static int ip(final JsonNode req)
    {
        final String text = text(req, "ip");
        try
        {
            return Ip4.parse(text);
        }
        catch (final IllegalArgumentException e)
        {
            throw new IllegalArgumentException("ip: " + e.getMessage(), e);
        }
    }

    private CompletableFuture<ObjectNode> push(final JsonNode req)
    {
        final JsonNode g = req.get("generation");
        if (g == null || !g.isIntegralNumber() || g.asLong() < 1)
        {
            throw new IllegalArgumentException("generation: required, a whole number of at least 1");
        }
        final NodeTables tables = NodeTablesJson.decode(req.get("tables"), "tables", g.asLong());
        final long applied = control.push(tables);
        return CompletableFuture.completedFuture(ok("push").put("generation", applied));
    }

    private CompletableFuture<ObjectNode> attach(final JsonNode req)
    {
        final String mac = req.path("mac").asText("");
        final AttachRequest r = new AttachRequest(text(req, "containerId"), text(req, "ifName"), text(req, "netns"),
            req.path("podNamespace").asText(""), req.path("podName").asText(""),
            ip(req), mac.isEmpty() ? -1 : Ip4.parseMac(mac));
        return control.attach(r).thenApply(a -> ok("attach").put("tap", a.tapName())
            .put("mac", Ip4.formatMac(a.mac())).put("mtu", a.mtu()).put("gateway", Ip4.format(a.gatewayIp()))
            .put("gatewayMac", Ip4.formatMac(a.gatewayMac())).put("ip", Ip4.format(a.ip())));
    }

    private CompletableFuture<ObjectNode> trace(final JsonNode req)
    {
        final JsonNode add = req.get("add");
        if (add == null || !add.isIntegralNumber())
        {
            throw new IllegalArgumentException("add: required, the number of packets to trace");
        }
        final JsonNode filter = req.get("filter");
        if (filter != null && !filter.isNull() && !filter.isTextual())
        {
            throw new IllegalArgumentException("filter: expected a tcpdump expression as text");
        }
        final String expression = filter == null || filter.isNull() ? null : filter.asText();
        return control.traceAdd(add.asInt(), expression).thenApply(v ->
        {
            final ObjectNode answer = ok("trace").put("add", add.asInt());
            return expression == null ? answer : answer.put("filter", expression);
        });
    }

    private CompletableFuture<ObjectNode> conntrack(final JsonNode req)
    {
        final String action = req.path("action").asText("list");
        if ("events".equals(action))
        {
            return CompletableFuture.completedFuture(events(req));
        }
        final WorkerCommand.ConntrackAction a = switch (action)
        {
            case "list" -> WorkerCommand.ConntrackAction.LIST;
            case "count" -> WorkerCommand.ConntrackAction.COUNT;
            case "delete" -> WorkerCommand.ConntrackAction.DELETE;
            default -> throw new IllegalArgumentException("action: unknown '" + action
                + "' (list, count, delete, events)");
        };
        final ConntrackFilter filter = ConntrackJson.decodeFilter(req.get("filter"));
        final JsonNode from = req.path("from");
        final JsonNode limit = req.path("limit");
        if (!from.isMissingNode() && !from.isIntegralNumber() || !limit.isMissingNode() && !limit.isIntegralNumber())
        {
            throw new IllegalArgumentException("from, limit: expected whole numbers");
        }
        return control.conntrack(a, filter, from.asInt(0), limit.asInt(0)).thenApply(answer ->
        {
            final ObjectNode o = ok("conntrack").put("action", action);
            if (a == WorkerCommand.ConntrackAction.LIST)
            {
                final var list = o.putArray("entries");
                answer.entries().forEach(e -> list.add(ConntrackJson.encode(e)));
            }
            return o.put("matched", answer.matched()).put("next", answer.next()).put("size", answer.size())
                .put("capacity", answer.capacity());
        });
    }

    /** {@code show conntrack -E}: opens (no id), polls or closes a stream of events (control thread). */
    private ObjectNode events(final JsonNode req)
    {
        final JsonNode id = req.path("id");
        if (!id.isMissingNode() && (!id.isIntegralNumber() || id.asLong() < 1))
        {
            throw new IllegalArgumentException("id: expected the stream's id from the first answer");
        }
        final ObjectNode o = ok("conntrack").put("action", "events");
        if (req.path("close").asBoolean(false))
        {
            return o.put("id", id.asLong()).put("closed", control.conntrackEventsClose(id.asLong()));
        }
        final ConntrackEventStreams.Poll p = control.conntrackEvents(
            id.isMissingNode() ? ConntrackJson.decodeFilter(req.get("filter")) : ConntrackFilter.ALL, id.asLong(0));
        final var list = o.put("id", p.id()).putArray("events");
        p.events().forEach(e -> list.add(ConntrackJson.encode(e)));
        return o.put("lost", p.lost()).put("more", p.more());
    }

    private ObjectNode health()
    {
        final ObjectNode o = ok("health");
        for (final Map.Entry<String, Object> e : control.health().entrySet())
        {
            if (e.getValue() instanceof Number n)
            {
                o.put(e.getKey(), n.longValue());
            }
            else if (e.getValue() instanceof Boolean b)
            {
                o.put(e.getKey(), b);
            }
            else
            {
                o.put(e.getKey(), String.valueOf(e.getValue()));
            }
        }
        return o;
    }

    private static ObjectNode lines(final ObjectNode o, final List<String> lines)
    {
        lines.forEach(o.putArray("lines")::add);
        return o;
    }
}
