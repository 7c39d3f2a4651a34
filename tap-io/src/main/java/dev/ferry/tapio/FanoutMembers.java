package dev.ferry.tapio;

import java.util.Arrays;
import java.util.Comparator;

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

    /** A member socket: its descriptor, the worker place it serves (or -1), and when it was created (a count). */
    private record Member(int fd, int place, long created)
    {
    }

    private final Member[] members = new Member[MAX];
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
        members[count++] = new Member(fd, place, sequence++);
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
        members[i] = members[--count];
        members[count] = null;
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
        System.arraycopy(members, i + 1, members, i, count - i - 1);
        members[--count] = null;
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
        final Member[] before = Arrays.copyOf(members, count);
        Arrays.sort(members, 0, count, Comparator.comparingLong(Member::created));
        return !Arrays.equals(before, Arrays.copyOf(members, count));
    }

    /** The link went away: the kernel unlinked every member for good (their group is dead). */
    void clear()
    {
        Arrays.fill(members, 0, count, null);
        count = 0;
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
        return members[slot].fd();
    }

    /**
     * @param fd a descriptor.
     * @return its slot, or -1 when it is no member.
     */
    private int slotOfFd(final int fd)
    {
        for (int i = 0; i < count; i++)
        {
            if (members[i].fd() == fd)
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
            final int p = members[i].place();
            if (p >= 0 && p < places)
            {
                direct[p] = i;
            }
        }
        final int[] out = new int[places];
        for (int p = 0; p < places; p++)
        {
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
