package dev.ferry.node;

import dev.ferry.conntrack.ConntrackEvents;
import dev.ferry.conntrack.ConntrackFilter;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The clients of {@code ferry show conntrack -E}, on the control thread. A client opens a stream with a filter
 * and polls it; each poll (and the control thread's housekeeping) drains the worker's event ring into every open
 * stream's queue, keeping the events its filter selects. Bounded: at most {@link #MAX_STREAMS} streams, each
 * queue at most {@link #QUEUE_MAX} events (the rest counted as lost, as is whatever the ring could not hold), at
 * most {@link #ANSWER_MAX} events per answer. A stream not polled for {@link #LEASE_NANOS} ends; when the last
 * one ends the worker stops recording.
 */
final class ConntrackEventStreams
{
    /** Open streams at most. */
    static final int MAX_STREAMS = 8;
    /** Events one stream holds for its client at most. */
    static final int QUEUE_MAX = 65_536;
    /** Events one answer carries at most; the client polls again at once when {@code more} is set. */
    static final int ANSWER_MAX = 4_096;
    /** A stream whose client has not polled for this long ends. */
    static final long LEASE_NANOS = 10_000_000_000L;

    /** Every worker's event ring (one per conntrack shard), worker 0's first. */
    private final List<ConntrackEvents> rings;
    private final Map<Long, Stream> streams = new LinkedHashMap<>();
    private final List<ConntrackEvents.ConntrackEvent> scratch = new ArrayList<>();
    private long nextId = 1;

    /** One client's stream. */
    private static final class Stream
    {
        final ConntrackFilter filter;
        final ArrayDeque<ConntrackEvents.ConntrackEvent> queue = new ArrayDeque<>();
        long lost;
        long lastPoll;

        Stream(final ConntrackFilter filter, final long now)
        {
            this.filter = filter;
            this.lastPoll = now;
        }
    }

    /**
     * What one poll returns.
     *
     * @param id     the stream.
     * @param events the events, oldest first.
     * @param lost   events this stream lost since its last poll (ring or queue full).
     * @param more   whether more events wait.
     */
    record Poll(long id, List<ConntrackEvents.ConntrackEvent> events, long lost, boolean more)
    {
    }

    /**
     * @param ring the worker's event ring (a node of one worker).
     */
    ConntrackEventStreams(final ConntrackEvents ring)
    {
        this(List.of(ring));
    }

    /**
     * @param rings every worker's event ring: a node of several workers streams the events of every shard.
     */
    ConntrackEventStreams(final List<ConntrackEvents> rings)
    {
        this.rings = List.copyOf(rings);
    }

    /**
     * Opens a stream: events from now on that the filter selects.
     *
     * @param filter which events.
     * @param now    the control thread's clock.
     * @return the stream's first (empty) poll, with its id.
     */
    Poll open(final ConntrackFilter filter, final long now)
    {
        pump(now);
        if (streams.size() >= MAX_STREAMS)
        {
            throw new IllegalArgumentException("too many conntrack event streams (" + MAX_STREAMS + ")");
        }
        final long id = nextId++;
        streams.put(id, new Stream(filter, now));
        rings.forEach(r -> r.subscribe(true));
        return new Poll(id, List.of(), 0, false);
    }

    /**
     * @param id  a stream.
     * @param now the control thread's clock.
     * @return its events since the last poll.
     * @throws IllegalArgumentException when the stream is not open (ended by its lease, or never opened).
     */
    Poll poll(final long id, final long now)
    {
        pump(now);
        final Stream s = streams.get(id);
        if (s == null)
        {
            throw new IllegalArgumentException("id: no conntrack event stream " + id + " (a stream ends when it is"
                + " not polled for " + LEASE_NANOS / 1_000_000_000L + " s)");
        }
        s.lastPoll = now;
        final List<ConntrackEvents.ConntrackEvent> out = new ArrayList<>(Math.min(ANSWER_MAX, s.queue.size()));
        while (out.size() < ANSWER_MAX && !s.queue.isEmpty())
        {
            out.add(s.queue.poll());
        }
        final long lost = s.lost;
        s.lost = 0;
        return new Poll(id, out, lost, !s.queue.isEmpty());
    }

    /**
     * Ends a stream (the client said so).
     *
     * @param id the stream.
     * @return whether it was open.
     */
    boolean close(final long id)
    {
        final boolean was = streams.remove(id) != null;
        if (streams.isEmpty())
        {
            rings.forEach(r -> r.subscribe(false));
        }
        return was;
    }

    /** @return open streams. */
    int size()
    {
        return streams.size();
    }

    /**
     * Moves the ring's events into the streams' queues and ends streams whose lease ran out (control thread:
     * every poll and every housekeeping tick).
     *
     * @param now the control thread's clock.
     */
    void pump(final long now)
    {
        if (streams.isEmpty())
        {
            return;
        }
        long lostInRings = 0;
        for (final ConntrackEvents r : rings)
        {
            lostInRings += r.takeLost();
        }
        for (final ConntrackEvents ring : rings)
        {
            pumpRing(ring);
        }
        scratch.clear();
        final Iterator<Stream> it = streams.values().iterator();
        while (it.hasNext())
        {
            final Stream s = it.next();
            s.lost += lostInRings;
            if (now - s.lastPoll > LEASE_NANOS)
            {
                it.remove();
            }
        }
        if (streams.isEmpty())
        {
            rings.forEach(r -> r.subscribe(false));
        }
    }

    /** Moves one ring's events into the streams' queues. */
    private void pumpRing(final ConntrackEvents ring)
    {
        int n;
        do
        {
            scratch.clear();
            n = ring.drain(scratch, 1024);
            for (final Stream s : streams.values())
            {
                for (final ConntrackEvents.ConntrackEvent e : scratch)
                {
                    if (!s.filter.matches(e.entry()))
                    {
                        continue;
                    }
                    if (s.queue.size() >= QUEUE_MAX)
                    {
                        s.lost++;
                    }
                    else
                    {
                        s.queue.add(e);
                    }
                }
            }
        }
        while (n > 0);
    }
}
