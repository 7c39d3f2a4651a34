package dev.ferry.node;

import dev.ferry.core.Stage;

import java.util.List;

/**
 * Packet mode's underlay neighbour resolution ({@link Neighbours}) as a graph feature: {@code neighbour-learn} is
 * the uplink's entry stage, in front of ethernet-input, and ip4-rewrite's and the VTEP templates' misses ask for
 * ARP resolution.
 */
final class UnderlayNeighbours implements NodeFeature
{
    private final Neighbours neighbours;

    UnderlayNeighbours(final Neighbours neighbours)
    {
        this.neighbours = neighbours;
    }

    @Override
    public String name()
    {
        return "neighbours";
    }

    @Override
    public List<Stage> inputStages(final Context c)
    {
        c.publisher().onNeighbourMiss(neighbours::want);
        return List.of(neighbours.learnStage());
    }
}
