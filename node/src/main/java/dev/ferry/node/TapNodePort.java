package dev.ferry.node;

import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;
import dev.ferry.core.Ports;
import dev.ferry.tapio.NativeException;
import dev.ferry.tapio.TapPort;

import java.util.logging.Logger;

/**
 * A pod's TAP or the host TAP as a {@link NodePort}: receive and transmit go straight to tap-io's
 * {@link TapPort} (read/write on the TAP descriptor into and out of pool buffers, nothing copied in user
 * space). {@link #remove()} clears persistence first, so the device disappears (CNI DEL); {@link #close()} keeps a
 * persistent device for the next run of the node.
 */
final class TapNodePort implements NodePort
{
    private static final Logger LOG = Logger.getLogger("dev.ferry.node");

    private final TapPort tap;
    private final String name;
    private final Ports.Kind kind;
    private final long mac;
    private final long peerMac;

    TapNodePort(final TapPort tap, final String name, final Ports.Kind kind, final long mac, final long peerMac)
    {
        this.tap = tap;
        this.name = name;
        this.kind = kind;
        this.mac = mac;
        this.peerMac = peerMac;
    }

    @Override
    public String name()
    {
        return name;
    }

    @Override
    public Ports.Kind kind()
    {
        return kind;
    }

    @Override
    public long mac()
    {
        return mac;
    }

    @Override
    public long peerMac()
    {
        return peerMac;
    }

    @Override
    public int fd()
    {
        return tap.fd();
    }

    @Override
    public int receive(final PacketPool pool, final PacketVector out)
    {
        return tap.receive(out);
    }

    @Override
    public void transmit(final PacketPool pool, final int handle)
    {
        tap.transmit(handle);
    }

    @Override
    public void remove()
    {
        try
        {
            tap.persistent(false);
        }
        catch (final NativeException e)
        {
            LOG.warning(() -> "port " + name + ": cannot clear persistence, the device may stay: " + e.getMessage());
        }
        tap.close();
    }

    @Override
    public void close()
    {
        tap.close();
    }
}
