package dev.ferry.agent;

import dev.ferry.core.Clock;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Pushes the node must refuse, seen from the agent: a client without credentials (another user) and tables
 * that the node finds invalid. Either way the node keeps its last good tables and the agent counts the error.
 */
class PushRefusalTest
{
    private static final String PYTHON = "/usr/bin/python3";
    private static final String FOREIGN_CLIENT = """
        import socket, sys
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(sys.argv[1])
        except OSError as e:
            print("connect failed: " + e.strerror)
            sys.exit(0)
        try:
            s.sendall(b'{"v":1,"op":"push","generation":99,"tables":{}}\\n')
        except BrokenPipeError:
            pass  # the node may refuse and close before the request is sent; its refusal line is still readable
        print(s.makefile().readline().strip())
        """;

    @TempDir
    Path tmp;

    private Path cluster(final Path dir) throws IOException
    {
        Files.createDirectories(dir);
        try (Stream<Path> files = Files.list(Path.of("../agent/src/test/resources/two-node")))
        {
            for (final Path f : files.toList())
            {
                Files.copy(f, dir.resolve(f.getFileName()));
            }
        }
        return dir;
    }

    @Test
    void shouldKeepTheLastGoodTablesWhenTheNodeRefusesOverlappingRoutes() throws Exception
    {
        final Path dir = cluster(tmp.resolve("cluster"));
        try (TestNode node = new TestNode(tmp, "node-a");
            Agent agent = Agent.builder().nodeName("node-a")
                .source(new ManifestDirectorySource(dir, Duration.ofMillis(50), Clock.system()))
                .node(new UnixSocketNodeClient(node.socket)).minSyncPeriod(Duration.ofMillis(50)).build())
        {
            agent.start();
            K8s.await("tables", () -> node.generation() == 1, Duration.ofSeconds(5));
            final List<String> routes = node.routes();
            // a third node claims node-b's pod CIDR: the compiler passes it on, the node refuses the overlap
            Files.writeString(dir.resolve("node-c.yaml"), """
                apiVersion: v1
                kind: Node
                metadata:
                  name: node-c
                  annotations:
                    flannel.alpha.coreos.com/backend-data: '{"VNI":1,"VtepMAC":"8a:5e:11:0c:2d:0c"}'
                    flannel.alpha.coreos.com/public-ip: 192.168.50.13
                spec: {podCIDR: 10.244.2.0/24}
                status: {addresses: [{type: InternalIP, address: 192.168.50.13}]}
                """);
            K8s.await("refusal counted", () -> agent.metrics().errors(AgentMetrics.ERROR_REFUSED) >= 1,
                Duration.ofSeconds(3));
            assertThat(agent.health()).contains("refused").contains("overlaps");
            assertThat(node.generation()).as("last good tables kept").isEqualTo(1);
            assertThat(node.routes()).as("routes unchanged").isEqualTo(routes);

            Files.delete(dir.resolve("node-c.yaml"));
            K8s.await("healthy again", () -> agent.health() == null, Duration.ofSeconds(3));
            assertThat(node.generation()).as("same tables as generation 1: nothing to push").isEqualTo(1);
        }
    }

    @Test
    @Tag("netns")
    void shouldRefuseAPushWithoutCredentialsAndChangeNothing() throws Exception
    {
        Assumptions.assumeTrue("root".equals(System.getProperty("user.name")),
            "switching to user nobody needs root");
        Assumptions.assumeTrue(Files.isExecutable(Path.of(PYTHON)) && Files.isExecutable(Path.of("/usr/bin/setpriv")),
            "needs /usr/bin/python3 and setpriv for the foreign client");
        final Path base = Files.createTempDirectory(Path.of("/tmp"), "ferry-ag-",
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwxr-xr-x")));
        try
        {
            final Path client = base.resolve("client.py");
            Files.writeString(client, FOREIGN_CLIENT);
            Files.setPosixFilePermissions(client, PosixFilePermissions.fromString("rw-r--r--"));
            final Path dir = cluster(base.resolve("cluster"));
            try (TestNode node = new TestNode(base, "node-a");
                Agent agent = Agent.builder().nodeName("node-a")
                    .source(new ManifestDirectorySource(dir, Duration.ofMillis(50), Clock.system()))
                    .node(new UnixSocketNodeClient(node.socket)).minSyncPeriod(Duration.ofMillis(50)).build())
            {
                Files.setPosixFilePermissions(node.socket.getParent(), PosixFilePermissions.fromString("rwxr-xr-x"));
                agent.start();
                K8s.await("agent's tables", () -> node.generation() == 1, Duration.ofSeconds(5));
                final List<String> routes = node.routes();

                assertThat(Files.getPosixFilePermissions(node.socket)).as("socket mode 0600")
                    .isEqualTo(PosixFilePermissions.fromString("rw-------"));
                assertThat(runAsNobody(client, node.socket)).as("the socket's mode keeps another user out")
                    .isEqualTo("connect failed: Permission denied");
                Files.setPosixFilePermissions(node.socket, PosixFilePermissions.fromString("rw-rw-rw-"));
                assertThat(runAsNobody(client, node.socket)).as("peer credentials refuse another user")
                    .contains("\"ok\":false").contains("permission denied: user nobody");

                assertThat(node.generation()).as("tables unchanged").isEqualTo(1);
                assertThat(node.routes()).isEqualTo(routes);
                assertThat(agent.acknowledged().generation()).isEqualTo(1);
                assertThat(agent.health()).as("the agent itself is still served").isNull();
            }
        }
        finally
        {
            try (Stream<Path> files = Files.walk(base))
            {
                files.sorted((a, b) -> b.compareTo(a)).forEach(p -> p.toFile().delete());
            }
        }
    }

    private static String runAsNobody(final Path client, final Path socket) throws IOException, InterruptedException
    {
        final Process p = new ProcessBuilder(List.of("/usr/bin/setpriv", "--reuid=65534", "--regid=65534",
            "--clear-groups", PYTHON, client.toString(), socket.toString())).redirectErrorStream(true).start();
        if (!p.waitFor(20, TimeUnit.SECONDS))
        {
            p.destroyForcibly();
            throw new AssertionError("client as nobody did not finish");
        }
        return new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
    }
}
