package dev.ferry.core.stage;

import dev.ferry.core.DropReason;
import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;
import dev.ferry.core.Stage;

import java.util.List;

/**
 * interface-output: hands each packet to the transmit side on the port in {@link PacketPool#txPort(int)}.
 *
 * <p>Input: finished frames. No next edges: packets leave the graph here. Drops: no port chosen.
 */
public final class InterfaceOutput implements Stage
{
    /** Stage name. */
    public static final String NAME = "interface-output";

    /** Why interface-output drops a packet. */
    public enum Drop implements DropReason
    {
        /** No transmit port was set: a bug upstream, counted rather than crashing. */
        NO_TX_PORT(33, "no transmit port chosen");

        private final int id;
        private final String sentence;

        Drop(final int id, final String sentence)
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

    private final PacketPool pool;

    /**
     * @param pool packet pool.
     */
    public InterfaceOutput(final PacketPool pool)
    {
        this.pool = pool;
    }

    @Override
    public String name()
    {
        return NAME;
    }

    @Override
    public List<String> nextNames()
    {
        return List.of();
    }

    @Override
    public List<Drop> dropReasons()
    {
        return List.of(Drop.values());
    }

    @Override
    public void process(final PacketVector in, final Next out)
    {
        final int n = in.count();
        for (int i = 0; i < n; i++)
        {
            final int h = in.get(i);
            if (pool.txPort(h) < 0)
            {
                out.drop(h, Drop.NO_TX_PORT);
                continue;
            }
            out.transmit(h);
        }
    }
}
