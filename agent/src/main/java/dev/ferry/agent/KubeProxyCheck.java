package dev.ferry.agent;

import io.fabric8.kubernetes.api.model.ObjectMeta;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;

import java.util.Map;
import java.util.Optional;

/**
 * Finds a running kube-proxy: two dataplanes would fight over every Service IP (kube-proxy's iptables or IPVS
 * rules see the packets the kernel still handles, ferry those on its ports), so the agent refuses to start
 * beside one unless told otherwise. kube-proxy runs as pods in kube-system: a DaemonSet's pods labelled
 * {@code k8s-app=kube-proxy} (kubeadm, kops, EKS, AKS) or static pods labelled {@code component=kube-proxy}
 * (GKE), named {@code kube-proxy-…} in both. Reading pods is what the agent's role already allows.
 */
public final class KubeProxyCheck
{
    private static final String NAMESPACE = "kube-system";

    private KubeProxyCheck()
    {
    }

    /**
     * @param client the API client.
     * @return the first kube-proxy pod found that has not ended, as {@code kube-system/NAME on NODE}.
     */
    public static Optional<String> find(final KubernetesClient client)
    {
        return client.pods().inNamespace(NAMESPACE).list().getItems().stream()
            .filter(KubeProxyCheck::isKubeProxy)
            .filter(p -> p.getStatus() == null || !isEnded(p.getStatus().getPhase()))
            .map(p -> NAMESPACE + "/" + p.getMetadata().getName()
                + (p.getSpec() != null && p.getSpec().getNodeName() != null ? " on " + p.getSpec().getNodeName() : ""))
            .findFirst();
    }

    static boolean isKubeProxy(final Pod pod)
    {
        final ObjectMeta meta = pod.getMetadata();
        final Map<String, String> labels = meta.getLabels() == null ? Map.of() : meta.getLabels();
        return "kube-proxy".equals(labels.get("k8s-app")) || "kube-proxy".equals(labels.get("component"))
            || meta.getName() != null && meta.getName().startsWith("kube-proxy-");
    }

    private static boolean isEnded(final String phase)
    {
        return "Succeeded".equals(phase) || "Failed".equals(phase);
    }

    /**
     * @param found what {@link #find} found.
     * @return the refusal, with what to do.
     */
    public static String refusal(final String found)
    {
        return "kube-proxy is running (" + found + "): it and ferry would both serve every Service IP. Remove it "
            + "first (kubectl -n kube-system delete daemonset kube-proxy; then on each node kube-proxy --cleanup, "
            + "or reboot, to remove its iptables/IPVS rules), or start the agent with --allow-kube-proxy to run "
            + "both during a migration";
    }
}
