package dev.ferry.lab;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Writes the lab's cluster as Kubernetes manifests (the shapes of {@code examples/two-node/cluster}): the two
 * Nodes with flannel's annotations, the pods, flannel's and kube-proxy's settings, the ServiceCIDR, and the
 * Services with their EndpointSlices.
 *
 * <ul>
 *   <li>{@code default/web}: ClusterIP 10.96.0.10:80/TCP → 8080 on p12 (node1) and p21 (node2), NodePort
 *       30080;</li>
 *   <li>{@code default/udp-echo}: ClusterIP 10.96.0.11:7/UDP → 7007 on p12 and p21.</li>
 * </ul>
 */
public final class LabManifests
{
    private LabManifests()
    {
    }

    /**
     * Writes the cluster files into a directory.
     *
     * @param spec       the lab.
     * @param dir        the directory (created).
     * @param webBackends the pods behind {@code web} (all servers by default; empty to remove every endpoint).
     * @param echoBackends the pods behind {@code udp-echo}.
     * @throws IOException when a file cannot be written.
     */
    public static void write(final LabSpec spec, final Path dir, final List<String> webBackends,
        final List<String> echoBackends) throws IOException
    {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("nodes.yaml"), nodes(spec));
        Files.writeString(dir.resolve("pods.yaml"), pods(spec));
        Files.writeString(dir.resolve("settings.yaml"), settings());
        Files.writeString(dir.resolve("services.yaml"), services());
        Files.writeString(dir.resolve("endpointslices.yaml"), slices(spec, webBackends, echoBackends));
    }

    /**
     * @param spec the lab.
     * @return the names of the server pods (the default backends).
     */
    public static List<String> servers(final LabSpec spec)
    {
        final List<String> out = new ArrayList<>();
        for (final LabSpec.Pod p : spec.pods())
        {
            if (p.server())
            {
                out.add(p.name());
            }
        }
        return out;
    }

    static String nodes(final LabSpec spec)
    {
        final StringBuilder sb = new StringBuilder("# the lab's two nodes, as kubectl get nodes -o yaml prints them "
            + "(trimmed)\napiVersion: v1\nkind: List\nitems:\n");
        for (final LabSpec.Node n : spec.nodes())
        {
            final boolean first = "node1".equals(n.name());
            sb.append("- apiVersion: v1\n  kind: Node\n  metadata:\n    name: ").append(n.name()).append('\n')
                .append("    annotations:\n")
                .append("      flannel.alpha.coreos.com/backend-data: '{\"VNI\":").append(LabSpec.VNI)
                .append(",\"VtepMAC\":\"").append(n.vtepMac()).append("\"}'\n")
                .append("      flannel.alpha.coreos.com/backend-type: vxlan\n")
                .append("      flannel.alpha.coreos.com/public-ip: ").append(n.ip()).append('\n')
                .append("      ferry.dev/uplink-mac: \"").append(n.mac()).append("\"\n")
                .append("      ferry.dev/underlay-cidr: ").append(LabSpec.UNDERLAY_CIDR).append('\n')
                .append("      ferry.dev/underlay-mtu: \"").append(LabSpec.UNDERLAY_MTU).append("\"\n");
            if (first)
            {
                // the external host is node1's router to the rest of the world
                sb.append("      ferry.dev/underlay-gateway: ").append(LabSpec.EXT_ROUTER_IP).append('\n');
            }
            sb.append("    labels:\n      kubernetes.io/hostname: ").append(n.name()).append('\n')
                .append("  spec:\n    podCIDR: ").append(n.podCidr()).append("\n    podCIDRs:\n    - ")
                .append(n.podCidr()).append('\n')
                .append("  status:\n    addresses:\n    - address: ").append(n.ip())
                .append("\n      type: InternalIP\n");
            if (first)
            {
                sb.append("    - address: ").append(LabSpec.EXT_GATEWAY).append("\n      type: ExternalIP\n");
            }
            sb.append("    - address: ").append(n.name()).append("\n      type: Hostname\n");
        }
        return sb.toString();
    }

    static String pods(final LabSpec spec)
    {
        final StringBuilder sb = new StringBuilder("# the lab's pods; their addresses are the ones host-local "
            + "hands out in creation order\napiVersion: v1\nkind: List\nitems:\n");
        for (final LabSpec.Pod p : spec.pods())
        {
            sb.append("- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: ").append(p.name())
                .append("\n    namespace: default\n    labels:\n      app: ").append(p.server() ? "web" : "client")
                .append("\n  spec:\n    nodeName: ").append(p.node())
                .append("\n    containers:\n    - name: main\n      image: debian:stable-slim\n")
                .append("  status:\n    phase: Running\n    podIP: ").append(p.ip()).append("\n    podIPs:\n    - ip: ")
                .append(p.ip()).append('\n');
        }
        return sb.toString();
    }

    static String settings()
    {
        return """
            # flannel's ConfigMap (vxlan, VNI 1, no Port: 8472) and the Service CIDR
            apiVersion: v1
            kind: ConfigMap
            metadata:
              name: kube-flannel-cfg
              namespace: kube-flannel
            data:
              net-conf.json: |
                {
                  "Network": "%s",
                  "Backend": {
                    "Type": "vxlan"
                  }
                }
            ---
            apiVersion: networking.k8s.io/v1
            kind: ServiceCIDR
            metadata:
              name: kubernetes
            spec:
              cidrs:
              - %s
            """.formatted(LabSpec.CLUSTER_CIDR, LabSpec.SERVICE_CIDR);
    }

    static String services()
    {
        return """
            # web: ClusterIP + NodePort 30080 to pods on both nodes on 8080; udp-echo: UDP 7 to 7007
            apiVersion: v1
            kind: Service
            metadata:
              name: web
              namespace: default
            spec:
              type: NodePort
              clusterIP: %s
              clusterIPs:
              - %s
              selector:
                app: web
              ports:
              - name: http
                port: %d
                protocol: TCP
                targetPort: http
                nodePort: %d
            ---
            apiVersion: v1
            kind: Service
            metadata:
              name: udp-echo
              namespace: default
            spec:
              type: ClusterIP
              clusterIP: %s
              clusterIPs:
              - %s
              selector:
                app: web
              ports:
              - name: echo
                port: %d
                protocol: UDP
                targetPort: %d
            """.formatted(LabSpec.WEB_VIP, LabSpec.WEB_VIP, LabSpec.WEB_PORT, LabSpec.WEB_NODEPORT,
            LabSpec.ECHO_VIP, LabSpec.ECHO_VIP, LabSpec.ECHO_PORT, LabSpec.ECHO_TARGET);
    }

    static String slices(final LabSpec spec, final List<String> web, final List<String> echo)
    {
        return "# what the EndpointSlice controller writes for the Services\n"
            + slice(spec, "web", "web-lab01", "http", LabSpec.WEB_TARGET, "TCP", web)
            + "---\n"
            + slice(spec, "udp-echo", "udp-echo-lab01", "echo", LabSpec.ECHO_TARGET, "UDP", echo);
    }

    private static String slice(final LabSpec spec, final String service, final String name, final String port,
        final int target, final String protocol, final List<String> pods)
    {
        final StringBuilder sb = new StringBuilder("apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
            + "addressType: IPv4\nmetadata:\n  name: " + name + "\n  namespace: default\n  labels:\n"
            + "    kubernetes.io/service-name: " + service + "\n"
            + "    endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io\n");
        if (pods.isEmpty())
        {
            sb.append("endpoints: []\n");
        }
        else
        {
            sb.append("endpoints:\n");
            for (final String p : pods)
            {
                final LabSpec.Pod pod = spec.pod(p);
                sb.append("- addresses:\n  - ").append(pod.ip()).append("\n  conditions:\n    ready: true\n")
                    .append("    serving: true\n    terminating: false\n  nodeName: ").append(pod.node())
                    .append("\n  targetRef:\n    kind: Pod\n    name: ").append(pod.name())
                    .append("\n    namespace: default\n");
            }
        }
        sb.append("ports:\n- name: ").append(port).append("\n  port: ").append(target).append("\n  protocol: ")
            .append(protocol).append('\n');
        return sb.toString();
    }
}
