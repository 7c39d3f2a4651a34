package dev.ferry.cli.replay;

import dev.ferry.agent.ClusterState;
import dev.ferry.agent.NodeTablesCompiler;
import dev.ferry.core.header.ArpHeader;
import dev.ferry.core.header.EthernetHeader;
import dev.ferry.core.header.Ip4Header;
import dev.ferry.core.route.Ip4;
import dev.ferry.core.tables.NodeTables;
import dev.ferry.nat.Nat;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Whole-cluster replay: every node of a cluster in one process, one {@link ReplayEngine} per node (each built by
 * {@code NodeGraph} as single-node replay builds it), joined by an underlay and sharing the capture's clock.
 *
 * <pre>
 *  input frame ──► node owning its source (pod IP, else pod MAC) ──► that pod's port
 *              └─► else the node whose address is its destination ──► that node's uplink
 *              └─► else nowhere: reported (e.g. a ClusterIP from outside)
 *  a node's uplink TX ──► the node whose address is the outer destination ──► its uplink (same time, before
 *                         the next input frame; cascades until quiet)
 *                     └─► no node: "the outside" ──► output
 *  a node's pod or host TX ──► output
 * </pre>
 */
public final class ClusterReplay implements AutoCloseable
{
    /** How many underlay deliveries one input frame may cause before the rest are dropped (a loop). */
    public static final int MAX_CASCADE = 4096;

    /** Where frames leaving the cluster (to a pod, a host port or the outside) go. */
    @FunctionalInterface
    public interface Output
    {
        /**
         * Writes one frame.
         *
         * @param epochNanos timestamp.
         * @param node       the node that sent it.
         * @param port       the node's port it left on.
         * @param memory     memory holding the frame.
         * @param offset     absolute offset of the frame.
         * @param length     frame length.
         * @throws IOException when writing fails.
         */
        void write(long epochNanos, String node, String port, MemorySegment memory, long offset, int length)
            throws IOException;
    }

    /**
     * One node of the replayed cluster.
     *
     * @param name   node name.
     * @param tables its tables.
     * @param engine its replay engine.
     */
    public record Member(String name, NodeTables tables, ReplayEngine engine)
    {
    }

    /** One frame fed to a node: an input frame, or one delivered through the underlay. */
    private record Fed(String label, Member member, int index, String where, String early, String summary)
    {
    }

    /** A frame in the underlay; recycled, with its buffer, so the underlay allocates nothing once warm. */
    private static final class Pending
    {
        private long epochNanos;
        private Member from;
        private Member to;
        private byte[] frame = new byte[0];
        private int length;
    }

    private final List<Member> members = new ArrayList<>();
    /** Index in {@link #members} of the node owning a pod IP, a pod MAC, a node address. */
    private final LongIndex byPodIp;
    private final LongIndex byPodMac;
    private final LongIndex byAddress;
    private final ArrayDeque<Pending> underlay = new ArrayDeque<>();
    private final ArrayDeque<Pending> spare = new ArrayDeque<>();
    private final List<Fed> fed = new ArrayList<>();
    private final int fateLimit;
    private final EthernetHeader eth = new EthernetHeader();
    private final Ip4Header ip4 = new Ip4Header();
    private final ArpHeader arp = new ArpHeader();
    private byte[] wrapped;
    private MemorySegment wrappedSegment;
    private long framesIn;
    private long unrouted;
    private long underlayFrames;
    private long cascadeDrops;
    private int inputNumber;
    private int cascadeNumber;

    /**
     * Builds one engine per node of the cluster, in node-name order.
     *
     * @param state      the cluster.
     * @param balancing  how Services pick an endpoint.
     * @param output     where frames leaving the cluster go.
     * @param fateLimit  how many of the first input frames (and the frames they cause) to report a fate for.
     * @param startNanos initial clock.
     */
    public ClusterReplay(final ClusterState state, final Nat.Balancing balancing, final Output output,
        final int fateLimit, final long startNanos)
    {
        this(state, balancing, output, fateLimit, startNanos, skipped -> { });
    }

