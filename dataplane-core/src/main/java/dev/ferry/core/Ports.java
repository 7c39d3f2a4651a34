package dev.ferry.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The ports of one dataplane instance, numbered densely from 0: pod links, the uplink, the host port and the
 * tunnel. The graph only sees port ids; the I/O layer maps them to TAPs, sockets, pcap files or memory.
 */
public final class Ports
{
    /** What a port connects to. */
    public enum Kind
    {
        /** A pod's link (a TAP moved into the pod's namespace). */
        POD,
        /** The node's link to the underlay network. */
        UPLINK,
        /** The host's own stack (the {@code ferry0} TAP). */
        HOST,
        /** A UDP socket carrying VXLAN payloads (no outer Ethernet/IP/UDP in the buffer). */
        TUNNEL
    }

    /**
     * One port.
     *
     * @param id   dense id.
     * @param name interface name, e.g. "pod-web-1" or "uplink".
     * @param kind what it connects to.
     * @param mac  MAC address of the dataplane side, as a 48-bit value.
     * @param promiscuous accept frames to any destination MAC (replay's uplink, whose captures come from
     *             elsewhere).
     */
    public record Port(int id, String name, Kind kind, long mac, boolean promiscuous)
    {
    }

    private final List<Port> ports = new ArrayList<>();
    private final Map<String, Port> byName = new HashMap<>();
    private long[] macs = new long[64];
    private boolean[] promisc = new boolean[64];
    private long[] peerMacs = new long[64];

    /**
     * Adds a port, or returns the existing one of that name.
     *
     * @param name interface name.
     * @param kind what it connects to.
     * @param mac  MAC of the dataplane side.
     * @return the port.
     */
    public Port add(final String name, final Kind kind, final long mac)
    {
        return add(name, kind, mac, false);
    }

    /**
     * Adds a port, or returns the existing one of that name.
     *
     * @param name        interface name.
     * @param kind        what it connects to.
     * @param mac         MAC of the dataplane side.
     * @param promiscuous accept any destination MAC.
     * @return the port.
     */
    public synchronized Port add(final String name, final Kind kind, final long mac, final boolean promiscuous)
    {
        final Port existing = byName.get(name);
        if (existing != null)
        {
            return existing;
        }
        final Port p = new Port(ports.size(), name, kind, mac, promiscuous);
        if (p.id() == macs.length)
        {
            macs = java.util.Arrays.copyOf(macs, macs.length * 2);
            promisc = java.util.Arrays.copyOf(promisc, promisc.length * 2);
            peerMacs = java.util.Arrays.copyOf(peerMacs, peerMacs.length * 2);
        }
        macs[p.id()] = mac;
        promisc[p.id()] = promiscuous;
        ports.add(p);
        byName.put(name, p);
        return p;
    }

    /**
     * Hot-path read of a port's MAC.
     *
     * @param id port id.
     * @return the MAC of the dataplane side of that port.
     */
    public long mac(final int id)
    {
        return macs[id];
    }

    /**
     * Hot-path read of a port's promiscuous flag.
     *
     * @param id port id.
     * @return whether the port accepts any destination MAC.
     */
    public boolean promiscuous(final int id)
    {
        return promisc[id];
    }

    /**
     * Records the MAC of a port's far side, where frames routed out of it are addressed (the kernel's MAC on the
     * host TAP). Control path; set it before the tables that use it are compiled.
     *
     * @param id  port id.
     * @param mac the far side's MAC.
     */
    public synchronized void peerMac(final int id, final long mac)
    {
        peerMacs[id] = mac;
    }

    /**
     * @param id port id.
     * @return the far side's MAC as recorded by {@link #peerMac(int, long)}, or 0 when none was.
     */
    public long peerMac(final int id)
    {
        return peerMacs[id];
    }

    /** @return the id of the first host port, or -1. */
    public int host()
    {
        for (final Port p : ports)
        {
            if (p.kind() == Kind.HOST)
            {
                return p.id();
            }
        }
        return -1;
    }

    /**
     * @param name interface name.
     * @return the port id, or -1.
     */
    public int idOf(final String name)
    {
        final Port p = byName.get(name);
        return p == null ? -1 : p.id();
    }

    /**
     * @param id port id.
     * @return the port.
     */
    public Port get(final int id)
    {
        return ports.get(id);
    }

    /**
     * @param id port id.
     * @return the port's name, or "port-N" for an unknown id.
     */
    public String nameOf(final int id)
    {
        return id >= 0 && id < ports.size() ? ports.get(id).name() : "port-" + id;
    }

    /** @return the id of the first uplink port, or -1. */
    public int uplink()
    {
        for (final Port p : ports)
        {
            if (p.kind() == Kind.UPLINK)
            {
                return p.id();
            }
        }
        return -1;
    }

    /** @return every port, by id. */
    public List<Port> all()
    {
        return Collections.unmodifiableList(ports);
    }

    /** @return the number of ports. */
    public int size()
    {
        return ports.size();
    }
}
