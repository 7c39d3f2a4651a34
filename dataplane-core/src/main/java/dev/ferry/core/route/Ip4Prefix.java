package dev.ferry.core.route;

/**
 * An IPv4 prefix such as 10.244.1.0/24. The address is stored with host bits cleared.
 *
 * @param address network address (host bits zero).
 * @param length  prefix length, 0 to 32.
 */
public record Ip4Prefix(int address, int length)
{
    /**
     * Validates and normalises.
     *
     * @param address network address; host bits are cleared.
     * @param length  prefix length, 0 to 32.
     */
    public Ip4Prefix
    {
        if (length < 0 || length > 32)
        {
            throw new IllegalArgumentException("prefix length out of range: " + length);
        }
        address = address & mask(length);
    }

    /**
     * Parses "a.b.c.d/len" (a bare address means /32).
     *
     * @param text the prefix text.
     * @return the prefix.
     * @throws IllegalArgumentException when malformed.
     */
    public static Ip4Prefix parse(final String text)
    {
        final String t = text.trim();
        final int slash = t.indexOf('/');
        if (slash < 0)
        {
            return new Ip4Prefix(Ip4.parse(t), 32);
        }
        final int len;
        try
        {
            len = Integer.parseInt(t.substring(slash + 1));
        }
        catch (final NumberFormatException e)
        {
            throw new IllegalArgumentException("not an IPv4 prefix: '" + text + "'", e);
        }
        if (len < 0 || len > 32)
        {
            throw new IllegalArgumentException("not an IPv4 prefix: '" + text + "'");
        }
        return new Ip4Prefix(Ip4.parse(t.substring(0, slash)), len);
    }

    /**
     * @param length prefix length.
     * @return the netmask.
     */
    public static int mask(final int length)
    {
        return length == 0 ? 0 : -1 << (32 - length);
    }

    /**
     * @param addr an address.
     * @return whether it lies in this prefix.
     */
    public boolean contains(final int addr)
    {
        return (addr & mask(length)) == address;
    }

    /**
     * @param other another prefix.
     * @return whether the two share any address.
     */
    public boolean overlaps(final Ip4Prefix other)
    {
        final int l = Math.min(length, other.length);
        return (address & mask(l)) == (other.address & mask(l));
    }

    /**
     * @param n host index within the prefix.
     * @return the n-th address of the prefix (n = 1 is the usual gateway).
     */
    public int host(final int n)
    {
        return address + n;
    }

    @Override
    public String toString()
    {
        return Ip4.format(address) + "/" + length;
    }
}
