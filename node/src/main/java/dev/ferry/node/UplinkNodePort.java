package dev.ferry.node;

import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;
import dev.ferry.core.Ports;
import dev.ferry.tapio.PacketSocketPort;

/**
 * The NIC in packet mode as a {@link NodePort}: tap-io's {@link PacketSocketPort} (TPACKET_V3 receive ring,
 * sendmmsg batches flushed once per graph run). Received frames enter the graph at {@code neighbour-learn}, which
 * learns underlay neighbours from ARP before ethernet-input. A link that goes down or away takes the port down
 * and back up again ({@link #maintain()}).
 */
final class UplinkNodePort implements NodePort
{
    private final PacketSocketPort socket;
    private final long mac;

    UplinkNodePort(final PacketSocketPort socket, final long mac)
    {
        this.socket = socket;
        this.mac = mac;
    }

    @Override
    public String name()
    {
        return socket.name();
    }

    @Override
    public Ports.Kind kind()
    {
        return Ports.Kind.UPLINK;
    }

    @Override
    public long mac()
    {
        return mac;
    }

    @Override
    public int fd()
    {
        return socket.fd();
    }

    @Override
    public String entryStage()
    {
        return NeighbourLearn.NAME;
    }

    @Override
    public void maintain()
    {
        socket.maintain();
    }

    @Override
    public int receive(final PacketPool pool, final PacketVector out)
    {
        return socket.receive(out);
    }

    @Override
    public void transmit(final PacketPool pool, final int handle)
    {
        socket.transmit(handle);
    }

    @Override
    public void flush()
    {
        socket.flush();
    }

    @Override
    public void close()
    {
        socket.close();
    }
}
