package dev.ferry.core.route;

/**
 * IPv4 address and MAC helpers for the control side (parsing and printing). Addresses are {@code int}s in
 * network order value (10.0.0.1 is {@code 0x0a000001}); MACs are 48-bit {@code long}s.
 */
public final class Ip4
{
    private Ip4()
    {
    }

    /**
     * Parses dotted-quad notation.
     *
     * @param text e.g. "10.244.1.5".
     * @return the address.
     * @throws IllegalArgumentException when the text is not an IPv4 address.
     */
    public static int parse(final String text)
    {
        final String[] parts = text.trim().split("\\.", -1);
        if (parts.length != 4)
        {
            throw new IllegalArgumentException("not an IPv4 address: '" + text + "'");
        }
        int v = 0;
        for (final String p : parts)
        {
            if (p.isEmpty() || p.length() > 3 || !p.chars().allMatch(Character::isDigit))
            {
                throw new IllegalArgumentException("not an IPv4 address: '" + text + "'");
            }
            final int b = Integer.parseInt(p);
            if (b > 255)
            {
                throw new IllegalArgumentException("not an IPv4 address: '" + text + "'");
            }
            v = (v << 8) | b;
        }
        return v;
    }

    /**
     * @param text candidate text.
     * @return whether it is a dotted-quad IPv4 address.
     */
    public static boolean isIp4(final String text)
    {
        try
        {
            parse(text);
            return true;
        }
        catch (final IllegalArgumentException e)
        {
            return false;
        }
    }

    /**
     * @param addr an address.
     * @return dotted-quad text.
     */
    public static String format(final int addr)
    {
        return (addr >>> 24) + "." + (addr >>> 16 & 0xff) + "." + (addr >>> 8 & 0xff) + "." + (addr & 0xff);
    }

    /**
     * The MAC of an address on a pod link, by the CNI convention: {@code 0a:58} then the four address bytes.
     *
     * @param addr the address.
     * @return the MAC.
     */
    public static long podMac(final int addr)
    {
        return 0x0a58_0000_0000L | (addr & 0xffffffffL);
    }

    /**
     * Parses "aa:bb:cc:dd:ee:ff".
     *
     * @param text the MAC text.
     * @return the 48-bit value.
     * @throws IllegalArgumentException when malformed.
     */
    public static long parseMac(final String text)
    {
        final String[] parts = text.trim().split("[:-]", -1);
        if (parts.length != 6)
        {
            throw new IllegalArgumentException("not a MAC address: '" + text + "'");
        }
        long v = 0;
        for (final String p : parts)
        {
            if (p.length() != 2)
            {
                throw new IllegalArgumentException("not a MAC address: '" + text + "'");
            }
            try
            {
                v = (v << 8) | Integer.parseInt(p, 16);
            }
            catch (final NumberFormatException e)
            {
                throw new IllegalArgumentException("not a MAC address: '" + text + "'", e);
            }
        }
        return v;
    }

    /**
     * @param mac 48-bit MAC.
     * @return "aa:bb:cc:dd:ee:ff".
     */
    public static String formatMac(final long mac)
    {
        final StringBuilder sb = new StringBuilder(17);
        for (int i = 5; i >= 0; i--)
        {
            final int b = (int)(mac >>> (i * 8)) & 0xff;
            sb.append(Character.forDigit(b >>> 4, 16)).append(Character.forDigit(b & 0xf, 16));
            if (i > 0)
            {
                sb.append(':');
            }
        }
        return sb.toString();
    }
}
