package dev.ferry.core.gso;

import dev.ferry.core.PacketPool;
import dev.ferry.core.header.Checksum;
import dev.ferry.core.header.Ip4Header;
import dev.ferry.core.header.TcpHeader;
import dev.ferry.core.header.Wire;

import java.lang.foreign.MemorySegment;

/**
 * Software TCP GRO for a TX batch (wireguard-go's {@code tcpGRO}, the opposite of {@link TcpSegmenter}): finds the
 * runs of consecutive segments of one flow in a batch of frames for one port, and describes each run as one
 * superframe: the first segment's headers, rewritten for the whole run, then every segment's payload in turn.
 * Nothing is copied: the port writes a run as a gather list (virtio header + first frame, then each further
 * segment's payload slice, {@code writev}), so the payload bytes stay in their buffers.
 *
 * <pre>
 *   batch:   A1 A2 B1 A3 X A4      (A, B: TCP flows; X: anything else)
 *   frames:  [A1 A2 A3 A4] [B1] [X]   each frame in the order of its first segment; a flow's segments never
 *                                      pass each other, and never pass another packet of the same address pair
 *   superframe = A1's L2/IPv4/TCP headers (IPv4 total length and checksum, PSH of the last segment, window of the
 *                last, TCP checksum field = pseudo-header sum) | payload A1 | payload A2 | payload A3 | payload A4
 *                gso_size = A1's payload length; NEEDS_CSUM from the TCP header on
 * </pre>
 *
 * <p>A segment joins the open run of its flow only when all of these hold (wireguard-go's rules, which follow the
 * kernel's own GRO and its selftests, adapted):
 * <ul>
 *   <li>a plain frame: no offload metadata (a superframe or a partial checksum goes out as it is);</li>
 *   <li>IPv4 without options ({@code ihl == 5}), not a fragment (MF clear, offset 0), TCP, total length inside the
 *       frame;</li>
 *   <li>TCP flags ACK or ACK|PSH only, reserved bits and NS clear (never SYN, FIN, RST, URG, ECE, CWR: those go out
 *       alone, and the flow's run ends there), a non-empty payload;</li>
 *   <li>the same 5-tuple and the same acknowledgement number (wireguard-go keys the flow by it: "varying ack values
 *       should not be coalesced");</li>
 *   <li>the same L2 header bytes, IPv4 TOS, TTL and DF/reserved bits;</li>
 *   <li>the same TCP header length and option bytes, timestamps included: equal TSval/TSecr, as wireguard-go and
 *       the kernel's {@code tcp_gro_receive} require (a new timestamp ends the run). The window may differ; the
 *       superframe carries the last segment's, the freshest;</li>
 *   <li>its sequence number follows the run exactly;</li>
 *   <li>every segment has the run's first payload size except a shorter last one: after a shorter segment, or
 *       after one with PSH, the run is closed; a longer segment starts a new run;</li>
 *   <li>the IPv4 datagram stays at most 65,535 bytes, and a run has at most {@link #MAX_SEGMENTS} segments;</li>
 *   <li>its IPv4 header checksum and its TCP checksum verify, and so do the first segment's (checked when the
 *       second joins). The superframe goes to the pod with {@code NEEDS_CSUM}, so the pod's kernel will not check
 *       the data again: a segment from the hostile underlay that does not verify is refused
 *       ({@link #refusedChecksums()}) and goes out alone, unchanged, for the pod to drop.</li>
 * </ul>
 * Any other IPv4 TCP packet (a pure ACK, a FIN, a fragment) closes the open runs of its address pair, so that it
 * is not overtaken. Whether the port took TSO is the caller's check.
 *
 * <p>A crafted batch cannot make this allocate (all state is in arrays sized at construction), run past a
 * 64 KB datagram, or stall: one pass over the batch, a few compares per packet against at most
 * {@link #MAX_OPEN_RUNS} open runs, and one checksum pass over each segment that joins a run.
 */
public final class TcpCoalescer
{
    /** Most frames one {@link #plan} takes. */
    public static final int MAX_BATCH = 256;
    /** Most segments in one superframe (a 64 KB datagram holds 45 of 1448 bytes). */
    public static final int MAX_SEGMENTS = 64;
    /** Runs open at once (flows interleaved in one batch); the oldest closes when a new one needs room. */
    public static final int MAX_OPEN_RUNS = 8;

    private static final int IP4_MAX = 65535;
    private static final int ETHERTYPE_IP4 = 0x0800;
    private static final int FLAGS_ACK = TcpHeader.ACK;
    private static final int FLAGS_ACK_PSH = TcpHeader.ACK | TcpHeader.PSH;

    private final PacketPool pool;
    private final Ip4Header ip = new Ip4Header();
    private final TcpHeader tcp = new TcpHeader();

