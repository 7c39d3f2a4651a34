package dev.ferry.node;

import dev.ferry.core.PacketPool;
import dev.ferry.core.TraceBuffer;
import dev.ferry.tapio.BpfFilter;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * {@code ferry trace add N --filter EXPR}: a tcpdump expression, compiled by libpcap on the control thread, run on
 * the worker over each entering frame while trace samples remain (a debugging path: it copies the frame into one
 * reused array, and costs nothing once the samples are taken).
 */
final class TraceFilter implements TraceBuffer.Filter
{
    private final BpfFilter filter;
    private byte[] scratch = new byte[2048];

    private TraceFilter(final BpfFilter filter)
    {
        this.filter = filter;
    }

    /**
     * @param expression a tcpdump filter expression.
     * @return the filter.
     * @throws IllegalArgumentException when libpcap is missing (the message names the Debian package) or the
     *                                  expression does not compile.
     */
    static TraceFilter compile(final String expression)
    {
        return new TraceFilter(BpfFilter.compile(expression));
    }

    /** @return the expression. */
    String expression()
    {
        return filter.expression();
    }

    @Override
    public boolean matches(final PacketPool pool, final int handle)
    {
        final int length = pool.length(handle);
        if (scratch.length < length)
        {
            scratch = new byte[length];
        }
        MemorySegment.copy(pool.memory(), ValueLayout.JAVA_BYTE, pool.frameOffset(handle), scratch, 0, length);
        return filter.matches(scratch, length);
    }
}
