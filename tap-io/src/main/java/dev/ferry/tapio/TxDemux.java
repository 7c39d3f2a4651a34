package dev.ferry.tapio;

import dev.ferry.core.Counters;
import dev.ferry.core.PacketPool;
import dev.ferry.core.TxSink;

import java.util.Arrays;

/**
 * The graph's single {@link TxSink}, handing each packet to the sink of its transmit port
 * ({@link PacketPool#txPort(int)}): a TAP, a packet socket, a pcap file or a {@link MemoryPort}.
 *
 * <pre>
 *   graph ──transmit(h)──► sinks[txPort(h)] ──► port
 *                     └──► no sink for that port: pool.free(h), counter tx/no-port
 * </pre>
 *
 * <p>{@link #flush()} flushes every attached sink once. Counter: {@code tx/no-port}.
 */
public final class TxDemux implements TxSink
{
    private final PacketPool pool;
    private final Counters counters;
    private final int noPort;
    private TxSink[] sinks = new TxSink[8];
    private TxSink[] distinct = new TxSink[0];

    /**
     * @param pool     the pool, to read tx ports and free unclaimed packets.
     * @param counters where {@code tx/no-port} is registered.
     */
    public TxDemux(final PacketPool pool, final Counters counters)
    {
        this.pool = pool;
        this.counters = counters;
        this.noPort = counters.register("tx/no-port");
    }

    /**
     * Attaches a sink to a port id (at build time, not while the graph runs).
     *
     * @param port port id.
     * @param sink the sink.
     * @return this.
     */
    public TxDemux attach(final int port, final TxSink sink)
    {
        if (port >= sinks.length)
        {
            sinks = Arrays.copyOf(sinks, Math.max(port + 1, sinks.length * 2));
        }
        sinks[port] = sink;
        for (final TxSink s : distinct)
        {
            if (s == sink)
            {
                return this;
            }
        }
        distinct = Arrays.copyOf(distinct, distinct.length + 1);
        distinct[distinct.length - 1] = sink;
        return this;
    }

    @Override
    public void transmit(final int handle)
    {
        final int port = pool.txPort(handle);
        final TxSink s = port >= 0 && port < sinks.length ? sinks[port] : null;
        if (s == null)
        {
            counters.increment(noPort);
            pool.free(handle);
            return;
        }
        s.transmit(handle);
    }

    @Override
    public void flush()
    {
        final TxSink[] all = distinct;
        for (int i = 0; i < all.length; i++)
        {
            all[i].flush();
        }
    }
}
