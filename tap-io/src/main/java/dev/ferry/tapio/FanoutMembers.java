package dev.ferry.tapio;

import java.util.Arrays;

/**
 * A model of one {@code PACKET_FANOUT} group's member array as the kernel keeps it ({@code net/packet/af_packet.c}):
 * a join appends ({@code __fanout_link}); a member that leaves gets the last member moved into its slot
 * ({@code __fanout_unlink}); the link going down unlinks every member and its coming back up links the sockets
 * that are still open again in the order they were created ({@code packet_notifier}: {@code NETDEV_DOWN}, then
 * {@code NETDEV_UP} walks the namespace's packet socket list, which {@code packet_create} appends to). The frame a
 * program answers {@code a} for goes to slot {@code a % members}.
 *
 * <p>Members are socket descriptors with the worker place they serve (or -1). Not thread-safe: {@link FanoutSteering}
 * holds its lock around every change and around the system call that makes the kernel do the same.
 */
final class FanoutMembers
{
    /** The most members a group of ferry's has: places are 0 to 63. */
    static final int MAX = 64;

    private final int[] fds = new int[MAX];
    private final int[] places = new int[MAX];
    private final long[] created = new long[MAX];
    private int count;
    private long sequence;

    /**
     * A socket joined: it takes the slot after the last.
     *
     * @param fd    its descriptor (unique among the open members).
     * @param place the worker it serves, or -1.
     */
    void join(final int fd, final int place)
    {
        if (count == MAX)
        {
            throw new IllegalStateException("a fanout group of ferry's has at most " + MAX + " members");
        }
        fds[count] = fd;
        places[count] = place;
        created[count] = sequence++;
        count++;
    }

    /**
     * A member socket closed while the kernel had it linked: the last member moves into its slot.
     *
     * @param fd its descriptor.
     * @return whether it was a member.
     */
    boolean leave(final int fd)
    {
        final int i = slotOfFd(fd);
        if (i < 0)
        {
            return false;
        }
        final int last = count - 1;
        fds[i] = fds[last];
        places[i] = places[last];
        created[i] = created[last];
        count = last;
        return true;
    }

    /**
     * A member socket closed while the link was down (the kernel had unlinked it and will not link it again): the
     * others keep their order, which is the order the link's return links them in.
     *
     * @param fd its descriptor.
     * @return whether it was a member.
     */
    boolean leaveUnlinked(final int fd)
    {
        final int i = slotOfFd(fd);
        if (i < 0)
        {
            return false;
        }
        System.arraycopy(fds, i + 1, fds, i, count - i - 1);
        System.arraycopy(places, i + 1, places, i, count - i - 1);
        System.arraycopy(created, i + 1, created, i, count - i - 1);
        count--;
        return true;
    }

    /**
     * A member saw the link go down ({@code ENETDOWN} on its socket): the kernel unlinked every member and links the
     * open ones again, in creation order, when the link returns. Every member reports the same flap; each report
     * puts the model in creation order, which the array keeps (joins append in creation order) until a member
     * closes: a close between the flap and the last member's report leaves the model wrong until the next flap.
     *
     * @return whether the order changed.
     */
    boolean linkFlapped()
    {
        final int[] before = Arrays.copyOf(fds, count);
        // insertion sort by creation: at most 64 members, control side
        for (int a = 1; a < count; a++)
        {
            for (int b = a; b > 0 && created[b - 1] > created[b]; b--)
            {
                swap(b - 1, b);
            }
        }
        return !Arrays.equals(before, Arrays.copyOf(fds, count));
    }

    /** The link went away: the kernel unlinked every member for good (their group is dead). */
    void clear()
    {
        count = 0;
    }

    private void swap(final int a, final int b)
    {
        final int fd = fds[a];
        fds[a] = fds[b];
        fds[b] = fd;
        final int place = places[a];
        places[a] = places[b];
        places[b] = place;
        final long c = created[a];
        created[a] = created[b];
        created[b] = c;
    }

    /** @return how many members the kernel's array holds. */
    int count()
    {
        return count;
    }

    /**
     * @param slot a slot, {@code 0 .. count() - 1}.
     * @return the descriptor of the member in it.
     */
    int fd(final int slot)
    {
        return fds[slot];
    }

    /**
     * @param slot a slot, {@code 0 .. count() - 1}.
     * @return the place of the member in it, or -1.
     */
    int place(final int slot)
    {
        return places[slot];
    }

    /**
     * @param fd a descriptor.
     * @return its slot, or -1 when it is no member.
     */
    int slotOfFd(final int fd)
    {
        for (int i = 0; i < count; i++)
        {
            if (fds[i] == fd)
            {
                return i;
            }
        }
        return -1;
    }

    /**
     * The slot table for a program that answers places {@code 0 .. places - 1}: each place's member slot; a place
     * without a member gets the slot of the next place (cyclically) that has one, or slot 0 in an empty group.
     *
     * @param places how many places the program answers.
     * @return the slot of each place.
     */
    int[] slots(final int places)
    {
        final int[] direct = new int[places];
        Arrays.fill(direct, -1);
        for (int i = 0; i < count; i++)
        {
            final int p = this.places[i];
            if (p >= 0 && p < places)
            {
                direct[p] = i;
            }
        }
        final int[] out = new int[places];
        for (int p = 0; p < places; p++)
        {
            out[p] = 0;
            for (int j = 0; j < places; j++)
            {
                final int s = direct[(p + j) % places];
                if (s >= 0)
                {
                    out[p] = s;
                    break;
                }
            }
        }
        return out;
    }
}
