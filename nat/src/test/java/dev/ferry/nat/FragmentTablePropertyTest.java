package dev.ferry.nat;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The virtual reassembly table against a model: whatever the arrival order, every fragment of a well-formed
 * datagram is handed on exactly once with its datagram's ports; the table never holds more contexts or fragments
 * than its bounds, its held count matches what it holds, and nothing is left (no context, no held buffer) once the
 * datagrams completed or timed out. Hostile fragments (random offsets, lengths and MF flags) keep the same bounds
 * and never change the ports a fragment is handed on with.
 */
class FragmentTablePropertyTest
{
    private static final long TIMEOUT = 3_000_000_000L;

    /** One fragment as the table sees it, and which datagram it belongs to. */
    record Frag(int datagram, int offset, int length, boolean more)
    {
    }

    /** What the model does with one handle. */
    private static final int PENDING = 0;
    private static final int HELD = 1;
    private static final int PASSED = 2;
    private static final int DROPPED = 3;

    @Property(tries = 300)
    void everyFragmentOfWellFormedDatagramsIsHandedOnOnceWithItsPortsInAnyOrder(@ForAll final long seed,
        @ForAll @IntRange(min = 1, max = 12) final int datagrams, @ForAll @IntRange(min = 1, max = 16) final int cap,
        @ForAll @IntRange(min = 0, max = 24) final int maxHeld)
    {
        final Random rnd = new Random(seed);
        final List<Frag> frags = new ArrayList<>();
        final int[] ports = new int[datagrams];
        for (int d = 0; d < datagrams; d++)
        {
            ports[d] = rnd.nextInt();
            final int total = 8 + rnd.nextInt(9000);
            int off = 0;
            while (off < total)
            {
                final int len = Math.min(total - off, 8 * (1 + rnd.nextInt(200)));
                frags.add(new Frag(d, off, len, off + len < total));
                off += len;
            }
        }
        Collections.shuffle(frags, rnd);
        final Outcome o = run(frags, ports, cap, maxHeld, 64);
        final boolean roomy = cap >= datagrams && maxHeld >= frags.size();
        if (roomy)
        {
            assertThat(o.state).as("all handed on").containsOnly(PASSED);
            assertThat(o.table.inUse()).as("complete datagrams free their context").isZero();
        }
        for (int h = 0; h < frags.size(); h++)
        {
            if (o.state[h] == PASSED)
            {
                assertThat(o.ports[h]).isEqualTo(ports[frags.get(h).datagram()]);
            }
        }
        drain(o, frags.size());
    }

    @Property(tries = 300)
    void hostileFragmentsStayWithinBoundsAndNeverChangeADatagramsPorts(@ForAll final long seed,
        @ForAll @IntRange(min = 1, max = 40) final int count, @ForAll @IntRange(min = 1, max = 8) final int cap,
        @ForAll @IntRange(min = 0, max = 8) final int maxHeld, @ForAll @IntRange(min = 2, max = 6) final int maxFrags)
    {
        final Random rnd = new Random(seed);
        final List<Frag> frags = new ArrayList<>();
        final int[] ports = new int[4];
        for (int d = 0; d < ports.length; d++)
        {
            ports[d] = rnd.nextInt();
        }
        for (int i = 0; i < count; i++)
        {
            final int d = rnd.nextInt(ports.length);
            final int off = rnd.nextInt(4) == 0 ? 0 : 8 * rnd.nextInt(64);
            frags.add(new Frag(d, off, rnd.nextInt(4) == 0 ? rnd.nextInt(40) : 8 * rnd.nextInt(20),
                rnd.nextBoolean()));
        }
        final Outcome o = run(frags, ports, cap, maxHeld, maxFrags);
        for (int h = 0; h < frags.size(); h++)
        {
            assertThat(o.state[h]).isNotEqualTo(PENDING);
        }
        drain(o, frags.size());
    }

    /** The table and what it did with every handle. */
    private record Outcome(FragmentTable table, int[] state, int[] ports, int[] firstPorts)
    {
    }

    private static Outcome run(final List<Frag> frags, final int[] ports, final int cap, final int maxHeld,
        final int maxFrags)
    {
        final FragmentTable t = new FragmentTable(cap, maxFrags, maxHeld, TIMEOUT, 7, frags.size());
        final int[] state = new int[frags.size()];
        final int[] got = new int[frags.size()];
        final int[] firstPorts = new int[ports.length];
        final boolean[] firstSeen = new boolean[ports.length];
        // a datagram's own first fragment carries its ports; a hostile duplicate first fragment carries others
        for (int h = 0; h < frags.size(); h++)
        {
            final Frag f = frags.get(h);
            final int p = f.offset() == 0 && firstSeen[f.datagram()] ? ~ports[f.datagram()] : ports[f.datagram()];
            final int r = t.add(0x0a000001, 0x0a000002 + f.datagram(), 17, 42, f.offset(), f.length(), f.more(), p,
                h, 1000L);
            final int c = t.context();
            switch (r)
            {
                case FragmentTable.PASS ->
                {
                    if (f.offset() == 0)
                    {
                        firstSeen[f.datagram()] = true;
                        firstPorts[f.datagram()] = p;
                    }
                    // always the ports of the first fragment the live context accepted, never a later one's
                    assertThat(t.ports(c)).isEqualTo(firstPorts[f.datagram()]);
                    state[h] = PASSED;
                    got[h] = t.ports(c);
                    for (int x = t.firstHeld(c); x != FragmentTable.NONE; x = t.nextHeld(x))
                    {
                        assertThat(state[x]).isEqualTo(HELD);
                        state[x] = PASSED;
                        got[x] = t.ports(c);
                    }
                    t.settle(c);
                }
                case FragmentTable.HOLD -> state[h] = HELD;
                default ->
                {
                    state[h] = DROPPED;
                    if (c != FragmentTable.NONE)
                    {
                        for (int x = t.firstHeld(c); x != FragmentTable.NONE; x = t.nextHeld(x))
                        {
                            assertThat(state[x]).isEqualTo(HELD);
                            state[x] = DROPPED;
                        }
                        t.settle(c);
                    }
                }
            }
            assertThat(t.inUse()).isLessThanOrEqualTo(cap);
            assertThat(t.held()).isLessThanOrEqualTo(maxHeld).isEqualTo(count(state, HELD));
        }
        return new Outcome(t, state, got, firstPorts);
    }

    /** Times everything out: every held fragment is handed back once, and nothing is left in the table. */
    private static void drain(final Outcome o, final int handles)
    {
        final FragmentTable t = o.table();
        assertThat(t.expired(1000L + TIMEOUT - 1)).isEqualTo(FragmentTable.NONE);
        for (int c = t.expired(1000L + TIMEOUT); c != FragmentTable.NONE; c = t.expired(1000L + TIMEOUT))
        {
            for (int x = t.firstHeld(c); x != FragmentTable.NONE; x = t.nextHeld(x))
            {
                assertThat(o.state()[x]).isEqualTo(HELD);
                o.state()[x] = DROPPED;
            }
            t.expire(c);
        }
        assertThat(t.inUse()).isZero();
        assertThat(t.held()).isZero();
        assertThat(count(o.state(), HELD)).isZero();
        assertThat(count(o.state(), PENDING)).isZero();
        assertThat(o.state()).hasSize(handles);
    }

    private static int count(final int[] state, final int what)
    {
        int n = 0;
        for (final int s : state)
        {
            n += s == what ? 1 : 0;
        }
        return n;
    }
}
