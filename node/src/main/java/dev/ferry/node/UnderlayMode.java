package dev.ferry.node;

/**
 * How the node reaches the underlay network.
 */
public enum UnderlayMode
{
    /**
     * ferry owns the NIC through AF_PACKET: it answers ARP for the node IP, and the node's IP lives on the
     * host TAP ({@code ferry0}). VXLAN, NodePort, externalIPs and masqueraded egress are handled in ferry.
     */
    PACKET,
    /** The kernel keeps the NIC; VXLAN is carried over a UDP socket (the netty underlay of {@code vxlan}). */
    UDP
}
