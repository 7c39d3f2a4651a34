package dev.ferry.agent;

import dev.ferry.core.tables.NodeTables;

/** A node that acknowledges every push (tests of what the agent computes and writes, without a dataplane). */
class AckingNodeClient implements NodeClient
{
    private volatile long generation;

    @Override
    public long push(final NodeTables tables)
    {
        generation = tables.generation();
        return generation;
    }

    @Override
    public long generation()
    {
        return generation;
    }

    @Override
    public void close()
    {
    }
}
