package dev.ferry.tapio;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * A tcpdump filter expression ({@code tcp port 80}) over Ethernet frames. libpcap compiles the expression once
 * ({@code pcap_compile}, through the FFM API); the classic BPF program it produces then runs here, in Java: no
 * native call and no allocation per frame. Only compiling needs libpcap; without it {@link #compile} fails with
 * one line naming the Debian package.
 *
 * <pre>
 *   "tcp port 80" ──pcap_compile (libpcap, once)──► BPF instructions ──► matches(frame): Java interpreter
 * </pre>
 */
@SuppressWarnings("restricted")
public final class BpfFilter
{
    /** What to install when libpcap is missing. */
    public static final String PACKAGE_HINT = "install the Debian package libpcap0.8";

    private static final String[] LIBRARIES = {"libpcap.so.0.8", "libpcap.so.1", "libpcap.so"};
    private static final int LINKTYPE_ETHERNET = 1;
    private static final int MEMWORDS = 16;

    private static final int LD = 0x00;
    private static final int LDX = 0x01;
    private static final int ST = 0x02;
    private static final int STX = 0x03;
    private static final int ALU = 0x04;
    private static final int JMP = 0x05;
    private static final int RET = 0x06;
    private static final int MISC = 0x07;

    private final String expression;
    private final short[] code;
    private final byte[] jt;
    private final byte[] jf;
    private final int[] k;
    private final int[] mem = new int[MEMWORDS];

    BpfFilter(final String expression, final short[] code, final byte[] jt, final byte[] jf, final int[] k)
    {
        this.expression = expression;
        this.code = code;
        this.jt = jt;
        this.jf = jf;
        this.k = k;
    }

    /**
     * Compiles a tcpdump filter expression for Ethernet frames.
     *
     * @param expression the expression, e.g. {@code "udp and port 53"}.
     * @return the filter.
     * @throws IllegalArgumentException when libpcap is missing (the message names the Debian package) or the
     *                                  expression does not compile (the message is libpcap's).
     */
    public static BpfFilter compile(final String expression)
    {
        try (Arena arena = Arena.ofConfined())
        {
            final SymbolLookup lib = libpcap(arena);
            final Linker linker = Linker.nativeLinker();
            final MethodHandle openDead = linker.downcallHandle(symbol(lib, "pcap_open_dead"),
                FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
            final MethodHandle compile = linker.downcallHandle(symbol(lib, "pcap_compile"),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS,
                    ValueLayout.ADDRESS, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
            final MethodHandle geterr = linker.downcallHandle(symbol(lib, "pcap_geterr"),
                FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS));
            final MethodHandle freecode = linker.downcallHandle(symbol(lib, "pcap_freecode"),
                FunctionDescriptor.ofVoid(ValueLayout.ADDRESS));
            final MethodHandle close = linker.downcallHandle(symbol(lib, "pcap_close"),
                FunctionDescriptor.ofVoid(ValueLayout.ADDRESS));
            final MemorySegment pcap = (MemorySegment)openDead.invokeExact(LINKTYPE_ETHERNET, PcapReader.MAX_CAPLEN);
            if (pcap.equals(MemorySegment.NULL))
            {
                throw new IllegalArgumentException("--filter: pcap_open_dead failed");
            }
            try
            {
                // struct bpf_program { u_int bf_len; struct bpf_insn *bf_insns; }
                final MemorySegment program = arena.allocate(16, 8);
                final int rc = (int)compile.invokeExact(pcap, program, arena.allocateFrom(expression), 1, 0);
                if (rc != 0)
                {
                    final MemorySegment err = ((MemorySegment)geterr.invokeExact(pcap)).reinterpret(4096);
                    throw new IllegalArgumentException("--filter '" + expression + "': " + err.getString(0));
                }
                try
                {
                    final int n = program.get(ValueLayout.JAVA_INT, 0);
                    final MemorySegment insns = program.get(ValueLayout.ADDRESS, 8).reinterpret(8L * n);
                    final short[] c = new short[n];
                    final byte[] t = new byte[n];
                    final byte[] f = new byte[n];
                    final int[] kk = new int[n];
                    for (int i = 0; i < n; i++)
                    {
                        // struct bpf_insn { u_short code; u_char jt; u_char jf; bpf_u_int32 k; }
                        c[i] = insns.get(ValueLayout.JAVA_SHORT, 8L * i);
                        t[i] = insns.get(ValueLayout.JAVA_BYTE, 8L * i + 2);
                        f[i] = insns.get(ValueLayout.JAVA_BYTE, 8L * i + 3);
                        kk[i] = insns.get(ValueLayout.JAVA_INT, 8L * i + 4);
                    }
                    return new BpfFilter(expression, c, t, f, kk);
                }
                finally
                {
                    freecode.invokeExact(program);
                }
            }
            finally
            {
                close.invokeExact(pcap);
            }
        }
        catch (final IllegalArgumentException e)
        {
            throw e;
        }
        catch (final Throwable e)
        {
            throw new IllegalStateException("--filter: calling libpcap failed: " + e, e);
        }
    }

    private static SymbolLookup libpcap(final Arena arena)
    {
        for (final String name : LIBRARIES)
        {
            try
            {
                return SymbolLookup.libraryLookup(name, arena);
            }
            catch (final IllegalArgumentException notThere)
            {
                // try the next name
            }
        }
        throw new IllegalArgumentException("--filter needs libpcap to compile the expression, and it is not "
            + "installed: " + PACKAGE_HINT);
    }

    private static MemorySegment symbol(final SymbolLookup lib, final String name)
    {
        return lib.find(name).orElseThrow(() -> new IllegalArgumentException("--filter: libpcap lacks " + name
            + ": " + PACKAGE_HINT));
    }

    /** @return the expression this filter was compiled from. */
    public String expression()
    {
        return expression;
    }

    /** @return the number of BPF instructions. */
    public int instructions()
    {
        return code.length;
    }

    /**
     * Runs the filter over one frame, as libpcap's {@code bpf_filter} would. One thread at a time (the program's
     * scratch memory is the filter's own).
     *
     * @param frame  array holding the frame from index 0.
     * @param length captured length (also taken as the length on the wire).
     * @return whether the frame matches.
     */
    public boolean matches(final byte[] frame, final int length)
    {
        int a = 0;
        int x = 0;
        int pc = 0;
        while (pc < code.length)
        {
            final int op = code[pc] & 0xffff;
            final int kv = k[pc];
            switch (op & 0x07)
            {
                case LD, LDX ->
                {
                    final int mode = op & 0xe0;
                    final int size = op & 0x18;
                    final int v;
                    if (mode == 0x00)
                    {
                        v = kv; // BPF_IMM
                    }
                    else if (mode == 0x80)
                    {
                        v = length; // BPF_LEN
                    }
                    else if (mode == 0x60)
                    {
                        v = mem[kv & (MEMWORDS - 1)]; // BPF_MEM
                    }
                    else if (mode == 0xa0 && (op & 0x07) == LDX)
                    {
                        // BPF_MSH: 4 * (P[k] & 0xf), the IPv4 header length
                        final long at = kv & 0xffff_ffffL;
                        if (at >= length)
                        {
                            return false;
                        }
                        v = (frame[(int)at] & 0x0f) << 2;
                    }
                    else
                    {
                        // BPF_ABS (0x20) or BPF_IND (0x40)
                        final long at = (kv & 0xffff_ffffL) + (mode == 0x40 ? x & 0xffff_ffffL : 0);
                        final int bytes = size == 0x00 ? 4 : size == 0x08 ? 2 : 1;
                        if (at + bytes > length)
                        {
                            return false;
                        }
                        final int i = (int)at;
                        v = bytes == 4 ? (frame[i] & 0xff) << 24 | (frame[i + 1] & 0xff) << 16
                            | (frame[i + 2] & 0xff) << 8 | frame[i + 3] & 0xff
                            : bytes == 2 ? (frame[i] & 0xff) << 8 | frame[i + 1] & 0xff : frame[i] & 0xff;
                    }
                    if ((op & 0x07) == LD)
                    {
                        a = v;
                    }
                    else
                    {
                        x = v;
                    }
                    pc++;
                }
                case ST ->
                {
                    mem[kv & (MEMWORDS - 1)] = a;
                    pc++;
                }
                case STX ->
                {
                    mem[kv & (MEMWORDS - 1)] = x;
                    pc++;
                }
                case ALU ->
                {
                    final int src = (op & 0x08) != 0 ? x : kv;
                    switch (op & 0xf0)
                    {
                        case 0x00 -> a += src;
                        case 0x10 -> a -= src;
                        case 0x20 -> a *= src;
                        case 0x30 ->
                        {
                            if (src == 0)
                            {
                                return false;
                            }
                            a = Integer.divideUnsigned(a, src);
                        }
                        case 0x90 ->
                        {
                            if (src == 0)
                            {
                                return false;
                            }
                            a = Integer.remainderUnsigned(a, src);
                        }
                        case 0x40 -> a |= src;
                        case 0x50 -> a &= src;
                        case 0xa0 -> a ^= src;
                        case 0x60 -> a = (src & 0xffff_ffffL) >= 32 ? 0 : a << src;
                        case 0x70 -> a = (src & 0xffff_ffffL) >= 32 ? 0 : a >>> src;
                        case 0x80 -> a = -a;
                        default ->
                        {
                            return false;
                        }
                    }
                    pc++;
                }
                case JMP ->
                {
                    final int src = (op & 0x08) != 0 ? x : kv;
                    final boolean taken;
                    switch (op & 0xf0)
                    {
                        case 0x00 ->
                        {
                            pc += 1 + kv; // BPF_JA
                            continue;
                        }
                        case 0x10 -> taken = a == src;
                        case 0x20 -> taken = Integer.compareUnsigned(a, src) > 0;
                        case 0x30 -> taken = Integer.compareUnsigned(a, src) >= 0;
                        case 0x40 -> taken = (a & src) != 0;
                        default ->
                        {
                            return false;
                        }
                    }
                    pc += 1 + ((taken ? jt[pc] : jf[pc]) & 0xff);
                }
                case RET ->
                {
                    final int rval = op & 0x18;
                    final int v = rval == 0x10 ? a : rval == 0x08 ? x : kv;
                    return v != 0;
                }
                case MISC ->
                {
                    if ((op & 0xf8) == 0x00)
                    {
                        x = a; // BPF_TAX
                    }
                    else
                    {
                        a = x; // BPF_TXA
                    }
                    pc++;
                }
                default ->
                {
                    return false;
                }
            }
        }
        return false;
    }
}
