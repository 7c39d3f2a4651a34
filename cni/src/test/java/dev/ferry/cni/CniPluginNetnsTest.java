package dev.ferry.cni;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The plugin as a runtime runs it, against the real host-local and a fake node that makes real TAPs, with
 * containers as {@code ferry-cni-*} network namespaces. Needs root.
 */
@Tag("netns")
class CniPluginNetnsTest
{
    private static final String HOST_LOCAL_DIR = "/usr/lib/cni";
    private static final String GATEWAY = "10.244.61.1";

    @TempDir
    Path tmp;

    private FakeNode node;
    private final List<String> namespaces = new ArrayList<>();

    @BeforeEach
    void setUp() throws IOException
    {
        assumeTrue(Sh.exec("id", "-u").output().strip().equals("0"),
            "needs root: creates network namespaces and TAPs (run as root, as CI does)");
        assumeTrue(Files.isExecutable(Path.of(HOST_LOCAL_DIR, "host-local")),
            "needs host-local in /usr/lib/cni (apt-get install containernetworking-plugins)");
        node = new FakeNode(tmp.resolve("node.sock"), GATEWAY, 1450);
    }

    @AfterEach
    void tearDown() throws IOException
    {
        if (node != null)
        {
            node.close();
        }
        for (final String ns : namespaces)
        {
            Sh.runQuiet("ip", "netns", "del", ns);
        }
    }

    private String newNetns()
    {
        final String ns = String.format("ferry-cni-%04x", ThreadLocalRandom.current().nextInt(0x10000));
        Sh.run("ip", "netns", "add", ns);
        namespaces.add(ns);
        return ns;
    }

    private static String nsPath(final String ns)
    {
        return "/var/run/netns/" + ns;
    }

    private Map<String, Object> conf(final String version)
    {
        final Map<String, Object> range = new LinkedHashMap<>();
        range.put("subnet", "10.244.61.0/24");
        range.put("gateway", GATEWAY);
        final Map<String, Object> ipam = new LinkedHashMap<>();
        ipam.put("type", "host-local");
        ipam.put("ranges", List.of(List.of(range)));
        ipam.put("routes", List.of(Map.of("dst", "10.96.0.0/12")));
        ipam.put("dataDir", tmp.resolve("ipam").toString());
        final Map<String, Object> c = new LinkedHashMap<>();
        c.put("cniVersion", version);
        c.put("name", "ferry-test");
        c.put("type", "ferry");
        c.put("socket", tmp.resolve("node.sock").toString());
        c.put("stateDir", tmp.resolve("state").toString());
        c.put("ipam", ipam);
        c.put("dns", Map.of("nameservers", List.of("10.96.0.10"), "search", List.of("svc.cluster.local")));
        return c;
    }

    private static Map<String, String> env(final String command, final String containerId, final String ns)
    {
        final Map<String, String> e = new HashMap<>();
        e.put("CNI_COMMAND", command);
        e.put("CNI_CONTAINERID", containerId);
        if (ns != null)
        {
            e.put("CNI_NETNS", nsPath(ns));
        }
        e.put("CNI_IFNAME", "eth0");
        e.put("CNI_PATH", "/nonexistent:" + HOST_LOCAL_DIR);
        e.put("CNI_ARGS", "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-" + containerId);
        return e;
    }

    private static PluginProcess.Run run(final Map<String, String> env, final Map<String, Object> conf)
    {
        return PluginProcess.run(env, Fields.write(conf));
    }

