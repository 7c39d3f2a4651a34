package dev.ferry.tapio;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * {@code struct virtio_net_hdr} (include/uapi/linux/virtio_net.h), the header in front of every frame on a TAP opened
 * with {@code IFF_VNET_HDR} and on an {@code AF_PACKET} socket with {@code PACKET_VNET_HDR}: one set of field offsets
 * and values for both ports.
 *
 * <pre>
 *   0 flags | 1 gso_type | 2 hdr_len (16) | 4 gso_size (16) | 6 csum_start (16) | 8 csum_offset (16) | [10 num_buffers]
 * </pre>
 */
final class VirtioNetHeader
{
    /** Size of {@code struct virtio_net_hdr}. */
    static final int SIZE = 10;
    /** Offset of {@code gso_type}. */
    static final int GSO_TYPE_AT = 1;
    /** Offset of {@code gso_size}. */
    static final int GSO_SIZE_AT = 4;
    /** Offset of {@code csum_start}. */
    static final int CSUM_START_AT = 6;
    /** Offset of {@code csum_offset}. */
    static final int CSUM_OFFSET_AT = 8;
    /** flags: the checksum at csum_start + csum_offset holds only the pseudo-header sum. */
    static final int F_NEEDS_CSUM = 1;
    /** flags: the kernel (or the NIC) has checked the checksums. */
    static final int F_DATA_VALID = 2;
    /** gso_type: none. */
    static final int GSO_NONE = 0;
    /** gso_type: TCP over IPv4. */
    static final int GSO_TCPV4 = 1;
    /** gso_type: UDP segmentation (USO). */
    static final int GSO_UDP_L4 = 5;
    /** gso_type flag: ECN (TCP only). */
    static final int GSO_ECN = 0x80;

    private VirtioNetHeader()
    {
    }

    /** @return {@code flags} of the header at {@code at}; its 16-bit fields are in host order (legacy virtio). */
    static int flags(final MemorySegment seg, final long at)
    {
        return seg.get(ValueLayout.JAVA_BYTE, at) & 0xff;
    }

    /** @return {@code gso_type} of the header at {@code at}. */
    static int gsoType(final MemorySegment seg, final long at)
    {
        return seg.get(ValueLayout.JAVA_BYTE, at + GSO_TYPE_AT) & 0xff;
    }

    /** @return {@code gso_size} of the header at {@code at}. */
    static int gsoSize(final MemorySegment seg, final long at)
    {
        return seg.get(ValueLayout.JAVA_SHORT_UNALIGNED, at + GSO_SIZE_AT) & 0xffff;
    }

    /** @return {@code csum_start} of the header at {@code at}. */
    static int csumStart(final MemorySegment seg, final long at)
    {
        return seg.get(ValueLayout.JAVA_SHORT_UNALIGNED, at + CSUM_START_AT) & 0xffff;
    }

    /** @return {@code csum_offset} of the header at {@code at}. */
    static int csumOffset(final MemorySegment seg, final long at)
    {
        return seg.get(ValueLayout.JAVA_SHORT_UNALIGNED, at + CSUM_OFFSET_AT) & 0xffff;
    }
}
