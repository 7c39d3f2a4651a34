package dev.ferry.agent;

import dev.ferry.core.tables.ServiceInfo;
import dev.ferry.nodeapi.NodeTablesJson;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** spec.healthCheckNodePort reaches the node's tables for externalTrafficPolicy Local only, and survives JSON. */
class HealthCheckNodePortCompileTest
{
    private static ServiceInfo compile(final String policy)
    {
        final ClusterState.Builder b = ClusterState.builder();
        ManifestLoader.parse("cluster.yaml", """
            {apiVersion: v1, kind: Node, metadata: {name: node-a}, spec: {podCIDR: 10.244.1.0/24}}
            ---
            {apiVersion: v1, kind: Service, metadata: {name: web, namespace: shop},
             spec: {type: LoadBalancer, clusterIP: 10.96.0.30, externalTrafficPolicy: %s, healthCheckNodePort: 32100,
                    ports: [{name: http, port: 80, nodePort: 30080, targetPort: 8080}]}}
            """.formatted(policy), b, note -> { });
        return NodeTablesCompiler.compile(b.build(), "node-a", 1).services().getFirst();
    }

    @Test
    void shouldCarryTheHealthCheckNodePortOfALocalPolicyService()
    {
        final ServiceInfo local = compile("Local");
        assertThat(local.healthCheckNodePort()).isEqualTo(32100);
        assertThat(compile("Cluster").healthCheckNodePort()).as("kube-proxy serves it for Local only").isZero();
    }

    @Test
    void shouldRoundTripThroughTheTablesJson()
    {
        final ClusterState.Builder b = ClusterState.builder();
        ManifestLoader.parse("cluster.yaml", """
            {apiVersion: v1, kind: Node, metadata: {name: node-a}, spec: {podCIDR: 10.244.1.0/24}}
            ---
            {apiVersion: v1, kind: Service, metadata: {name: web, namespace: shop},
             spec: {type: LoadBalancer, clusterIP: 10.96.0.30, externalTrafficPolicy: Local, healthCheckNodePort: 32100,
                    ports: [{name: http, port: 80, nodePort: 30080, targetPort: 8080}]}}
            """, b, note -> { });
        final var tables = NodeTablesCompiler.compile(b.build(), "node-a", 1);
        final String json = NodeTablesJson.encode(tables).toString();

        assertThat(json).contains("\"healthCheckNodePort\":32100");
        assertThat(NodeTablesJson.parse(json).services().getFirst().healthCheckNodePort()).isEqualTo(32100);
    }
}
