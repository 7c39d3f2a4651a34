package dev.ferry.agent;

import dev.ferry.core.route.Ip4;
import dev.ferry.core.route.Ip4Prefix;
import dev.ferry.core.tables.NodeTables;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.api.model.rbac.ClusterRole;
import io.fabric8.kubernetes.api.model.rbac.ClusterRoleBinding;
import io.fabric8.kubernetes.api.model.rbac.PolicyRule;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/** {@code deploy/} parsed with fabric8's model classes: RBAC, the DaemonSet's mounts and privileges, the CNI config. */
class DeployManifestsTest
{
    private static final Path DEPLOY = Path.of("../deploy");
    private static final KubernetesSerialization SERIALIZATION = new KubernetesSerialization();

    @TempDir
    Path tmp;

    private static List<HasMetadata> load(final String file) throws Exception
    {
        final List<HasMetadata> out = new ArrayList<>();
        for (final String doc : Files.readString(DEPLOY.resolve(file)).split("(?m)^---$"))
        {
            out.add(SERIALIZATION.unmarshal(doc, HasMetadata.class));
        }
        return out;
    }

    private static <T> T only(final List<HasMetadata> objects, final Class<T> type)
    {
        final List<T> found = objects.stream().filter(type::isInstance).map(type::cast).toList();
        assertThat(found).as(type.getSimpleName()).hasSize(1);
        return found.getFirst();
    }

    @Test
    void shouldGrantListAndWatchOnWhatTheAgentReadsAndPatchOnNodeStatusOnly() throws Exception
    {
        final List<HasMetadata> rbac = load("rbac.yaml");
        final ServiceAccount sa = only(rbac, ServiceAccount.class);
        final ClusterRole role = only(rbac, ClusterRole.class);
        final ClusterRoleBinding binding = only(rbac, ClusterRoleBinding.class);

        final Map<String, List<String>> verbsByResource = role.getRules().stream()
            .flatMap(r -> r.getResources().stream().map(res -> Map.entry(group(r) + res, r.getVerbs())))
            .collect(Collectors.toMap(Map.Entry::getKey, Map.Entry::getValue));
        assertThat(verbsByResource).containsOnlyKeys("nodes", "pods", "services", "configmaps",
            "discovery.k8s.io/endpointslices", "networking.k8s.io/servicecidrs", "nodes/status");
        // the agent's only write is its own Node's flannel annotations, through nodes/status as flanneld does
        assertThat(verbsByResource.remove("nodes/status")).as("nodes/status").containsExactly("patch");
        assertThat(verbsByResource.values()).allSatisfy(v ->
            assertThat(v).as("read only").containsExactlyInAnyOrder("get", "list", "watch"));
        assertThat(binding.getRoleRef().getName()).isEqualTo(role.getMetadata().getName());
        assertThat(binding.getSubjects()).singleElement().satisfies(s ->
        {
            assertThat(s.getName()).isEqualTo(sa.getMetadata().getName());
            assertThat(s.getNamespace()).isEqualTo(sa.getMetadata().getNamespace());
        });
        final DaemonSet ds = only(load("daemonset.yaml"), DaemonSet.class);
        assertThat(ds.getSpec().getTemplate().getSpec().getServiceAccountName()).isEqualTo(sa.getMetadata().getName());
    }

    private static String group(final PolicyRule r)
    {
        final String g = r.getApiGroups().getFirst();
        return g.isEmpty() ? "" : g + "/";
    }

