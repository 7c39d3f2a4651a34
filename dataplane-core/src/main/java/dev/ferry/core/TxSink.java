package dev.ferry.core;

/**
 * Receives packets that leave the graph on a port ({@link PacketPool#txPort(int)} names it). The sink owns
 * the buffer from then on and returns it to the pool once it is written.
 */
@FunctionalInterface
public interface TxSink
{
    /**
     * Takes a packet for transmission.
     *
     * @param handle packet handle.
     */
    void transmit(int handle);

    /**
     * Called at the start of each graph run, before any stage sees its packets, so that the sink's owner can adopt
     * new tables: a run sees one snapshot, and it is at least as new as any published before its packets were read.
     */
    default void beforeRun()
    {
    }

    /** Called once after each graph run, so that sinks can flush a batch (sendmmsg, pcap buffer). */
    default void flush()
    {
    }
}
