package dev.ferry.lab;

import java.util.List;

/**
 * The lab's names and addresses, in one place (issue 5; the lab benchmark's {@code labtool.py} uses the same
 * addresses).
 *
 * <pre>
 *   ferry-ext   fl-ext 203.0.113.2/24 + 192.168.50.1/24 (node1's default gateway), default via 203.0.113.1
 *      │ veth
 *   ferry-node1 fl-x1 ─┐
 *                      ├─ fl-br1 bridge = ferry's uplink (MAC 0a:58:c0:a8:32:0b); node IPs 192.168.50.11, 203.0.113.1
 *      ┌─ fl-n1 ───────┘
 *      │ veth (underlay 192.168.50.0/24)
 *   ferry-node2 fl-n2 = ferry's uplink (MAC 0a:58:c0:a8:32:0c); node IP 192.168.50.12
 *
 *   pods: ferry-pod-p11 10.244.1.2 (client), ferry-pod-p12 10.244.1.3 (server) on node1;
 *         ferry-pod-p21 10.244.2.2 (server) on node2
 * </pre>
 *
 * @param prefix      namespace prefix ({@code ferry-}): nodes are prefix + node1/node2/ext.
 * @param podPrefix   pod namespace prefix ({@code ferry-pod-}).
 * @param linkPrefix  prefix of every link the lab creates ({@code fl-}).
 * @param stateDirName directory name under /run for the lab's state.
 */
public record LabSpec(String prefix, String podPrefix, String linkPrefix, String stateDirName)
{
    /** Underlay subnet. */
    public static final String UNDERLAY_CIDR = "192.168.50.0/24";
    /** Cluster (pod) network. */
    public static final String CLUSTER_CIDR = "10.244.0.0/16";
    /** Service CIDR. */
    public static final String SERVICE_CIDR = "10.96.0.0/12";
    /** External network. */
    public static final String EXT_CIDR = "203.0.113.0/24";
    /** The external host's address. */
    public static final String EXT_IP = "203.0.113.2";
    /** The external host's address on the underlay: node1's default gateway (the host routes for 203.0.113.0/24). */
    public static final String EXT_ROUTER_IP = "192.168.50.1";
    /** The external host's MAC (fixed, so that captures are easy to read). */
    public static final String EXT_MAC = "0a:58:cb:00:71:07";
    /** Node 1's address on the external network (the external host's gateway). */
    public static final String EXT_GATEWAY = "203.0.113.1";
    /** Underlay MTU; pods get 50 less. */
    public static final int UNDERLAY_MTU = 1500;
    /** VXLAN network identifier (flannel's default). */
    public static final int VNI = 1;
    /** VXLAN UDP port (flannel's default when net-conf.json sets none). */
    public static final int VXLAN_PORT = 8472;

    /** The web Service's ClusterIP. */
    public static final String WEB_VIP = "10.96.0.10";
    /** The web Service's port. */
    public static final int WEB_PORT = 80;
    /** The web pods' port. */
    public static final int WEB_TARGET = 8080;
    /** The web Service's NodePort. */
    public static final int WEB_NODEPORT = 30080;
    /** The UDP echo Service's ClusterIP. */
    public static final String ECHO_VIP = "10.96.0.11";
    /** The UDP echo Service's port. */
    public static final int ECHO_PORT = 7;
    /** The UDP echo pods' port. */
    public static final int ECHO_TARGET = 7007;
    /** iperf3's port in the server pods. */
    public static final int IPERF_PORT = 5201;

    /**
     * One lab node.
     *
     * @param name       node name ({@code node1}).
     * @param ip         underlay address (InternalIP).
     * @param mac        uplink MAC.
     * @param podCidr    pod CIDR.
     * @param gateway    pods' gateway (first address of the pod CIDR).
     * @param vtepMac    flannel VTEP MAC.
     * @param uplink     the uplink link name inside the node namespace.
     */
    public record Node(String name, String ip, String mac, String podCidr, String gateway, String vtepMac,
        String uplink)
    {
    }

    /**
     * One lab pod.
     *
     * @param name    pod name ({@code p11}).
     * @param node    its node's name.
     * @param ip      the address host-local gives it (pods are created in order, so the sequence is known).
     * @param server  whether it runs the web, UDP echo and iperf3 servers.
     */
    public record Pod(String name, String node, String ip, boolean server)
    {
    }

    /** @return the standard lab: namespaces {@code ferry-node1}, {@code ferry-node2}, {@code ferry-ext}. */
    public static LabSpec standard()
    {
        return new LabSpec("ferry-", "ferry-pod-", "fl-", "ferry-lab");
    }

    /**
     * A lab under another namespace prefix (the lab benchmark's {@code ferry-bench-}): pods are then named
     * prefix + pod name, as the benchmark expects.
     *
     * @param p the prefix.
     * @return the spec.
     */
    public static LabSpec withPrefix(final String p)
    {
        if ("ferry-".equals(p))
        {
            return standard();
        }
        if (!p.matches("ferry-[a-z0-9-]*"))
        {
            throw new IllegalArgumentException("--prefix must start with 'ferry-' and use a-z, 0-9 and '-': " + p);
        }
        return new LabSpec(p, p, "fl-", p + "lab");
    }

    /** @return node 1 (ferry, with the external host behind it). */
    public Node node1()
    {
        return new Node("node1", "192.168.50.11", "0a:58:c0:a8:32:0b", "10.244.1.0/24", "10.244.1.1",
            "0e:fb:00:00:01:01", linkPrefix + "br1");
    }

    /** @return node 2. */
    public Node node2()
    {
        return new Node("node2", "192.168.50.12", "0a:58:c0:a8:32:0c", "10.244.2.0/24", "10.244.2.1",
            "0e:fb:00:00:02:01", linkPrefix + "n2");
    }

    /** @return both nodes. */
    public List<Node> nodes()
    {
        return List.of(node1(), node2());
    }

    /**
     * @param name node name.
     * @return the node.
     */
    public Node node(final String name)
    {
        return nodes().stream().filter(n -> n.name().equals(name)).findFirst()
            .orElseThrow(() -> new IllegalArgumentException("no lab node " + name));
    }

    /** @return the pods, in creation order. */
    public List<Pod> pods()
    {
        return List.of(new Pod("p11", "node1", "10.244.1.2", false), new Pod("p12", "node1", "10.244.1.3", true),
            new Pod("p21", "node2", "10.244.2.2", true));
    }

    /**
     * @param name pod name.
     * @return the pod.
     */
    public Pod pod(final String name)
    {
        return pods().stream().filter(p -> p.name().equals(name)).findFirst()
            .orElseThrow(() -> new IllegalArgumentException("no lab pod " + name));
    }

    /**
     * @param node a node name.
     * @return its namespace.
     */
    public String nodeNs(final String node)
    {
        return prefix + node;
    }

    /** @return the external host's namespace. */
    public String extNs()
    {
        return prefix + "ext";
    }

    /**
     * @param pod a pod name.
     * @return its namespace.
     */
    public String podNs(final String pod)
    {
        return podPrefix + pod;
    }

    /**
     * @param ns a namespace name.
     * @return whether the lab owns it by name (its nodes, its external host, any of its pods).
     */
    public boolean owns(final String ns)
    {
        return ns.equals(nodeNs("node1")) || ns.equals(nodeNs("node2")) || ns.equals(extNs())
            || (ns.startsWith(podPrefix) && !ns.equals(nodeNs("node1")) && !ns.equals(nodeNs("node2"))
            && !ns.equals(extNs()) && ns.length() > podPrefix.length());
    }
}
