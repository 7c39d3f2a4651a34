package dev.ferry.node;

import dev.ferry.core.route.Ip4;

/**
 * A pod's link, as the CNI plugin asks for it and as the node answers.
 *
 * @param containerId  CNI container id.
 * @param ifName       interface name inside the pod (CNI_IFNAME, e.g. "eth0").
 * @param netns        path of the pod's network namespace.
 * @param podNamespace Kubernetes namespace of the pod.
 * @param podName      pod name.
 * @param ip           pod address.
 * @param mac          pod interface MAC.
 * @param tapName      name of the TAP on ferry's side.
 * @param gatewayIp    the pod's default gateway.
 * @param gatewayMac   the MAC that the pod sees for its gateway (ferry's side of the TAP).
 * @param mtu          the pod's MTU.
 */
public record PodAttachment(
    String containerId,
    String ifName,
    String netns,
    String podNamespace,
    String podName,
    int ip,
    long mac,
    String tapName,
    int gatewayIp,
    long gatewayMac,
    int mtu)
{
    /** @return "containerId/ifName", the attachment's identity. */
    public String key()
    {
        return containerId + "/" + ifName;
    }

    @Override
    public String toString()
    {
        return podNamespace + "/" + podName + " " + Ip4.format(ip) + " on " + tapName;
    }
}
