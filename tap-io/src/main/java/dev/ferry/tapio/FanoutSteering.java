package dev.ferry.tapio;

import dev.ferry.core.workers.OwnerProgram;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * The program that steers one link's {@code PACKET_FANOUT} group ({@code PACKET_FANOUT_CBPF}), shared by the
 * group's sockets ({@link PacketSocketPort.Options#fanoutSteering}). The control side sets the program's body, whose
 * answers are worker places ({@link #program(long[])}); the kernel hands a frame to slot {@code answer % members} of
 * the group's member array, whose order is the kernel's, not the places'. So this class keeps a model of that array
 * ({@link FanoutMembers}: a join appends, a leaving member's slot gets the last one, a link flap relinks the open
 * sockets in creation order) and attaches the body with a slot table appended ({@link OwnerProgram#withSlots}):
 * place w answers the slot of w's socket. Whenever the model or the body changes, the program is made again and
 * attached through any member ({@code PACKET_FANOUT_DATA}); no socket ever leaves and joins again to fix the order.
 *
 * <p>A place without a socket (its worker's link is down, or it has not opened yet) answers the slot of the next
 * place that has one: its frames reach another worker, and worker-handoff, which still decides every packet, hands
 * them over. Places are the sockets' {@link PacketSocketPort.Options#fanoutMember}; the table covers places up to
 * the highest seen.
 *
 * <p>Each socket's join ({@code setsockopt(PACKET_FANOUT)}), leave (close) and flap report happens under this
 * object's lock together with the model's change, so that the kernel and the model see the same order although the
 * group's sockets are opened by different worker threads. A kernel that refuses the CBPF mode (or the program) for
 * the first socket leaves the group in {@code PACKET_FANOUT_HASH}, logged once; {@link #mode()} says which is in use.
 *
 * <p>Thread-safe: every method that reads or changes the model is synchronized; the mode is published through
 * volatile fields.
 */
public final class FanoutSteering
{
    /** The kernel's flow hash: the group was never steered, or the kernel refused the program. */
    public static final String HASH = "hash";
    /** The group runs the steering program. */
    public static final String CBPF = "cbpf";

    private static final System.Logger LOG = System.getLogger("dev.ferry.tapio");

    private final FanoutMembers members = new FanoutMembers();
    private final MemorySegment state = LinuxNative.newCallState(Arena.ofAuto());
    private long[] body;
    private long[] attached;
    private int[] slots = new int[0];
    private int places;
    private int tableChanges;
    private volatile boolean refused;
    private volatile boolean joined;

    /**
     * @param program the first program's body: classic BPF instructions as {@code dev.ferry.core.workers.OwnerProgram}
     *                encodes them, answering worker places.
     */
    public FanoutSteering(final long[] program)
    {
        this.body = program.clone();
        this.attached = this.body;
    }

    /**
     * Replaces the program's body (control side): attached at once, with the current slot table, through any member.
     *
     * @param next the new instructions.
     */
    public synchronized void program(final long[] next)
    {
        body = next.clone();
        attachThroughAMember();
    }

    /** @return the current body (not to be modified). */
    synchronized long[] program()
    {
        return body;
    }

    /** @return the program last made for the kernel: the body with the slot table (not to be modified). */
    synchronized long[] attached()
    {
        return attached;
    }

    /** @return the slot of each place, as the attached program maps them. */
    public synchronized int[] slots()
    {
        return slots.clone();
    }

    /** @return how many times the slot table changed (each change is logged). */
    public synchronized int tableChanges()
    {
        return tableChanges;
    }

    /** @return whether sockets join in CBPF mode: the kernel has not refused it. */
    boolean cbpf()
    {
        return !refused;
    }

    /** The first socket found CBPF refused: this and the later sockets join in hash mode. */
    void refuse()
    {
        refused = true;
    }

    /** @return whether a socket joined in CBPF mode: it cannot fall back any more (the group's mode is fixed). */
    boolean anyJoined()
    {
        return joined;
    }

    /**
     * A socket joined the group in CBPF mode (the caller holds this lock across the join): the model appends it and
     * the program, made again for the new array, is attached through it.
     *
     * @param fd    its descriptor.
     * @param place its worker place, or -1.
     * @return 0, or the errno of the kernel's refusal of the program.
     */
    synchronized int joined(final int fd, final int place)
    {
        members.join(fd, place);
        places = Math.max(places, place + 1);
        remake();
        final int e = attach(fd, attached);
        if (e == 0)
        {
            joined = true;
        }
        return e;
    }

    /**
     * A member is about to close (the caller holds this lock and closes it before releasing it).
     *
     * @param fd     its descriptor.
     * @param linked whether the kernel still has it linked (false: the link is down, the kernel unlinked it and will
     *               not link it again once closed).
     */
    synchronized void leaving(final int fd, final boolean linked)
    {
        final boolean was = linked ? members.leave(fd) : members.leaveUnlinked(fd);
        if (was)
        {
            attachThroughAMember();
        }
    }

    /**
     * A member saw {@code ENETDOWN}: the link went down (and maybe up again); the kernel relinks the open members in
     * creation order when it returns.
     */
    synchronized void linkFlapped()
    {
        if (members.linkFlapped())
        {
            attachThroughAMember();
        }
    }

    /** A member found its link gone (deleted, or made again with another index): the group is dead. */
    synchronized void linkGone()
    {
        if (members.count() > 0)
        {
            members.clear();
            remake();
        }
    }

    /** Makes the program for the current model and attaches it through the first member, if any. */
    private void attachThroughAMember()
    {
        remake();
        if (refused || members.count() == 0)
        {
            return;
        }
        final int e = attach(members.fd(0), attached);
        if (e != 0)
        {
            // the previous program keeps steering: frames reach the wrong worker at worst, and are handed over
            LOG.log(System.Logger.Level.WARNING, "the kernel refused the fanout group''s new program ({0}, errno {1});"
                + " the previous one steers", LinuxNative.strerror(e), e);
        }
    }

    private void remake()
    {
        final int[] next = members.slots(places);
        if (!Arrays.equals(next, slots))
        {
            slots = next;
            tableChanges++;
            LOG.log(System.Logger.Level.INFO, "fanout group: {0} members, worker -> slot {1}", members.count(),
                Arrays.toString(next));
        }
        attached = places == 0 ? body : OwnerProgram.withSlots(body, slots);
    }

    /**
     * Attaches a program to a socket's fanout group ({@code PACKET_FANOUT_DATA}, a {@code sock_fprog}).
     *
     * @return 0, or the errno of the refusal.
     */
    private int attach(final int fd, final long[] program)
    {
        try (Arena a = Arena.ofConfined())
        {
            final MemorySegment filter = a.allocate(8L * program.length, 8);
            for (int i = 0; i < program.length; i++)
            {
                final long insn = program[i];
                final long at = 8L * i;
                filter.set(ValueLayout.JAVA_SHORT, at, (short)(insn >>> 48));
                filter.set(ValueLayout.JAVA_BYTE, at + 2, (byte)(insn >>> 40));
                filter.set(ValueLayout.JAVA_BYTE, at + 3, (byte)(insn >>> 32));
                filter.set(ValueLayout.JAVA_INT, at + 4, (int)insn);
            }
            final MemorySegment fprog = a.allocate(16, 8);
            fprog.set(ValueLayout.JAVA_SHORT, 0, (short)program.length);
            fprog.set(ValueLayout.ADDRESS, 8, filter);
            if (LinuxNative.setsockopt(state, fd, PacketSocketPort.SOL_PACKET, PacketSocketPort.PACKET_FANOUT_DATA,
                fprog, 16) < 0)
            {
                return LinuxNative.errno(state);
            }
            return 0;
        }
    }

    /** @return {@link #CBPF} or {@link #HASH}: how the group shares the link's frames. */
    public String mode()
    {
        return refused ? HASH : CBPF;
    }
}
