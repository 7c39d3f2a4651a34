package dev.ferry.nodeapi;

import com.fasterxml.jackson.databind.JsonNode;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.route.Ip4Prefix;
import dev.ferry.core.tables.InvalidTablesException;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * A JSON object read strictly, with the path of every field in error messages
 * ({@code tables.pods[2].ip: not an IPv4 address: 'x'}). Unknown fields are errors.
 */
final class StrictJson
{
    private final JsonNode node;
    private final String path;

    private StrictJson(final JsonNode node, final String path)
    {
        this.node = node;
        this.path = path;
    }

    static StrictJson object(final JsonNode node, final String path, final Set<String> allowed)
    {
        if (node == null || !node.isObject())
        {
            throw fail(path, "expected an object, got " + kind(node));
        }
        final Iterator<String> names = node.fieldNames();
        while (names.hasNext())
        {
            final String n = names.next();
            if (!allowed.contains(n))
            {
                throw fail(path + "." + n, "unknown field");
            }
        }
        return new StrictJson(node, path);
    }

    static InvalidTablesException fail(final String path, final String message)
    {
        return new InvalidTablesException(path + ": " + message);
    }

    private static String kind(final JsonNode n)
    {
        return n == null || n.isMissingNode() ? "nothing" : n.getNodeType().name().toLowerCase(Locale.ROOT);
    }

    String path(final String field)
    {
        return path + "." + field;
    }

    boolean has(final String field)
    {
        final JsonNode n = node.get(field);
        return n != null && !n.isNull();
    }

    JsonNode raw(final String field)
    {
        return node.get(field);
    }

    String text(final String field)
    {
        final JsonNode n = node.get(field);
        if (n == null || n.isNull())
        {
            throw fail(path(field), "required");
        }
        if (!n.isTextual())
        {
            throw fail(path(field), "expected text, got " + kind(n));
        }
        return n.asText();
    }

    String text(final String field, final String dflt)
    {
        return has(field) ? text(field) : dflt;
    }

    long number(final String field, final long min, final long max)
    {
        final JsonNode n = node.get(field);
        if (n == null || n.isNull())
        {
            throw fail(path(field), "required");
        }
        if (!n.isIntegralNumber() || !n.canConvertToLong())
        {
            throw fail(path(field), "expected a whole number, got " + kind(n) + " " + n);
        }
        final long v = n.asLong();
        if (v < min || v > max)
        {
            throw fail(path(field), v + " is out of range " + min + ".." + max);
        }
        return v;
    }

    long number(final String field, final long min, final long max, final long dflt)
    {
        return has(field) ? number(field, min, max) : dflt;
    }

    boolean bool(final String field, final boolean dflt)
    {
        final JsonNode n = node.get(field);
        if (n == null || n.isNull())
        {
            return dflt;
        }
        if (!n.isBoolean())
        {
            throw fail(path(field), "expected true or false, got " + kind(n));
        }
        return n.asBoolean();
    }

    int ip(final String field)
    {
        return parseIp(text(field), path(field));
    }

    int ip(final String field, final int dflt)
    {
        return has(field) ? ip(field) : dflt;
    }

    long mac(final String field)
    {
        final String t = text(field);
        try
        {
            return Ip4.parseMac(t);
        }
        catch (final IllegalArgumentException e)
        {
            throw fail(path(field), e.getMessage());
        }
    }

    Ip4Prefix prefix(final String field)
    {
        return parsePrefix(text(field), path(field));
    }

    Ip4Prefix prefix(final String field, final Ip4Prefix dflt)
    {
        return has(field) ? prefix(field) : dflt;
    }

    List<JsonNode> array(final String field)
    {
        final JsonNode n = node.get(field);
        if (n == null || n.isNull())
        {
            return List.of();
        }
        if (!n.isArray())
        {
            throw fail(path(field), "expected a list, got " + kind(n));
        }
        final List<JsonNode> out = new ArrayList<>(n.size());
        n.forEach(out::add);
        return out;
    }

    List<Integer> ips(final String field)
    {
        final List<JsonNode> items = array(field);
        final List<Integer> out = new ArrayList<>(items.size());
        for (int i = 0; i < items.size(); i++)
        {
            final String p = path(field) + "[" + i + "]";
            if (!items.get(i).isTextual())
            {
                throw fail(p, "expected an IPv4 address as text");
            }
            out.add(parseIp(items.get(i).asText(), p));
        }
        return out;
    }

    List<Ip4Prefix> prefixes(final String field)
    {
        final List<JsonNode> items = array(field);
        final List<Ip4Prefix> out = new ArrayList<>(items.size());
        for (int i = 0; i < items.size(); i++)
        {
            final String p = path(field) + "[" + i + "]";
            if (!items.get(i).isTextual())
            {
                throw fail(p, "expected an IPv4 prefix as text");
            }
            out.add(parsePrefix(items.get(i).asText(), p));
        }
        return out;
    }

    static int parseIp(final String text, final String path)
    {
        try
        {
            return Ip4.parse(text);
        }
        catch (final IllegalArgumentException e)
        {
            throw fail(path, e.getMessage());
        }
    }

    static Ip4Prefix parsePrefix(final String text, final String path)
    {
        try
        {
            final Ip4Prefix p = Ip4Prefix.parse(text);
            final int slash = text.indexOf('/');
            final int addr = Ip4.parse(slash < 0 ? text : text.substring(0, slash));
            if (addr != p.address())
            {
                throw fail(path, "'" + text + "' has host bits set (did you mean " + p + "?)");
            }
            return p;
        }
        catch (final IllegalArgumentException e)
        {
            throw fail(path, e.getMessage());
        }
    }
}
