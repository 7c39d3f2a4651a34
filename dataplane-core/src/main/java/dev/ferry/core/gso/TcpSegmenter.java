package dev.ferry.core.gso;

import dev.ferry.core.PacketPool;
import dev.ferry.core.header.Ip4Header;
import dev.ferry.core.header.TcpHeader;

import java.lang.foreign.MemorySegment;

/**
 * Software TCP segmentation (the kernel's {@code tcp_gso_segment}, wireguard-go's {@code gsoSplit}): splits an IPv4
 * TCP superframe into segments of at most {@link PacketPool#gsoSize} payload bytes, each a plain packet with
 * complete checksums, for a link that takes no superframes (the VXLAN tunnel, the uplink, a TAP without offloads).
 *
 * <pre>
 *  superframe:  [L2 .. l3][IPv4 id, len=all][TCP seq, flags, csum partial][payload 0 .. P)
 *  segment i:   [L2 .. l3][IPv4 id+i, len  ][TCP seq+i*mss, flags*      ][payload i*mss .. min(P, (i+1)*mss))
 *               * FIN and PSH only on the last segment, CWR only on the first; TCP checksum complete
 * </pre>
 *
 * <p>The superframe's own buffer becomes the first segment (its payload is already in place: only the headers
 * change), so a frame in is still a frame out and none is freed unaccounted; the other segments are fresh buffers of
 * the pool (small when a segment fits one, else large) with the superframe's metadata, offload metadata cleared.
 * A failed split leaves the superframe as it was. Nothing is allocated on the heap.
 */
public final class TcpSegmenter
{
    /** Most segments one superframe may be split into (a 64 KB frame at an MSS of 256 bytes). */
    public static final int MAX_SEGMENTS = 256;
    /** {@link #segment} result: the superframe is not an IPv4 TCP packet this segmenter can split. */
    public static final int NOT_TCP = -1;
    /** {@link #segment} result: more than {@link #MAX_SEGMENTS} segments, or a zero segment size. */
    public static final int TOO_MANY_SEGMENTS = -2;
    /** {@link #segment} result: the pool ran out of buffers (the segments taken so far were freed). */
    public static final int NO_BUFFER = -3;

    private static final int CWR = 0x80;

    private final PacketPool pool;
    private final int[] segments = new int[MAX_SEGMENTS];
    private final Ip4Header ip = new Ip4Header();
    private final TcpHeader tcp = new TcpHeader();

    /**
     * @param pool the pool the superframes and their segments live in.
     */
    public TcpSegmenter(final PacketPool pool)
    {
        this.pool = pool;
    }

    /**
     * @param i segment index, below what {@link #segment} returned.
     * @return the segment's handle.
     */
    public int get(final int i)
    {
        return segments[i];
    }

    /**
     * Splits a superframe whose IPv4 header is at {@link PacketPool#l3Offset}. A packet at most one segment long
     * gives one segment too (its checksum completed), so callers need no second path.
     *
     * @param h the superframe; on success it is segment 0 ({@code get(0) == h}).
     * @return segments made ({@link #get}), or {@link #NOT_TCP}, {@link #TOO_MANY_SEGMENTS}, {@link #NO_BUFFER}
     *         (then {@code h} is unchanged and still the caller's).
     */
    public int segment(final int h)
    {
        final PacketPool pool = this.pool;
        final MemorySegment mem = pool.memory();
        final long frame = pool.frameOffset(h);
        final int l3 = pool.l3Offset(h);
        final int len = pool.length(h);
        final Ip4Header ip = this.ip.wrap(mem, frame + l3);
        final TcpHeader tcp = this.tcp;
        if (l3 < 0 || l3 + Ip4Header.MIN_LENGTH > len || ip.version() != 4 || ip.protocol() != Ip4Header.PROTO_TCP)
        {
            return NOT_TCP;
        }
        final int ihl = ip.headerLength();
        final int total = ip.totalLength();
        final int l4 = l3 + ihl;
        if (ihl < Ip4Header.MIN_LENGTH || l4 + TcpHeader.MIN_LENGTH > len || l3 + total > len)
        {
            return NOT_TCP;
        }
        final int doff = tcp.wrap(mem, frame + l4).headerLength();
        final int hdrLen = l4 + doff;
        if (doff < TcpHeader.MIN_LENGTH || hdrLen > l3 + total)
        {
            return NOT_TCP;
        }
        final int payload = l3 + total - hdrLen;
        final int gsoSize = pool.gsoSize(h);
        final int mss = gsoSize == 0 ? Math.max(payload, 1) : gsoSize;
        final int count = Math.max(1, (payload + mss - 1) / mss);
        if (count > MAX_SEGMENTS)
        {
            return TOO_MANY_SEGMENTS;
        }
        final int src = ip.src();
        final int dst = ip.dst();
        final int id0 = ip.identification();
        final int seq0 = tcp.seq();
        final int flags0 = tcp.flags();
        segments[0] = h;
        // segments 1.. first, copied from the superframe while its headers are intact; then segment 0 in place
        for (int i = 1; i < count; i++)
        {
            final int off = i * mss;
            final int segFrame = hdrLen + Math.min(mss, payload - off);
            int s = segFrame + pool.headroom() <= pool.bufferSize() ? pool.allocate() : PacketPool.NO_BUFFER;
            if (s == PacketPool.NO_BUFFER)
            {
                s = pool.allocateLarge();
            }
            if (s == PacketPool.NO_BUFFER)
            {
                for (int k = 1; k < i; k++)
                {
                    pool.free(segments[k]);
                }
                return NO_BUFFER;
            }
            segments[i] = s;
            pool.copyMetadata(h, s);
            pool.l3Offset(s, l3);
            pool.aux(s, pool.aux(h));
            pool.length(s, segFrame);
            final long to = pool.frameOffset(s);
            MemorySegment.copy(mem, frame, mem, to, hdrLen);
            MemorySegment.copy(mem, frame + hdrLen + off, mem, to + hdrLen, segFrame - hdrLen);
        }
        for (int i = count - 1; i >= 0; i--)
        {
            final int s = segments[i];
            final int off = i * mss;
            final int segLen = Math.min(mss, payload - off);
            if (i == 0)
            {
                pool.length(h, hdrLen + segLen);
                pool.clearOffload(h);
            }
            final long to = pool.frameOffset(s);
            // IPv4: length, id counting up per segment (as the kernel's inet_gso_segment), header checksum
            ip.wrap(mem, to + l3).totalLength(ihl + doff + segLen).identification((id0 + i) & 0xffff)
                .updateChecksum();
            // TCP: sequence number, flags, complete checksum
            int f = flags0;
            if (i < count - 1)
            {
                f &= ~(TcpHeader.FIN | TcpHeader.PSH);
            }
            if (i > 0)
            {
                f &= ~CWR;
            }
            tcp.wrap(mem, to + l4).seq(seq0 + off).flags(f).updateChecksum(src, dst, doff + segLen);
        }
        return count;
    }
}