    // per batch position
    private final int[] handles = new int[MAX_BATCH];
    private final int[] next = new int[MAX_BATCH];
    private final boolean[] member = new boolean[MAX_BATCH];
    private final int[] payload = new int[MAX_BATCH];

    // open runs
    private final int[] runHead = new int[MAX_OPEN_RUNS];
    private final int[] runTail = new int[MAX_OPEN_RUNS];
    private final int[] runCount = new int[MAX_OPEN_RUNS];
    private final int[] runNextSeq = new int[MAX_OPEN_RUNS];
    private final int[] runTotal = new int[MAX_OPEN_RUNS];
    private final boolean[] runHeadVerified = new boolean[MAX_OPEN_RUNS];
    private final int[] runSrc = new int[MAX_OPEN_RUNS];
    private final int[] runDst = new int[MAX_OPEN_RUNS];
    private final int[] runPorts = new int[MAX_OPEN_RUNS];
    private final boolean[] runOpen = new boolean[MAX_OPEN_RUNS];
    private int evict;

    // output: frames in order, each a slice of outHandles
    private final int[] outHandles = new int[MAX_BATCH];
    private final int[] outPayload = new int[MAX_BATCH];
    private final int[] frameStart = new int[MAX_BATCH];
    private final int[] frameCount = new int[MAX_BATCH];
    private final int[] frameHeader = new int[MAX_BATCH];
    private int frames;
    private int refused;

    /**
     * @param pool the pool the batch's frames live in.
     */
    public TcpCoalescer(final PacketPool pool)
    {
        this.pool = pool;
    }

    /**
     * Plans a batch: groups its frames into output frames, each one frame or a run of segments to coalesce.
     * Reads the frames (and sums the payload of each segment that joins a run); writes nothing.
     *
     * @param batch handles, in transmission order.
     * @param count how many, at most {@link #MAX_BATCH}.
     * @return output frames ({@link #frameSegments}, {@link #handle}).
     */
    public int plan(final int[] batch, final int count)
    {
        if (count > MAX_BATCH)
        {
            throw new IllegalArgumentException("batch of " + count + " > " + MAX_BATCH);
        }
        java.util.Arrays.fill(runOpen, false);
        refused = 0;
        for (int i = 0; i < count; i++)
        {
            handles[i] = batch[i];
            next[i] = -1;
            member[i] = false;
            payload[i] = 0;
            place(i);
        }
        int cursor = 0;
        frames = 0;
        for (int i = 0; i < count; i++)
        {
            if (member[i])
            {
                continue;
            }
            frameStart[frames] = cursor;
            int n = 0;
            for (int k = i; k >= 0; k = next[k])
            {
                outHandles[cursor] = handles[k];
                outPayload[cursor] = payload[k];
                cursor++;
                n++;
            }
            frameCount[frames] = n;
            frameHeader[frames] = n > 1 ? headerLength(handles[i]) : 0;
            frames++;
        }
        return frames;
    }