    /**
     * Builds one engine per node of the cluster, in node-name order, telling {@code skipped} about every object a
     * node's tables leave out (the agent leaves it out of a push the same way).
     *
     * @param state      the cluster.
     * @param balancing  how Services pick an endpoint.
     * @param output     where frames leaving the cluster go.
     * @param fateLimit  how many of the first input frames (and the frames they cause) to report a fate for.
     * @param startNanos initial clock.
     * @param skipped    told about each object left out, once per node that compiles it.
     */
    public ClusterReplay(final ClusterState state, final Nat.Balancing balancing, final Output output,
        final int fateLimit, final long startNanos, final Consumer<NodeTablesCompiler.Skipped> skipped)
    {
        this.fateLimit = fateLimit;
        final List<String> names = new ArrayList<>();
        state.nodes().forEach(n -> names.add(n.getMetadata().getName()));
        Collections.sort(names);
        if (names.isEmpty())
        {
            throw new IllegalArgumentException("the cluster has no Node: whole-cluster replay needs at least one");
        }
        for (final String name : names)
        {
            final NodeTables tables = NodeTablesCompiler.compile(state, name, 1, skipped);
            final Member[] self = new Member[1];
            final ReplayEngine engine = new ReplayEngine(tables, balancing,
                (ns, port, mem, off, len) -> transmit(self[0], ns, port, mem, off, len, output),
                fateLimit * 4, startNanos);
            final Member m = new Member(name, tables, engine);
            self[0] = m;
            members.add(m);
        }
        int pods = 0;
        int addresses = 0;
        for (final Member m : members)
        {
            pods += m.tables().pods().size();
            addresses += 1 + m.tables().node().addresses().size();
        }
        byPodIp = new LongIndex(pods);
        byPodMac = new LongIndex(pods);
        byAddress = new LongIndex(addresses);
        for (int i = 0; i < members.size(); i++)
        {
            final NodeTables tables = members.get(i).tables();
            for (final NodeTables.PodInfo pod : tables.pods())
            {
                byPodIp.putIfAbsent(pod.ip(), i);
                byPodMac.putIfAbsent(pod.mac(), i);
            }
            byAddress.putIfAbsent(tables.node().publicIp(), i);
            for (final int a : tables.node().addresses())
            {
                byAddress.putIfAbsent(a, i);
            }
        }
    }

    /** The member at an index of a {@link LongIndex}, or null for {@link LongIndex#NONE}. */
    private Member member(final int index)
    {
        return index == LongIndex.NONE ? null : members.get(index);
    }

    private void transmit(final Member from, final long ns, final String port, final MemorySegment mem,
        final long off, final int len, final Output output) throws IOException
    {
        if (port.equals(ReplayEngine.UPLINK))
        {
            final Member to = member(byAddress.get(destination(mem, off, len)));
            if (to != null && to != from)
            {
                final Pending p = spare.isEmpty() ? new Pending() : spare.poll();
                if (p.frame.length < len)
                {
                    p.frame = new byte[ReplayEngine.BUFFER_SIZE];
                }
                MemorySegment.copy(mem, java.lang.foreign.ValueLayout.JAVA_BYTE, off, p.frame, 0, len);
                p.epochNanos = ns;
                p.from = from;
                p.to = to;
                p.length = len;
                underlay.add(p);
                return;
            }
        }
        output.write(ns, from.name(), port, mem, off, len);
    }

    /** The IPv4 destination, or the ARP target, of a frame; 0 when it has neither. */
    private int destination(final MemorySegment mem, final long off, final int len)
    {
        if (len < EthernetHeader.LENGTH)
        {
            return 0;
        }
        eth.wrap(mem, off);
        final int l3 = eth.headerLength();
        if (eth.etherType() == EthernetHeader.TYPE_IP4 && len >= l3 + Ip4Header.MIN_LENGTH)
        {
            return ip4.wrap(mem, off + l3).dst();
        }
        if (eth.etherType() == EthernetHeader.TYPE_ARP && len >= l3 + ArpHeader.LENGTH)
        {
            return arp.wrap(mem, off + l3).targetIp();
        }
        return 0;
    }

    /** The IPv4 source, or the ARP sender, of a frame; 0 when it has neither. */
    private int source(final MemorySegment mem, final int len)
    {
        if (len < EthernetHeader.LENGTH)
        {
            return 0;
        }
        eth.wrap(mem, 0);
        final int l3 = eth.headerLength();
        if (eth.etherType() == EthernetHeader.TYPE_IP4 && len >= l3 + Ip4Header.MIN_LENGTH)
        {
            return ip4.wrap(mem, l3).src();
        }
        if (eth.etherType() == EthernetHeader.TYPE_ARP && len >= l3 + ArpHeader.LENGTH)
        {
            return arp.wrap(mem, l3).senderIp();
        }
        return 0;
    }

