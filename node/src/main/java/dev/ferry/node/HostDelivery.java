package dev.ferry.node;

import dev.ferry.core.Stage;

import java.util.List;

/**
 * Host delivery: {@code host-output} after ip4-lookup, so that ip4-local hands traffic for the node's own
 * addresses up the host TAP ({@code ferry0}) to the kernel's stack (kubelet, sshd) instead of dropping it.
 */
final class HostDelivery implements NodeFeature
{
    private final int hostPort;
    private final long ferryMac;
    private final long kernelMac;

    /**
     * @param hostPort  id of the host TAP port.
     * @param ferryMac  ferry's MAC on the host TAP.
     * @param kernelMac the kernel's MAC on the host TAP.
     */
    HostDelivery(final int hostPort, final long ferryMac, final long kernelMac)
    {
        this.hostPort = hostPort;
        this.ferryMac = ferryMac;
        this.kernelMac = kernelMac;
    }

    @Override
    public String name()
    {
        return "host";
    }

    @Override
    public List<Stage> afterLookup(final Context c)
    {
        return List.of(new HostOutput(c.pool(), hostPort, ferryMac, kernelMac));
    }
}
