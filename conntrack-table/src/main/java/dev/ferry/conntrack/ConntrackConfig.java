package dev.ferry.conntrack;

import java.security.SecureRandom;
import java.util.Map;

/**
 * Capacity and timeouts of a {@link ConntrackTable}. Timeouts are in seconds, as in
 * {@code /proc/sys/net/netfilter/nf_conntrack_*_timeout_*}; the defaults are netfilter's, except TCP
 * established (86400 s) and close-wait (3600 s), which are the values kube-proxy sets.
 *
 * <p>The {@code hashSeed} keys the table's hash of tuples. A builder starts with a secret drawn from
 * {@link SecureRandom} (so do {@link #defaults()} and {@link #fromSettings}), as the kernel keys its conntrack
 * hash with a random {@code nf_conntrack_hash_rnd}: whoever can choose tuples cannot aim them at one probe window
 * without knowing it. Replay and tests set a fixed seed for determinism; two configurations that differ only in
 * their seed describe the same settings ({@link #sameSettings}).
 *
 * @param capacity          maximum number of entries (rounded up to a power of two by the table).
 * @param tcpSynSent        TCP SYN_SENT and SYN_SENT2 timeout.
 * @param tcpSynRecv        TCP SYN_RECV timeout.
 * @param tcpEstablished    TCP ESTABLISHED timeout.
 * @param tcpFinWait        TCP FIN_WAIT timeout.
 * @param tcpCloseWait      TCP CLOSE_WAIT timeout.
 * @param tcpLastAck        TCP LAST_ACK timeout.
 * @param tcpTimeWait       TCP TIME_WAIT timeout.
 * @param tcpClose          TCP CLOSE timeout, also used after any RST.
 * @param tcpUnacknowledged cap on the ESTABLISHED timeout while no reply was seen (mid-stream pickup).
 * @param udp               UDP timeout while only one direction was seen.
 * @param udpStream         UDP timeout once traffic was seen both ways.
 * @param icmp              ICMP timeout.
 * @param generic           timeout of other protocols.
 * @param sweepBudget       entries that one {@link ConntrackTable#expire()} call examines.
 * @param hashSeed          secret that keys the hash of tuples.
 * @param hugePages         which memory the table asks for ({@link HugePages}); it falls back to the next kind that
 *                          works and says which it got ({@link ConntrackTable#memory()}).
 */