    @Test
    void shouldRunNodeAndAgentOnTheHostNetworkWithTheirMounts() throws Exception
    {
        final DaemonSet ds = only(load("daemonset.yaml"), DaemonSet.class);
        final PodSpec pod = ds.getSpec().getTemplate().getSpec();
        assertThat(pod.getHostNetwork()).as("hostNetwork").isTrue();
        final Map<String, String> hostPaths = pod.getVolumes().stream().filter(v -> v.getHostPath() != null)
            .collect(Collectors.toMap(Volume::getName, v -> v.getHostPath().getPath()));
        assertThat(hostPaths).containsEntry("run-ferry", "/run/ferry").containsEntry("dev-net-tun", "/dev/net/tun")
            .containsEntry("cni-bin", "/opt/cni/bin").containsEntry("cni-conf", "/etc/cni/net.d");

        final Container node = container(pod.getContainers(), "ferry-node");
        assertThat(node.getSecurityContext().getPrivileged()).as("named capabilities, not privileged").isNull();
        assertThat(node.getSecurityContext().getCapabilities().getDrop()).containsExactly("ALL");
        assertThat(node.getSecurityContext().getCapabilities().getAdd()).as("TAPs and tc; AF_PACKET")
            .containsExactlyInAnyOrder("NET_ADMIN", "NET_RAW");
        assertThat(mounts(node)).containsEntry("run-ferry", "/run/ferry").containsEntry("dev-net-tun", "/dev/net/tun");
        assertThat(String.join(" ", node.getArgs())).contains("ferry node --config").doesNotContain("eth0");
        assertThat(node.getLivenessProbe().getHttpGet().getPath()).isEqualTo("/livez");
        assertThat(node.getReadinessProbe().getHttpGet().getPath()).isEqualTo("/healthz");
        assertThat(node.getReadinessProbe().getHttpGet().getPort().getIntVal()).as("kube-proxy's healthz port")
            .isEqualTo(10256);
        assertThat(node.getResources().getLimits()).containsKey("memory");
        assertThat(env(node, "FERRY_JAVA_OPTS")).contains("-Xmx");
        assertThat(pod.getPriorityClassName()).isEqualTo("system-node-critical");
        assertThat(pod.getTolerations()).singleElement().satisfies(t ->
        {
            assertThat(t.getOperator()).isEqualTo("Exists");
            assertThat(t.getKey()).as("every taint").isNull();
        });
        assertThat(pod.getNodeSelector()).containsExactly(Map.entry("kubernetes.io/os", "linux"));
        assertThat(ds.getSpec().getUpdateStrategy().getRollingUpdate().getMaxUnavailable().getIntVal()).isEqualTo(1);

        final Container agent = container(pod.getContainers(), "ferry-agent");
        assertThat(agent.getCommand()).containsExactly("ferry", "agent");
        assertThat(mounts(agent)).as("the agent reaches the node's socket").containsEntry("run-ferry", "/run/ferry");
        assertThat(agent.getSecurityContext().getRunAsUser()).as("root: the socket is 0600 root").isZero();
        assertThat(agent.getArgs()).contains("--node-socket=/run/ferry/ferry.sock", "--metrics-port=9732",
            "--metrics-bind-address=127.0.0.1").noneMatch(a -> a.contains("10249"));
        assertThat(agent.getEnv()).anySatisfy(e ->
        {
            assertThat(e.getName()).isEqualTo("NODE_NAME");
            assertThat(e.getValueFrom().getFieldRef().getFieldPath()).isEqualTo("spec.nodeName");
        });
        assertThat(agent.getLivenessProbe().getHttpGet().getPath()).isEqualTo("/healthz");
        assertThat(agent.getLivenessProbe().getHttpGet().getHost()).isEqualTo("127.0.0.1");
        assertThat(agent.getLivenessProbe().getHttpGet().getPort().getIntVal()).as("the agent's metrics port")
            .isEqualTo(9732);

        assertThat(env(agent, "FERRY_JAVA_OPTS")).contains("-Xmx");
        assertThat(pod.getContainers()).allSatisfy(c ->
        {
            assertThat(c.getSecurityContext().getReadOnlyRootFilesystem()).as(c.getName()).isTrue();
            assertThat(c.getSecurityContext().getAllowPrivilegeEscalation()).as(c.getName()).isFalse();
        });

        final Container install = container(pod.getInitContainers(), "install-cni");
        assertThat(mounts(install)).containsValue("/host/opt/cni/bin");
        assertThat(install.getCommand()).as("the image's installer (deploy/image/install-cni)")
            .containsExactly("/opt/ferry/bin/install-cni", "/host/opt/cni/bin");
        assertThat(Path.of("../deploy/image/install-cni")).isExecutable();
    }

    @Test
    void shouldFillTheUplinkAtStartInsteadOfNamingOne() throws Exception
    {
        final ConfigMap cm = only(load("configmap.yaml"), ConfigMap.class);
        assertThat(cm.getData().get("node.yaml.tmpl")).contains("uplink: UPLINK").doesNotContain("eth0");
        assertThat(cm.getData()).containsKey("uplink");
        final Container node = container(only(load("daemonset.yaml"), DaemonSet.class).getSpec().getTemplate()
            .getSpec().getContainers(), "ferry-node");
        assertThat(String.join(" ", node.getArgs())).contains("ip -4 -o route get", "s/UPLINK/");
    }

    @Test
    void shouldRunTheNodeUnderTheSupervisorThatGivesTheNicBack() throws Exception
    {
        final Container node = container(only(load("daemonset.yaml"), DaemonSet.class).getSpec().getTemplate()
            .getSpec().getContainers(), "ferry-node");
        final String script = String.join(" ", node.getArgs());
        assertThat(script).as("ferry-supervise starts ferry node, on the uplink found above")
            .contains("exec ferry-supervise --state-dir /run/ferry \"$uplink\" -- ferry node"
                + " --config /run/ferry/node.yaml")
            .doesNotContain("exec ferry node");
        assertThat(Files.readString(Path.of("../deploy/image/build.sh")))
            .as("the image ships it on the PATH (/opt/ferry/bin)")
            .contains("install -m 0755 \"$repo/deploy/ferry-supervise\" \"$app/opt/ferry/bin/ferry-supervise\"");
        assertThat(Path.of("../deploy/ferry-supervise")).isExecutable();
        assertThat(Files.readString(Path.of("../deploy/ferry-supervise"))).as("the image's base has no awk")
            .doesNotContain("awk ");
    }

