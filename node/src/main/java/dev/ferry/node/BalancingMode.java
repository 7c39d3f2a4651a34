package dev.ferry.node;

import dev.ferry.nat.Nat;

/** How a node's Services pick an endpoint for a new connection ({@code balancing:} in node.yaml). */
public enum BalancingMode
{
    /** Uniformly at random over the usable endpoints, as iptables' {@code statistic} chain does. */
    RANDOM(Nat.Balancing.RANDOM),
    /** Maglev consistent hashing: a flow keeps its endpoint when others come and go. */
    MAGLEV(Nat.Balancing.MAGLEV);

    private final Nat.Balancing nat;

    BalancingMode(final Nat.Balancing nat)
    {
        this.nat = nat;
    }

    /** @return the NAT's choice. */
    public Nat.Balancing nat()
    {
        return nat;
    }
}