public record ConntrackConfig(
    int capacity,
    long tcpSynSent,
    long tcpSynRecv,
    long tcpEstablished,
    long tcpFinWait,
    long tcpCloseWait,
    long tcpLastAck,
    long tcpTimeWait,
    long tcpClose,
    long tcpUnacknowledged,
    long udp,
    long udpStream,
    long icmp,
    long generic,
    int sweepBudget,
    long hashSeed,
    HugePages hugePages)
{
    /** Default capacity (entries). */
    public static final int DEFAULT_CAPACITY = 262_144;
    /** Largest capacity the table supports. */
    public static final int MAX_CAPACITY = 1 << 26;
    /** Default number of entries examined per sweep call. */
    public static final int DEFAULT_SWEEP_BUDGET = 1024;

    /**
     * Validates the values.
     *
     * @param capacity          entries.
     * @param tcpSynSent        seconds.
     * @param tcpSynRecv        seconds.
     * @param tcpEstablished    seconds.
     * @param tcpFinWait        seconds.
     * @param tcpCloseWait      seconds.
     * @param tcpLastAck        seconds.
     * @param tcpTimeWait       seconds.
     * @param tcpClose          seconds.
     * @param tcpUnacknowledged seconds.
     * @param udp               seconds.
     * @param udpStream         seconds.
     * @param icmp              seconds.
     * @param generic           seconds.
     * @param sweepBudget       entries per sweep call.
     * @param hashSeed          hash secret.
     * @param hugePages         memory kind.
     */
    public ConntrackConfig
    {
        if (hugePages == null)
        {
            throw new IllegalArgumentException("conntrack hugePages must be set");
        }
        if (capacity < 1 || capacity > MAX_CAPACITY)
        {
            throw new IllegalArgumentException("conntrack capacity must be 1.." + MAX_CAPACITY + ", not " + capacity);
        }
        if (sweepBudget < 1)
        {
            throw new IllegalArgumentException("conntrack sweep budget must be at least 1, not " + sweepBudget);
        }
        final long[] all = {tcpSynSent, tcpSynRecv, tcpEstablished, tcpFinWait, tcpCloseWait, tcpLastAck,
            tcpTimeWait, tcpClose, tcpUnacknowledged, udp, udpStream, icmp, generic};
        for (final long t : all)
        {
            if (t < 0 || t > MAX_TIMEOUT_SECONDS)
            {
                throw new IllegalArgumentException("conntrack timeouts must be 0.." + MAX_TIMEOUT_SECONDS
                    + " seconds, not " + t);
            }
        }
    }

    /**
     * Which memory the table's slots and (without a state file) entries live in. A hit reads two random lines of a
     * table of up to hundreds of MB: with 4 KiB pages each is also a TLB miss, with 2 MiB pages the TLB holds the
     * whole table.
     */
    public enum HugePages
    {
        /** Transparent huge pages: an aligned anonymous mapping with {@code madvise(MADV_HUGEPAGE)} (the default). */
        TRANSPARENT,
        /** The reserved hugetlb pool ({@code vm.nr_hugepages}, {@code MAP_HUGETLB}); transparent when it is short. */
        HUGETLB,
        /** Ordinary memory ({@code Arena.allocate}, 4 KiB pages). */
        OFF
    }

    /** Largest timeout accepted, in seconds (about 68 years, so that nanoseconds cannot overflow). */
    public static final long MAX_TIMEOUT_SECONDS = Integer.MAX_VALUE;

    // one generator for every draw (SecureRandom is thread-safe); each draw is a fresh secret
    private static final SecureRandom SEEDS = new SecureRandom();

    /** @return a secret for {@code hashSeed}, from {@link SecureRandom}. */
    public static long randomHashSeed()
    {
        return SEEDS.nextLong();
    }

    /**
     * @param seed the hash secret.
     * @return a copy with that secret.
     */
    public ConntrackConfig withHashSeed(final long seed)
    {
        return toBuilder().hashSeed(seed).build();
    }

    /**
     * @param other another configuration.
     * @return whether both have the same capacity, timeouts and sweep budget, whatever their hash secrets.
     */
    public boolean sameSettings(final ConntrackConfig other)
    {
        return other != null && withHashSeed(other.hashSeed).equals(other);
    }

    /**
     * @return the defaults: 262144 entries, kube-proxy's TCP timeouts, netfilter's for the rest, a random hash
     *         secret.
     */
    public static ConntrackConfig defaults()
    {
        return builder().build();
    }

    /** @return a builder holding the defaults. */
    public static Builder builder()
    {
        return new Builder();
    }

    /** @return a builder holding this configuration's values. */
    public Builder toBuilder()
    {
        return new Builder()
            .capacity(capacity).tcpSynSent(tcpSynSent).tcpSynRecv(tcpSynRecv).tcpEstablished(tcpEstablished)
            .tcpFinWait(tcpFinWait).tcpCloseWait(tcpCloseWait).tcpLastAck(tcpLastAck).tcpTimeWait(tcpTimeWait)
            .tcpClose(tcpClose).tcpUnacknowledged(tcpUnacknowledged).udp(udp).udpStream(udpStream).icmp(icmp)
            .generic(generic).sweepBudget(sweepBudget).hashSeed(hashSeed).hugePages(hugePages);
    }

    /**
     * Reads the settings pushed in {@code NodeTables.ClusterSettings.conntrack}. Keys follow kube-proxy's
     * {@code KubeProxyConntrackConfiguration} where one exists: {@code maxPerCore}, {@code min},
     * {@code tcpEstablishedTimeout}, {@code tcpCloseWaitTimeout}, {@code udpTimeout}, {@code udpStreamTimeout};
     * ferry adds {@code max}, {@code tcpSynSentTimeout}, {@code tcpSynRecvTimeout}, {@code tcpFinWaitTimeout},
     * {@code tcpLastAckTimeout}, {@code tcpTimeWaitTimeout}, {@code tcpCloseTimeout},
     * {@code tcpUnacknowledgedTimeout}, {@code icmpTimeout}, {@code genericTimeout}, {@code sweepBudget} and
     * {@code hugePages} (0 or 1: transparent huge pages, the default; 2: the hugetlb pool; 3: off).
     * Timeouts are seconds; as in kube-proxy, 0 keeps the default. {@code max} wins over
     * {@code maxPerCore}/{@code min}; otherwise the capacity is {@code max(maxPerCore * cores, min)}.
     *
     * @param settings the settings by name; missing keys keep their defaults.
     * @return the configuration.
     * @throws IllegalArgumentException on an unknown key or a value out of range.
     */
    public static ConntrackConfig fromSettings(final Map<String, Long> settings)
    {
        final Builder b = builder();
        long maxPerCore = 0;
        long min = 0;
        boolean hasMax = false;
        for (final Map.Entry<String, Long> e : settings.entrySet())
        {
            final long v = e.getValue() == null ? 0 : e.getValue();
            if (v < 0)
            {
                throw new IllegalArgumentException("conntrack setting " + e.getKey() + " must not be negative: " + v);
            }
            switch (e.getKey())
            {
                case "max" ->
                {
                    if (v != 0)
                    {
                        b.capacity(toInt(e.getKey(), v));
                        hasMax = true;
                    }
                }
                case "maxPerCore" -> maxPerCore = v;
                case "min" -> min = v;
                case "sweepBudget" -> b.sweepBudget(v == 0 ? DEFAULT_SWEEP_BUDGET : toInt(e.getKey(), v));
                case "tcpSynSentTimeout" -> b.tcpSynSent(v == 0 ? b.tcpSynSent : v);
                case "tcpSynRecvTimeout" -> b.tcpSynRecv(v == 0 ? b.tcpSynRecv : v);
                case "tcpEstablishedTimeout" -> b.tcpEstablished(v == 0 ? b.tcpEstablished : v);
                case "tcpFinWaitTimeout" -> b.tcpFinWait(v == 0 ? b.tcpFinWait : v);
                case "tcpCloseWaitTimeout" -> b.tcpCloseWait(v == 0 ? b.tcpCloseWait : v);
                case "tcpLastAckTimeout" -> b.tcpLastAck(v == 0 ? b.tcpLastAck : v);
                case "tcpTimeWaitTimeout" -> b.tcpTimeWait(v == 0 ? b.tcpTimeWait : v);
                case "tcpCloseTimeout" -> b.tcpClose(v == 0 ? b.tcpClose : v);
                case "tcpUnacknowledgedTimeout" -> b.tcpUnacknowledged(v == 0 ? b.tcpUnacknowledged : v);
                case "udpTimeout" -> b.udp(v == 0 ? b.udp : v);
                case "udpStreamTimeout" -> b.udpStream(v == 0 ? b.udpStream : v);
                case "icmpTimeout" -> b.icmp(v == 0 ? b.icmp : v);
                case "genericTimeout" -> b.generic(v == 0 ? b.generic : v);
                case "hugePages" -> b.hugePages(hugePages(v));
                default -> throw new IllegalArgumentException("unknown conntrack setting '" + e.getKey()
                    + "'; known: max, maxPerCore, min, sweepBudget, tcp{SynSent,SynRecv,Established,FinWait,"
                    + "CloseWait,LastAck,TimeWait,Close,Unacknowledged}Timeout, udpTimeout, udpStreamTimeout, "
                    + "icmpTimeout, genericTimeout, hugePages");
            }
        }
        if (!hasMax && (maxPerCore != 0 || min != 0))
        {
            final long perCore = maxPerCore * Runtime.getRuntime().availableProcessors();
            b.capacity(toInt("maxPerCore/min", Math.max(perCore, min)));
        }
        return b.build();
    }

    private static HugePages hugePages(final long v)
    {
        return switch ((int)Math.min(v, Integer.MAX_VALUE))
        {
            case 0, 1 -> HugePages.TRANSPARENT;
            case 2 -> HugePages.HUGETLB;
            case 3 -> HugePages.OFF;
            default -> throw new IllegalArgumentException("conntrack setting hugePages must be 0 or 1 (transparent),"
                + " 2 (hugetlb) or 3 (off), not " + v);
        };
    }

    private static int toInt(final String key, final long v)
    {
        if (v > MAX_CAPACITY)
        {
            throw new IllegalArgumentException("conntrack setting " + key + " is too large: " + v + " > "
                + MAX_CAPACITY);
        }
        return (int)v;
    }

    /**
     * Builds a {@link ConntrackConfig}; starts from the defaults.
     */
    public static final class Builder
    {
        private int capacity = DEFAULT_CAPACITY;
        private long tcpSynSent = 120;
        private long tcpSynRecv = 60;
        private long tcpEstablished = 86_400;
        private long tcpFinWait = 120;
        private long tcpCloseWait = 3600;
        private long tcpLastAck = 30;
        private long tcpTimeWait = 120;
        private long tcpClose = 10;
        private long tcpUnacknowledged = 300;
        private long udp = 30;
        private long udpStream = 120;
        private long icmp = 30;
        private long generic = 600;
        private int sweepBudget = DEFAULT_SWEEP_BUDGET;
        // drawn by the first build() unless set, so that copies (toBuilder, withHashSeed, sameSettings, which
        // run on every table publish) never draw a secret they throw away
        private long hashSeed;
        private boolean hashSeedSet;
        private HugePages hugePages = HugePages.TRANSPARENT;

        private Builder()
        {
        }

        /**
         * @param v maximum entries.
         * @return this builder.
         */
        public Builder capacity(final int v)
        {
            capacity = v;
            return this;
        }

        /**
         * @param v seconds.
         * @return this builder.
         */
        public Builder tcpSynSent(final long v)
        {
            tcpSynSent = v;
            return this;
        }

        /**
         * @param v seconds.
         * @return this builder.
         */
        public Builder tcpSynRecv(final long v)
        {
            tcpSynRecv = v;
            return this;
        }

        /**
         * @param v seconds.
         * @return this builder.
         */
        public Builder tcpEstablished(final long v)
        {
            tcpEstablished = v;
            return this;
        }

        /**
         * @param v seconds.
         * @return this builder.
         */
        public Builder tcpFinWait(final long v)
        {
            tcpFinWait = v;
            return this;
        }

        /**
         * @param v seconds.
         * @return this builder.
         */
        public Builder tcpCloseWait(final long v)
        {
            tcpCloseWait = v;
            return this;
        }

        /**
         * @param v seconds.
         * @return this builder.
         */
        public Builder tcpLastAck(final long v)
        {
            tcpLastAck = v;
            return this;
        }

        /**
         * @param v seconds.
         * @return this builder.
         */
        public Builder tcpTimeWait(final long v)
        {
            tcpTimeWait = v;
            return this;
        }

        /**
         * @param v seconds.
         * @return this builder.
         */
        public Builder tcpClose(final long v)
        {
            tcpClose = v;
            return this;
        }

        /**
         * @param v seconds.
         * @return this builder.
         */
        public Builder tcpUnacknowledged(final long v)
        {
            tcpUnacknowledged = v;
            return this;
        }

        /**
         * @param v seconds.
         * @return this builder.
         */
        public Builder udp(final long v)
        {
            udp = v;
            return this;
        }

        /**
         * @param v seconds.
         * @return this builder.
         */
        public Builder udpStream(final long v)
        {
            udpStream = v;
            return this;
        }

        /**
         * @param v seconds.
         * @return this builder.
         */
        public Builder icmp(final long v)
        {
            icmp = v;
            return this;
        }

        /**
         * @param v seconds.
         * @return this builder.
         */
        public Builder generic(final long v)
        {
            generic = v;
            return this;
        }

        /**
         * @param v entries examined per sweep call.
         * @return this builder.
         */
        public Builder sweepBudget(final int v)
        {
            sweepBudget = v;
            return this;
        }

        /**
         * @param v the hash secret (a fixed value makes bucket placement reproducible: replay, tests).
         * @return this builder.
         */
        public Builder hashSeed(final long v)
        {
            hashSeed = v;
            hashSeedSet = true;
            return this;
        }

        /**
         * @param v which memory the table asks for.
         * @return this builder.
         */
        public Builder hugePages(final HugePages v)
        {
            hugePages = v;
            return this;
        }

        /** @return the configuration (with a random hash secret unless one was set; the same on every build). */
        public ConntrackConfig build()
        {
            if (!hashSeedSet)
            {
                hashSeed(randomHashSeed());
            }
            return new ConntrackConfig(capacity, tcpSynSent, tcpSynRecv, tcpEstablished, tcpFinWait, tcpCloseWait,
                tcpLastAck, tcpTimeWait, tcpClose, tcpUnacknowledged, udp, udpStream, icmp, generic, sweepBudget,
                hashSeed, hugePages);
        }
    }
}
