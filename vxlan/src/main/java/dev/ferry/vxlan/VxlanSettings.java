package dev.ferry.vxlan;

/**
 * Node-local VXLAN settings that flannel leaves to the kernel's defaults. The VNI and the UDP port are
 * cluster-wide and come from {@code NodeTables.cluster()} (flannel's net-conf.json).
 *
 * @param outerTtl     TTL of the outer IPv4 header; the kernel sends 64.
 * @param outerDf      set DF on the outer header; the kernel's vxlan device (flannel) leaves it clear.
 * @param udpChecksum  compute the outer UDP checksum (Linux default); false is iproute2's {@code noudpcsum}.
 * @param srcPortMin   lowest outer UDP source port (kernel: {@code ip_local_port_range} low, 32768).
 * @param srcPortMax   highest outer UDP source port (kernel: {@code ip_local_port_range} high, 60999).
 * @param underlay     how encapsulated packets reach the underlay.
 * @param tunnelPortName name of the tunnel port (flannel names its device {@code flannel.<VNI>}).
 */
public record VxlanSettings(int outerTtl, boolean outerDf, boolean udpChecksum, int srcPortMin, int srcPortMax,
    Underlay underlay, String tunnelPortName)
{
    /** How encapsulated packets leave the node. Both share the encap stage. */
    public enum Underlay
    {
        /** Whole frames (outer Ethernet/IPv4/UDP built from the VTEP template) out of the uplink port. */
        UPLINK,
        /** VXLAN header + inner frame on the tunnel port, sent by the node's UDP socket. */
        SOCKET
    }

    /** Kernel default outer TTL. */
    public static final int DEFAULT_TTL = 64;
    /** Kernel default lowest ephemeral port ({@code net.ipv4.ip_local_port_range}). */
    public static final int DEFAULT_SRC_PORT_MIN = 32768;
    /** Kernel default highest ephemeral port. */
    public static final int DEFAULT_SRC_PORT_MAX = 60999;

    /**
     * Validates the settings.
     *
     * @param outerTtl       outer TTL, 1-255.
     * @param outerDf        outer DF.
     * @param udpChecksum    outer UDP checksum.
     * @param srcPortMin     lowest source port.
     * @param srcPortMax     highest source port.
     * @param underlay       underlay mode.
     * @param tunnelPortName tunnel port name.
     */
    public VxlanSettings
    {
        if (outerTtl < 1 || outerTtl > 255)
        {
            throw new IllegalArgumentException("outer TTL must be 1-255: " + outerTtl);
        }
        if (srcPortMin < 1 || srcPortMax > 65535 || srcPortMin > srcPortMax)
        {
            throw new IllegalArgumentException("bad source port range " + srcPortMin + "-" + srcPortMax);
        }
        if (underlay == null || tunnelPortName == null || tunnelPortName.isEmpty())
        {
            throw new IllegalArgumentException("underlay and tunnel port name are required");
        }
    }

    /** @return what a Linux vxlan device made by flannel does: TTL 64, DF clear, UDP checksum on, uplink frames. */
    public static VxlanSettings defaults()
    {
        return new VxlanSettings(DEFAULT_TTL, false, true, DEFAULT_SRC_PORT_MIN, DEFAULT_SRC_PORT_MAX,
            Underlay.UPLINK, "flannel.1");
    }

    /**
     * @param on compute the outer UDP checksum.
     * @return a copy with that setting.
     */
    public VxlanSettings withUdpChecksum(final boolean on)
    {
        return new VxlanSettings(outerTtl, outerDf, on, srcPortMin, srcPortMax, underlay, tunnelPortName);
    }

    /**
     * @param ttl outer TTL.
     * @param df  outer DF.
     * @return a copy with those settings.
     */
    public VxlanSettings withOuter(final int ttl, final boolean df)
    {
        return new VxlanSettings(ttl, df, udpChecksum, srcPortMin, srcPortMax, underlay, tunnelPortName);
    }

    /**
     * @param mode underlay mode.
     * @return a copy with that mode.
     */
    public VxlanSettings withUnderlay(final Underlay mode)
    {
        return new VxlanSettings(outerTtl, outerDf, udpChecksum, srcPortMin, srcPortMax, mode, tunnelPortName);
    }
}
