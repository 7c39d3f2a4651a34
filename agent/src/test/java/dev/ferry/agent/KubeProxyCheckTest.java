package dev.ferry.agent;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** The agent's kube-proxy check against fabric8's mock API server (CRUD mode: what is created is listed). */
@EnableKubernetesMockClient(crud = true)
class KubeProxyCheckTest
{
    KubernetesClient client;

    private void create(final String ns, final String name, final String labelKey, final String phase)
    {
        final PodBuilder b = new PodBuilder().withNewMetadata().withNamespace(ns).withName(name).endMetadata()
            .withNewSpec().withNodeName("node-a").endSpec().withNewStatus().withPhase(phase).endStatus();
        if (labelKey != null)
        {
            b.editMetadata().addToLabels(labelKey, "kube-proxy").endMetadata();
        }
        final Pod pod = b.build();
        client.pods().inNamespace(ns).resource(pod).create();
    }

    @Test
    void shouldFindNothingInAClusterWithoutKubeProxy()
    {
        create("kube-system", "coredns-1", null, "Running");
        create("default", "kube-proxy-lookalike", "k8s-app", "Running");
        assertThat(KubeProxyCheck.find(client)).isEmpty();
    }

    @Test
    void shouldFindAKubeadmDaemonSetPod()
    {
        create("kube-system", "kube-proxy-x7k2p", "k8s-app", "Running");
        assertThat(KubeProxyCheck.find(client)).contains("kube-system/kube-proxy-x7k2p on node-a");
    }

    @Test
    void shouldFindAStaticPodByItsComponentLabel()
    {
        create("kube-system", "proxy-gke-node-a", "component", "Pending");
        assertThat(KubeProxyCheck.find(client)).contains("kube-system/proxy-gke-node-a on node-a");
    }

    @Test
    void shouldIgnoreAnEndedPod()
    {
        create("kube-system", "kube-proxy-old", "k8s-app", "Failed");
        assertThat(KubeProxyCheck.find(client)).isEmpty();
    }

    @Test
    void shouldSayWhatToDo()
    {
        assertThat(KubeProxyCheck.refusal("kube-system/kube-proxy-a on n")).contains("--allow-kube-proxy",
            "delete daemonset kube-proxy", "kube-system/kube-proxy-a on n");
    }
}
