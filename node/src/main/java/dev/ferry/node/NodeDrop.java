package dev.ferry.node;

import dev.ferry.core.DropReason;

/**
 * Drops that the node's worker makes outside any stage: counted as {@code node/drop/NAME}.
 */
public enum NodeDrop implements DropReason
{
    /** The FIB still pointed at a port that was detached (the agent has not pushed the pod's removal yet). */
    PORT_DOWN(300, "transmit port is detached or down");

    /** What goes in front of a reason's counter name. */
    static final String COUNTER_PREFIX = "node/drop/";

    private final int id;
    private final String sentence;

    NodeDrop(final int id, final String sentence)
    {
        this.id = id;
        this.sentence = sentence;
    }

    @Override
    public int id()
    {
        return id;
    }

    @Override
    public String sentence()
    {
        return sentence;
    }
}