    /** Puts batch position i into a run or leaves it alone. */
    private void place(final int i)
    {
        final PacketPool pool = this.pool;
        final MemorySegment mem = pool.memory();
        final int h = handles[i];
        final long frame = pool.frameOffset(h);
        final int len = pool.length(h);
        final int l3 = pool.l3Offset(h);
        if (l3 < 14 || l3 + Ip4Header.MIN_LENGTH > len || Wire.u16(mem, frame + l3 - 2) != ETHERTYPE_IP4)
        {
            return;
        }
        final Ip4Header ip = this.ip.wrap(mem, frame + l3);
        if (ip.version() != 4 || ip.protocol() != Ip4Header.PROTO_TCP)
        {
            return;
        }
        final int src = ip.src();
        final int dst = ip.dst();
        final int total = ip.totalLength();
        final int l4 = l3 + Ip4Header.MIN_LENGTH;
        if (pool.gsoSize(h) != 0 || pool.checksumPartial(h) || ip.headerLength() != Ip4Header.MIN_LENGTH
            || ip.isFragment() || l3 + total > len || l4 + TcpHeader.MIN_LENGTH > l3 + total)
        {
            closeAddresses(src, dst);
            return;
        }
        final TcpHeader tcp = this.tcp.wrap(mem, frame + l4);
        final int doff = tcp.headerLength();
        final int flags = Wire.u8(mem, frame + l4 + 13);
        final int reservedAndNs = Wire.u8(mem, frame + l4 + 12) & 0x0f;
        final int data = total - Ip4Header.MIN_LENGTH - doff;
        if (doff < TcpHeader.MIN_LENGTH || data <= 0 || reservedAndNs != 0
            || flags != FLAGS_ACK && flags != FLAGS_ACK_PSH)
        {
            closeAddresses(src, dst);
            return;
        }
        payload[i] = data;
        final int ports = Wire.u32(mem, frame + l4);
        final int seq = tcp.seq();
        final int r = findRun(src, dst, ports);
        if (r >= 0)
        {
            if (canJoin(r, h, mem, frame, l3, doff, data, seq))
            {
                if (!runHeadVerified[r])
                {
                    if (!verify(handles[runHead[r]]))
                    {
                        // the first segment stays alone (unchanged, for the pod to drop); this one starts the run
                        refused++;
                        runOpen[r] = false;
                        if ((flags & TcpHeader.PSH) == 0)
                        {
                            open(r, i, src, dst, ports, seq, data);
                        }
                        return;
                    }
                    runHeadVerified[r] = true;
                }
                if (verify(h))
                {
                    next[runTail[r]] = i;
                    member[i] = true;
                    runTail[r] = i;
                    runCount[r]++;
                    runTotal[r] += data;
                    runNextSeq[r] = seq + data;
                    if ((flags & TcpHeader.PSH) != 0 || data < payload[runHead[r]] || runCount[r] == MAX_SEGMENTS)
                    {
                        runOpen[r] = false;
                    }
                    return;
                }
                // refused: goes out alone after the run; the flow's later segments start a new run behind it
                refused++;
                runOpen[r] = false;
                return;
            }
            runOpen[r] = false;
        }
        int slot = -1;
        for (int s = 0; s < MAX_OPEN_RUNS && slot < 0; s++)
        {
            if (!runOpen[s])
            {
                slot = s;
            }
        }
        if (slot < 0)
        {
            slot = evict;
            evict = (evict + 1) % MAX_OPEN_RUNS;
        }
        if ((flags & TcpHeader.PSH) == 0)
        {
            open(slot, i, src, dst, ports, seq, data);
        }
    }

    private void open(final int r, final int i, final int src, final int dst, final int ports, final int seq,
        final int data)
    {
        runOpen[r] = true;
        runHead[r] = i;
        runTail[r] = i;
        runCount[r] = 1;
        runTotal[r] = data;
        runNextSeq[r] = seq + data;
        runHeadVerified[r] = false;
        runSrc[r] = src;
        runDst[r] = dst;
        runPorts[r] = ports;
    }

    private int findRun(final int src, final int dst, final int ports)
    {
        for (int r = 0; r < MAX_OPEN_RUNS; r++)
        {
            if (runOpen[r] && runSrc[r] == src && runDst[r] == dst && runPorts[r] == ports)
            {
                return r;
            }
        }
        return -1;
    }

    private void closeAddresses(final int src, final int dst)
    {
        for (int r = 0; r < MAX_OPEN_RUNS; r++)
        {
            if (runOpen[r] && runSrc[r] == src && runDst[r] == dst)
            {
                runOpen[r] = false;
            }
        }
    }

    /** The header rules: a segment that passes them may join run r (checksums are checked after). */
    private boolean canJoin(final int r, final int h, final MemorySegment mem, final long frame, final int l3,
        final int doff, final int data, final int seq)
    {
        final PacketPool pool = this.pool;
        final int head = handles[runHead[r]];
        final long headFrame = pool.frameOffset(head);
        final int headPayload = payload[runHead[r]];
        if (seq != runNextSeq[r] || data > headPayload || pool.l3Offset(head) != l3
            || Ip4Header.MIN_LENGTH + doff + runTotal[r] + data > IP4_MAX)
        {
            return false;
        }
        final long ip = frame + l3;
        final long headIp = headFrame + l3;
        final long l4 = ip + Ip4Header.MIN_LENGTH;
        final long headL4 = headIp + Ip4Header.MIN_LENGTH;
        // TOS; DF and reserved bits (byte 6, top 3 bits); TTL
        if (Wire.u8(mem, ip + 1) != Wire.u8(mem, headIp + 1)
            || (Wire.u8(mem, ip + 6) >>> 5) != (Wire.u8(mem, headIp + 6) >>> 5)
            || Wire.u8(mem, ip + Ip4Header.TTL_OFFSET) != Wire.u8(mem, headIp + Ip4Header.TTL_OFFSET)
            // ack number, data offset
            || Wire.u32(mem, l4 + 8) != Wire.u32(mem, headL4 + 8)
            || Wire.u8(mem, l4 + 12) != Wire.u8(mem, headL4 + 12))
        {
            return false;
        }
        return equal(mem, frame, headFrame, l3)
            && equal(mem, l4 + TcpHeader.MIN_LENGTH, headL4 + TcpHeader.MIN_LENGTH, doff - TcpHeader.MIN_LENGTH);
    }

