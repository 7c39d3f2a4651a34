package dev.ferry.nodeapi;

/**
 * What the CNI plugin asks for on ADD.
 *
 * @param containerId  CNI container id.
 * @param ifName       interface name inside the pod.
 * @param netns        path of the pod's network namespace.
 * @param podNamespace Kubernetes namespace of the pod.
 * @param podName      pod name.
 * @param ip           the address that IPAM gave the pod.
 * @param mac          the pod interface MAC, or -1 for the CNI convention {@code 0a:58:<ip>}.
 */
public record AttachRequest(String containerId, String ifName, String netns, String podNamespace, String podName,
    int ip, long mac)
{
    /**
     * Checks the fields that name things.
     *
     * @param containerId  container id.
     * @param ifName       interface name.
     * @param netns        namespace path.
     * @param podNamespace pod namespace.
     * @param podName      pod name.
     * @param ip           address.
     * @param mac          MAC or -1.
     */
    public AttachRequest
    {
        if (containerId == null || containerId.isBlank())
        {
            throw new IllegalArgumentException("containerId: required");
        }
        if (ifName == null || ifName.isBlank() || ifName.length() > NodeApi.IFNAMSIZ_MAX)
        {
            throw new IllegalArgumentException("ifName: an interface name of 1 to 15 characters is required");
        }
        if (netns == null || netns.isBlank())
        {
            throw new IllegalArgumentException("netns: required");
        }
        podNamespace = podNamespace == null ? "" : podNamespace;
        podName = podName == null ? "" : podName;
    }
}