    /** Strict parsing: fabric8 keeps fields it does not know in additionalProperties; a typo lands there. */
    @Test
    void shouldHaveNoFieldTheKubernetesModelDoesNotKnow() throws Exception
    {
        try (Stream<Path> files = Files.list(DEPLOY))
        {
            final List<Path> yamls = files.filter(f -> f.toString().endsWith(".yaml")).sorted().toList();
            assertThat(yamls).hasSizeGreaterThanOrEqualTo(3);
            for (final Path f : yamls)
            {
                for (final HasMetadata o : load(f.getFileName().toString()))
                {
                    final List<String> unknown = new ArrayList<>();
                    unknownFields(o, f.getFileName() + ":" + o.getKind(), unknown, new IdentityHashMap<>());
                    assertThat(unknown).as("fields the Kubernetes model does not know").isEmpty();
                }
            }
        }
    }

    @Test
    void shouldDetectAnUnknownField()
    {
        final HasMetadata typo = SERIALIZATION.unmarshal("""
            apiVersion: apps/v1
            kind: DaemonSet
            metadata: {name: x}
            spec:
              template:
                spec:
                  containers:
                  - name: c
                    securityContext: {capabilites: {add: [NET_ADMIN]}}
            """, HasMetadata.class);
        final List<String> unknown = new ArrayList<>();
        unknownFields(typo, "typo", unknown, new IdentityHashMap<>());
        assertThat(unknown).singleElement().asString().endsWith("capabilites");
    }

    private static void unknownFields(final Object o, final String at, final List<String> out,
        final IdentityHashMap<Object, Boolean> seen)
    {
        if (o == null || seen.put(o, Boolean.TRUE) != null)
        {
            return;
        }
        if (o instanceof final Iterable<?> list)
        {
            list.forEach(e -> unknownFields(e, at + "[]", out, seen));
            return;
        }
        if (o instanceof final Map<?, ?> map)
        {
            map.forEach((k, v) -> unknownFields(v, at + "." + k, out, seen));
            return;
        }
        if (!o.getClass().getName().startsWith("io.fabric8.kubernetes.api.model"))
        {
            return;
        }
        for (final Method m : o.getClass().getMethods())
        {
            if (m.getParameterCount() != 0 || !m.getName().startsWith("get") || m.getName().equals("getClass"))
            {
                continue;
            }
            try
            {
                final Object v = m.invoke(o);
                if (m.getName().equals("getAdditionalProperties"))
                {
                    ((Map<?, ?>)v).keySet().forEach(k -> out.add(at + "." + k));
                }
                else
                {
                    unknownFields(v, at + "." + m.getName().substring(3), out, seen);
                }
            }
            catch (final ReflectiveOperationException e)
            {
                throw new AssertionError(e);
            }
        }
    }

    private static String env(final Container c, final String name)
    {
        return c.getEnv().stream().filter(e -> name.equals(e.getName())).findFirst()
            .orElseThrow(() -> new AssertionError("no env " + name + " in " + c.getName())).getValue();
    }

    @Test
    void shouldShipAConflistTheAgentCompletesWithThePodCidr() throws Exception
    {
        final ConfigMap cm = only(load("configmap.yaml"), ConfigMap.class);
        final String template = cm.getData().get("10-ferry.conflist");
        assertThat(template).isEqualTo(Files.readString(DEPLOY.resolve("10-ferry.conflist")));
        assertThat(cm.getData().get("node.yaml.tmpl")).contains("nodeName: NODE_NAME", "apiSocket: /run/ferry/ferry.sock",
            "metricsPort: 9731", "metricsBindAddress: 127.0.0.1");

        final Path tpl = Files.writeString(tmp.resolve("tpl.conflist"), template);
        final Path out = tmp.resolve("10-ferry.conflist");
        final CniConfigWriter writer = new CniConfigWriter(tpl, out);
        final NodeTables tables = NodeTablesCompiler.compile(ManifestLoader.load(Path.of("src/test/resources/two-node"),
            n -> { }), "node-a", 1);
        assertThat(writer.write(tables)).as("first write").isTrue();
        assertThat(writer.write(tables)).as("unchanged: not rewritten").isFalse();
        final JsonNode conf = JsonMapper.builder().build().readTree(Files.readString(out));
        assertThat(conf.path("cniVersion").asString()).isEqualTo("1.1.0");
        final JsonNode ferry = conf.path("plugins").get(0);
        assertThat(ferry.path("type").asString()).isEqualTo("ferry");
        final JsonNode range = ferry.path("ipam").path("ranges").get(0).get(0);
        assertThat(range.path("subnet").asString()).isEqualTo(Ip4Prefix.parse("10.244.1.0/24").toString());
        assertThat(range.path("gateway").asString()).isEqualTo(Ip4.format(Ip4.parse("10.244.1.1")));
    }

    private static Container container(final List<Container> containers, final String name)
    {
        return containers.stream().filter(c -> name.equals(c.getName())).findFirst()
            .orElseThrow(() -> new AssertionError("no container " + name));
    }

    private static Map<String, String> mounts(final Container c)
    {
        return c.getVolumeMounts().stream().collect(Collectors.toMap(VolumeMount::getName, VolumeMount::getMountPath));
    }
}