    /** Compares two short ranges of the pool (an L2 header, TCP options): a few word loads, no call overhead. */
    private static boolean equal(final MemorySegment mem, final long a, final long b, final int len)
    {
        int i = 0;
        for (; i + 4 <= len; i += 4)
        {
            if (Wire.u32(mem, a + i) != Wire.u32(mem, b + i))
            {
                return false;
            }
        }
        for (; i < len; i++)
        {
            if (Wire.u8(mem, a + i) != Wire.u8(mem, b + i))
            {
                return false;
            }
        }
        return true;
    }

    /** Whether a segment's IPv4 header checksum and TCP checksum verify. */
    private boolean verify(final int h)
    {
        final MemorySegment mem = pool.memory();
        final long ipAt = pool.frameOffset(h) + pool.l3Offset(h);
        final Ip4Header ip = this.ip.wrap(mem, ipAt);
        if (!ip.checksumValid())
        {
            return false;
        }
        if ((pool.flags(h) & PacketPool.FLAG_L4_CHECKSUM_TRUSTED) != 0)
        {
            // an outer checksum the kernel checked (or one that never left the host) covered these bytes: the pass
            // over the payload was most of the coalescer's cost
            return true;
        }
        return tcp.wrap(mem, ipAt + Ip4Header.MIN_LENGTH).checksumValid(ip.src(), ip.dst(),
            ip.totalLength() - Ip4Header.MIN_LENGTH);
    }

    private int headerLength(final int h)
    {
        final long l4 = pool.frameOffset(h) + pool.l3Offset(h) + Ip4Header.MIN_LENGTH;
        return pool.l3Offset(h) + Ip4Header.MIN_LENGTH + (Wire.u8(pool.memory(), l4 + 12) >>> 4) * 4;
    }

    /**
     * Rewrites a run's first segment into the superframe's headers: IPv4 total length and header checksum, PSH
     * and window of the last segment, the TCP checksum field holding the pseudo-header sum; and records the
     * offload metadata ({@link PacketPool#gso}: TCPv4 with the first segment's payload size, a partial checksum
     * from the TCP header). Call once per frame of more than one segment, after {@link #plan}.
     *
     * @param f output frame index.
     * @return the superframe's length from its L2 header on.
     */
    public int coalesce(final int f)
    {
        final PacketPool pool = this.pool;
        final MemorySegment mem = pool.memory();
        final int start = frameStart[f];
        final int n = frameCount[f];
        final int head = outHandles[start];
        final int last = outHandles[start + n - 1];
        final int l3 = pool.l3Offset(head);
        final int hdrLen = frameHeader[f];
        final int l4 = l3 + Ip4Header.MIN_LENGTH;
        int data = 0;
        for (int k = 0; k < n; k++)
        {
            data += outPayload[start + k];
        }
        final long frame = pool.frameOffset(head);
        final long lastL4 = pool.frameOffset(last) + l4;
        final Ip4Header ip = this.ip.wrap(mem, frame + l3);
        ip.totalLength(hdrLen - l3 + data).updateChecksum();
        final TcpHeader tcp = this.tcp.wrap(mem, frame + l4);
        final int tcpLength = hdrLen - l4 + data;
        tcp.flags(tcp.flags() | Wire.u8(mem, lastL4 + 13) & TcpHeader.PSH)
            .window(Wire.u16(mem, lastL4 + 14))
            .checksum(Checksum.fold(Checksum.pseudoHeader(ip.src(), ip.dst(), Ip4Header.PROTO_TCP, tcpLength)));
        pool.gso(head, PacketPool.GSO_TCPV4, outPayload[start]);
        pool.checksumPartial(head, l4, TcpHeader.CHECKSUM_OFFSET);
        return hdrLen + data;
    }

    /** @return segments whose IPv4 or TCP checksum did not verify in the last {@link #plan} (they went alone). */
    public int refusedChecksums()
    {
        return refused;
    }

    /**
     * @param f output frame index, below what {@link #plan} returned.
     * @return 1 for a frame written as it is, more for a run to coalesce.
     */
    public int frameSegments(final int f)
    {
        return frameCount[f];
    }

    /**
     * @param f output frame index.
     * @param k segment within it, below {@link #frameSegments}.
     * @return the segment's handle; segment 0's buffer carries the superframe's headers.
     */
    public int handle(final int f, final int k)
    {
        return outHandles[frameStart[f] + k];
    }

    /**
     * @param f output frame index of a run.
     * @param k segment within it.
     * @return the segment's TCP payload length.
     */
    public int payloadLength(final int f, final int k)
    {
        return outPayload[frameStart[f] + k];
    }

    /**
     * @param f output frame index of a run.
     * @return bytes of headers in front of each segment's payload (L2 + IPv4 + TCP), the same in every segment.
     */
    public int payloadOffset(final int f)
    {
        return frameHeader[f];
    }
}
