package dev.ferry.agent;

import io.fabric8.kubernetes.api.model.IntOrString;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ManifestLoaderTest
{
    private static final String NODE_A = """
        apiVersion: v1
        kind: Node
        metadata: {name: node-a}
        spec: {podCIDR: 10.244.1.0/24}
        status: {addresses: [{type: InternalIP, address: 192.168.50.11}]}
        """;

    private final List<String> notes = new ArrayList<>();

    private ClusterState parse(final String file, final String text)
    {
        final ClusterState.Builder b = ClusterState.builder();
        ManifestLoader.parse(file, text, b, notes::add);
        return ManifestLoader.validate(b.build());
    }

    @Test
    void shouldReadEveryDocumentOfAMultiDocumentFile()
    {
        final ClusterState s = parse("cluster.yaml", NODE_A + """
            ---
            # a comment-only document, then an empty one
            ---
            ---
            apiVersion: v1
            kind: Pod
            metadata: {name: web-1, namespace: default}
            spec: {nodeName: node-a, containers: [{name: web, image: web}]}
            status: {podIP: 10.244.1.2}
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: web, namespace: default}
            spec:
              clusterIP: 10.96.0.10
              ports: [{name: http, port: 80, targetPort: http}]
            """);

        assertThat(s.nodes()).extracting(n -> n.getMetadata().getName()).containsExactly("node-a");
        assertThat(s.pods()).extracting(p -> p.getStatus().getPodIP()).containsExactly("10.244.1.2");
        assertThat(s.services().getFirst().getSpec().getPorts().getFirst().getTargetPort())
            .isEqualTo(new IntOrString("http"));
        assertThat(s.sourceOf(s.services().getFirst())).isEqualTo("cluster.yaml");
        assertThat(notes).isEmpty();
    }

    @Test
    void shouldExpandKubectlListsAndTypedLists()
    {
        final ClusterState s = parse("dump.yaml", """
            apiVersion: v1
            kind: List
            metadata: {resourceVersion: ""}
            items:
            - apiVersion: v1
              kind: Node
              metadata: {name: node-a}
            - apiVersion: v1
              kind: Node
              metadata: {name: node-b}
            ---
            apiVersion: v1
            kind: ServiceList
            items:
            - apiVersion: v1
              kind: Service
              metadata: {name: web, namespace: default}
              spec: {clusterIP: 10.96.0.10, ports: [{port: 80}]}
            """);

        assertThat(s.nodes()).extracting(n -> n.getMetadata().getName()).containsExactly("node-a", "node-b");
        assertThat(s.services()).hasSize(1);
    }

    @Test
    void shouldSkipUnknownKindsWithOneLineNote()
    {
        final ClusterState s = parse("apps.yaml", """
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: web, namespace: shop}
            spec: {replicas: 2}
            ---
            apiVersion: v1
            kind: Namespace
            metadata: {name: shop}
            ---
            apiVersion: example.com/v1
            kind: Service
            metadata: {name: not-core, namespace: shop}
            """);

        assertThat(s.services()).isEmpty();
        assertThat(notes).containsExactly(
            "skipping Deployment shop/web in apps.yaml: kind not used by ferry",
            "skipping Namespace shop in apps.yaml: kind not used by ferry",
            "skipping Service shop/not-core in apps.yaml: kind not used by ferry");
    }

    @Test
    void shouldNameFileObjectAndFieldOfABadCidr()
    {
        assertThatThrownBy(() -> parse("nodes.yaml", NODE_A.replace("10.244.1.0/24", "10.244.1.0/33")))
            .isInstanceOf(ManifestException.class)
            .hasMessage("nodes.yaml: Node node-a: spec.podCIDR: not an IPv4 CIDR: '10.244.1.0/33'");
    }

    @Test
    void shouldNameFileObjectAndFieldOfABadAddress()
    {
        assertThatThrownBy(() -> parse("pods.yaml", """
            apiVersion: v1
            kind: Pod
            metadata: {name: web-1, namespace: default}
            spec: {nodeName: node-a}
            status: {podIP: 10.244.1.300}
            """))
            .hasMessage("pods.yaml: Pod default/web-1: status.podIP: not an IPv4 address: '10.244.1.300'");
        assertThatThrownBy(() -> parse("nodes.yaml", NODE_A.replace("address: 192.168.50.11", "address: 192.168.50")))
            .hasMessage("nodes.yaml: Node node-a: status.addresses[0].address: not an IPv4 address: '192.168.50'");
    }

    @Test
    void shouldNameFileObjectAndFieldOfABadPort()
    {
        assertThatThrownBy(() -> parse("services.yaml", """
            apiVersion: v1
            kind: Service
            metadata: {name: web, namespace: default}
            spec:
              clusterIP: 10.96.0.10
              ports: [{name: http, port: 80}, {name: https, port: 70000}]
            """))
            .hasMessage("services.yaml: Service default/web: spec.ports[1].port: not a port number (1-65535): 70000");
    }

    @Test
    void shouldRejectANodePortOutsideTheRangeThatTheApiServerNames()
    {
        assertThatThrownBy(() -> parse("services.yaml", """
            apiVersion: v1
            kind: Service
            metadata: {name: web, namespace: default}
            spec:
              type: NodePort
              clusterIP: 10.96.0.10
              ports: [{port: 80, nodePort: 40000}]
            ---
            apiVersion: v1
            kind: Pod
            metadata: {name: kube-apiserver-cp, namespace: kube-system, labels: {component: kube-apiserver}}
            spec: {containers: [{name: kube-apiserver, command: [kube-apiserver, --service-node-port-range=30000-32767]}]}
            """))
            .hasMessage("services.yaml: Service default/web: spec.ports[0].nodePort: 40000 is outside the NodePort "
                + "range 30000-32767");
    }

    @Test
    void shouldNameTheLineOfMalformedYaml()
    {
        assertThatThrownBy(() -> parse("broken.yaml", """
            apiVersion: v1
            kind: Node
            metadata:
              name: node-a
               labels: {a: b}
            """))
            .isInstanceOf(ManifestException.class)
            .hasMessage("broken.yaml: line 5, column 10: malformed YAML: mapping values are not allowed here");
    }

    @Test
    void shouldNameTheFieldOfAValueOfTheWrongType()
    {
        assertThatThrownBy(() -> parse("services.yaml", """
            apiVersion: v1
            kind: Service
            metadata: {name: web, namespace: default}
            spec:
              ports: [{port: eighty}]
            """))
            .hasMessage("services.yaml: Service default/web: spec.ports[0].port: expected an integer, got 'eighty'");
        assertThatThrownBy(() -> parse("services.yaml", """
            apiVersion: v1
            kind: Service
            metadata: {name: web, namespace: default}
            spec:
              ports: {port: 80}
            """))
            .hasMessage("services.yaml: Service default/web: spec.ports: expected a list, got a mapping");
        assertThatThrownBy(() -> parse("nodes.yaml", """
            apiVersion: v1
            kind: Node
            metadata: {name: node-a}
            spec: {podCIDR: [10.244.1.0/24]}
            """))
            .hasMessage("nodes.yaml: Node node-a: spec.podCIDR: expected a string, got a list");
    }

    @Test
    void shouldNameTheFieldInsideListItemsAndAnnotations()
    {
        assertThatThrownBy(() -> parse("slices.yaml", """
            kind: List
            items:
            - apiVersion: discovery.k8s.io/v1
              kind: EndpointSlice
              metadata: {name: web-x, namespace: default, labels: {kubernetes.io/service-name: web}}
              addressType: IPv4
              endpoints: [{addresses: [10.244.1.2]}, {addresses: [web-1]}]
            """))
            .hasMessage("slices.yaml: EndpointSlice default/web-x: endpoints[1].addresses[0]: not an IPv4 address: "
                + "'web-1'");
        assertThatThrownBy(() -> parse("nodes.yaml", NODE_A.replace("metadata: {name: node-a}",
            "metadata: {name: node-a, annotations: {flannel.alpha.coreos.com/backend-data: '{\"VtepMAC\":\"zz\"}'}}")))
            .hasMessage("nodes.yaml: Node node-a: metadata.annotations[flannel.alpha.coreos.com/backend-data].VtepMAC: "
                + "not a MAC address: 'zz'");
    }

    @Test
    void shouldRejectDocumentsWithoutKindOrName()
    {
        assertThatThrownBy(() -> parse("x.yaml", NODE_A + "---\napiVersion: v1\nmetadata: {name: y}\n"))
            .hasMessage("x.yaml: document 2 (line 7): kind: missing");
        assertThatThrownBy(() -> parse("x.yaml", "apiVersion: v1\nkind: Service\nspec: {clusterIP: 10.96.0.1}\n"))
            .hasMessage("x.yaml: Service document 1 (line 1): metadata.name: missing");
        assertThatThrownBy(() -> parse("x.yaml", "- a\n- b\n"))
            .hasMessage("x.yaml: document 1 (line 1): not a Kubernetes object (a mapping)");
    }

    @Test
    void shouldRejectTheSameObjectTwice(@TempDir final Path dir) throws IOException
    {
        Files.writeString(dir.resolve("a.yaml"), NODE_A);
        Files.writeString(dir.resolve("b.yaml"), NODE_A);

        assertThatThrownBy(() -> ManifestLoader.load(dir, notes::add))
            .hasMessage("b.yaml: Node node-a: metadata.name: defined twice (also in a.yaml)");
    }

    @Test
    void shouldLoadYamlYmlAndJsonFilesOfADirectoryOnly(@TempDir final Path dir) throws IOException
    {
        Files.writeString(dir.resolve("nodes.yml"), NODE_A);
        Files.writeString(dir.resolve("svc.json"), """
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
             "spec": {"clusterIP": "10.96.0.10", "ports": [{"port": 80, "protocol": "TCP"}]}}
            """);
        Files.writeString(dir.resolve("README.md"), "# not a manifest: {");
        Files.createDirectory(dir.resolve("nested.yaml"));

        final ClusterState s = ManifestLoader.load(dir, notes::add);

        assertThat(s.nodes()).hasSize(1);
        assertThat(s.services()).hasSize(1);
        assertThat(s.sourceOf(s.services().getFirst())).isEqualTo("svc.json");
    }

    @Test
    void shouldNameTheLineOfMalformedJson(@TempDir final Path dir) throws IOException
    {
        Files.writeString(dir.resolve("svc.json"), "{\"kind\": \"Service\",\n \"metadata\": {\"name\": }\n}\n");

        assertThatThrownBy(() -> ManifestLoader.load(dir, notes::add))
            .hasMessageStartingWith("svc.json: line 2, column 23: malformed JSON: Unexpected character ('}'");
    }

    @Test
    void shouldLoadADumpOfARealCluster() throws IOException
    {
        final ClusterState s = ManifestLoader.load(Path.of("src/test/resources/real-dump"), notes::add);

        assertThat(s.nodes()).hasSize(2);
        assertThat(s.pods()).hasSize(2);
        assertThat(s.services()).hasSize(2);
        assertThat(s.endpoints()).hasSize(2);
        assertThat(s.endpointSlices()).hasSize(2);
        assertThat(s.configMaps()).hasSize(3);
        assertThat(notes).containsExactly(
            "skipping Deployment kube-system/coredns in cluster.yaml: kind not used by ferry",
            "skipping DaemonSet kube-flannel/kube-flannel-ds in cluster.yaml: kind not used by ferry");
    }

    @Test
    void shouldFailValidationOfBadSettingsAtLoad()
    {
        assertThatThrownBy(() -> parse("flannel.yaml", """
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: kube-flannel-cfg, namespace: kube-flannel}
            data:
              net-conf.json: '{"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan", "VNI": "one"}}'
            """))
            .hasMessage("flannel.yaml: ConfigMap kube-flannel/kube-flannel-cfg: data[net-conf.json].Backend.VNI: "
                + "expected an integer, got \"one\"");
    }
}
