package dev.ferry.node;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ferry.conntrack.ConntrackEntry;
import dev.ferry.conntrack.ConntrackEvents;
import dev.ferry.conntrack.ConntrackFilter;
import dev.ferry.conntrack.ConntrackTable;
import dev.ferry.conntrack.TcpState;
import dev.ferry.core.route.Ip4;

/**
 * The JSON of a conntrack entry and of a filter: the node API's {@code conntrack} op and
 * {@code ferry show conntrack -o json} print the same schema (documented in node's README):
 *
 * <pre>
 * {"proto":"tcp","protonum":6,"timeout":431999,"state":"ESTABLISHED",
 *  "orig":{"src":"10.244.1.2","dst":"10.96.0.80","sport":40000,"dport":80,"packets":3,"bytes":180},
 *  "reply":{"src":"10.244.2.5","dst":"10.244.1.2","sport":8080,"dport":40000,"packets":2,"bytes":120},
 *  "unreplied":false,"assured":true,"mark":0,"zone":0}
 * </pre>
 *
 * <p>{@code state} is present for TCP only; an ICMP tuple has {@code "id"} in place of its ports.
 */
public final class ConntrackJson
{
    private static final ObjectMapper MAPPER = new ObjectMapper();

    private ConntrackJson()
    {
    }

    /**
     * @param e an entry.
     * @return its JSON object.
     */
    public static ObjectNode encode(final ConntrackEntry e)
    {
        final ObjectNode o = MAPPER.createObjectNode();
        o.put("proto", e.protocolName()).put("protonum", e.protocol()).put("timeout", e.secondsLeft());
        if (e.protocol() == ConntrackTable.TCP)
        {
            o.put("state", TcpState.name(e.tcpState()));
        }
        tuple(o.putObject("orig"), e.protocol(), e.origSrc(), e.origDst(), e.origSrcPort(), e.origDstPort(),
            e.origPackets(), e.origBytes());
        tuple(o.putObject("reply"), e.protocol(), e.replySrc(), e.replyDst(), e.replySrcPort(), e.replyDstPort(),
            e.replyPackets(), e.replyBytes());
        return o.put("unreplied", !e.seenReply()).put("assured", e.assured())
            .put("mark", Integer.toUnsignedLong(e.mark())).put("zone", e.zone());
    }

    /**
     * @param e an event.
     * @return its JSON object: {@code "type"} (NEW, UPDATE, DESTROY), then the entry's fields without counters
     *         (events do not carry them).
     */
    public static ObjectNode encode(final ConntrackEvents.ConntrackEvent e)
    {
        final ObjectNode o = MAPPER.createObjectNode().put("type", e.typeName());
        o.setAll(encode(e.entry()));
        for (final String dir : new String[] {"orig", "reply"})
        {
            ((ObjectNode)o.get(dir)).remove(java.util.List.of("packets", "bytes"));
        }
        return o;
    }

    private static void tuple(final ObjectNode t, final int proto, final int src, final int dst, final int sport,
        final int dport, final long packets, final long bytes)
    {
        t.put("src", Ip4.format(src)).put("dst", Ip4.format(dst));
        if (proto == ConntrackTable.ICMP)
        {
            t.put("id", sport);
        }
        else
        {
            t.put("sport", sport).put("dport", dport);
        }
        t.put("packets", packets).put("bytes", bytes);
    }

