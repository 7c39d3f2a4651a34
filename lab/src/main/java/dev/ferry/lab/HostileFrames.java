package dev.ferry.lab;

import dev.ferry.core.header.Checksum;
import dev.ferry.core.packet.FrameBuilder;
import dev.ferry.core.route.Ip4;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * What a hostile pod of the lab sends (issue 13): seeded frames of the kinds the node's fuzz suite covers from a
 * pod port (spoofed sources, VXLAN to a VTEP, martians, broadcast, fragments, IPv4 options, invalid TCP flags and
 * out-of-window RSTs toward the Services, ICMP errors quoting anything), then mutated the same ways (bit flips,
 * interesting bytes, truncation, extension, length fields that lie). Frames are at most {@link #MAX_FRAME}
 * bytes (a pod's MTU plus the Ethernet header), so the kernel's veth takes them.
 */
public final class HostileFrames
{
    /** The largest frame built: pod MTU 1450 + 14. */
    public static final int MAX_FRAME = LabSpec.UNDERLAY_MTU - 50 + 14;

    private static final int[] LENGTH_LIES = {0, 1, 19, 20, 27, 28, 0x7fff, 0xffff};
    private static final int[] TCP_FLAGS = {0x02, 0x03, 0x07, 0x0b, 0x04, 0x14, 0x10, 0x01, 0x29, 0x3f, 0x00};

    private final Random random;
    private final long ownMac;
    private final int ownIp;
    private final long gatewayMac;
    private final int[] destinations;
    private final int[] spoofed;
    private final int vtep;

    /**
     * @param spec  the lab (addresses).
     * @param pod   the hostile pod.
     * @param seed  the generator's seed (a run is reproducible from it).
     */
    public HostileFrames(final LabSpec spec, final LabSpec.Pod pod, final long seed)
    {
        this.random = new Random(seed);
        this.ownIp = Ip4.parse(pod.ip());
        this.ownMac = Ip4.podMac(ownIp);
        this.gatewayMac = Ip4.podMac(Ip4.parse(spec.node(pod.node()).gateway()));
        final List<Integer> dst = new ArrayList<>();
        for (final String a : List.of(LabSpec.WEB_VIP, LabSpec.ECHO_VIP, "10.96.0.99", LabSpec.EXT_IP,
            spec.node1().ip(), spec.node2().ip(), "255.255.255.255", "224.0.0.1", "127.0.0.1", "0.0.0.0",
            "240.0.0.1", "10.244.1.255"))
        {
            dst.add(Ip4.parse(a));
        }
        for (final LabSpec.Pod p : spec.pods())
        {
            dst.add(Ip4.parse(p.ip()));
        }
        this.destinations = dst.stream().mapToInt(Integer::intValue).toArray();
        final List<Integer> src = new ArrayList<>();
        for (final LabSpec.Pod p : spec.pods())
        {
            src.add(Ip4.parse(p.ip()));
        }
        for (final String a : List.of(spec.node1().ip(), spec.node2().ip(), LabSpec.EXT_IP, "0.0.0.0",
            "198.51.100.7", LabSpec.WEB_VIP))
        {
            src.add(Ip4.parse(a));
        }
        this.spoofed = src.stream().mapToInt(Integer::intValue).toArray();
        this.vtep = Ip4.parse(spec.node2().ip());
    }

    /**
     * @param count how many frames.
     * @return the next frames.
     */
    public List<byte[]> next(final int count)
    {
        final List<byte[]> out = new ArrayList<>(count);
        for (int i = 0; i < count; i++)
        {
            byte[] f = seed();
            for (int m = random.nextInt(3); m > 0; m--)
            {
                f = mutate(f);
            }
            out.add(f.length > MAX_FRAME ? Arrays.copyOf(f, MAX_FRAME) : f);
        }
        return out;
    }

    private byte[] seed()
    {
        // mostly our own addresses (what source validation lets through, so the stages behind it see them too)
        final int src = random.nextInt(4) == 0 ? spoofed[random.nextInt(spoofed.length)] : ownIp;
        final long mac = random.nextInt(8) == 0 ? random.nextLong() & 0xffff_ffff_ffffL : ownMac;
        final long dstMac = random.nextInt(16) == 0 ? 0xffff_ffff_ffffL : gatewayMac;
        final int dst = destinations[random.nextInt(destinations.length)];
        final FrameBuilder b = new FrameBuilder().eth(mac, dstMac).ip4(src, dst).ttl(1 + random.nextInt(64))
            .id(random.nextInt(65536));
        final byte[] f = switch (random.nextInt(7))
        {
            case 0 -> b.tcp(1024 + random.nextInt(60000), random.nextBoolean() ? LabSpec.WEB_PORT : LabSpec.WEB_TARGET,
                TCP_FLAGS[random.nextInt(TCP_FLAGS.length)], random.nextInt(), random.nextInt()).build();
            case 1 -> b.udp(1024 + random.nextInt(60000), random.nextBoolean() ? LabSpec.ECHO_PORT : 53)
                .payload(bytes(random.nextInt(1400))).build();
            case 2 -> b.icmp(random.nextBoolean() ? 3 : 11, random.nextInt(5), 0).payload(quote()).build();
            case 3 -> new FrameBuilder().eth(mac, gatewayMac).ip4(src, vtep)
                .udp(1024 + random.nextInt(60000), LabSpec.VXLAN_PORT).payload(vxlan()).build();
            case 4 -> fragment(b.udp(1024 + random.nextInt(60000), LabSpec.ECHO_PORT)
                .payload(bytes(8 + random.nextInt(600))).build());
            case 5 -> options(b.tcp(1024 + random.nextInt(60000), LabSpec.WEB_PORT, 0x02, random.nextInt(), 0)
                .build());
            default -> b.icmp(8, 0, random.nextInt()).payload(bytes(random.nextInt(100))).build();
        };
        return f;
    }

    /** An ICMP error's quote: the start of any datagram, often one that claims to be a Service flow. */
    private byte[] quote()
    {
        final byte[] inner = new FrameBuilder().eth(0, 0).ip4(destinations[random.nextInt(destinations.length)],
            spoofed[random.nextInt(spoofed.length)]).tcp(random.nextBoolean() ? LabSpec.WEB_TARGET : 80,
                1024 + random.nextInt(60000), 0x12, random.nextInt(), random.nextInt()).build();
        return Arrays.copyOfRange(inner, 14, 14 + 20 + random.nextInt(21));
    }

    /** A VXLAN payload (VNI 1) whose inner frame claims any source: a pod must never get one decapsulated. */
    private byte[] vxlan()
    {
        final byte[] inner = new FrameBuilder().eth(random.nextLong() & 0xfeff_ffff_ffffL, 0x0a58_0af4_0202L)
            .ip4(spoofed[random.nextInt(spoofed.length)], destinations[random.nextInt(destinations.length)])
            .icmp(8, 0, random.nextInt()).build();
        final byte[] p = new byte[8 + inner.length];
        p[0] = 0x08;
        p[6] = (byte)LabSpec.VNI;
        System.arraycopy(inner, 0, p, 8, inner.length);
        return p;
    }

    private byte[] bytes(final int n)
    {
        final byte[] b = new byte[n];
        random.nextBytes(b);
        return b;
    }

    private byte[] mutate(final byte[] in)
    {
        final byte[] f = in.clone();
        if (f.length <= 14)
        {
            return f;
        }
        switch (random.nextInt(5))
        {
            case 0 ->
            {
                for (int k = 1 + random.nextInt(8); k > 0; k--)
                {
                    final int bit = 14 * 8 + random.nextInt((f.length - 14) * 8);
                    f[bit / 8] ^= (byte)(1 << (bit % 8));
                }
                return f;
            }
            case 1 ->
            {
                final int[] interesting = {0, 0xff, 0x7f, 0x80, 0x45, 0x11, 0x06, 0x01};
                f[14 + random.nextInt(f.length - 14)] = (byte)interesting[random.nextInt(interesting.length)];
                return f;
            }
            case 2 ->
            {
                return Arrays.copyOf(f, 14 + random.nextInt(f.length - 13));
            }
            case 3 ->
            {
                final byte[] longer = Arrays.copyOf(f, f.length + 1 + random.nextInt(64));
                for (int i = f.length; i < longer.length; i++)
                {
                    longer[i] = (byte)random.nextInt(256);
                }
                return longer;
            }
            default ->
            {
                if (f.length >= 34)
                {
                    final int lie = LENGTH_LIES[random.nextInt(LENGTH_LIES.length)];
                    f[16] = (byte)(lie >>> 8);
                    f[17] = (byte)lie;
                    ipChecksum(f);
                }
                return f;
            }
        }
    }

    private byte[] fragment(final byte[] f)
    {
        final int offset = random.nextInt(3) == 0 ? 0 : 1 + random.nextInt(200);
        final int flags = random.nextBoolean() || offset == 0 ? 0x2000 : 0;
        f[20] = (byte)((flags | offset) >>> 8);
        f[21] = (byte)(flags | offset);
        ipChecksum(f);
        return f;
    }

    private byte[] options(final byte[] f)
    {
        final int words = 1 + random.nextInt(10);
        final byte[] opts = new byte[words * 4];
        if (random.nextBoolean())
        {
            Arrays.fill(opts, (byte)1);
        }
        else
        {
            random.nextBytes(opts);
        }
        final byte[] out = new byte[f.length + opts.length];
        System.arraycopy(f, 0, out, 0, 34);
        System.arraycopy(opts, 0, out, 34, opts.length);
        System.arraycopy(f, 34, out, 34 + opts.length, f.length - 34);
        out[14] = (byte)(0x40 | 5 + words);
        final int total = ((f[16] & 0xff) << 8 | (f[17] & 0xff)) + opts.length;
        out[16] = (byte)(total >>> 8);
        out[17] = (byte)total;
        ipChecksum(out);
        return out;
    }

    /** Recomputes the IPv4 header checksum for the header length the frame claims (when the frame holds it). */
    static void ipChecksum(final byte[] f)
    {
        final int ihl = (f[14] & 0x0f) * 4;
        if (ihl < 20 || 14 + ihl > f.length)
        {
            return;
        }
        f[24] = 0;
        f[25] = 0;
        final int sum = Checksum.compute(MemorySegment.ofArray(f), 14, ihl);
        f[24] = (byte)(sum >>> 8);
        f[25] = (byte)sum;
    }
}