    private List<String> allocations() throws IOException
    {
        final Path dir = tmp.resolve("ipam").resolve("ferry-test");
        if (!Files.isDirectory(dir))
        {
            return List.of();
        }
        try (Stream<Path> s = Files.list(dir))
        {
            return s.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("10.")).sorted().toList();
        }
    }

    private static Object at(final Object o, final Object... path)
    {
        Object cur = o;
        for (final Object p : path)
        {
            cur = p instanceof Integer i ? ((List<?>)cur).get(i) : ((Map<?, ?>)cur).get(p);
        }
        return cur;
    }

    private static String text(final Object o, final Object... path)
    {
        return (String)at(o, path);
    }

    private static List<Object> list(final Object o, final Object... path)
    {
        return new ArrayList<>((List<?>)at(o, path));
    }

    @ParameterizedTest(name = "cniVersion {0}")
    @ValueSource(strings = {"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"})
    void shouldAddConfigureAndDeleteForEveryVersion(final String version) throws IOException
    {
        final String ns = newNetns();
        final PluginProcess.Run add = run(env("ADD", "c1", ns), conf(version));
        assertThat(add.exit()).as(add.toString()).isZero();
        final Map<String, Object> r = add.json();
        assertThat(r.get("cniVersion")).isEqualTo(version);
        final String address = text(r, "ips", 0, "address");
        assertThat(address).as("an address of the subnet with its prefix").matches("10\\.244\\.61\\.\\d+/24");
        final String ip = address.substring(0, address.indexOf('/'));
        final String mac = String.format("0a:58:0a:f4:3d:%02x", Integer.parseInt(ip.substring(ip.lastIndexOf('.') + 1)));
        assertThat(at(r, "interfaces", 0, "name").toString()).isEqualTo("eth0");
        assertThat(at(r, "interfaces", 0, "sandbox").toString()).isEqualTo(nsPath(ns));
        assertThat(at(r, "interfaces", 0, "mac").toString()).isEqualTo(mac);
        assertThat(at(r, "interfaces", 0, "mtu")).as("mtu is a 1.1.0 field")
            .isEqualTo(version.equals("1.1.0") ? 1450 : null);
        assertThat(at(r, "ips", 0, "interface")).isEqualTo(0);
        assertThat(at(r, "ips", 0, "gateway").toString()).isEqualTo(GATEWAY);
        assertThat(at(r, "ips", 0, "version")).as("ips[].version exists before 1.0.0 only")
            .isEqualTo(version.startsWith("0.") ? "4" : null);
        assertThat(list(r, "routes")).containsExactly((Object)Map.of("dst", "0.0.0.0/0", "gw", GATEWAY),
            Map.of("dst", "10.96.0.0/12", "gw", GATEWAY));
        assertThat(list(r, "dns", "nameservers")).containsExactly("10.96.0.10");

        final String link = Sh.run("ip", "-n", ns, "-o", "link", "show", "dev", "eth0");
        assertThat(link).contains("mtu 1450").contains("link/ether " + mac).contains("UP");
        assertThat(Sh.run("ip", "-n", ns, "-o", "-4", "addr", "show", "dev", "eth0")).contains("inet " + address);
        assertThat(Sh.run("ip", "-n", ns, "route")).contains("default via " + GATEWAY + " dev eth0")
            .contains("10.96.0.0/12 via " + GATEWAY + " dev eth0");
        assertThat(allocations()).containsExactly(ip);
        assertThat(node.requests).anySatisfy(q -> assertThat(q).contains("\"op\":\"attach\"")
            .contains("\"podNamespace\":\"default\"").contains("\"podName\":\"web-c1\"")
            .contains("\"ip\":\"" + ip + "\"").contains("\"netns\":\"" + nsPath(ns) + "\""));

        final PluginProcess.Run del = run(env("DEL", "c1", ns), conf(version));
        assertThat(del.exit()).as(del.toString()).isZero();
        assertThat(del.stdout()).isBlank();
        assertThat(Sh.exec("ip", "-n", ns, "link", "show", "dev", "eth0").exit()).as("eth0 deleted").isNotZero();
        assertThat(allocations()).as("address released").isEmpty();
        assertThat(node.attachmentCount()).isZero();

        final PluginProcess.Run again = run(env("DEL", "c1", ns), conf(version));
        assertThat(again.exit()).as("DEL is idempotent: " + again).isZero();
    }

    @ParameterizedTest(name = "cniVersion {0}")
    @ValueSource(strings = {"0.4.0", "1.1.0"})
    void shouldPassCheckUntilTheDefaultRouteIsDeleted(final String version)
    {
        final String ns = newNetns();
        final PluginProcess.Run add = run(env("ADD", "c1", ns), conf(version));
        assertThat(add.exit()).as(add.toString()).isZero();
        final Map<String, Object> conf = conf(version);
        conf.put("prevResult", add.json());

        final PluginProcess.Run ok = run(env("CHECK", "c1", ns), conf);
        assertThat(ok.exit()).as(ok.toString()).isZero();
        assertThat(ok.stdout()).isBlank();

        Sh.run("ip", "-n", ns, "route", "del", "default");
        final PluginProcess.Run bad = run(env("CHECK", "c1", ns), conf);
        assertThat(bad.exit()).isNotZero();
        assertThat(bad.json()).containsEntry("code", 103).containsEntry("cniVersion", version);
        assertThat(bad.json().get("details").toString()).contains("route 0.0.0.0/0 via " + GATEWAY + " dev eth0");
    }

    @Test
    void shouldFailCheckWhenTheNodeLostThePortOrTheMacChanged()
    {
        final String ns = newNetns();
        final PluginProcess.Run add = run(env("ADD", "c1", ns), conf("1.0.0"));
        assertThat(add.exit()).as(add.toString()).isZero();
        final Map<String, Object> conf = conf("1.0.0");
        conf.put("prevResult", add.json());

        Sh.run("ip", "-n", ns, "link", "set", "dev", "eth0", "address", "02:00:00:00:00:01");
        final PluginProcess.Run mac = run(env("CHECK", "c1", ns), conf);
        assertThat(mac.json()).containsEntry("code", 103);
        assertThat(mac.json().get("details").toString()).contains("has MAC 02:00:00:00:00:01");
        Sh.run("ip", "-n", ns, "link", "set", "dev", "eth0", "address", text(add.json(), "interfaces", 0, "mac"));

        final Map<String, Object> detach = NodeClient.request("detach");
        detach.put("containerId", "c1");
        detach.put("ifName", "eth0");
        new NodeClient(tmp.resolve("node.sock")).call(detach);
        final PluginProcess.Run lost = run(env("CHECK", "c1", ns), conf);
        assertThat(lost.exit()).isNotZero();
        assertThat(lost.json()).containsEntry("code", 103);
        assertThat(lost.json().get("details").toString()).contains("the node has no port fc-");
    }

    @Test
    void shouldRefuseCheckBefore040AndWithoutPrevResult()
    {
        final String ns = newNetns();
        final PluginProcess.Run old = run(env("CHECK", "c1", ns), conf("0.3.1"));
        assertThat(old.exit()).isNotZero();
        assertThat(old.json()).containsEntry("code", 1).containsEntry("cniVersion", "0.3.1");
        final PluginProcess.Run none = run(env("CHECK", "c1", ns), conf("1.0.0"));
        assertThat(none.json()).containsEntry("code", 7);
        assertThat(none.json().get("details").toString()).contains("prevResult");
    }

    @Test
    void shouldDeleteAfterTheNamespaceIsGone() throws IOException
    {
        final String ns = newNetns();
        final PluginProcess.Run add = run(env("ADD", "c1", ns), conf("1.1.0"));
        assertThat(add.exit()).as(add.toString()).isZero();
        Sh.run("ip", "netns", "del", ns);

        final PluginProcess.Run del = run(env("DEL", "c1", ns), conf("1.1.0"));
        assertThat(del.exit()).as(del.toString()).isZero();
        assertThat(allocations()).isEmpty();
        assertThat(node.attachmentCount()).isZero();
        final Map<String, String> noNetns = env("DEL", "c1", null);
        final PluginProcess.Run del2 = run(noNetns, conf("1.1.0"));
        assertThat(del2.exit()).as("DEL without CNI_NETNS: " + del2).isZero();
    }

    @Test
    void shouldReportTryAgainAndLeakNothingWhenTheNodeIsDown() throws IOException
    {
        node.close();
        node = null;
        final String ns = newNetns();
        final PluginProcess.Run add = run(env("ADD", "c1", ns), conf("1.0.0"));
        assertThat(add.exit()).isNotZero();
        assertThat(add.json()).containsEntry("code", 11).containsEntry("msg", "try again later");
        assertThat(add.json().get("details").toString()).contains("node not reachable");
        assertThat(allocations()).as("the address is released again").isEmpty();
        assertThat(Sh.run("ip", "-n", ns, "-o", "link")).doesNotContain("eth0");

        final PluginProcess.Run status = run(env("STATUS", "c1", ns), conf("1.1.0"));
        assertThat(status.exit()).isNotZero();
        assertThat(status.json()).containsEntry("code", 50).containsEntry("msg", "plugin not available");
        final PluginProcess.Run del = run(env("DEL", "c1", ns), conf("1.0.0"));
        assertThat(del.exit()).as("DEL with no daemon: nothing is attached: " + del).isZero();
    }

    @Test
    void shouldUndoEverythingWhenTheNodeRefuses() throws IOException
    {
        node.refuseAttach = "ip: 10.244.61.2 is already attached to other/eth0";
        final String ns = newNetns();
        final PluginProcess.Run add = run(env("ADD", "c1", ns), conf("1.1.0"));
        assertThat(add.exit()).isNotZero();
        assertThat(add.json()).containsEntry("code", 101);
        assertThat(add.json().get("details").toString()).contains("already attached to other/eth0");
        assertThat(allocations()).isEmpty();
    }

    @Test
    void shouldUndoTheAttachWhenTheInterfaceNameIsTaken() throws IOException
    {
        final String ns = newNetns();
        Sh.run("ip", "-n", ns, "tuntap", "add", "dev", "eth0", "mode", "tap");
        final PluginProcess.Run add = run(env("ADD", "c1", ns), conf("1.1.0"));
        assertThat(add.exit()).isNotZero();
        assertThat(add.json()).containsEntry("code", 102);
        assertThat(allocations()).isEmpty();
        assertThat(node.attachmentCount()).isZero();
        final String links = Sh.run("ip", "-n", ns, "-o", "link");
        assertThat(links).as("the container's own eth0 stays, the TAP goes").contains("eth0").doesNotContain("fc-");
    }

    @Test
    void shouldAcceptATapTheNodeMovedItself()
    {
        node.movesTaps = true;
        final String ns = newNetns();
        final PluginProcess.Run add = run(env("ADD", "c1", ns), conf("1.0.0"));
        assertThat(add.exit()).as(add.toString()).isZero();
        assertThat(Sh.run("ip", "-n", ns, "-o", "-4", "addr", "show", "dev", "eth0"))
            .contains("inet " + text(add.json(), "ips", 0, "address"));
        final Map<String, Object> conf = conf("1.0.0");
        conf.put("prevResult", add.json());
        assertThat(run(env("CHECK", "c1", ns), conf).exit()).isZero();
    }

    @Test
    void shouldTakeMtuFromTheConfigAndMacFromRuntimeConfig()
    {
        final String ns = newNetns();
        final Map<String, Object> conf = conf("1.1.0");
        conf.put("mtu", 1400);
        conf.put("runtimeConfig", Map.of("mac", "0A:58:00:00:00:42"));
        final PluginProcess.Run add = run(env("ADD", "c1", ns), conf);
        assertThat(add.exit()).as(add.toString()).isZero();
        assertThat(at(add.json(), "interfaces", 0, "mtu")).isEqualTo(1400);
        assertThat(Sh.run("ip", "-n", ns, "-o", "link", "show", "dev", "eth0")).contains("mtu 1400")
            .contains("link/ether 0a:58:00:00:00:42");
    }

    @Test
    void shouldAnswerStatusWhenTheNodeIsHealthy()
    {
        final PluginProcess.Run status = run(env("STATUS", "x", null), conf("1.1.0"));
        assertThat(status.exit()).as(status.toString()).isZero();
        assertThat(status.stdout()).isBlank();
        final PluginProcess.Run old = run(env("STATUS", "x", null), conf("1.0.0"));
        assertThat(old.json()).containsEntry("code", 1);
    }

    @Test
    void shouldCollectGarbageNotInTheValidAttachments() throws IOException
    {
        final String ns1 = newNetns();
        final String ns2 = newNetns();
        assertThat(run(env("ADD", "keep", ns1), conf("1.1.0")).exit()).isZero();
        final PluginProcess.Run stale = run(env("ADD", "stale", ns2), conf("1.1.0"));
        assertThat(stale.exit()).isZero();
        assertThat(allocations()).hasSize(2);

        final Map<String, Object> gc = conf("1.1.0");
        gc.put("cni.dev/valid-attachments", List.of(Map.of("containerID", "keep", "ifname", "eth0")));
        final Map<String, String> env = new HashMap<>();
        env.put("CNI_COMMAND", "GC");
        env.put("CNI_PATH", HOST_LOCAL_DIR);
        final PluginProcess.Run r = run(env, gc);
        assertThat(r.exit()).as(r.toString()).isZero();
        assertThat(node.requests).anySatisfy(q -> assertThat(q).contains("\"op\":\"detach\"")
            .contains("\"containerId\":\"stale\""));
        assertThat(node.attachmentCount()).isEqualTo(1);
        assertThat(Sh.exec("ip", "-n", ns2, "link", "show", "dev", "eth0").exit()).isNotZero();
        assertThat(Sh.run("ip", "-n", ns1, "-o", "link", "show", "dev", "eth0")).contains("eth0");
        final String staleIp = text(stale.json(), "ips", 0, "address");
        assertThat(allocations()).hasSize(1).doesNotContain(staleIp.substring(0, staleIp.indexOf('/')));
    }
}
