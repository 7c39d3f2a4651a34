package dev.ferry.node;

import java.io.IOException;
import java.io.UncheckedIOException;

import org.agrona.concurrent.IdleStrategy;

/**
 * The API agent's own thread ({@link ThreadingMode#DEDICATED}): after a duty cycle with no work it blocks in the
 * agent's selector ({@link ApiAgent#await()}) instead of parking on a timer, so an idle node's API thread is not
 * woken a thousand times a second, and a request is read as soon as it arrives.
 */
final class ApiIdleStrategy implements IdleStrategy
{
    private final ApiAgent api;

    ApiIdleStrategy(final ApiAgent api)
    {
        this.api = api;
    }

    @Override
    public void idle(final int workCount)
    {
        if (workCount > 0)
        {
            return;
        }
        idle();
    }

    @Override
    public void idle()
    {
        try
        {
            api.await();
        }
        catch (final IOException e)
        {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public void reset()
    {
        // nothing to reset: every wait blocks until input or the upkeep
    }

    @Override
    public String alias()
    {
        return "api-select";
    }
}
