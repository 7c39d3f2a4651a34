package dev.ferry.node;

import dev.ferry.core.DropReason;
import dev.ferry.core.DropScope;
import dev.ferry.core.Graph;
import dev.ferry.core.stage.Arp;
import dev.ferry.core.stage.EthernetInput;
import dev.ferry.core.stage.IcmpError;
import dev.ferry.core.stage.InterfaceOutput;
import dev.ferry.core.stage.Ip4Input;
import dev.ferry.core.stage.Ip4Local;
import dev.ferry.core.stage.Ip4Lookup;
import dev.ferry.core.stage.Ip4Rewrite;
import dev.ferry.core.workers.Handoff;
import dev.ferry.nat.Nat;
import dev.ferry.vxlan.VxlanBypass;
import dev.ferry.vxlan.VxlanDecap;
import dev.ferry.vxlan.VxlanEncap;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Every drop reason of the project in one table, like Cilium's {@code bpf/lib/drop_reasons.h}: the stages' enums
 * keep their own reasons, this class lists them all with the counter each is counted under, gives each module
 * its id range and keeps the ids of removed reasons reserved. The node module sees every dataplane module, so
 * the table lives here; {@code docs/drop-reasons.md} is generated from it and {@code DropCatalogueTest} fails when
 * an id is used twice or falls outside its module's range, a retired id comes back, a sentence is missing, an
 * enum is left out of the table, or the document is stale.
 *
 * <p>Adding a reason: give it the next free id of its module's range. Removing one: add its id to
 * {@link #RETIRED}. Either way, regenerate the document (see {@code DropCatalogueTest}).
 */
public final class DropCatalogue
{
    /** Ids of reasons that were removed. They stay reserved: no reason may take one again. */
    public static final Set<Integer> RETIRED = Set.of();

    /** The id range each module numbers its reasons in. */
    public enum Range
    {
        /** The graph's own drops and the L3 stages. Id 0 is never used. */
        DATAPLANE_CORE("dataplane-core", 1, 99),
        /** Service NAT stages. */
        NAT("nat", 100, 199),
        /** VXLAN decap and encap. */
        VXLAN("vxlan", 200, 249),
        /** Worker handoff (dataplane-core's workers package): ids carved out of vxlan's old 200-299. */
        WORKERS("dataplane-core workers", 250, 254),
        /** The node's worker and its own stages. */
        NODE("node", 300, 399),
        /** Ports; none yet (a port counts its errors as link counters, not drops). */
        TAP_IO("tap-io", 400, 499);

        private final String module;
        private final int first;
        private final int last;

        Range(final String module, final int first, final int last)
        {
            this.module = module;
            this.first = first;
            this.last = last;
        }

        /** @return the module whose reasons take ids in this range. */
        public String module()
        {
            return module;
        }

        /** @return the first id of the range. */
        public int first()
        {
            return first;
        }

        /** @return the last id of the range. */
        public int last()
        {
            return last;
        }

        /**
         * @param id a reason id.
         * @return whether the id lies in this range.
         */
        public boolean contains(final int id)
        {
            return id >= first && id <= last;
        }
    }

    /**
     * One reason of the table.
     *
     * @param reason  the reason (its id, counter name and sentence).
     * @param counter the full counter name, e.g. {@code stage/ip4-input/drop/bad-checksum}.
     * @param range   the range of the module that declares it.
     */
    public record Entry(DropReason reason, String counter, Range range)
    {
    }

    private static final List<Entry> ENTRIES = build();
    private static final Map<String, Entry> BY_COUNTER = byCounter(ENTRIES);

    private DropCatalogue()
    {
    }

    /** @return every reason, in the order of the modules' ranges and then of the graph. */
    public static List<Entry> entries()
    {
        return ENTRIES;
    }

    /**
     * @param counter a counter name, e.g. {@code stage/nat44-new/drop/no-service}.
     * @return the reason counted under it, or null when it is not a drop counter of the table.
     */
    public static Entry byCounter(final String counter)
    {
        return BY_COUNTER.get(counter);
    }

    private static List<Entry> build()
    {
        final List<Entry> out = new ArrayList<>();
        add(out, Range.DATAPLANE_CORE, List.of(new DropScope(DropScope.GRAPH, List.of(Graph.GraphDrop.values())),
            DropScope.stage(EthernetInput.NAME, EthernetInput.Drop.values()),
            DropScope.stage(Arp.NAME, Arp.Drop.values()),
            DropScope.stage(Ip4Input.NAME, Ip4Input.Drop.values()),
            DropScope.stage(Ip4Lookup.NAME, Ip4Lookup.Drop.values()),
            DropScope.stage(Ip4Local.NAME, Ip4Local.Drop.values()),
            DropScope.stage(Ip4Rewrite.NAME, Ip4Rewrite.Drop.values()),
            DropScope.stage(IcmpError.NAME, IcmpError.Drop.values()),
            DropScope.stage(InterfaceOutput.NAME, InterfaceOutput.Drop.values())));
        add(out, Range.NAT, Nat.dropScopes());
        add(out, Range.VXLAN, List.of(DropScope.stage(VxlanDecap.NAME, VxlanDecap.Drop.values()),
            DropScope.stage(VxlanEncap.NAME, VxlanEncap.Drop.values()),
            DropScope.stage(VxlanBypass.NAME, VxlanBypass.Drop.values())));
        add(out, Range.WORKERS, List.of(Handoff.dropScope()));
        add(out, Range.NODE, List.of(new DropScope(NodeDrop.COUNTER_PREFIX, List.of(NodeDrop.values())),
            DropScope.stage(HostOutput.NAME, HostOutput.Drop.values()),
            DropScope.stage(NeighbourLearn.NAME, NeighbourLearn.Drop.values())));
        return List.copyOf(out);
    }

    private static void add(final List<Entry> out, final Range range, final List<DropScope> scopes)
    {
        for (final DropScope s : scopes)
        {
            for (final DropReason r : s.reasons())
            {
                out.add(new Entry(r, s.counter(r), range));
            }
        }
    }

    private static Map<String, Entry> byCounter(final List<Entry> entries)
    {
        final Map<String, Entry> m = new HashMap<>();
        for (final Entry e : entries)
        {
            if (m.put(e.counter(), e) != null)
            {
                throw new IllegalStateException("two drop reasons counted as " + e.counter());
            }
        }
        return Map.copyOf(m);
    }
}
