package dev.ferry.node;

import dev.ferry.tapio.Port;

/**
 * The name under which features hand the node their ports ({@link NodeFeature#ports}). It adds nothing to
 * tap-io's {@link Port}, the one port contract; a feature's port implements it so that {@code List<NodePort>} is
 * a list of ports. To be deleted once the features return {@link Port} directly.
 */
public interface NodePort extends Port
{
}
