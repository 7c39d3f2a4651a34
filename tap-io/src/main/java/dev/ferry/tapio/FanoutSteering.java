package dev.ferry.tapio;

/**
 * The program that steers one link's {@code PACKET_FANOUT} group ({@code PACKET_FANOUT_CBPF}), shared by the
 * group's sockets ({@link PacketSocketPort.Options#fanoutSteering}): the control side sets a new program when its
 * inputs change, each socket attaches the current one when it joins (again, after the link came back) and the
 * newest one in {@link PacketSocketPort#maintain()}. The kernel keeps one program per group; any member may
 * replace it.
 *
 * <p>The kernel maps the program's answer onto the member {@code answer % members}, members numbered in the order
 * they joined (a member that leaves gives its slot to the last one); the sockets must join in worker order for an
 * answer to name a worker. Sockets that know their place ({@link PacketSocketPort.Options#fanoutMember}) keep that
 * order when they join again after the link came back: a socket waits for the members before it (at most
 * {@link #JOIN_WAIT_NANOS}), and one that joins while members after it are in the group makes them leave and join
 * again behind it ({@link #reorders()}), so that the slots follow the places again. A kernel that refuses the
 * CBPF mode (or the program) for the first socket leaves the group in {@code PACKET_FANOUT_HASH}, logged once;
 * {@link #mode()} says which is in use.
 *
 * <p>Thread-safe: the program and the mode are published through volatile fields.
 */
public final class FanoutSteering
{
    /** The kernel's flow hash: the group was never steered, or the kernel refused the program. */
    public static final String HASH = "hash";
    /** The group runs the steering program. */
    public static final String CBPF = "cbpf";

    /** How long a socket waits for the members before it to join again, before it joins anyway. */
    public static final long JOIN_WAIT_NANOS = 500_000_000L;

    private final long[] waitingSince = new long[64];
    private long members;
    private volatile int reorders;
    private volatile long[] program;
    private volatile int version;
    private volatile boolean refused;
    private volatile boolean joined;

    /**
     * @param program the first program: classic BPF instructions as {@code dev.ferry.core.workers.OwnerProgram}
     *                encodes them.
     */
    public FanoutSteering(final long[] program)
    {
        this.program = program.clone();
    }

    /**
     * Replaces the program (control side); every socket of the group attaches it at its next link check.
     *
     * @param next the new instructions.
     */
    public synchronized void program(final long[] next)
    {
        program = next.clone();
        version++;
    }

    /** @return the current instructions (not to be modified). */
    long[] program()
    {
        return program;
    }

    /** @return how many times the program was replaced. */
    int version()
    {
        return version;
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

    /** A socket joined the group in CBPF mode with the program attached. */
    void joined()
    {
        joined = true;
    }

    /** @return whether a socket joined in CBPF mode: it cannot fall back any more (the group's mode is fixed). */
    boolean anyJoined()
    {
        return joined;
    }

    /**
     * Whether the socket of place {@code member} may join now: every place before it is a member, or it has waited
     * {@link #JOIN_WAIT_NANOS} for them (a socket that never comes back must not keep the others out).
     *
     * @param member the socket's place, 0 to 63.
     * @param now    the caller's clock.
     * @return whether to join.
     */
    synchronized boolean mayJoin(final int member, final long now)
    {
        final long before = (1L << member) - 1;
        if ((members & before) == before)
        {
            waitingSince[member] = 0;
            return true;
        }
        if (waitingSince[member] == 0)
        {
            waitingSince[member] = now;
            return false;
        }
        if (now - waitingSince[member] < JOIN_WAIT_NANOS)
        {
            return false;
        }
        waitingSince[member] = 0;
        return true;
    }

    /**
     * The socket of place {@code member} joined; members of later places already in the group now sit before it,
     * so they are asked to join again ({@link #reorders()} moves).
     *
     * @param member its place.
     */
    synchronized void memberJoined(final int member)
    {
        members |= 1L << member;
        if (member < 63 && members >>> (member + 1) != 0)
        {
            reorders++;
        }
    }

    /**
     * The socket of place {@code member} left the group (closed).
     *
     * @param member its place.
     */
    synchronized void memberLeft(final int member)
    {
        members &= ~(1L << member);
    }

    /** @return how many times a socket joined ahead of members of later places: those must join again. */
    int reorders()
    {
        return reorders;
    }

    /** @return {@link #CBPF} or {@link #HASH}: how the group shares the link's frames. */
    public String mode()
    {
        return refused ? HASH : CBPF;
    }
}
