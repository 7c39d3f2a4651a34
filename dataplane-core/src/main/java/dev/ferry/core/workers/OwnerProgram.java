package dev.ferry.core.workers;

import java.util.ArrayList;
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
 *       SNAT addresses and range as constants, and rule 5 (the symmetric keyed hash).</li>
 * </ul>
 * Rules 2 and 3 need the Service tables, which the program does not have: for a Service flow its answer may name
 * another worker, which costs a hand-off and nothing else ({@code worker-handoff} still decides every packet). ICMP
 * errors, non-IPv4 frames and inner frames that are not IPv4 get the kernel's flow hash ({@code SKF_AD_RXHASH}),
 * which the kernel takes modulo the group's members as the hash mode does. A load past the end of the packet (a
 * short or garbled frame) ends the program with 0: worker 0's socket, counted nowhere in the kernel.
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
 * VXLAN port), never per packet. Instructions are encoded one per long: {@code code << 48 | jt << 40 | jf << 32 |
 * k}, see {@link #code}, {@link #jt}, {@link #jf}, {@link #k}.
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

    private OwnerProgram()
    {
    }

    /**
     * The program for a rule and a VXLAN port.
     *
     * @param rule      the node's rule (its roles are not used: the program knows no Services).
     * @param vxlanPort the cluster's VXLAN UDP port.
     * @return the instructions.
     */
    public static long[] generate(final FlowOwner rule, final int vxlanPort)
    {
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
        rules(a, rule);
        a.label("fallback");
        a.op(LD | W | ABS, AD_OFF + AD_RXHASH);
        a.op(RET | RET_A, 0);
        return a.build();
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

    /** Rules 1, 4 and 5 on the tuple in scratch memory; returns. */
    private static void rules(final Asm a, final FlowOwner rule)
    {
        final int[] snat = rule.snatAddresses();
        final int min = rule.portMin();
        final int max = rule.portMax();
        // rule 1: the destination is an SNAT endpoint
        snatEndpoint(a, snat, M_DST, M_DPORT, "partition-d", "rule4", min, max);
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
        a.op(LD | W | MEM, mLow);
        a.op(ALU | XOR | K, rule.key(0));
        fmix(a);
        a.op(ST, M_TMP);
        a.op(LD | W | MEM, mHigh);
        a.op(ALU | XOR | K, rule.key(1));
        a.op(LDX | W | MEM, M_TMP);
        a.op(ALU | ADD | X, 0);
        fmix(a);
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

    /** A forward-only assembler with named labels; conditional offsets must fit in 8 bits (checked). */
    private static final class Asm
    {
        private final List<long[]> insns = new ArrayList<>();
        private final List<String[]> targets = new ArrayList<>();
        private final Map<String, Integer> labels = new HashMap<>();

        void op(final int code, final int k)
        {
            insns.add(new long[] {code, 0, 0, k});
            targets.add(null);
        }

        void jump(final int code, final int k, final String yes, final String no)
        {
            insns.add(new long[] {code, 0, 0, k});
            targets.add(new String[] {yes, no, null});
        }

        void jumpAlways(final String to)
        {
            insns.add(new long[] {JMP | JA, 0, 0, 0});
            targets.add(new String[] {null, null, to});
        }

        void label(final String name)
        {
            if (labels.put(name, insns.size()) != null)
            {
                throw new IllegalStateException("label " + name + " twice");
            }
        }

        long[] build()
        {
            final long[] out = new long[insns.size()];
            for (int pc = 0; pc < out.length; pc++)
            {
                final long[] i = insns.get(pc);
                final String[] t = targets.get(pc);
                long jt = i[1];
                long jf = i[2];
                long k = i[3];
                if (t != null)
                {
                    jt = offset(pc, t[0], 255);
                    jf = offset(pc, t[1], 255);
                    if (t[2] != null)
                    {
                        k = offset(pc, t[2], Integer.MAX_VALUE);
                    }
                }
                out[pc] = (i[0] & 0xffff) << 48 | jt << 40 | jf << 32 | k & 0xffffffffL;
            }
            return out;
        }

        private long offset(final int pc, final String label, final int limit)
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
