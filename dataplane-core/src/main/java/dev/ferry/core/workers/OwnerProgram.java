package dev.ferry.core.workers;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A classic BPF program for the uplink's {@code PACKET_FANOUT_CBPF} group that answers, for a received frame, the
 * worker {@link FlowOwner} would pick for it, so that the kernel hands the frame to its owner's socket and no
 * worker has to pass it on through the {@link Handoff} ring (a thread wake-up per frame of a sparse flow).
 *
 * <p>What it judges, as {@code worker-handoff} does after ip4-input and vxlan-decap:
 * <ul>
 *   <li>IPv4/UDP to the cluster's VXLAN port carrying an Ethernet/IPv4 frame: the inner packet; any other IPv4
 *       packet: itself;</li>
 *   <li>TCP and UDP: addresses and ports; ICMP other than errors: the identifier as both ports; fragments and
 *       other protocols: the addresses with ports 0;</li>
 *   <li>rules 1 and 4 (a SNAT address with a port inside the masquerade range: its partition), with the node's
 *       SNAT addresses and range as constants, and rule 5 (the symmetric keyed hash);</li>
 *   <li>given the Service roles (frontends and backends, {@link #generate(FlowOwner, int, long[], long[])}), rules 2
 *       and 3 as well: each end is looked up in the roles compiled in as constants, protocol and port first (one
 *       key, {@code proto << 16 | port}, searched by halving: most frames are rejected there) and the address
 *       last; one end translatable anchors the flow on the other (its SNAT partition or its endpoint hash), both
 *       pin it to worker 0.</li>
 * </ul>
 * Without roles, or with more than {@link #MAX_ROLES} of them, the program does not judge rules 2 and 3: for a
 * Service flow its answer may name another worker, which costs a hand-off and nothing else ({@code worker-handoff}
 * still decides every packet). ICMP errors, non-IPv4 frames and inner frames that are not IPv4 get the kernel's
 * flow hash ({@code SKF_AD_RXHASH}), which the kernel takes modulo the group's members as the hash mode does. A
 * load past the end of the packet (a short or garbled frame) ends the program with 0: worker 0's socket, counted
 * nowhere in the kernel.
 *
 * <p>Loads are absolute and relative to {@code skb->data}, which on receive points at the network header (the
 * link-layer header is already pulled when {@code packet_rcv_fanout} runs); unlike {@code SKF_NET_OFF} loads they
 * also reach headers in a non-linear skb's fragments (the kernel copies them out). The protocol of the frame comes
 * from {@code SKF_AD_PROTOCOL}. The program returns a worker index, {@code 0 .. workers - 1}; the kernel reduces
 * the answer modulo the member count and hands the frame to that slot of its member array, whose order is the
 * kernel's (joins append, a leaving member's slot gets the last one). {@link #withSlots} turns worker answers into
 * slots with a jump table at the end, built from a model of that array ({@code tap-io}'s {@code FanoutSteering}).
 *
 * <p>Built on the control side when the inputs change (secret, worker count, SNAT addresses, masquerade range,
 * VXLAN port, Service roles), never per packet. A conditional jump reaches 255 instructions: a longer one goes
 * through a {@code ja} within its reach. Instructions are encoded one per long:
 * {@code code << 48 | jt << 40 | jf << 32 | k}, see {@link #code}, {@link #jt}, {@link #jf}, {@link #k}.
 */
public final class OwnerProgram
{
    /** Classic BPF instruction classes, sizes, modes and operations the generator uses. */
    public static final int LD = 0x00;
    /** Load into X. */
    public static final int LDX = 0x01;
    /** Store A in scratch memory. */
    public static final int ST = 0x02;
    /** Arithmetic on A. */
    public static final int ALU = 0x04;
    /** Jumps. */
    public static final int JMP = 0x05;
    /** Return. */
    public static final int RET = 0x06;
    /** TAX, TXA. */
    public static final int MISC = 0x07;
    /** 32-bit load. */
    public static final int W = 0x00;
    /** 16-bit load. */
    public static final int H = 0x08;
    /** 8-bit load. */
    public static final int B = 0x10;
    /** Immediate. */
    public static final int IMM = 0x00;
    /** Packet at k. */
    public static final int ABS = 0x20;
    /** Packet at X + k. */
    public static final int IND = 0x40;
    /** Scratch memory k. */
    public static final int MEM = 0x60;
    /** X = 4 * (packet[k] &amp; 0xf). */
    public static final int MSH = 0xa0;
    /** A + operand. */
    public static final int ADD = 0x00;
    /** A - operand. */
    public static final int SUB = 0x10;
    /** A * operand. */
    public static final int MUL = 0x20;
    /** A / operand, unsigned. */
    public static final int DIV = 0x30;
    /** A &amp; operand. */
    public static final int AND = 0x50;
    /** A &lt;&lt; operand. */
    public static final int LSH = 0x60;
    /** A &gt;&gt;&gt; operand. */
    public static final int RSH = 0x70;
    /** A mod operand, unsigned. */
    public static final int MOD = 0x90;
    /** A ^ operand. */
    public static final int XOR = 0xa0;
    /** Jump always (k). */
    public static final int JA = 0x00;
    /** Jump if A == operand. */
    public static final int JEQ = 0x10;
    /** Jump if A &gt; operand, unsigned. */
    public static final int JGT = 0x20;
    /** Jump if A &gt;= operand, unsigned. */
    public static final int JGE = 0x30;
    /** Jump if A &amp; operand != 0. */
    public static final int JSET = 0x40;
    /** Operand k. */
    public static final int K = 0x00;
    /** Operand X. */
    public static final int X = 0x08;
    /** Return A. */
    public static final int RET_A = 0x10;
    /** X = A. */
    public static final int TAX = 0x00;
    /** A = X. */
    public static final int TXA = 0x80;
    /** Ancillary data: loads at {@code AD_OFF + n}. */
    public static final int AD_OFF = -0x1000;
    /** Ancillary: the frame's protocol, {@code ntohs(skb->protocol)}. */
    public static final int AD_PROTOCOL = 0;
    /** Ancillary: the kernel's flow hash of the frame. */
    public static final int AD_RXHASH = 32;
    /** Scratch memory words in classic BPF. */
    public static final int MEMWORDS = 16;
    /** The kernel's limit on a classic BPF program ({@code BPF_MAXINSNS}). */
    public static final int MAX_INSNS = 4096;

    private static final int ETH_P_IP = 0x0800;
    private static final int PROTO_ICMP = 1;
    private static final int PROTO_TCP = 6;
    private static final int PROTO_UDP = 17;
    /** Outer UDP header, VXLAN header, then the inner Ethernet header's type at 12. */
    private static final int VXLAN_INNER_ETH = 8 + 8;
    private static final int ETH_HEADER = 14;

    // scratch words
    private static final int M_BASE = 0;
    private static final int M_PROTO = 1;
    private static final int M_SRC = 2;
    private static final int M_DST = 3;
    private static final int M_SPORT = 4;
    private static final int M_DPORT = 5;
    private static final int M_TMP = 6;
    private static final int M_SRC_T = 7;
    private static final int M_DST_T = 8;

    /**
     * The most Service roles (distinct translatable endpoints: frontends and backends together) the program
     * carries. Each costs three to four instructions in each of the two membership tests; at this cap the program,
     * with two SNAT addresses and the slot table of 64 workers, stays under {@link #MAX_INSNS} whatever the roles
     * ({@code OwnerProgramTest} builds the worst case). A node with more gets the program without Services.
     */
    public static final int MAX_ROLES = 400;
    /** Sorted runs this short are searched by a chain of equality tests, longer ones by halving. */
    private static final int LINEAR_RUN = 3;
    /** Rounds of jump relaxation that may share trampolines; later ones put each right after its jump. */
    private static final int SHARED_ROUNDS = 4;
    /** Room a shared trampoline leaves for instructions inserted later between the jump and it. */
    private static final int TRAMPOLINE_SLACK = 32;

    private OwnerProgram()
    {
    }

    /**
     * The program for a rule and a VXLAN port, without Services (rules 1, 4 and 5).
     *
     * @param rule      the node's rule (its roles are not used).
     * @param vxlanPort the cluster's VXLAN UDP port.
     * @return the instructions.
     */
    public static long[] generate(final FlowOwner rule, final int vxlanPort)
    {
        return generate(rule, vxlanPort, new long[0], new long[0]);
    }

    /**
     * The program for a rule, a VXLAN port and the Service roles of the rule's tables: every rule of
     * {@link FlowOwner#owner}, the roles compiled in as constants. The lists must be what the rule's
     * {@link FlowOwner.Roles} answer true for (the rule's roles object itself is not read). With more than
     * {@link #MAX_ROLES} distinct endpoints in the two lists together the program is the one without Services
     * ({@link #carriesRoles} tells).
     *
     * @param rule      the node's rule.
     * @param vxlanPort the cluster's VXLAN UDP port.
     * @param frontends the Service frontends, each {@link FlowOwner#endpoint}; any order, repeats allowed.
     * @param backends  the Service backends, the same way.
     * @return the instructions.
     */
    public static long[] generate(final FlowOwner rule, final int vxlanPort, final long[] frontends,
        final long[] backends)
    {
        final long[] translatable = translatable(frontends, backends);
        final long[] roles = translatable.length > MAX_ROLES ? new long[0] : translatable;
        final Asm a = new Asm();
        if (rule.workers() == 1)
        {
            a.op(RET | K, 0);
            return a.build();
        }
        a.op(LD | W | ABS, AD_OFF + AD_PROTOCOL);
        a.jump(JMP | JEQ | K, ETH_P_IP, null, "fallback");
        // the outer packet: UDP to the VXLAN port, unfragmented, carrying IPv4?
        a.op(LD | B | ABS, 9);
        a.jump(JMP | JEQ | K, PROTO_UDP, null, "plain");
        a.op(LD | H | ABS, 6);
        a.jump(JMP | JSET | K, 0x3fff, "plain", null);
        a.op(LDX | B | MSH, 0);
        a.op(LD | H | IND, 2);
        a.jump(JMP | JEQ | K, vxlanPort, null, "plain");
        a.op(LD | H | IND, VXLAN_INNER_ETH + 12);
        a.jump(JMP | JEQ | K, ETH_P_IP, null, "fallback");
        a.op(MISC | TXA, 0);
        a.op(ALU | ADD | K, VXLAN_INNER_ETH + ETH_HEADER);
        a.op(ST, M_BASE);
        a.jumpAlways("tuple");
        a.label("plain");
        a.op(LD | IMM, 0);
        a.op(ST, M_BASE);
        // the tuple of the IPv4 header at M_BASE
        a.label("tuple");
        a.op(LDX | W | MEM, M_BASE);
        a.op(LD | B | IND, 9);
        a.op(ST, M_PROTO);
        a.op(LD | W | IND, 12);
        a.op(ST, M_SRC);
        a.op(LD | W | IND, 16);
        a.op(ST, M_DST);
        a.op(LD | IMM, 0);
        a.op(ST, M_SPORT);
        a.op(ST, M_DPORT);
        a.op(LD | H | IND, 6);
        a.jump(JMP | JSET | K, 0x3fff, "rules", null);
        a.op(LD | B | IND, 0);
        a.op(ALU | AND | K, 0xf);
        a.op(ALU | LSH | K, 2);
        a.op(ALU | ADD | X, 0);
        a.op(MISC | TAX, 0);
        a.op(LD | W | MEM, M_PROTO);
        a.jump(JMP | JEQ | K, PROTO_TCP, "ports", null);
        a.jump(JMP | JEQ | K, PROTO_UDP, "ports", null);
        a.jump(JMP | JEQ | K, PROTO_ICMP, null, "rules");
        // ICMP: errors belong to the flow they quote (not judged here); others carry an identifier
        a.op(LD | B | IND, 0);
        a.jump(JMP | JEQ | K, 3, "fallback", null);
        a.jump(JMP | JEQ | K, 11, "fallback", null);
        a.jump(JMP | JEQ | K, 4, "fallback", null);
        a.jump(JMP | JEQ | K, 5, "fallback", null);
        a.jump(JMP | JEQ | K, 12, "fallback", null);
        a.op(LD | H | IND, 4);
        a.op(ST, M_SPORT);
        a.op(ST, M_DPORT);
        a.jumpAlways("rules");
        a.label("ports");
        a.op(LD | H | IND, 0);
        a.op(ST, M_SPORT);
        a.op(LD | H | IND, 2);
        a.op(ST, M_DPORT);
        a.label("rules");
        rules(a, rule, roles);
        a.label("fallback");
        a.op(LD | W | ABS, AD_OFF + AD_RXHASH);
        a.op(RET | RET_A, 0);
        return a.build();
    }

    /**
     * @param frontends the Service frontends, each {@link FlowOwner#endpoint}.
     * @param backends  the Service backends.
     * @return how many distinct endpoints are translatable (a frontend, a backend or both): the program's roles.
     */
    public static int roleCount(final long[] frontends, final long[] backends)
    {
        return translatable(frontends, backends).length;
    }

    /**
     * @param frontends the Service frontends, each {@link FlowOwner#endpoint}.
     * @param backends  the Service backends.
     * @return whether {@link #generate(FlowOwner, int, long[], long[])} compiles them in (at most
     *         {@link #MAX_ROLES}), rather than leaving Service flows to {@code worker-handoff}.
     */
    public static boolean carriesRoles(final long[] frontends, final long[] backends)
    {
        return roleCount(frontends, backends) <= MAX_ROLES;
    }

    /** The union of the two lists, sorted (unsigned, as the program compares), without repeats. */
    private static long[] translatable(final long[] frontends, final long[] backends)
    {
        final long[] all = Arrays.copyOf(frontends, frontends.length + backends.length);
        System.arraycopy(backends, 0, all, frontends.length, backends.length);
        Arrays.sort(all);
        int n = 0;
        for (int i = 0; i < all.length; i++)
        {
            if (n == 0 || all[i] != all[n - 1])
            {
                all[n++] = all[i];
            }
        }
        return Arrays.copyOf(all, n);
    }

    /**
     * A program that answers the kernel's flow hash, as {@code PACKET_FANOUT_HASH} does: what a group runs before
     * the node knows its tables.
     *
     * @return the instructions.
     */
    public static long[] flowHash()
    {
        final Asm a = new Asm();
        a.op(LD | W | ABS, AD_OFF + AD_RXHASH);
        a.op(RET | RET_A, 0);
        return a.build();
    }

    /**
     * The program {@code body} with its answers mapped from worker to fanout slot: every {@code ret a} becomes a
     * jump to a table appended at the end ({@code jeq #w} then {@code ret #slots[w]} for each worker w, then
     * {@code ret a} for any other value, such as the kernel's flow hash), and every {@code ret #w} of a worker
     * becomes {@code ret #slots[w]}. With an identity table the mapped program answers as the body does. Control
     * side only (when the body or the table changes).
     *
     * @param body  instructions whose answers are worker indexes (as {@link #generate} makes them).
     * @param slots the fanout slot of each worker, {@code slots.length} workers.
     * @return the mapped instructions.
     * @throws IllegalArgumentException when the result would exceed {@link #MAX_INSNS}.
     */
    public static long[] withSlots(final long[] body, final int[] slots)
    {
        final int table = body.length;
        final int length = table + 2 * slots.length + 1;
        if (length > MAX_INSNS)
        {
            throw new IllegalArgumentException("a program of " + length + " instructions exceeds " + MAX_INSNS);
        }
        final long[] out = new long[length];
        for (int pc = 0; pc < table; pc++)
        {
            final long insn = body[pc];
            if (code(insn) == (RET | RET_A))
            {
                out[pc] = encode(JMP | JA, 0, 0, table - pc - 1);
            }
            else if (code(insn) == (RET | K) && k(insn) >= 0 && k(insn) < slots.length)
            {
                out[pc] = encode(RET | K, 0, 0, slots[k(insn)]);
            }
            else
            {
                out[pc] = insn;
            }
        }
        int at = table;
        for (int w = 0; w < slots.length; w++)
        {
            // equal: the next instruction (ret the slot); not equal: skip it
            out[at++] = encode(JMP | JEQ | K, 0, 1, w);
            out[at++] = encode(RET | K, 0, 0, slots[w]);
        }
        out[at] = encode(RET | RET_A, 0, 0, 0);
        return out;
    }

    private static long encode(final int code, final int jt, final int jf, final int k)
    {
        return (long)(code & 0xffff) << 48 | (long)jt << 40 | (long)jf << 32 | k & 0xffffffffL;
    }

    /** The rules on the tuple in scratch memory (2 and 3 only with roles); returns. */
    private static void rules(final Asm a, final FlowOwner rule, final long[] roles)
    {
        final int[] snat = rule.snatAddresses();
        final int min = rule.portMin();
        final int max = rule.portMax();
        if (roles.length == 0)
        {
            // rule 1: the destination is an SNAT endpoint
            snatEndpoint(a, snat, M_DST, M_DPORT, "partition-d", "rule4", min, max);
        }
        else
        {
            // which ends are translatable, kept as 0 or 1 in scratch memory
            translatable(a, roles, M_DST, M_DPORT, M_DST_T);
            translatable(a, roles, M_SRC, M_SPORT, M_SRC_T);
            a.op(LD | W | MEM, M_DST_T);
            a.jump(JMP | JEQ | K, 0, null, "dst-translatable");
            // rule 1, on a destination that is not translatable
            snatEndpoint(a, snat, M_DST, M_DPORT, "partition-d", "dst-plain", min, max);
            a.label("dst-plain");
            // rule 2 with the source translatable (the anchor is the destination), else on to rule 4
            a.op(LD | W | MEM, M_SRC_T);
            a.jump(JMP | JEQ | K, 0, "rule4", "anchor-d");
            a.label("dst-translatable");
            // rule 3 with both translatable, else rule 2 (the anchor is the source)
            a.op(LD | W | MEM, M_SRC_T);
            a.jump(JMP | JEQ | K, 0, "anchor-s", null);
            a.op(RET | K, FlowOwner.PINNED);
            a.label("anchor-d");
            anchor(a, rule, snat, M_DST, M_DPORT, "partition-d", min, max);
            a.label("anchor-s");
            anchor(a, rule, snat, M_SRC, M_SPORT, "partition-s", min, max);
        }
        a.label("rule4");
        snatEndpoint(a, snat, M_SRC, M_SPORT, "partition-s", "rule5", min, max);
        a.label("rule5");
        // the pair ordered: source low when src < dst, or equal addresses and sport <= dport
        a.op(LDX | W | MEM, M_DST);
        a.op(LD | W | MEM, M_SRC);
        a.jump(JMP | JGT | X, 0, "swap", null);
        a.jump(JMP | JEQ | X, 0, null, "keep");
        a.op(LDX | W | MEM, M_DPORT);
        a.op(LD | W | MEM, M_SPORT);
        a.jump(JMP | JGT | X, 0, "swap", "keep");
        a.label("keep");
        pairHash(a, rule, M_SRC, M_DST, M_SPORT, M_DPORT);
        a.label("swap");
        pairHash(a, rule, M_DST, M_SRC, M_DPORT, M_SPORT);
        partition(a, rule, "partition-d", M_DPORT);
        partition(a, rule, "partition-s", M_SPORT);
    }

    /**
     * Stores in {@code mFlag} 1 when the endpoint (protocol, address at {@code mAddr}, port at {@code mPort}) is
     * one of the roles, else 0. Protocol and port first, as one key {@code proto << 16 | port} searched by halving
     * (most frames are rejected there), then, in line after the key's test, the addresses of that key, the same way.
     */
    private static void translatable(final Asm a, final long[] roles, final int mAddr, final int mPort,
        final int mFlag)
    {
        final String yes = a.fresh("member");
        final String no = a.fresh("stranger");
        final String done = a.fresh("judged");
        // roles are sorted by protocol, port, then address (unsigned): a key's run is contiguous and sorted
        final List<Integer> keys = new ArrayList<>();
        final List<Integer> starts = new ArrayList<>();
        for (int i = 0; i < roles.length; i++)
        {
            final int key = (int)(roles[i] >>> 32) & 0xffffff;
            if (keys.isEmpty() || keys.get(keys.size() - 1) != key)
            {
                keys.add(key);
                starts.add(i);
            }
        }
        starts.add(roles.length);
        final int[] keyValues = keys.stream().mapToInt(Integer::intValue).toArray();
        a.op(LDX | W | MEM, mPort);
        a.op(LD | W | MEM, M_PROTO);
        a.op(ALU | LSH | K, 16);
        a.op(ALU | ADD | X, 0);
        search(a, keyValues, 0, keyValues.length, no, (i, miss) ->
        {
            // the key's addresses follow its test: a frame that reaches them never returns to the keys
            final String next = miss == null ? a.fresh("next-key") : miss;
            a.jump(JMP | JEQ | K, keyValues[i], null, next);
            final int from = starts.get(i);
            final int[] addresses = new int[starts.get(i + 1) - from];
            for (int j = 0; j < addresses.length; j++)
            {
                addresses[j] = (int)roles[from + j];
            }
            a.op(LD | W | MEM, mAddr);
            search(a, addresses, 0, addresses.length, no,
                (j, missAddress) -> a.jump(JMP | JEQ | K, addresses[j], yes, missAddress));
            if (miss == null)
            {
                a.label(next);
            }
        });
        a.label(yes);
        a.op(LD | IMM, 1);
        a.jumpAlways(done);
        a.label(no);
        a.op(LD | IMM, 0);
        a.label(done);
        a.op(ST, mFlag);
    }

    /** Emits the test of one value of a search. */
    @FunctionalInterface
    private interface Leaf
    {
        /**
         * @param i    the value's index.
         * @param miss where to go when A is not that value: null for the next leaf (emitted right after).
         */
        void emit(int i, String miss);
    }

    /**
     * Tests A against {@code values[from, to)}, sorted unsigned and distinct: a short run is a chain of leaves
     * (each tests its value and goes on to the next on a miss, the last to {@code none}), a longer one is halved
     * with an unsigned {@code jge}: about log2(n) + 3 tests for any A.
     */
    private static void search(final Asm a, final int[] values, final int from, final int to, final String none,
        final Leaf leaf)
    {
        if (to - from <= LINEAR_RUN)
        {
            for (int i = from; i < to; i++)
            {
                leaf.emit(i, i == to - 1 ? none : null);
            }
            return;
        }
        final int mid = (from + to) >>> 1;
        final String upper = a.fresh("upper");
        a.jump(JMP | JGE | K, values[mid], upper, null);
        search(a, values, from, mid, none, leaf);
        a.label(upper);
        search(a, values, mid, to, none, leaf);
    }

    /**
     * The worker of an anchor endpoint (rule 2): its SNAT partition when it is an SNAT address with a port in the
     * range, else {@link FlowOwner#endpointHash}, reduced; returns.
     */
    private static void anchor(final Asm a, final FlowOwner rule, final int[] snat, final int mAddr,
        final int mPort, final String partition, final int min, final int max)
    {
        final String hash = a.fresh("endpoint-hash");
        snatEndpoint(a, snat, mAddr, mPort, partition, hash, min, max);
        a.label(hash);
        mixTwo(a, rule, mAddr, 0, mPort, 3);
        a.op(ALU | MOD | K, rule.workers());
        a.op(RET | RET_A, 0);
    }

    /** Jumps to {@code yes} when the address at {@code mAddr} is an SNAT address and the port is in the range. */
    private static void snatEndpoint(final Asm a, final int[] snat, final int mAddr, final int mPort,
        final String yes, final String no, final int min, final int max)
    {
        if (snat.length == 0)
        {
            a.jumpAlways(no);
            return;
        }
        a.op(LD | W | MEM, mPort);
        a.jump(JMP | JGE | K, min, null, no);
        a.jump(JMP | JGT | K, max, no, null);
        a.op(LD | W | MEM, mAddr);
        for (int i = 0; i < snat.length; i++)
        {
            a.jump(JMP | JEQ | K, snat[i], yes, i == snat.length - 1 ? no : null);
        }
    }

    /** {@link FlowOwner#symmetricHash} of the ordered pair, reduced; returns. */
    private static void pairHash(final Asm a, final FlowOwner rule, final int mLow, final int mHigh,
        final int mPortLow, final int mPortHigh)
    {
        mixTwo(a, rule, mLow, 0, mHigh, 1);
        a.op(ST, M_TMP);
        // the ports word: low end's port on top
        a.op(LDX | W | MEM, mPortHigh);
        a.op(LD | W | MEM, mPortLow);
        a.op(ALU | LSH | K, 16);
        a.op(ALU | ADD | X, 0);
        a.op(LDX | W | MEM, M_TMP);
        a.op(ALU | XOR | X, 0);
        a.op(ALU | XOR | K, rule.key(2));
        a.op(ST, M_TMP);
        a.op(LD | W | MEM, M_PROTO);
        a.op(ALU | MUL | K, FlowOwner.GOLDEN32);
        a.op(LDX | W | MEM, M_TMP);
        a.op(ALU | ADD | X, 0);
        fmix(a);
        a.op(ALU | MOD | K, rule.workers());
        a.op(RET | RET_A, 0);
    }

    /**
     * A = {@code fmix(fmix(first ^ key(kFirst)) + (second ^ key(kSecond)))} of two scratch words: the first step of
     * both the endpoint hash and the pair hash; uses X and {@link #M_TMP}.
     */
    private static void mixTwo(final Asm a, final FlowOwner rule, final int mFirst, final int kFirst,
        final int mSecond, final int kSecond)
    {
        a.op(LD | W | MEM, mFirst);
        a.op(ALU | XOR | K, rule.key(kFirst));
        fmix(a);
        a.op(ST, M_TMP);
        a.op(LD | W | MEM, mSecond);
        a.op(ALU | XOR | K, rule.key(kSecond));
        a.op(LDX | W | MEM, M_TMP);
        a.op(ALU | ADD | X, 0);
        fmix(a);
    }

    /** {@link FlowOwner#fmix} of A; uses X. */
    private static void fmix(final Asm a)
    {
        xorShift(a, 16);
        a.op(ALU | MUL | K, FlowOwner.FMIX1);
        xorShift(a, 13);
        a.op(ALU | MUL | K, FlowOwner.FMIX2);
        xorShift(a, 16);
    }

    private static void xorShift(final Asm a, final int bits)
    {
        a.op(MISC | TAX, 0);
        a.op(ALU | RSH | K, bits);
        a.op(ALU | XOR | X, 0);
    }

    /** {@link FlowOwner#partitionOf} the port at {@code mPort}; returns. */
    private static void partition(final Asm a, final FlowOwner rule, final String label, final int mPort)
    {
        a.label(label);
        a.op(LD | W | MEM, mPort);
        a.op(ALU | SUB | K, rule.portMin());
        a.op(ALU | DIV | K, rule.blockSize());
        a.jump(JMP | JGE | K, rule.workers() - 1, label + "-last", null);
        a.op(RET | RET_A, 0);
        a.label(label + "-last");
        a.op(RET | K, rule.workers() - 1);
    }

    /**
     * @param insn an instruction.
     * @return its opcode.
     */
    public static int code(final long insn)
    {
        return (int)(insn >>> 48) & 0xffff;
    }

    /**
     * @param insn an instruction.
     * @return its jump-if-true offset.
     */
    public static int jt(final long insn)
    {
        return (int)(insn >>> 40) & 0xff;
    }

    /**
     * @param insn an instruction.
     * @return its jump-if-false offset.
     */
    public static int jf(final long insn)
    {
        return (int)(insn >>> 32) & 0xff;
    }

    /**
     * @param insn an instruction.
     * @return its constant.
     */
    public static int k(final long insn)
    {
        return (int)insn;
    }

    /** One instruction before layout: code and k, and for jumps the labels of its targets. */
    private static final class Insn
    {
        final int code;
        final int k;
        /** Jump-if-true and jump-if-false targets; null: the next instruction. */
        String yes;
        String no;
        /** The target of a {@code ja}; null for any other instruction. */
        final String to;

        Insn(final int code, final int k, final String yes, final String no, final String to)
        {
            this.code = code;
            this.k = k;
            this.yes = yes;
            this.no = no;
            this.to = to;
        }
    }

    /**
     * A forward-only assembler with named labels. A conditional jump whose target lies past the 255 instructions
     * its 8-bit offset reaches goes through a {@code ja} within reach (a trampoline, see {@link #relax}), so
     * generators need not know the layout.
     */
    private static final class Asm
    {
        private final List<Insn> insns = new ArrayList<>();
        /** Label to the index of the instruction it names. */
        private final Map<String, Integer> labels = new HashMap<>();
        private int fresh;

        void op(final int code, final int k)
        {
            insns.add(new Insn(code, k, null, null, null));
        }

        void jump(final int code, final int k, final String yes, final String no)
        {
            insns.add(new Insn(code, k, yes, no, null));
        }

        void jumpAlways(final String to)
        {
            insns.add(new Insn(JMP | JA, 0, null, null, to));
        }

        void label(final String name)
        {
            if (labels.put(name, insns.size()) != null)
            {
                throw new IllegalStateException("label " + name + " twice");
            }
        }

        /** @return a label name not used before, for generators that emit a piece more than once. */
        String fresh(final String prefix)
        {
            return prefix + "#" + fresh++;
        }

        long[] build()
        {
            relax();
            final long[] out = new long[insns.size()];
            for (int pc = 0; pc < out.length; pc++)
            {
                final Insn i = insns.get(pc);
                final int k = i.to != null ? offset(pc, i.to, Integer.MAX_VALUE) : i.k;
                out[pc] = encode(i.code, offset(pc, i.yes, 255), offset(pc, i.no, 255), k);
            }
            return out;
        }

        /**
         * Sends every conditional jump that does not reach its target through a trampoline ({@code ja target}):
         * one already within reach, else a new one at the farthest place within reach (less some slack for later
         * insertions) that nothing falls into (after a return, a {@code ja} or a jump with both targets elsewhere),
         * so that later jumps to the same target share it; else right after the jump. Insertions only lengthen
         * jumps, so this repeats until none is far; two jumps whose trampolines keep pushing each other out of
         * reach could go on for long, so after a few rounds every new trampoline goes right after its jump, where
         * no insertion can move it away.
         */
        private void relax()
        {
            boolean changed = true;
            for (int round = 0; changed; round++)
            {
                changed = false;
                final boolean adjacent = round >= SHARED_ROUNDS;
                for (int pc = 0; pc < insns.size(); pc++)
                {
                    final Insn i = insns.get(pc);
                    if (far(pc, i.yes))
                    {
                        i.yes = trampoline(pc, resolve(i.yes), adjacent);
                        changed = true;
                    }
                    if (far(pc, i.no))
                    {
                        i.no = trampoline(pc, resolve(i.no), adjacent);
                        changed = true;
                    }
                }
                if (insns.size() > 4 * MAX_INSNS)
                {
                    throw new IllegalStateException("jump relaxation does not settle: " + insns.size());
                }
            }
        }

        /** @return the label a jump to {@code label} ends at, following {@code ja} instructions. */
        private String resolve(final String label)
        {
            String at = label;
            Integer pc = labels.get(at);
            while (pc != null && pc < insns.size() && insns.get(pc).to != null)
            {
                at = insns.get(pc).to;
                pc = labels.get(at);
            }
            return at;
        }

        /** @return a label within reach of {@code pc} on a {@code ja} to {@code target}. */
        private String trampoline(final int pc, final String target, final boolean adjacent)
        {
            int at = pc + 1;
            if (!adjacent)
            {
                final int last = Math.min(insns.size() - 1, pc + 256 - TRAMPOLINE_SLACK);
                int barrier = -1;
                for (int q = pc + 1; q <= last; q++)
                {
                    if (target.equals(insns.get(q).to))
                    {
                        return labelAt(q);
                    }
                    if (q > pc + 1 && !fallsThrough(q - 1))
                    {
                        barrier = q;
                    }
                }
                at = barrier >= 0 ? barrier : pc + 1;
            }
            final Insn jump = insns.get(pc);
            if (at == pc + 1)
            {
                // the jump's fall-through goes on to the instruction that follows now, past the trampoline
                if (jump.yes == null)
                {
                    jump.yes = labelAt(pc + 1);
                }
                if (jump.no == null)
                {
                    jump.no = labelAt(pc + 1);
                }
            }
            for (final Map.Entry<String, Integer> e : labels.entrySet())
            {
                if (e.getValue() >= at)
                {
                    e.setValue(e.getValue() + 1);
                }
            }
            insns.add(at, new Insn(JMP | JA, 0, null, null, target));
            return labelAt(at);
        }

        /** @return whether the instruction at {@code pc} may go on to the next one. */
        private boolean fallsThrough(final int pc)
        {
            final Insn i = insns.get(pc);
            final int cls = i.code & 0x07;
            if (cls == RET || i.to != null)
            {
                return false;
            }
            if (cls != JMP)
            {
                return true;
            }
            return i.yes == null || i.no == null || labels.get(i.yes) == pc + 1 || labels.get(i.no) == pc + 1;
        }

        private String labelAt(final int pc)
        {
            final String name = fresh("at");
            labels.put(name, pc);
            return name;
        }

        private boolean far(final int pc, final String label)
        {
            if (label == null)
            {
                return false;
            }
            final Integer to = labels.get(label);
            return to != null && to - pc - 1 > 255;
        }

        private int offset(final int pc, final String label, final int limit)
        {
            if (label == null)
            {
                return 0;
            }
            final Integer to = labels.get(label);
            if (to == null || to <= pc || to - pc - 1 > limit)
            {
                throw new IllegalStateException("jump from " + pc + " to " + label + " (" + to + ") out of reach");
            }
            return to - pc - 1;
        }
    }
}
