package dev.ferry.agent;

import dev.ferry.core.route.Ip4;
import dev.ferry.core.route.Ip4Prefix;

/**
 * Parses the scalar fields that ferry reads (addresses, CIDRs, ports, MACs, protocols) and turns a bad value
 * into a {@link ManifestException} that names the object and the field.
 */
final class Fields
{
    /** IP protocol number of TCP. */
    static final int TCP = 6;
    /** IP protocol number of UDP. */
    static final int UDP = 17;
    /** IP protocol number of SCTP. */
    static final int SCTP = 132;

    private Fields()
    {
    }

    /**
     * @param text an address or CIDR text.
     * @return whether it is IPv6 (ferry serves IPv4 only and leaves IPv6 values out, as a single-stack
     *         IPv4 kube-proxy does on a dual-stack cluster).
     */
    static boolean isIp6(final String text)
    {
        return text != null && text.indexOf(':') >= 0;
    }

    static int ip4(final ObjectRef ref, final String field, final String text)
    {
        if (text == null || !Ip4.isIp4(text))
        {
            throw ref.fail(field, "not an IPv4 address: '" + text + "'");
        }
        return Ip4.parse(text);
    }

    static Ip4Prefix cidr4(final ObjectRef ref, final String field, final String text)
    {
        try
        {
            if (text == null || text.indexOf('/') < 0)
            {
                throw new IllegalArgumentException("no prefix length");
            }
            return Ip4Prefix.parse(text);
        }
        catch (final IllegalArgumentException e)
        {
            throw ref.fail(field, "not an IPv4 CIDR: '" + text + "'");
        }
    }

    static int port(final ObjectRef ref, final String field, final Integer value)
    {
        if (value == null)
        {
            throw ref.fail(field, "missing");
        }
        if (value < 1 || value > 65535)
        {
            throw ref.fail(field, "not a port number (1-65535): " + value);
        }
        return value;
    }

    static long mac(final ObjectRef ref, final String field, final String text)
    {
        try
        {
            return Ip4.parseMac(text);
        }
        catch (final IllegalArgumentException | NullPointerException e)
        {
            throw ref.fail(field, "not a MAC address: '" + text + "'");
        }
    }

    /**
     * @param ref   the object.
     * @param field the field path.
     * @param text  "TCP", "UDP", "SCTP", or null (TCP, the API default).
     * @return the IP protocol number.
     */
    static int protocol(final ObjectRef ref, final String field, final String text)
    {
        if (text == null || text.equals("TCP"))
        {
            return TCP;
        }
        if (text.equals("UDP"))
        {
            return UDP;
        }
        if (text.equals("SCTP"))
        {
            return SCTP;
        }
        throw ref.fail(field, "not a protocol (TCP, UDP or SCTP): '" + text + "'");
    }

    /**
     * @param protocol IP protocol number.
     * @return "TCP", "UDP", "SCTP" or the number.
     */
    static String protocolName(final int protocol)
    {
        return switch (protocol)
        {
            case TCP -> "TCP";
            case UDP -> "UDP";
            case SCTP -> "SCTP";
            default -> Integer.toString(protocol);
        };
    }

    static String nullToEmpty(final String s)
    {
        return s == null ? "" : s;
    }
}