    /**
     * The inverse of {@link #encode}.
     *
     * @param o an entry's JSON.
     * @return the entry.
     */
    public static ConntrackEntry decode(final JsonNode o)
    {
        final int proto = o.path("protonum").asInt();
        final JsonNode a = o.path("orig");
        final JsonNode b = o.path("reply");
        final boolean icmp = proto == ConntrackTable.ICMP;
        return new ConntrackEntry(proto, o.path("timeout").asLong(), state(o.path("state").asText("")),
            Ip4.parse(a.path("src").asText()), Ip4.parse(a.path("dst").asText()),
            a.path(icmp ? "id" : "sport").asInt(), a.path(icmp ? "id" : "dport").asInt(),
            Ip4.parse(b.path("src").asText()), Ip4.parse(b.path("dst").asText()),
            b.path(icmp ? "id" : "sport").asInt(), b.path(icmp ? "id" : "dport").asInt(),
            !o.path("unreplied").asBoolean(), o.path("assured").asBoolean(), (int)o.path("mark").asLong(),
            o.path("zone").asInt(), a.path("packets").asLong(), a.path("bytes").asLong(), b.path("packets").asLong(),
            b.path("bytes").asLong());
    }

    private static int state(final String name)
    {
        for (int s = TcpState.NONE; s <= TcpState.IGNORE; s++)
        {
            if (TcpState.name(s).equals(name))
            {
                return s;
            }
        }
        return TcpState.NONE;
    }

    /**
     * @param f a filter.
     * @return its JSON: only the fields that are set ({@code proto, src, dst, sport, dport, replySrc,
     *     replyDst}).
     */
    public static ObjectNode encode(final ConntrackFilter f)
    {
        final ObjectNode o = MAPPER.createObjectNode();
        if (f.protocol() != ConntrackFilter.ANY)
        {
            o.put("proto", f.protocol());
        }
        address(o, "src", f.origSrc());
        address(o, "dst", f.origDst());
        if (f.origSport() != ConntrackFilter.ANY)
        {
            o.put("sport", f.origSport());
        }
        if (f.origDport() != ConntrackFilter.ANY)
        {
            o.put("dport", f.origDport());
        }
        address(o, "replySrc", f.replySrc());
        address(o, "replyDst", f.replyDst());
        return o;
    }

    private static void address(final ObjectNode o, final String name, final long a)
    {
        if (a != ConntrackFilter.ANY)
        {
            o.put(name, Ip4.format((int)a));
        }
    }

    /**
     * The inverse of {@link #encode(ConntrackFilter)}; missing or null fields match everything.
     *
     * @param o the filter's JSON, or null or missing for every entry.
     * @return the filter.
     * @throws IllegalArgumentException naming the field that is wrong.
     */
    public static ConntrackFilter decodeFilter(final JsonNode o)
    {
        if (o == null || o.isNull() || o.isMissingNode())
        {
            return ConntrackFilter.ALL;
        }
        if (!o.isObject())
        {
            throw new IllegalArgumentException("filter: expected an object");
        }
        final var names = o.fieldNames();
        while (names.hasNext())
        {
            final String n = names.next();
            if (!java.util.Set.of("proto", "src", "dst", "sport", "dport", "replySrc", "replyDst").contains(n))
            {
                throw new IllegalArgumentException("filter." + n + ": unknown field (proto, src, dst, sport, dport,"
                    + " replySrc, replyDst)");
            }
        }
        return new ConntrackFilter(number(o, "proto", 255), addr(o, "src"), addr(o, "dst"), number(o, "sport", 65535),
            number(o, "dport", 65535), addr(o, "replySrc"), addr(o, "replyDst"));
    }

    private static int number(final JsonNode o, final String field, final int max)
    {
        final JsonNode n = o.get(field);
        if (n == null || n.isNull())
        {
            return ConntrackFilter.ANY;
        }
        if (!n.isIntegralNumber() || n.asLong() < 0 || n.asLong() > max)
        {
            throw new IllegalArgumentException("filter." + field + ": expected a whole number 0.." + max);
        }
        return n.asInt();
    }

    private static long addr(final JsonNode o, final String field)
    {
        final JsonNode n = o.get(field);
        if (n == null || n.isNull())
        {
            return ConntrackFilter.ANY;
        }
        try
        {
            return Integer.toUnsignedLong(Ip4.parse(n.asText()));
        }
        catch (final IllegalArgumentException e)
        {
            throw new IllegalArgumentException("filter." + field + ": " + e.getMessage(), e);
        }
    }
}
