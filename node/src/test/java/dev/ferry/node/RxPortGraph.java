package dev.ferry.node;

import dev.ferry.core.Clock;
import dev.ferry.core.Counters;
import dev.ferry.core.DropReason;
import dev.ferry.core.Graph;
import dev.ferry.core.PacketPool;
import dev.ferry.core.PacketVector;
import dev.ferry.core.Ports;
import dev.ferry.core.Stage;

import java.util.List;

/** For the port poller's tests: a graph of one stage that records each packet's RX port, in order, and frees it. */
final class RxPortGraph
{
    private RxPortGraph()
    {
    }

    /**
     * @param pool     the packets' pool.
     * @param counters the graph's counters.
     * @param seen     takes the RX port of every packet the graph runs.
     * @return the graph.
     */
    static Graph of(final PacketPool pool, final Counters counters, final List<Integer> seen)
    {
        return Graph.builder(pool, counters, Clock.system(), new Ports()).add(new Stage()
        {
            @Override
            public String name()
            {
                return "record";
            }

            @Override
            public List<String> nextNames()
            {
                return List.of();
            }

            @Override
            public List<? extends DropReason> dropReasons()
            {
                return List.of();
            }

            @Override
            public void process(final PacketVector in, final Next out)
            {
                for (int i = 0; i < in.count(); i++)
                {
                    seen.add(pool.rxPort(in.get(i)));
                    pool.free(in.get(i));
                }
            }
        }).sink(pool::free).build();
    }
}
