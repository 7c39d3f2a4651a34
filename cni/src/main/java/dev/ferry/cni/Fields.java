package dev.ferry.cni;

import com.fasterxml.jackson.jr.ob.JSON;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A typed, strict reader over one JSON object (a {@code Map} from jackson-jr). Each field is read by name; a
 * missing required field or a field of the wrong JSON type is a {@link CniException} that names the field by its
 * path ({@code ipam.routes[1].dst}) and carries the error code given for this document.
 */
final class Fields
{
    private static final JSON JSON_READER = JSON.std;

    private final Map<String, Object> map;
    private final String path;
    private final CniError error;

    Fields(final Map<String, Object> map, final String path, final CniError error)
    {
        this.map = map;
        this.path = path;
        this.error = error;
    }

    /**
     * Parses a whole document that must be a JSON object.
     *
     * @param text   the JSON text.
     * @param what   what the document is, for the message ("network configuration").
     * @param decode the code when the text is not JSON.
     * @param shape  the code for errors in the fields.
     * @return the reader.
     */
    static Fields parse(final String text, final String what, final CniError decode, final CniError shape)
    {
        final Object any;
        try
        {
            any = JSON_READER.anyFrom(text);
        }
        catch (final IOException | RuntimeException e)
        {
            throw new CniException(decode, what + " is not valid JSON: " + firstLine(e.getMessage()));
        }
        if (!(any instanceof Map<?, ?>))
        {
            throw new CniException(decode, what + " must be a JSON object");
        }
        return new Fields(cast(any), "", shape);
    }

    /**
     * @param value any JSON value.
     * @return it as text (JSON serialisation).
     */
    static String write(final Object value)
    {
        try
        {
            return JSON_READER.asString(value);
        }
        catch (final IOException e)
        {
            throw new IllegalStateException("cannot write JSON", e);
        }
    }

    private static String firstLine(final String message)
    {
        if (message == null)
        {
            return "malformed";
        }
        final int nl = message.indexOf('\n');
        return nl < 0 ? message : message.substring(0, nl);
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> cast(final Object o)
    {
        return (Map<String, Object>)o;
    }

    Map<String, Object> map()
    {
        return map;
    }

    String path(final String key)
    {
        return path.isEmpty() ? key : path + "." + key;
    }

    boolean has(final String key)
    {
        return map.get(key) != null;
    }

    CniException fail(final String key, final String message)
    {
        return new CniException(error, path(key) + ": " + message);
    }

    String text(final String key)
    {
        final String v = optText(key, null);
        if (v == null)
        {
            throw fail(key, "required text is missing");
        }
        return v;
    }

    String optText(final String key, final String fallback)
    {
        final Object v = map.get(key);
        if (v == null)
        {
            return fallback;
        }
        if (!(v instanceof String s))
        {
            throw fail(key, "must be a string, got " + write(v));
        }
        return s;
    }

    int optInt(final String key, final int fallback, final int min, final int max)
    {
        final Object v = map.get(key);
        if (v == null)
        {
            return fallback;
        }
        if (!(v instanceof Integer i) || i < min || i > max)
        {
            throw fail(key, "must be a whole number from " + min + " to " + max + ", got " + write(v));
        }
        return i;
    }

    boolean optBool(final String key, final boolean fallback)
    {
        final Object v = map.get(key);
        if (v == null)
        {
            return fallback;
        }
        if (!(v instanceof Boolean b))
        {
            throw fail(key, "must be true or false, got " + write(v));
        }
        return b;
    }

    Fields obj(final String key)
    {
        final Fields f = optObj(key);
        if (f == null)
        {
            throw fail(key, "required object is missing");
        }
        return f;
    }

    Fields optObj(final String key)
    {
        final Object v = map.get(key);
        if (v == null)
        {
            return null;
        }
        if (!(v instanceof Map<?, ?>))
        {
            throw fail(key, "must be an object, got " + write(v));
        }
        return new Fields(cast(v), path(key), error);
    }

    List<Fields> optObjList(final String key)
    {
        final Object v = map.get(key);
        final List<Fields> out = new ArrayList<>();
        if (v == null)
        {
            return out;
        }
        if (!(v instanceof List<?> list))
        {
            throw fail(key, "must be a list, got " + write(v));
        }
        for (int i = 0; i < list.size(); i++)
        {
            final Object e = list.get(i);
            if (!(e instanceof Map<?, ?>))
            {
                throw fail(key + "[" + i + "]", "must be an object, got " + write(e));
            }
            out.add(new Fields(cast(e), path(key) + "[" + i + "]", error));
        }
        return out;
    }

    List<String> optTextList(final String key)
    {
        final Object v = map.get(key);
        final List<String> out = new ArrayList<>();
        if (v == null)
        {
            return out;
        }
        if (!(v instanceof List<?> list))
        {
            throw fail(key, "must be a list of strings, got " + write(v));
        }
        for (int i = 0; i < list.size(); i++)
        {
            if (!(list.get(i) instanceof String s))
            {
                throw fail(key + "[" + i + "]", "must be a string, got " + write(list.get(i)));
            }
            out.add(s);
        }
        return out;
    }
}