    /**
     * Feeds one captured frame at its capture time: it enters at the node owning its source (a pod's port) or at
     * the uplink of the node it is addressed to; then every frame a node sends to another node through the
     * underlay is delivered, at the same time, until none is left.
     *
     * @param epochNanos its capture time.
     * @param frame      array holding the frame from index 0 (it may be reused after the call).
     * @param length     the frame's length.
     */
    public void feed(final long epochNanos, final byte[] frame, final int length)
    {
        framesIn++;
        inputNumber++;
        cascadeNumber = 0;
        for (int i = 0; i < members.size(); i++)
        {
            members.get(i).engine().clock().set(epochNanos);
        }
        if (frame != wrapped)
        {
            wrapped = frame;
            wrappedSegment = MemorySegment.ofArray(frame);
        }
        final MemorySegment seg = wrappedSegment;
        final int src = source(seg, length);
        Member at = member(byPodIp.get(src));
        if (at == null && length >= EthernetHeader.LENGTH)
        {
            at = member(byPodMac.get(eth.wrap(seg, 0).src()));
        }
        final boolean traced = inputNumber <= fateLimit;
        if (at != null)
        {
            if (traced)
            {
                record("#" + inputNumber, at, "at a pod", null, frame, length);
            }
            at.engine().feed(epochNanos, frame, length);
        }
        else
        {
            final int dst = destination(seg, 0, length);
            at = member(byAddress.get(dst));
            if (at == null)
            {
                unrouted++;
                if (traced)
                {
                    record("#" + inputNumber, null, "from outside", "NOT REPLAYED: from outside the cluster "
                        + "to " + Ip4.format(dst) + ", which is no node's address (a ClusterIP or a pod is reached "
                        + "through a node, not from the outside)", frame, length);
                }
                return;
            }
            if (traced)
            {
                record("#" + inputNumber, at, "at uplink", null, frame, length);
            }
            at.engine().feedUplink(epochNanos, frame, length);
        }
        at.engine().finish();
        cascade(traced);
    }

    private void cascade(final boolean traced)
    {
        int delivered = 0;
        while (!underlay.isEmpty())
        {
            final Pending p = underlay.poll();
            if (++delivered > MAX_CASCADE)
            {
                cascadeDrops++;
                p.from = null;
                p.to = null;
                spare.add(p);
                continue;
            }
            underlayFrames++;
            ++cascadeNumber;
            if (traced)
            {
                record("#" + inputNumber + "." + cascadeNumber, p.to, "underlay from " + p.from.name(), null,
                    p.frame, p.length);
            }
            p.to.engine().feedUplink(p.epochNanos, p.frame, p.length);
            p.to.engine().finish();
            p.from = null;
            p.to = null;
            spare.add(p);
        }
    }

    /** Notes a traced frame for {@link #fates()}. */
    private void record(final String label, final Member at, final String where, final String early,
        final byte[] frame, final int length)
    {
        if (at == null)
        {
            fed.add(new Fed(label, null, -1, where, early, FrameSummary.describe(java.util.Arrays.copyOf(frame,
                length))));
            return;
        }
        fed.add(new Fed(label, at, (int)at.engine().framesIn(), where, null, null));
    }

    /** Runs whatever is still queued on every node. */
    public void finish()
    {
        for (final Member m : members)
        {
            m.engine().finish();
        }
        cascade(false);
    }

    /**
     * The fate of each of the first input frames and of the frames they sent through the underlay: which node it
     * entered, what it was and where it ended.
     *
     * @return two lines per frame.
     */
    public List<String> fates()
    {
        final Map<Member, List<ReplayEngine.Fate>> byNode = new HashMap<>();
        for (final Member m : members)
        {
            byNode.put(m, m.engine().frameFates());
        }
        final List<String> out = new ArrayList<>();
        for (final Fed f : fed)
        {
            if (f.member() == null)
            {
                out.add(String.format("%-6s %-8s %s%n       %s", f.label(), "-", f.summary(), f.early()));
                continue;
            }
            final List<ReplayEngine.Fate> list = byNode.get(f.member());
            final ReplayEngine.Fate fate = f.index() < list.size() ? list.get(f.index()) : null;
            out.add(String.format("%-6s %-8s %s%n       %s", f.label(), f.member().name(),
                fate == null ? "(" + f.where() + ")" : fate.summary(),
                fate == null ? "(not traced)" : "[" + f.where() + "] " + fate.fate()));
        }
        return out;
    }

    /** @return the nodes, in name order. */
    public List<Member> members()
    {
        return Collections.unmodifiableList(members);
    }

    /** @return input frames fed. */
    public long framesIn()
    {
        return framesIn;
    }

    /** @return input frames that no node owns or is addressed by (not replayed). */
    public long unrouted()
    {
        return unrouted;
    }

    /** @return frames delivered from one node to another through the underlay. */
    public long underlayFrames()
    {
        return underlayFrames;
    }

    /** @return underlay frames dropped because one input frame caused more than {@link #MAX_CASCADE}. */
    public long cascadeDrops()
    {
        return cascadeDrops;
    }

    @Override
    public void close()
    {
        for (final Member m : members)
        {
            m.engine().close();
        }
    }
}
