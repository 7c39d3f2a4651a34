package dev.ferry.tapio;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The model of a fanout group's member array against a reference that does what {@code net/packet/af_packet.c}
 * does: {@code __fanout_link} appends, {@code __fanout_unlink} moves the last member into the hole,
 * {@code NETDEV_DOWN} unlinks every member and {@code NETDEV_UP} links the still open sockets again in the order
 * of the namespace's socket list (creation order). Each member reports a flap once, in any order, with joins and
 * closes between the reports; the slot table names each place's slot.
 */
class FanoutMembersTest
{
    /** The kernel, as far as one group goes. */
    private static final class Kernel
    {
        final List<Integer> arr = new ArrayList<>();
        final List<Integer> sklist = new ArrayList<>();
        boolean down;

        void join(final int fd)
        {
            sklist.add(fd);
            arr.add(fd);
        }

        void close(final int fd)
        {
            sklist.remove(Integer.valueOf(fd));
            final int i = arr.indexOf(fd);
            if (i >= 0)
            {
                arr.set(i, arr.get(arr.size() - 1));
                arr.remove(arr.size() - 1);
            }
        }

        void linkDown()
        {
            arr.clear();
            down = true;
        }

        void linkUp()
        {
            arr.addAll(sklist);
            down = false;
        }
    }

    @Property(tries = 3000)
    void modelFollowsTheKernelsMemberArray(@ForAll final long seed, @ForAll @IntRange(min = 1, max = 8) final int n)
    {
        final SplittableRandom r = new SplittableRandom(seed);
        final Kernel k = new Kernel();
        final FanoutMembers m = new FanoutMembers();
        final int[] placeOf = new int[10_000];
        final List<Integer> unreported = new ArrayList<>();
        // a flap no member reported yet: the model does not know of it (the ports learn of it at their checks)
        final boolean[] stale = new boolean[1];
        // a member closed after the link returned but before every member reported the flap: the model cannot know
        // the order until the next flap (a shutdown racing a flap, the known gap)
        boolean unknowable = false;
        int nextFd = 3;
        for (int step = 0; step < 60; step++)
        {
            final int op = r.nextInt(10);
            if (op < 4 && !k.down && k.sklist.size() < FanoutMembers.MAX)
            {
                final int fd = nextFd++;
                placeOf[fd] = r.nextInt(n + 1) - 1;
                k.join(fd);
                m.join(fd, placeOf[fd]);
            }
            else if (op < 7 && !k.sklist.isEmpty())
            {
                final int fd = k.sklist.get(r.nextInt(k.sklist.size()));
                final boolean linked = k.arr.contains(fd);
                unknowable |= linked && !unreported.contains(fd) && !unreported.isEmpty()
                    || linked && unreported.size() > 1;
                k.close(fd);
                unreported.remove(Integer.valueOf(fd));
                if (linked)
                {
                    m.leave(fd);
                }
                else
                {
                    m.leaveUnlinked(fd);
                }
            }
            else if (op < 8 && !k.down && unreported.isEmpty())
            {
                // the link goes down: every member learns of it, some now, the rest later
                k.linkDown();
                unreported.clear();
                unreported.addAll(k.sklist);
                stale[0] = !unreported.isEmpty();
                unknowable = false;
                Collections.shuffle(unreported, new java.util.Random(r.nextLong()));
                report(m, unreported, r.nextInt(unreported.size() + 1), stale);
            }
            else if (op < 9 && k.down)
            {
                report(m, unreported, r.nextInt(unreported.size() + 1), stale);
                k.linkUp();
                report(m, unreported, r.nextInt(unreported.size() + 1), stale);
            }
            else
            {
                report(m, unreported, 1, stale);
            }
            stale[0] &= !k.sklist.isEmpty();
            if (!k.down && !stale[0] && !unknowable)
            {
                assertSame(k, m, placeOf, n);
            }
        }
    }

    private static void report(final FanoutMembers m, final List<Integer> unreported, final int how,
        final boolean[] stale)
    {
        for (int i = 0; i < how && !unreported.isEmpty(); i++)
        {
            unreported.remove(0);
            m.linkFlapped();
            stale[0] = false;
        }
    }

    private static void assertSame(final Kernel k, final FanoutMembers m, final int[] placeOf, final int n)
    {
        final List<Integer> model = new ArrayList<>();
        for (int i = 0; i < m.count(); i++)
        {
            model.add(m.fd(i));
        }
        assertThat(model).as("member array").isEqualTo(k.arr);
        final int[] slots = m.slots(n);
        for (int p = 0; p < n; p++)
        {
            final int place = p;
            final boolean present = k.arr.stream().anyMatch(fd -> placeOf[fd] == place);
            if (present)
            {
                assertThat(placeOf[k.arr.get(slots[p])]).as("slot of place %d", p).isEqualTo(p);
            }
            else if (!k.arr.isEmpty())
            {
                assertThat(slots[p]).as("a present slot for absent place %d", p).isBetween(0, k.arr.size() - 1);
            }
        }
    }

    @Test
    void shouldMoveTheLastMemberIntoTheHoleAndStandInForAnAbsentPlace()
    {
        final FanoutMembers m = new FanoutMembers();
        m.join(10, 0);
        m.join(11, 1);
        m.join(12, 2);
        m.join(13, 3);
        assertThat(m.slots(4)).containsExactly(0, 1, 2, 3);
        m.leave(11);
        // [10, 13, 12]: place 1 absent stands in with place 2's slot
        assertThat(m.slots(4)).containsExactly(0, 2, 2, 1);
        m.join(14, 1);
        assertThat(m.slots(4)).containsExactly(0, 3, 2, 1);
        // a flap: the kernel links 10, 12, 13, 14 again in creation order; the second report is the same flap
        assertThat(m.linkFlapped()).isTrue();
        assertThat(m.linkFlapped()).isFalse();
        assertThat(m.slots(4)).containsExactly(0, 3, 1, 2);
        m.clear();
        assertThat(m.count()).isZero();
        assertThat(m.slots(2)).containsExactly(0, 0);
    }
}
