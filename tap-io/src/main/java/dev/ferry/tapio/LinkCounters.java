package dev.ferry.tapio;

import dev.ferry.core.Counters;

/**
 * The counters of one port, registered as {@code link/NAME/...} (Snabb's {@code links/<name>/<c>.counter}).
 * The port's I/O thread is the single writer.
 */
final class LinkCounters
{
    final Counters counters;
    final int rxPackets;
    final int rxBytes;
    final int rxNoBuffer;
    final int rxErrors;
    final int txPackets;
    final int txBytes;
    final int txErrors;
    final int txDropped;
    final int linkDown;
    final int linkUp;

    LinkCounters(final Counters counters, final String name)
    {
        this.counters = counters;
        final String p = "link/" + name + "/";
        rxPackets = counters.register(p + "rx-packets");
        rxBytes = counters.register(p + "rx-bytes");
        rxNoBuffer = counters.register(p + "rx-no-buffer");
        rxErrors = counters.register(p + "rx-errors");
        txPackets = counters.register(p + "tx-packets");
        txBytes = counters.register(p + "tx-bytes");
        txErrors = counters.register(p + "tx-errors");
        txDropped = counters.register(p + "tx-dropped");
        linkDown = counters.register(p + "link-down");
        linkUp = counters.register(p + "link-up");
    }

    void rx(final int bytes)
    {
        counters.increment(rxPackets);
        counters.add(rxBytes, bytes);
    }

    void tx(final int bytes)
    {
        counters.increment(txPackets);
        counters.add(txBytes, bytes);
    }

    void increment(final int id)
    {
        counters.increment(id);
    }

    long get(final int id)
    {
        return counters.get(id);
    }
}
