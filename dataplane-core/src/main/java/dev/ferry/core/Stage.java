package dev.ferry.core;

import java.util.List;

/**
 * A graph node that works on a whole vector of packets, like a VPP graph node.
 *
 * <p>For each packet in the input vector the stage either sends it along one of its declared next edges
 * ({@link Next#next(int, int)}) or drops it with a named reason ({@link Next#drop(int, DropReason)}). Every
 * packet of the input must get exactly one of the two. Stages never call each other; the {@link Graph}
 * moves whole vectors between them.
 *
 * <p>Rules for {@link #process}: no allocation, boxing, capturing lambdas, iterators, string building or
 * logging. Read table snapshots once per vector.
 */
public interface Stage
{
    /** @return the stage name used in counters, traces and {@code show runtime}, e.g. "ip4-input". */
    String name();

    /** @return the names of this stage's next edges; a packet's next index points into this list. */
    List<String> nextNames();

    /** @return every reason this stage may drop a packet for (used to register counters). */
    List<? extends DropReason> dropReasons();

    /**
     * Processes one vector.
     *
     * @param in  the packets, owned by the stage until it hands each one on.
     * @param out where each packet goes next.
     */
    void process(PacketVector in, Next out);

    /**
     * Formats the two detail words that this stage recorded for a traced packet (CLI side, not hot path).
     *
     * @param a first detail word.
     * @param b second detail word.
     * @return a human-readable line, or an empty string when the stage records no detail.
     */
    default String formatTrace(final long a, final long b)
    {
        return "";
    }

    /**
     * Where a stage sends its packets. Implemented by the graph runner.
     */
    interface Next
    {
        /**
         * Sends a packet along next edge {@code nextIndex} of the current stage.
         *
         * @param handle    packet handle.
         * @param nextIndex index into {@link Stage#nextNames()}.
         */
        void next(int handle, int nextIndex);

        /**
         * Drops a packet: counts it under the current stage and reason and returns its buffer.
         *
         * @param handle packet handle.
         * @param reason why.
         */
        void drop(int handle, DropReason reason);

        /**
         * Records stage-specific detail for a traced packet; a no-op for packets that are not traced.
         * Call it before {@link #next} or {@link #drop}.
         *
         * @param handle packet handle.
         * @param a      first detail word, formatted by {@link Stage#formatTrace(long, long)}.
         * @param b      second detail word.
         */
        void traceDetail(int handle, long a, long b);

        /**
         * Hands a packet to a port for transmission: the packet leaves the graph here. Used by the output
         * stage only.
         *
         * @param handle packet handle; {@link PacketPool#txPort(int)} names the port.
         */
        void transmit(int handle);

        /**
         * Introduces a packet that the stage created (an ICMP error, an ARP request) into the graph along
         * a next edge. Its buffer must come from the graph's pool.
         *
         * @param handle    the new packet.
         * @param nextIndex next edge.
         */
        void inject(int handle, int nextIndex);

        /**
         * Keeps a packet beyond this call: the stage owns its buffer until it hands it on in a later call
         * ({@link #next}, {@link #drop}), e.g. a fragment held until its datagram's first fragment arrives. A
         * stage that holds packets bounds how many, and a stage that throws later in the same call does not lose
         * them (containment leaves held packets alone).
         *
         * @param handle packet handle.
         */
        default void hold(final int handle)
        {
        }
    }
}
