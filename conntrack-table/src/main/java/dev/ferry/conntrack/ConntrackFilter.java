package dev.ferry.conntrack;

/**
 * Which entries {@code conntrack -L/-C/-D} selects, with conntrack-tools' semantics: {@code -p} the protocol,
 * {@code -s/--orig-src}, {@code -d/--orig-dst}, {@code --sport}, {@code --dport} the <em>original</em>
 * direction's tuple, {@code -r/--reply-src} and {@code -q/--reply-dst} the reply direction's. Every given field
 * must match (AND); an absent field ({@link #ANY}) matches everything. Ports select only TCP and UDP entries, as
 * conntrack requires {@code -p} before a port. {@link #matches(ConntrackTable, int)} allocates nothing, so the
 * table's owner can filter while it walks.
 *
 * @param protocol  IP protocol number, or {@link #ANY}.
 * @param origSrc   original source address, or {@link #ANY} (addresses are compared as 32-bit values, so
 *                  {@code ANY} is a long).
 * @param origDst   original destination address, or {@link #ANY}.
 * @param origSport original source port, or {@link #ANY}.
 * @param origDport original destination port, or {@link #ANY}.
 * @param replySrc  reply source address (a DNAT target), or {@link #ANY}.
 * @param replyDst  reply destination address (an SNAT address), or {@link #ANY}.
 */
public record ConntrackFilter(int protocol, long origSrc, long origDst, int origSport, int origDport, long replySrc,
    long replyDst)
{
    /** A field that matches every entry. */
    public static final int ANY = -1;
    /** Every entry ({@code conntrack -F}). */
    public static final ConntrackFilter ALL = new ConntrackFilter(ANY, ANY, ANY, ANY, ANY, ANY, ANY);

    /**
     * @throws IllegalArgumentException when a field is out of range (a port above 65535, a protocol above 255).
     */
    public ConntrackFilter
    {
        if (protocol < ANY || protocol > 255)
        {
            throw new IllegalArgumentException("protocol " + protocol + " is out of range 0..255");
        }
        if (origSport < ANY || origSport > 65535 || origDport < ANY || origDport > 65535)
        {
            throw new IllegalArgumentException("a port is out of range 0..65535");
        }
        checkAddress(origSrc);
        checkAddress(origDst);
        checkAddress(replySrc);
        checkAddress(replyDst);
    }

    private static void checkAddress(final long a)
    {
        if (a < ANY || a > 0xffffffffL)
        {
            throw new IllegalArgumentException("address " + a + " is not a 32-bit value");
        }
    }

    /**
     * @param table the table (its owner thread).
     * @param entry a live entry.
     * @return whether the entry is selected.
     */
    public boolean matches(final ConntrackTable table, final int entry)
    {
        return matches(table.protocol(entry), table.origSrc(entry), table.origDst(entry), table.origSrcPort(entry),
            table.origDstPort(entry), table.replySrc(entry), table.replyDst(entry));
    }

    /**
     * @param e a copied entry.
     * @return whether the entry is selected (the same answer as for the live entry it was copied from).
     */
    public boolean matches(final ConntrackEntry e)
    {
        return matches(e.protocol(), e.origSrc(), e.origDst(), e.origSrcPort(), e.origDstPort(), e.replySrc(),
            e.replyDst());
    }

    private boolean matches(final int proto, final int src, final int dst, final int sport, final int dport,
        final int rsrc, final int rdst)
    {
        if (protocol != ANY && proto != protocol)
        {
            return false;
        }
        if ((origSport != ANY || origDport != ANY) && proto != ConntrackTable.TCP && proto != ConntrackTable.UDP)
        {
            return false;
        }
        return same(origSrc, src) && same(origDst, dst) && (origSport == ANY || origSport == sport)
            && (origDport == ANY || origDport == dport) && same(replySrc, rsrc) && same(replyDst, rdst);
    }

    private static boolean same(final long want, final int have)
    {
        return want == ANY || want == (have & 0xffffffffL);
    }
}
