package dev.ferry.core.route;

import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

class Ip4LpmTest
{
    @Test
    void shouldPreferLongestPrefix()
    {
        final Ip4Lpm lpm = Ip4Lpm.builder()
            .add(Ip4Prefix.parse("0.0.0.0/0"), 0)
            .add(Ip4Prefix.parse("10.244.0.0/16"), 1)
            .add(Ip4Prefix.parse("10.244.1.0/24"), 2)
            .add(Ip4Prefix.parse("10.244.1.7/32"), 3)
            .add(Ip4Prefix.parse("10.244.1.128/25"), 4)
            .build();
        assertThat(lpm.lookup(Ip4.parse("8.8.8.8"))).isEqualTo(0);
        assertThat(lpm.lookup(Ip4.parse("10.244.9.1"))).isEqualTo(1);
        assertThat(lpm.lookup(Ip4.parse("10.244.1.6"))).isEqualTo(2);
        assertThat(lpm.lookup(Ip4.parse("10.244.1.7"))).isEqualTo(3);
        assertThat(lpm.lookup(Ip4.parse("10.244.1.200"))).isEqualTo(4);
    }

    @Test
    void shouldReturnNoRouteWithoutDefault()
    {
        final Ip4Lpm lpm = Ip4Lpm.builder().add(Ip4Prefix.parse("10.0.0.0/8"), 5).build();
        assertThat(lpm.lookup(Ip4.parse("11.0.0.1"))).isEqualTo(Ip4Lpm.NO_ROUTE);
        assertThat(lpm.lookup(Ip4.parse("10.255.255.255"))).isEqualTo(5);
    }

    @Property(tries = 200)
    void shouldAgreeWithNaiveLongestPrefixScan(@ForAll("routes") final List<Ip4Prefix> prefixes,
        @ForAll("addresses") final List<Integer> probes)
    {
        final Map<Ip4Prefix, Integer> table = new LinkedHashMap<>();
        final Ip4Lpm.Builder b = Ip4Lpm.builder();
        int v = 0;
        for (final Ip4Prefix p : prefixes)
        {
            table.put(p, v);
            b.add(p, v++);
        }
        final Ip4Lpm lpm = b.build();
        // probe random addresses and the edges of every prefix
        final java.util.List<Integer> all = new java.util.ArrayList<>(probes);
        for (final Ip4Prefix p : prefixes)
        {
            all.add(p.address());
            all.add(p.address() | ~Ip4Prefix.mask(p.length()));
        }
        for (final int addr : all)
        {
            assertThat(lpm.lookup(addr)).as("lookup %s", Ip4.format(addr)).isEqualTo(naive(table, addr));
        }
    }

    private static int naive(final Map<Ip4Prefix, Integer> table, final int addr)
    {
        int best = -1;
        int bestLen = -1;
        for (final Map.Entry<Ip4Prefix, Integer> e : table.entrySet())
        {
            if (e.getKey().contains(addr) && e.getKey().length() > bestLen)
            {
                best = e.getValue();
                bestLen = e.getKey().length();
            }
        }
        return best;
    }

    @Provide
    Arbitrary<List<Ip4Prefix>> routes()
    {
        // cluster addresses concentrate in a few /8s so that prefixes nest and overlap often
        final Arbitrary<Integer> addr = Combinators.combine(Arbitraries.of(10, 192, 172, 0),
            Arbitraries.integers()).as((top, rest) -> (top << 24) | (rest & 0x00ffffff));
        final Arbitrary<Ip4Prefix> prefix = Combinators.combine(addr, Arbitraries.integers().between(0, 32))
            .as(Ip4Prefix::new);
        return prefix.list().ofMinSize(1).ofMaxSize(300);
    }

    @Provide
    Arbitrary<List<Integer>> addresses()
    {
        return Combinators.combine(Arbitraries.of(10, 192, 172, 0, 8), Arbitraries.integers())
            .as((top, rest) -> (top << 24) | (rest & 0x00ffffff)).list().ofSize(200);
    }
}
