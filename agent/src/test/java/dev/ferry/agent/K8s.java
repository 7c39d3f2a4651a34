package dev.ferry.agent;

import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSliceBuilder;

import java.time.Duration;
import java.util.function.BooleanSupplier;

/** Kubernetes objects for tests, built with fabric8's builders, and a polling helper. */
final class K8s
{
    private K8s()
    {
    }

    /** A flannel-annotated node with InternalIP 192.168.50.(10 + index) and pod CIDR 10.244.index.0/24. */
    static Node node(final String name, final int index)
    {
        final String ip = "192.168.50." + (10 + index);
        return new NodeBuilder().withNewMetadata().withName(name)
            .addToAnnotations("flannel.alpha.coreos.com/backend-data",
                "{\"VNI\":1,\"VtepMAC\":\"8a:5e:11:0c:2d:" + String.format("%02x", index) + "\"}")
            .addToAnnotations("flannel.alpha.coreos.com/backend-type", "vxlan")
            .addToAnnotations("flannel.alpha.coreos.com/public-ip", ip)
            .endMetadata()
            .withNewSpec().withPodCIDR("10.244." + index + ".0/24").endSpec()
            .withNewStatus().addNewAddress().withType("InternalIP").withAddress(ip).endAddress().endStatus()
            .build();
    }

    /** A ClusterIP Service 10.96.(i / 250).(i % 250 + 2), TCP port 80 named http. */
    static Service service(final String namespace, final String name, final int i)
    {
        final String ip = "10.96." + (i / 250) + "." + (i % 250 + 2);
        return new ServiceBuilder().withNewMetadata().withNamespace(namespace).withName(name).endMetadata()
            .withNewSpec().withType("ClusterIP").withClusterIP(ip).addToClusterIPs(ip)
            .addNewPort().withName("http").withProtocol("TCP").withPort(80).withNewTargetPort(8080).endPort()
            .endSpec().build();
    }

    /** An EndpointSlice for a Service with {@code count} ready endpoints 10.244.(node).(first + k) on port 8080. */
    static EndpointSlice slice(final String namespace, final String service, final int nodeIndex, final int first,
        final int count)
    {
        final EndpointSliceBuilder b = new EndpointSliceBuilder().withNewMetadata().withNamespace(namespace)
            .withName(service + "-abc").addToLabels("kubernetes.io/service-name", service).endMetadata()
            .withAddressType("IPv4")
            .addNewPort().withName("http").withProtocol("TCP").withPort(8080).endPort();
        for (int k = 0; k < count; k++)
        {
            b.addNewEndpoint().addToAddresses("10.244." + nodeIndex + "." + (first + k))
                .withNewConditions().withReady(true).withServing(true).withTerminating(false).endConditions()
                .withNodeName("node-" + (char)('a' + nodeIndex - 1)).endEndpoint();
        }
        return b.build();
    }

    /**
     * Asks the agent for a sync and waits until one that started after this call has completed (pushed, or
     * found the tables already on the node): whatever the agent knew at the call has then reached the node or
     * was found there. This proves an absence ("nothing was pushed") by an event, not by sleeping. Two rounds,
     * because the first completion seen may be a sync that was already running at the call.
     */
    static void awaitSyncAfterNow(final Agent agent) throws InterruptedException
    {
        for (int round = 0; round < 2; round++)
        {
            final long before = agent.metrics().syncs();
            agent.syncNow();
            await("a sync requested by syncNow (health: " + agent.health() + ")",
                () -> agent.metrics().syncs() > before, Duration.ofSeconds(10));
        }
    }

    static void await(final String what, final BooleanSupplier condition, final Duration timeout)
        throws InterruptedException
    {
        final long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.getAsBoolean())
        {
            if (System.nanoTime() > deadline)
            {
                throw new AssertionError("timed out after " + timeout.toMillis() + " ms waiting for " + what);
            }
            Thread.sleep(5);
        }
    }
}
