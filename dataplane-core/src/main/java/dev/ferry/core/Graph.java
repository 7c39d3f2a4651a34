package dev.ferry.core;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Runs stages over vectors to completion, like VPP's graph dispatcher.
 *
 * <pre>
 *   input(entry, h) ... input(entry, h)     up to 256 packets in flight
 *        │
 *        ▼
 *   frames[stage] ──process──► next(h, edge) ──► frames[target]      until every frame is empty
 *                          └─► drop(h, reason) ──► counter + pool.free
 *                          └─► transmit(h) ─────► TxSink
 * </pre>
 *
 * <p>Each stage has one input frame. A run walks the stages in build order and processes every non-empty
 * frame, and repeats until no frame holds packets (edges may point backwards, e.g. vxlan-decap to
 * ethernet-input). Next edges are resolved by stage name at build time; an edge whose target stage is not
 * in the graph becomes a counted drop, so a feature is simply a stage that is wired in or not.
 *
 * <p>Counters per stage: {@code stage/NAME/calls}, {@code /packets}, {@code /ns}, {@code /next/EDGE},
 * {@code /drop/REASON}. A graph is used by one thread. The {@code next} and {@code graph/transmit} counts are
 * gathered in the graph during a stage call and added to the shared counters when the call returns (one update
 * per edge and vector, not per packet); another thread sees them a call at a time, like {@code packets}.
 *
 * <p>Containment: a stage that throws from {@code process} does not stop the run. The graph stamps every packet a
 * stage hands on ({@code next}, {@code drop}, {@code transmit}, {@code inject}) with the number of the current
 * call; when the call throws, every packet of its input vector without that stamp, and every buffer allocated
 * during the call and not handed on, is dropped under {@link GraphDrop#STAGE_EXCEPTION}. Packets already passed
 * on stay where they went. The graph counts the exception ({@code graph/stage-exceptions}) and keeps the last one
 * in a slot that the control side drains ({@link #takeFault()}) to log, rate limited; nothing is logged on the
 * worker thread.
 */
public final class Graph implements Stage.Next
{
    /** Drops that belong to the graph rather than to a stage. */
    public enum GraphDrop implements DropReason
    {
        /** The stage sent a packet along an edge whose target stage is not in this graph. */
        NEXT_NOT_WIRED(1, "next stage not present in this graph"),
        /** A frame overflowed; this means more than 256 packets were in flight. */
        FRAME_OVERFLOW(2, "graph frame overflow"),
        /** A stage threw; the packets of its vector that it had not handed on were dropped. */
        STAGE_EXCEPTION(34, "stage threw an exception (packets it had not handed on dropped)");

        private final int id;
        private final String sentence;

        GraphDrop(final int id, final String sentence)
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
    private final Counters counters;
    private final Clock clock;
    private final Ports ports;
    private final TxSink sink;
    private final TraceBuffer trace;
    private final Stage[] stages;
    private final PacketVector[] frames;
    /** Handles queued in all frames together: a run stops as soon as it reaches 0, without a pass over empty
     *  frames. */
    private int queued;
    /** Whether each stage call is timed (the {@code ns} counters, {@code show runtime}'s ns/packet). */
    private boolean timeStages = true;
    private PacketVector spare = new PacketVector();
    private final int[][] nextTarget;
    private final int[][] nextCounter;
    /** Packets sent along each edge of the stage being called, added to {@link #nextCounter} once per call:
     *  one shared-memory update per edge and vector instead of one per packet. */
    private final long[][] nextPending;
    /** The current stage's rows of {@link #nextTarget} and {@link #nextPending}: one load each per packet. */
    private int[] curTarget;
    private long[] curPending;
    /** Packets transmitted during the current call, added to the transmit counter once per call. */
    private long transmitPending;
    private final int[][] dropCounter;
    private final int[] callsCounter;
    private final int[] packetsCounter;
    private final int[] nanosCounter;
    private final int graphDropNotWired;
    private final int graphDropOverflow;
    private final int transmitCounter;
    private final int graphDropException;
    private final int exceptionCounter;
    // per buffer: the number of the stage call that last handed it on (containment)
    private final int[] handedOn;
    private int call;
    private final AtomicReference<StageFault> lastFault = new AtomicReference<>();
    private final Map<String, Integer> indexByName;
    private int current = -1;
    private int pendingInputs;

    private Graph(final Builder b)
    {
        this.pool = b.pool;
        this.counters = b.counters;
        this.clock = b.clock;
        this.ports = b.ports;
        this.sink = b.sink;
        this.trace = b.trace;
        final int n = b.stages.size();
        this.stages = b.stages.toArray(new Stage[0]);
        this.frames = new PacketVector[n];
        this.nextTarget = new int[n][];
        this.nextCounter = new int[n][];
        this.nextPending = new long[n][];
        this.dropCounter = new int[n][];
        this.callsCounter = new int[n];
        this.packetsCounter = new int[n];
        this.nanosCounter = new int[n];
        this.indexByName = new HashMap<>();
        for (int i = 0; i < n; i++)
        {
            if (indexByName.put(stages[i].name(), i) != null)
            {
                throw new IllegalArgumentException("two stages named " + stages[i].name());
            }
        }
        for (int i = 0; i < n; i++)
        {
            final Stage s = stages[i];
            final String prefix = "stage/" + s.name() + "/";
            frames[i] = new PacketVector();
            callsCounter[i] = counters.register(prefix + "calls");
            packetsCounter[i] = counters.register(prefix + "packets");
            nanosCounter[i] = counters.register(prefix + "ns");
            final List<String> nexts = s.nextNames();
            nextTarget[i] = new int[nexts.size()];
            nextCounter[i] = new int[nexts.size()];
            nextPending[i] = new long[nexts.size()];
            for (int e = 0; e < nexts.size(); e++)
            {
                final Integer t = indexByName.get(nexts.get(e));
                nextTarget[i][e] = t == null ? -1 : t;
                nextCounter[i][e] = counters.register(prefix + "next/" + nexts.get(e));
            }
            final List<? extends DropReason> reasons = s.dropReasons();
            dropCounter[i] = new int[reasons.size()];
            for (final DropReason r : reasons)
            {
                if (r.index() >= reasons.size())
                {
                    throw new IllegalArgumentException(s.name() + ": drop reasons must be one whole enum");
                }
                dropCounter[i][r.index()] = counters.register(prefix + "drop/" + r.counterName());
            }
        }
        graphDropNotWired = counters.register("graph/drop/" + GraphDrop.NEXT_NOT_WIRED.counterName());
        graphDropOverflow = counters.register("graph/drop/" + GraphDrop.FRAME_OVERFLOW.counterName());
        transmitCounter = counters.register("graph/transmit");
        graphDropException = counters.register("graph/drop/" + GraphDrop.STAGE_EXCEPTION.counterName());
        exceptionCounter = counters.register("graph/stage-exceptions");
        handedOn = new int[pool.handles()];
    }

    /**
     * A stage that threw, as recorded by the worker for the control side to log.
     *
     * @param stage     the stage's name.
     * @param exception what it threw.
     * @param dropped   packets dropped for it under {@link GraphDrop#STAGE_EXCEPTION}.
     * @param count     exceptions since the graph was built (this one included).
     */
    public record StageFault(String stage, RuntimeException exception, int dropped, long count)
    {
    }

    /**
     * Starts a graph description.
     *
     * @param pool     the packet pool every stage uses.
     * @param counters where counters are registered.
     * @param clock    time source (drives trace timestamps).
     * @param ports    the ports, for trace formatting.
     * @return a builder.
     */
    public static Builder builder(final PacketPool pool, final Counters counters, final Clock clock, final Ports ports)
    {
        return new Builder(pool, counters, clock, ports);
    }

    /**
     * @param name stage name.
     * @return its index, or -1 when the graph has no such stage.
     */
    public int indexOf(final String name)
    {
        final Integer i = indexByName.get(name);
        return i == null ? -1 : i;
    }

    /** @return the stages in build order. */
    public List<Stage> stages()
    {
        return List.of(stages);
    }

    /** @return the packet pool. */
    public PacketPool pool()
    {
        return pool;
    }

    /** @return the counters. */
    public Counters counters()
    {
        return counters;
    }

    /** @return the trace buffer. */
    public TraceBuffer trace()
    {
        return trace;
    }

    /**
     * Puts a received packet into a stage's input frame. When 256 packets are waiting the graph runs first, so
     * that no more than one vector is ever in flight.
     *
     * @param entry  index of the entry stage.
     * @param handle packet handle, with rx port and timestamp set.
     */
    public void input(final int entry, final int handle)
    {
        if (pendingInputs == PacketVector.CAPACITY)
        {
            run();
        }
        final int id = trace.takeSample(pool, handle);
        if (id >= 0)
        {
            pool.trace(handle, id);
            trace.record(id, -1, TraceBuffer.KIND_INPUT, entry, pool.rxPort(handle), pool.length(handle),
                pool.timestamp(handle));
        }
        pendingInputs++;
        queued++;
        frames[entry].add(handle);
    }

    /**
     * Puts a packet that another worker handed over into a stage's input frame. It is not sampled here: it entered
     * the node on the other worker, which sampled it or not. A traced one keeps its trace id, and this graph goes on
     * recording under it ({@link TraceBuffer#KIND_HANDOFF}), so the packet's trace continues on its owner.
     *
     * @param entry      index of the entry stage (the one after the ownership decision).
     * @param handle     packet handle, with rx port, timestamp and trace mark as the other worker had them.
     * @param fromWorker the worker that handed it over.
     */
    public void inputHandedOver(final int entry, final int handle, final int fromWorker)
    {
        if (pendingInputs == PacketVector.CAPACITY)
        {
            run();
        }
        if (pool.traced(handle))
        {
            trace.record(pool.traceId(handle), -1, TraceBuffer.KIND_HANDOFF, entry, pool.rxPort(handle),
                TraceBuffer.handoffWord(fromWorker, pool.length(handle)), pool.timestamp(handle));
        }
        pendingInputs++;
        queued++;
        frames[entry].add(handle);
    }

    /**
     * Turns the timing of stage calls on (the default) or off. Off, the per-stage {@code ns} counters stay as
     * they are and {@code show runtime} has no ns/packet; a run of a small vector (replay: one per capture
     * timestamp) saves two clock reads per stage call.
     *
     * @param on whether to time stage calls.
     */
    public void timeStages(final boolean on)
    {
        this.timeStages = on;
    }

    /**
     * Tells the sink that a run starts ({@link TxSink#beforeRun}), runs every stage until all frames are empty, then
     * flushes the sink.
     */
    public void run()
    {
        sink.beforeRun();
        final Stage[] stages = this.stages;
        final PacketVector[] frames = this.frames;
        boolean progress = true;
        while (progress && queued > 0)
        {
            progress = false;
            for (int i = 0; i < stages.length && queued > 0; i++)
            {
                final PacketVector f = frames[i];
                if (f.isEmpty())
                {
                    continue;
                }
                // every frame of this vector leaves it in this call (next, drop or transmit)
                queued -= f.count();
                progress = true;
                // swap in the empty spare so that a stage may feed its own input without aliasing
                frames[i] = spare;
                final PacketVector work = f;
                current = i;
                curTarget = nextTarget[i];
                curPending = nextPending[i];
                final int thisCall = ++call;
                final long allocMark = pool.allocations();
                final long t0 = timeStages ? System.nanoTime() : 0L;
                try
                {
                    stages[i].process(work, this);
                }
                catch (final RuntimeException e)
                {
                    contain(i, work, thisCall, allocMark, e);
                }
                final long t1 = timeStages ? System.nanoTime() : 0L;
                current = -1;
                curTarget = null;
                curPending = null;
                flushCallCounters(i);
                counters.increment(callsCounter[i]);
                counters.add(packetsCounter[i], work.count());
                if (timeStages)
                {
                    counters.add(nanosCounter[i], t1 - t0);
                }
                work.clear();
                spare = work;
            }
        }
        pendingInputs = 0;
        sink.flush();
    }

    /**
     * Adds the call's per-edge and transmit counts to the shared counters and zeroes them. Readers on other
     * threads see a call's counts when it ends, as they see its {@code packets} and {@code ns}.
     */
    private void flushCallCounters(final int stage)
    {
        final long[] pending = nextPending[stage];
        final int[] ids = nextCounter[stage];
        for (int e = 0; e < pending.length; e++)
        {
            final long c = pending[e];
            if (c != 0)
            {
                counters.add(ids[e], c);
                pending[e] = 0;
            }
        }
        if (transmitPending != 0)
        {
            counters.add(transmitCounter, transmitPending);
            transmitPending = 0;
        }
    }

    /**
     * Drops what a throwing stage still owned: the packets of its input that it had not handed on during call
     * {@code thisCall}, and the buffers allocated since {@code allocMark} that it had not handed on either.
     * Dropped buffers lose their stamp when freed; a buffer that the sink frees on transmit keeps it, so a stage
     * that transmits and then allocates in the same call is the one case this cannot tell apart (no stage does).
     */
    private void contain(final int stage, final PacketVector work, final int thisCall, final long allocMark,
        final RuntimeException e)
    {
        int dropped = 0;
        for (int k = 0; k < work.count(); k++)
        {
            final int h = work.get(k);
            if (handedOn[h] != thisCall && pool.isAllocated(h))
            {
                dropInternal(h, graphDropException, GraphDrop.STAGE_EXCEPTION, stage);
                dropped++;
            }
        }
        if (pool.allocations() != allocMark)
        {
            for (int h = 0; h < handedOn.length; h++)
            {
                // only this worker's own buffers were allocated here (a shared pool's other views allocate theirs)
                if (handedOn[h] != thisCall && pool.owns(h) && pool.isAllocated(h)
                    && pool.allocationNumber(h) >= allocMark)
                {
                    dropInternal(h, graphDropException, GraphDrop.STAGE_EXCEPTION, stage);
                    dropped++;
                }
            }
        }
        counters.increment(exceptionCounter);
        lastFault.set(new StageFault(stages[stage].name(), e, dropped, counters.get(exceptionCounter)));
    }

    /**
     * Takes the last stage exception recorded since the previous call (control side; safe from any thread).
     *
     * @return the fault, or null when no stage threw since.
     */
    public StageFault takeFault()
    {
        return lastFault.getAndSet(null);
    }

    @Override
    public void next(final int handle, final int nextIndex)
    {
        final int cur = current;
        handedOn[handle] = call;
        final int target = curTarget[nextIndex];
        if (target < 0)
        {
            dropInternal(handle, graphDropNotWired, GraphDrop.NEXT_NOT_WIRED, cur);
            return;
        }
        curPending[nextIndex]++;
        if (pool.traced(handle))
        {
            trace.record(pool.traceId(handle), cur, TraceBuffer.KIND_NEXT, nextIndex, 0, 0, clock.nanos());
        }
        final PacketVector f = frames[target];
        if (f.isFull())
        {
            dropInternal(handle, graphDropOverflow, GraphDrop.FRAME_OVERFLOW, cur);
            return;
        }
        queued++;
        f.add(handle);
    }

    @Override
    public void inject(final int handle, final int nextIndex)
    {
        next(handle, nextIndex);
    }

    @Override
    public void drop(final int handle, final DropReason reason)
    {
        final int cur = current;
        counters.increment(dropCounter[cur][reason.index()]);
        if (pool.traced(handle))
        {
            trace.record(pool.traceId(handle), cur, TraceBuffer.KIND_DROP, reason.index(), 0, 0, clock.nanos());
        }
        // a freed buffer is no longer the stage's: clear the stamp, so that if the stage allocates it again in
        // the same call, containment still sees the new one as not handed on
        handedOn[handle] = 0;
        pool.free(handle);
    }

    private void dropInternal(final int handle, final int counter, final GraphDrop reason, final int stage)
    {
        counters.increment(counter);
        if (pool.traced(handle))
        {
            trace.record(pool.traceId(handle), stage, TraceBuffer.KIND_DROP, -1 - reason.index(), 0, 0,
                clock.nanos());
        }
        handedOn[handle] = 0;
        pool.free(handle);
    }

    @Override
    public void hold(final int handle)
    {
        // the stage keeps it: containment must not drop it if the stage throws later in this call
        handedOn[handle] = call;
    }

    @Override
    public void traceDetail(final int handle, final long a, final long b)
    {
        if (pool.traced(handle))
        {
            trace.record(pool.traceId(handle), current, TraceBuffer.KIND_DETAIL, 0, a, b, clock.nanos());
        }
    }

    @Override
    public void transmit(final int handle)
    {
        handedOn[handle] = call;
        if (current >= 0)
        {
            transmitPending++;
        }
        else
        {
            // outside a stage call nothing would flush a pending count
            counters.increment(transmitCounter);
        }
        if (pool.traced(handle))
        {
            trace.record(pool.traceId(handle), current, TraceBuffer.KIND_TRANSMIT, pool.txPort(handle),
                pool.length(handle), 0, clock.nanos());
        }
        sink.transmit(handle);
    }

    /**
     * One row of {@code show runtime}.
     *
     * @param name    stage name.
     * @param calls   process() calls.
     * @param packets packets processed.
     * @param nanos   time spent in process().
     */
    public record RuntimeRow(String name, long calls, long packets, long nanos)
    {
        /** @return average vector size. */
        public double vectorsPerCall()
        {
            return calls == 0 ? 0 : (double)packets / calls;
        }

        /** @return nanoseconds per packet. */
        public double nanosPerPacket()
        {
            return packets == 0 ? 0 : (double)nanos / packets;
        }
    }

    /** @return per-stage runtime figures, in build order. */
    public List<RuntimeRow> runtime()
    {
        final List<RuntimeRow> rows = new ArrayList<>();
        for (int i = 0; i < stages.length; i++)
        {
            rows.add(new RuntimeRow(stages[i].name(), counters.getAcquire(callsCounter[i]),
                counters.getAcquire(packetsCounter[i]), counters.getAcquire(nanosCounter[i])));
        }
        return rows;
    }

    /**
     * Formats the trace buffer as VPP's {@code show trace} would (not the hot path).
     *
     * @return one block of lines per traced packet.
     */
    public List<String> formatTrace()
    {
        return formatTrace(trace.entries(), trace.lost());
    }

    /**
     * Formats trace records copied from this graph's buffer on its thread, so that another thread can format
     * them (the stages' names and {@code formatTrace} are read-only).
     *
     * @param entries the records ({@link TraceBuffer#entries()}).
     * @param lost    records that did not fit ({@link TraceBuffer#lost()}).
     * @return one block of lines per traced packet.
     */
    public List<String> formatTrace(final List<TraceBuffer.Entry> entries, final long lost)
    {
        return formatTrace(trace(entries), lost, false);
    }

    /**
     * The text of {@code show trace}, VPP's: one block per traced packet, or per part of one on a node of several
     * workers, headed {@code Packet N (worker W):} then.
     *
     * @param packets        the packets or parts, in the order to print them.
     * @param lost           records that did not fit the buffer(s).
     * @param workerHeadings whether each block's heading names its worker.
     * @return the lines; none when nothing was traced or lost.
     */
    public static List<String> formatTrace(final List<TracedPacket> packets, final long lost,
        final boolean workerHeadings)
    {
        final List<String> out = new ArrayList<>();
        for (final TracedPacket p : packets)
        {
            out.add(workerHeadings ? "Packet " + p.packet() + " (worker " + p.worker() + "):"
                : "Packet " + p.packet() + ":");
            for (final TraceStep step : p.steps())
            {
                out.add(step.line());
            }
        }
        if (lost > 0)
        {
            out.add("(" + lost + " trace records did not fit the buffer)");
        }
        return out;
    }

    /**
     * One traced packet, or one worker's part of it: {@code ferry show trace} prints its steps as lines, {@code -o
     * json} as objects. A packet handed to another worker is traced in parts, one per worker it crossed, each
     * with the packet's number.
     *
     * @param packet the packet's number, from 1 (the node's: every worker's parts of one packet share it).
     * @param worker the worker that recorded these steps (0 on a node of one worker).
     * @param steps  what happened to it there, in order.
     */
    public record TracedPacket(int packet, int worker, List<TraceStep> steps)
    {
        /**
         * A packet of a one-worker graph.
         *
         * @param packet the packet's number, from 1.
         * @param steps  what happened to it, in order.
         */
        public TracedPacket(final int packet, final List<TraceStep> steps)
        {
            this(packet, 0, steps);
        }

        /** @return the worker that handed this part over (its first step says so), or -1: it entered here. */
        public int handedOverBy()
        {
            return steps.isEmpty() ? -1 : steps.get(0).handedOverBy();
        }
    }

    /**
     * One trace record, resolved to names.
     *
     * @param kind         input, next, drop, detail, transmit or inject.
     * @param stage        the stage that recorded it ({@code graph} for the graph itself).
     * @param nanos        the clock at input (input only; 0 otherwise).
     * @param port         the port it came in on (input) or left on (transmit), or null.
     * @param bytes        the frame's length (input, transmit), or -1.
     * @param next         the stage it went to (input, next), or null.
     * @param text         the drop reason's sentence (drop) or the stage's detail (detail), or null.
     * @param answerTo     the packet this one answers (inject), or -1.
     * @param handedOverBy the worker that handed the packet over to this part's worker (an input that did not
     *                     come from a port), or -1.
     */
    public record TraceStep(String kind, String stage, long nanos, String port, long bytes, String next,
        String text, long answerTo, int handedOverBy)
    {
        /**
         * A step that is not a handed-over input.
         *
         * @param kind     input, next, drop, detail, transmit or inject.
         * @param stage    the stage that recorded it.
         * @param nanos    the clock at input.
         * @param port     the port, or null.
         * @param bytes    the frame's length, or -1.
         * @param next     the stage it went to, or null.
         * @param text     the sentence or detail, or null.
         * @param answerTo the packet this one answers, or -1.
         */
        public TraceStep(final String kind, final String stage, final long nanos, final String port,
            final long bytes, final String next, final String text, final long answerTo)
        {
            this(kind, stage, nanos, port, bytes, next, text, answerTo, -1);
        }

        /** @return the step as {@code show trace} prints it. */
        public String line()
        {
            return switch (kind)
            {
                case "input" -> String.format("%s  input on %s, %d bytes, into %s%s", formatTime(nanos), port, bytes,
                    next, handedOverBy < 0 ? "" : ", handed over by worker " + handedOverBy);
                case "next" -> "  " + stage + " -> " + next;
                case "drop" -> "  " + stage + " DROP " + text;
                case "detail" -> "  " + stage + ": " + text;
                case "transmit" -> "  " + stage + " TRANSMIT on " + port + ", " + bytes + " bytes";
                case "inject" -> "  created by " + stage + " in answer to packet " + answerTo;
                default -> "  ? record kind " + text;
            };
        }
    }

    /**
     * Resolves trace records copied from this graph's buffer to names, grouped by packet (any thread: the
     * stages' names and {@code formatTrace} are read-only).
     *
     * @param entries the records ({@link TraceBuffer#entries()}).
     * @return the packets, in trace order.
     */
    public List<TracedPacket> trace(final List<TraceBuffer.Entry> entries)
    {
        return trace(entries, 0);
    }

    /**
     * Resolves one worker's trace records to names, grouped by packet, a packet's records cut into parts where
     * another worker handed it over (a packet that comes back to a worker a second time has two parts there).
     *
     * @param entries the records ({@link TraceBuffer#entries()}) of this graph, worker {@code worker}'s.
     * @param worker  the worker whose graph this is, named in each part.
     * @return the parts by packet, in id order, each packet's parts in the order this worker recorded them.
     */
    public List<TracedPacket> trace(final List<TraceBuffer.Entry> entries, final int worker)
    {
        final Map<Integer, List<List<TraceStep>>> byPacket = new java.util.TreeMap<>();
        for (final TraceBuffer.Entry e : entries)
        {
            final List<List<TraceStep>> parts = byPacket.computeIfAbsent(e.traceId(), k -> new ArrayList<>());
            if (parts.isEmpty() || e.kind() == TraceBuffer.KIND_HANDOFF && !parts.getLast().isEmpty())
            {
                parts.add(new ArrayList<>());
            }
            final List<TraceStep> steps = parts.getLast();
            final String stageName = e.stage() >= 0 ? stages[e.stage()].name() : "graph";
            switch (e.kind())
            {
                case TraceBuffer.KIND_INPUT -> steps.add(new TraceStep("input", stageName, e.nanos(),
                    ports.nameOf((int)e.a()), e.b(), stages[e.code()].name(), null, -1));
                case TraceBuffer.KIND_HANDOFF -> steps.add(new TraceStep("input", stageName, e.nanos(),
                    ports.nameOf((int)e.a()), (int)e.b(), stages[e.code()].name(), null, -1, (int)(e.b() >>> 32)));
                case TraceBuffer.KIND_NEXT -> steps.add(new TraceStep("next", stageName, 0, null, -1,
                    stages[e.stage()].nextNames().get(e.code()), null, -1));
                case TraceBuffer.KIND_DROP -> steps.add(new TraceStep("drop", stageName, 0, null, -1, null,
                    dropSentence(e), -1));
                case TraceBuffer.KIND_DETAIL ->
                {
                    final String d = stages[e.stage()].formatTrace(e.a(), e.b());
                    if (!d.isEmpty())
                    {
                        steps.add(new TraceStep("detail", stageName, 0, null, -1, null, d, -1));
                    }
                }
                case TraceBuffer.KIND_TRANSMIT -> steps.add(new TraceStep("transmit", stageName, 0,
                    ports.nameOf(e.code()), e.a(), null, null, -1));
                case TraceBuffer.KIND_INJECT -> steps.add(new TraceStep("inject", stageName, 0, null, -1, null, null,
                    e.a()));
                default -> steps.add(new TraceStep("unknown", stageName, 0, null, -1, null,
                    String.valueOf(e.kind()), -1));
            }
        }
        final List<TracedPacket> out = new ArrayList<>();
        byPacket.forEach((id, parts) ->
        {
            for (final List<TraceStep> steps : parts)
            {
                out.add(new TracedPacket(id + 1, worker, List.copyOf(steps)));
            }
        });
        return out;
    }

    private String dropSentence(final TraceBuffer.Entry e)
    {
        if (e.code() < 0)
        {
            return GraphDrop.values()[-1 - e.code()].describe();
        }
        final List<? extends DropReason> reasons = stages[e.stage()].dropReasons();
        for (final DropReason r : reasons)
        {
            if (r.index() == e.code())
            {
                return r.describe();
            }
        }
        return "reason index " + e.code();
    }

    private static String formatTime(final long nanos)
    {
        final long secs = nanos / 1_000_000_000L;
        return String.format("%d.%09d", secs, nanos % 1_000_000_000L);
    }

    /** Describes a graph: its pool, counters, stages and sink. */
    public static final class Builder
    {
        private final PacketPool pool;
        private final Counters counters;
        private final Clock clock;
        private final Ports ports;
        private final List<Stage> stages = new ArrayList<>();
        private TxSink sink;
        private TraceBuffer trace = new TraceBuffer(4096);

        private Builder(final PacketPool pool, final Counters counters, final Clock clock, final Ports ports)
        {
            this.pool = pool;
            this.counters = counters;
            this.clock = clock;
            this.ports = ports;
        }

        /**
         * Adds a stage; stages run in the order they are added.
         *
         * @param stage the stage.
         * @return this.
         */
        public Builder add(final Stage stage)
        {
            stages.add(stage);
            return this;
        }

        /**
         * Sets where transmitted packets go.
         *
         * @param txSink the sink.
         * @return this.
         */
        public Builder sink(final TxSink txSink)
        {
            this.sink = txSink;
            return this;
        }

        /**
         * Sets the trace buffer (default: 4096 records).
         *
         * @param buffer the buffer.
         * @return this.
         */
        public Builder trace(final TraceBuffer buffer)
        {
            this.trace = buffer;
            return this;
        }

        /** @return the graph. */
        public Graph build()
        {
            if (sink == null)
            {
                throw new IllegalStateException("a graph needs a TxSink");
            }
            return new Graph(this);
        }
    }
}
