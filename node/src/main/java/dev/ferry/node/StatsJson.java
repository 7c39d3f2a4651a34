package dev.ferry.node;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ferry.core.Graph;

/**
 * The node API's {@code stats} answer, also {@code ferry show stats|runtime -o json} and what
 * {@code ferry top} turns into rates: cumulative counters stamped with the node's monotonic clock, so that a
 * client divides two answers' differences by the time between them.
 *
 * <pre>
 * {"nanos":123456789,"workers":1,"stages":[{"name":"ip4-lookup","calls":10,"packets":40,"nanos":4000}],
 *  "drops":[{"node":"nat44-new","reason":"no endpoint for the Service","count":3}],
 *  "ports":[{"id":0,"name":"eth0","rxPackets":..,"rxBytes":..,"rxDropped":..,"txPackets":..,"txBytes":..,
 *            "txDropped":..}],
 *  "buffers":{"inUse":12,"capacity":8192,"allocationFailures":0},"conntrack":{"entries":9,"capacity":65536},
 *  "handoff":{"sent":0,"received":0,"held":0}}
 * </pre>
 */
final class StatsJson
{
    private StatsJson()
    {
    }

    static ObjectNode encode(final ObjectNode o, final long nanos, final WorkerStats s, final int workers)
    {
        o.put("nanos", nanos);
        o.put("workers", workers);
        final ArrayNode stages = o.putArray("stages");
        for (final Graph.RuntimeRow r : s.runtime())
        {
            stages.addObject().put("name", r.name()).put("calls", r.calls()).put("packets", r.packets())
                .put("nanos", r.nanos());
        }
        final ArrayNode drops = o.putArray("drops");
        for (final WorkerStats.Drop d : s.drops())
        {
            drops.addObject().put("node", d.node()).put("reason", d.sentence()).put("count", d.count());
        }
        final ArrayNode ports = o.putArray("ports");
        for (final WorkerStats.PortRow p : s.ports())
        {
            ports.addObject().put("id", p.id()).put("name", p.name()).put("rxPackets", p.rxPackets())
                .put("rxBytes", p.rxBytes()).put("rxDropped", p.rxDropped()).put("txPackets", p.txPackets())
                .put("txBytes", p.txBytes()).put("txDropped", p.txDropped());
        }
        o.putObject("buffers").put("inUse", s.poolInUse()).put("capacity", s.poolCapacity())
            .put("allocationFailures", s.allocationFailures());
        o.putObject("conntrack").put("entries", s.conntrackEntries()).put("capacity", s.conntrackCapacity());
        o.putObject("handoff").put("sent", s.handoff().sent()).put("received", s.handoff().received())
            .put("held", s.handoff().held());
        return o;
    }
}
