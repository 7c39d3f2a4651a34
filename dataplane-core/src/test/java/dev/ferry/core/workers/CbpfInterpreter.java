package dev.ferry.core.workers;

import static dev.ferry.core.workers.OwnerProgram.ABS;
import static dev.ferry.core.workers.OwnerProgram.ADD;
import static dev.ferry.core.workers.OwnerProgram.ALU;
import static dev.ferry.core.workers.OwnerProgram.AND;
import static dev.ferry.core.workers.OwnerProgram.B;
import static dev.ferry.core.workers.OwnerProgram.DIV;
import static dev.ferry.core.workers.OwnerProgram.H;
import static dev.ferry.core.workers.OwnerProgram.IMM;
import static dev.ferry.core.workers.OwnerProgram.IND;
import static dev.ferry.core.workers.OwnerProgram.JA;
import static dev.ferry.core.workers.OwnerProgram.JEQ;
import static dev.ferry.core.workers.OwnerProgram.JGE;
import static dev.ferry.core.workers.OwnerProgram.JGT;
import static dev.ferry.core.workers.OwnerProgram.JMP;
import static dev.ferry.core.workers.OwnerProgram.JSET;
import static dev.ferry.core.workers.OwnerProgram.LD;
import static dev.ferry.core.workers.OwnerProgram.LDX;
import static dev.ferry.core.workers.OwnerProgram.LSH;
import static dev.ferry.core.workers.OwnerProgram.MEM;
import static dev.ferry.core.workers.OwnerProgram.MISC;
import static dev.ferry.core.workers.OwnerProgram.MOD;
import static dev.ferry.core.workers.OwnerProgram.MSH;
import static dev.ferry.core.workers.OwnerProgram.MUL;
import static dev.ferry.core.workers.OwnerProgram.RET;
import static dev.ferry.core.workers.OwnerProgram.RSH;
import static dev.ferry.core.workers.OwnerProgram.ST;
import static dev.ferry.core.workers.OwnerProgram.SUB;
import static dev.ferry.core.workers.OwnerProgram.TAX;
import static dev.ferry.core.workers.OwnerProgram.TXA;
import static dev.ferry.core.workers.OwnerProgram.W;
import static dev.ferry.core.workers.OwnerProgram.XOR;

/**
 * A classic BPF interpreter for the opcodes {@link OwnerProgram} emits, with the kernel's semantics where they
 * matter: loads are big-endian and relative to {@code skb->data} (here the packet's first byte, its network header),
 * a load past the end ends the program with 0, ancillary loads give the frame's protocol and flow hash, scratch
 * memory starts zeroed, jumps go forward. An opcode it does not know fails the test (the generator emitted
 * something this interpreter does not model).
 */
final class CbpfInterpreter
{
    private CbpfInterpreter()
    {
    }

    /**
     * @param program  the instructions.
     * @param packet   the bytes from the network header on.
     * @param protocol the frame's EtherType ({@code SKF_AD_PROTOCOL}).
     * @param rxHash   the kernel's flow hash ({@code SKF_AD_RXHASH}).
     * @return what the program returns.
     */
    static int run(final long[] program, final byte[] packet, final int protocol, final int rxHash)
    {
        final int[] mem = new int[OwnerProgram.MEMWORDS];
        int a = 0;
        int x = 0;
        int pc = 0;
        while (true)
        {
            if (pc >= program.length)
            {
                throw new AssertionError("ran off the end of the program");
            }
            final long insn = program[pc++];
            final int code = OwnerProgram.code(insn);
            final int k = OwnerProgram.k(insn);
            final int cls = code & 0x07;
            switch (cls)
            {
                case LD ->
                {
                    final int mode = code & 0xe0;
                    if (mode == IMM)
                    {
                        a = k;
                    }
                    else if (mode == MEM)
                    {
                        a = mem[k];
                    }
                    else if (mode == ABS && k < 0)
                    {
                        if (k == OwnerProgram.AD_OFF + OwnerProgram.AD_PROTOCOL)
                        {
                            a = protocol;
                        }
                        else if (k == OwnerProgram.AD_OFF + OwnerProgram.AD_RXHASH)
                        {
                            a = rxHash;
                        }
                        else
                        {
                            throw new AssertionError("ancillary load " + k);
                        }
                    }
                    else if (mode == ABS || mode == IND)
                    {
                        final long off = mode == ABS ? k : (x & 0xffffffffL) + k;
                        final int size = code & 0x18;
                        final int bytes = size == W ? 4 : size == H ? 2 : 1;
                        if (off < 0 || off + bytes > packet.length)
                        {
                            return 0;
                        }
                        int v = 0;
                        for (int i = 0; i < bytes; i++)
                        {
                            v = v << 8 | packet[(int)off + i] & 0xff;
                        }
                        a = v;
                    }
                    else
                    {
                        throw new AssertionError("LD mode " + Integer.toHexString(code));
                    }
                }
                case LDX ->
                {
                    final int mode = code & 0xe0;
                    if (mode == IMM)
                    {
                        x = k;
                    }
                    else if (mode == MEM)
                    {
                        x = mem[k];
                    }
                    else if (mode == MSH && (code & 0x18) == B)
                    {
                        if (k < 0 || k >= packet.length)
                        {
                            return 0;
                        }
                        x = 4 * (packet[k] & 0xf);
                    }
                    else
                    {
                        throw new AssertionError("LDX mode " + Integer.toHexString(code));
                    }
                }
                case ST -> mem[k] = a;
                case ALU ->
                {
                    final int operand = (code & 0x08) != 0 ? x : k;
                    switch (code & 0xf0)
                    {
                        case ADD -> a += operand;
                        case SUB -> a -= operand;
                        case MUL -> a *= operand;
                        case AND -> a &= operand;
                        case XOR -> a ^= operand;
                        case LSH -> a <<= operand;
                        case RSH -> a >>>= operand;
                        case DIV ->
                        {
                            if (operand == 0)
                            {
                                return 0;
                            }
                            a = Integer.divideUnsigned(a, operand);
                        }
                        case MOD ->
                        {
                            if (operand == 0)
                            {
                                return 0;
                            }
                            a = Integer.remainderUnsigned(a, operand);
                        }
                        default -> throw new AssertionError("ALU op " + Integer.toHexString(code));
                    }
                }
                case JMP ->
                {
                    final int op = code & 0xf0;
                    if (op == JA)
                    {
                        pc += k;
                        continue;
                    }
                    final int operand = (code & 0x08) != 0 ? x : k;
                    final boolean taken = switch (op)
                    {
                        case JEQ -> a == operand;
                        case JGT -> Integer.compareUnsigned(a, operand) > 0;
                        case JGE -> Integer.compareUnsigned(a, operand) >= 0;
                        case JSET -> (a & operand) != 0;
                        default -> throw new AssertionError("JMP op " + Integer.toHexString(code));
                    };
                    pc += taken ? OwnerProgram.jt(insn) : OwnerProgram.jf(insn);
                }
                case RET ->
                {
                    return (code & 0x18) == OwnerProgram.RET_A ? a : k;
                }
                case MISC ->
                {
                    if ((code & 0xf8) == TAX)
                    {
                        x = a;
                    }
                    else if ((code & 0xf8) == TXA)
                    {
                        a = x;
                    }
                    else
                    {
                        throw new AssertionError("MISC " + Integer.toHexString(code));
                    }
                }
                default -> throw new AssertionError("class " + cls);
            }
        }
    }
}
